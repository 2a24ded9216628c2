import math

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skae import VAETransformer

FAST = dict(hidden_layer_sizes=(16,), max_iter=30, random_state=0, device="cpu")


@pytest.fixture
def X(low_rank):
    return StandardScaler().fit_transform(low_rank)


def test_transform_is_the_deterministic_posterior_mean(X):
    vae = VAETransformer(n_components=3, **FAST).fit(X)
    Z1, Z2 = vae.transform(X), vae.transform(X)
    np.testing.assert_array_equal(Z1, Z2)
    with torch.no_grad():
        mean, _ = vae.module_.encode(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(Z1, mean.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(vae.score_samples(X), vae.score_samples(X))


def test_score_samples_is_the_elbo(X):
    vae = VAETransformer(n_components=3, **FAST).fit(X)
    with torch.no_grad():
        x = torch.as_tensor(X)
        m = vae.module_.double()
        mean, log_var = m.encode(x)
        recon = m.decoder(mean)
        log_lik = torch.distributions.Normal(recon, 1.0).log_prob(x).sum(1)
        q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
        vae.module_.float()
    np.testing.assert_allclose(vae.score_samples(X), (log_lik - kl).numpy(), rtol=1e-6)
    assert vae.score(X) == pytest.approx(float((log_lik - kl).mean()), rel=1e-6)


def test_sample_draws_new_rows_from_the_prior(X):
    vae = VAETransformer(n_components=2, **FAST).fit(X)
    a = vae.sample(50, random_state=0)
    assert a.shape == (50, 12) and a.dtype == np.float32
    np.testing.assert_array_equal(a, vae.sample(50, random_state=0))
    assert not np.array_equal(a, vae.sample(50, random_state=1))
    assert np.all(np.isfinite(a))
    # The decoded mean of prior draws is inverse_transform of the same codes.
    z = np.random.RandomState(0).standard_normal((50, 2))
    mean = vae.sample(50, random_state=0, from_likelihood=False)
    np.testing.assert_allclose(mean, vae.inverse_transform(z), rtol=1e-6)
    with pytest.raises(ValueError, match="n_samples"):
        vae.sample(0)


def test_gaussian_samples_have_the_datas_spread_and_the_mean_is_narrower():
    from sklearn.datasets import load_wine

    X = StandardScaler().fit_transform(load_wine().data)
    vae = VAETransformer(random_state=0, device="cpu").fit(X)
    drawn = vae.sample(2000, random_state=0).std(axis=0) / X.std(axis=0)
    mean = vae.sample(2000, random_state=0, from_likelihood=False).std(axis=0) / X.std(axis=0)
    assert np.all((drawn > 0.7) & (drawn < 1.3)), drawn
    assert np.all(mean < drawn), (mean, drawn)
    assert vae.noise_variance_.shape == (X.shape[1],) and np.all(vae.noise_variance_ > 0)


def test_bernoulli_samples_are_zeros_and_ones_with_the_datas_rates():
    rates = np.linspace(0.1, 0.9, 8)
    B = (np.random.RandomState(0).rand(500, 8) < rates).astype(float)
    vae = VAETransformer(likelihood="bernoulli", random_state=0, device="cpu").fit(B)
    drawn = vae.sample(2000, random_state=0)
    assert set(np.unique(drawn)) == {0.0, 1.0}
    np.testing.assert_allclose(drawn.mean(axis=0), rates, atol=0.1)
    probabilities = vae.sample(5, random_state=0, from_likelihood=False)
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert not np.isin(probabilities, [0.0, 1.0]).all()


def test_sample_uses_the_fitted_latent_width_after_set_params(X):
    """set_params(n_components=...) without a refit leaves the fitted network as it is:
    sample draws codes of its width, as transform and inverse_transform do."""
    vae = VAETransformer(n_components=2, **FAST).fit(X)
    before = vae.sample(5, random_state=0)
    vae.set_params(n_components=3)
    np.testing.assert_array_equal(vae.sample(5, random_state=0), before)


def test_bernoulli_likelihood_needs_unit_interval(X):
    with pytest.raises(ValueError, match="likelihood='bernoulli'"):
        VAETransformer(likelihood="bernoulli", **FAST).fit(X)
    X01 = MinMaxScaler().fit_transform(X)
    vae = VAETransformer(likelihood="bernoulli", **FAST).fit(X01)
    s = vae.sample(10, random_state=0, from_likelihood=False)  # probabilities
    assert s.min() > 0 and s.max() < 1


def test_beta_controls_the_kl_weight(X):
    def kl(beta):
        vae = VAETransformer(n_components=3, beta=beta, **{**FAST, "max_iter": 60}).fit(X)
        with torch.no_grad():
            mean, log_var = vae.module_.encode(torch.as_tensor(X, dtype=torch.float32))
            return (0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1)).mean().item()

    assert kl(4.0) < kl(1.0) < kl(0.1)


def test_kl_warmup_is_linear():
    vae = VAETransformer(beta=2.0, kl_warmup_epochs=4)
    assert [vae._kl_weight(e) for e in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert VAETransformer(beta=2.0)._kl_weight(0) == 2.0


def test_warmup_and_noise_train(X):
    vae = VAETransformer(kl_warmup_epochs=5, noise_std=0.2, **FAST).fit(X)
    assert all(math.isfinite(v) for v in vae.loss_curve_)
    assert vae.validation_loss_curve_[-1] < vae.validation_loss_curve_[0]


def test_identical_refits(X):
    a = VAETransformer(**FAST).fit(X)
    b = VAETransformer(**FAST).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.get_feature_names_out().tolist() == ["vaetransformer0", "vaetransformer1"]
