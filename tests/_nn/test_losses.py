import math

import pytest
import torch
from torch.nn import functional as F

from skae._nn.losses import elementwise_loss, elementwise_nll, gaussian_kl


def identity(t):
    return t


def test_mse_mae_huber_elementwise():
    x = torch.tensor([[0.0, 1.0, 3.0]])
    out = torch.tensor([[0.5, 1.0, 0.0]])
    torch.testing.assert_close(
        elementwise_loss("mse", out, x, identity), torch.tensor([[0.25, 0.0, 9.0]])
    )
    torch.testing.assert_close(
        elementwise_loss("mae", out, x, identity), torch.tensor([[0.5, 0.0, 3.0]])
    )
    # huber (delta=1): quadratic below 1, linear above
    torch.testing.assert_close(
        elementwise_loss("huber", out, x, identity), torch.tensor([[0.125, 0.0, 2.5]])
    )


def test_bce_is_computed_from_logits_and_is_stable():
    x = torch.tensor([[0.0, 1.0, 0.3]])
    logits = torch.tensor([[-2.0, 3.0, 0.1]])
    expected = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none")
    torch.testing.assert_close(elementwise_loss("bce", logits, x, torch.sigmoid), expected)
    extreme = elementwise_loss(
        "bce", torch.tensor([[1e4, -1e4]]), torch.tensor([[0.0, 1.0]]), torch.sigmoid
    )
    assert torch.all(torch.isfinite(extreme))
    assert extreme[0, 0].item() == pytest.approx(1e4)


def test_unknown_loss_raises():
    with pytest.raises(ValueError, match="Unknown loss"):
        elementwise_loss("hinge", torch.zeros(1, 1), torch.zeros(1, 1), identity)


def test_gaussian_nll_is_unit_variance_log_density():
    x = torch.tensor([[1.0, -2.0]])
    mu = torch.tensor([[0.0, 0.0]])
    nll = elementwise_nll("gaussian", mu, x)
    normal = torch.distributions.Normal(mu, 1.0)
    torch.testing.assert_close(nll, -normal.log_prob(x))
    bern = elementwise_nll("bernoulli", torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    assert bern.item() == pytest.approx(math.log(2))


def test_kl_matches_torch_distributions():
    mean = torch.tensor([[0.5, -1.0], [0.0, 0.0]])
    log_var = torch.tensor([[0.2, -0.7], [0.0, 0.0]])
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mean, log_var), expected)
    assert gaussian_kl(mean, log_var)[1].item() == 0.0


@pytest.mark.parametrize("kind", ["mse", "mae", "huber", "bce"])
def test_the_fused_batch_mean_equals_the_mean_of_the_elementwise_loss(kind):
    from skae._nn.losses import mean_loss

    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(64, 5, generator=gen)
    x = torch.rand(64, 5, generator=gen)
    act = torch.sigmoid if kind == "bce" else identity
    torch.testing.assert_close(
        mean_loss(kind, logits, x, act), elementwise_loss(kind, logits, x, act).mean()
    )


def test_bernoulli_nll_matches_torchs_fused_kernel():
    from skae._nn.losses import bernoulli_nll

    gen = torch.Generator().manual_seed(1)
    logits, x = 20 * torch.randn(1000, generator=gen), torch.rand(1000, generator=gen)
    torch.testing.assert_close(
        bernoulli_nll(logits, x), F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    )
