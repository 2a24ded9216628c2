import warnings

import pytest
import torch

from skae._nn.networks import Autoencoder
from skae._nn.random import generator
from skae._train import optim as _optim
from skae._train.optim import Optimizer, OptimizerStateMismatch


def run(optimizer_factory, steps=5, seed=0):
    net = Autoencoder(6, (8,), 2, generator=generator(seed))
    opt = optimizer_factory(net)
    x = torch.randn(64, 6, generator=generator(seed + 1))
    for _ in range(steps):
        opt.zero_grad()
        (net(x) - x).square().mean().backward()
        opt.step()
    return net.state_dict(), opt


@pytest.mark.parametrize("solver", ["adam", "adamw"])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_fused_path_is_bit_identical_to_torch_optim(solver, alpha):
    cls = torch.optim.AdamW if solver == "adamw" else torch.optim.Adam

    def torch_opt(net):
        decay = [p for p in net.parameters() if p.ndim >= 2]
        rest = [p for p in net.parameters() if p.ndim < 2]
        groups = (
            [{"params": decay, "weight_decay": alpha}, {"params": rest, "weight_decay": 0.0}]
            if alpha
            else [{"params": list(net.parameters()), "weight_decay": 0.0}]
        )
        return cls(groups, lr=1e-2, fused=True)

    ours, opt = run(lambda net: Optimizer(net.named_parameters(), solver, 1e-2, alpha))
    theirs, _ = run(torch_opt)
    assert _optim._FUSED_OK[("_fused_adamw_" if solver == "adamw" else "_fused_adam_", "cpu")]
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


@pytest.mark.parametrize("solver", ["adam", "adamw"])
def test_reference_path_matches_torch_optim(solver, monkeypatch):
    """Where the private fused kernel is unusable, the public-ops update gives the same
    result within float32 rounding."""
    monkeypatch.setattr(_optim, "_fused_kernel", lambda decoupled, params: None)
    cls = torch.optim.AdamW if solver == "adamw" else torch.optim.Adam
    ours, _ = run(lambda net: Optimizer(net.named_parameters(), solver, 1e-2, 0.0))
    theirs, _ = run(lambda net: cls(net.parameters(), lr=1e-2, weight_decay=0.0, foreach=False))
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6)


def test_a_changed_kernel_signature_degrades_to_the_reference_update(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("unexpected keyword argument 'lr'")

    monkeypatch.setattr(torch, "_fused_adam_", broken, raising=False)
    monkeypatch.setattr(_optim, "_FUSED_OK", {})
    with pytest.warns(RuntimeWarning, match="reference update"):
        state, _ = run(lambda net: Optimizer(net.named_parameters(), "adam", 1e-2))
    assert all(torch.isfinite(t).all() for t in state.values())


def test_a_kernel_warning_points_at_the_callers_line(monkeypatch):
    """Raised deep in the first step (under torch.no_grad): reported where step was called."""

    def broken(*args, **kwargs):
        raise TypeError("unexpected keyword argument 'lr'")

    monkeypatch.setattr(torch, "_fused_adam_", broken, raising=False)
    monkeypatch.setattr(_optim, "_FUSED_OK", {})
    with pytest.warns(RuntimeWarning, match="reference update") as record:
        run(lambda net: Optimizer(net.named_parameters(), "adam", 1e-2))
    assert [w.filename for w in record] == [__file__]


def test_sgd_is_torchs_nesterov_sgd():
    ours, _ = run(lambda net: Optimizer(net.named_parameters(), "sgd", 1e-2, 1e-3))
    theirs, _ = run(
        lambda net: torch.optim.SGD(
            [
                {"params": [p for p in net.parameters() if p.ndim >= 2], "weight_decay": 1e-3},
                {"params": [p for p in net.parameters() if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=1e-2,
            momentum=0.9,
            nesterov=True,
        )
    )
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6)


def test_constructing_and_stepping_does_not_import_dynamo():
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from skae._train.optim import Optimizer\n"
        "p = torch.nn.Parameter(torch.ones(3))\n"
        "o = Optimizer([('w', p)], 'adam', 1e-3)\n"
        "p.sum().backward(); o.step()\n"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_state_round_trips_and_rejects_other_networks():
    _, opt = run(lambda net: Optimizer(net.named_parameters(), "adam", 1e-2))
    state = opt.state_dict()
    net = Autoencoder(6, (8,), 2, generator=generator(0))
    fresh = Optimizer(net.named_parameters(), "adam", 1e-2)
    fresh.load_state_dict(state)
    assert float(fresh.state[0]["step"]) == 5
    other = Autoencoder(6, (4,), 2, generator=generator(0))
    with pytest.raises(OptimizerStateMismatch):
        Optimizer(other.named_parameters(), "adam", 1e-2).load_state_dict(state)
    with pytest.raises(OptimizerStateMismatch):
        Optimizer(net.named_parameters(), "sgd", 1e-2).load_state_dict(state)


def test_loads_a_torch_optim_state():
    """Pickles made when skae used torch.optim keep their optimiser state."""
    net = Autoencoder(6, (8,), 2, generator=generator(0))
    torch_opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(8, 6)
    (net(x) - x).square().mean().backward()
    torch_opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = Optimizer(net.named_parameters(), "adam", 1e-2)
        ours.load_state_dict(torch_opt.state_dict())
    assert torch.equal(ours.state[0]["exp_avg"], torch_opt.state_dict()["state"][0]["exp_avg"])
