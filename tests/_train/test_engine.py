"""skae._train.engine: the loop, its named steps, stacks of members, devices."""

import numpy as np
import pytest
import torch

from skae._nn.networks import Autoencoder
from skae._nn.random import generator
from skae._nn.stacked import StackedAutoencoder
from skae._train import engine as _engine
from skae._train.engine import TrainConfig, train
from skae.exceptions import TrainingDivergedError

from ..conftest import requires_cuda
from ._engine_helpers import CPU, data, fit, mse, stacked_mse


def test_training_reduces_the_loss_and_ends_on_cpu_in_eval_mode():
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    result = fit(net, data(), max_epochs=30, early_stopping=False, learning_rate=1e-2)
    curve = result.members[0].loss_curve
    assert curve[-1] < 0.2 * curve[0]
    assert not net.training
    assert next(net.parameters()).device.type == "cpu"
    assert result.members[0].validation_loss_curve is None


def test_training_never_touches_torchs_global_generator():
    before = torch.random.get_rng_state()
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    fit(net, data(), max_epochs=3)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_non_finite_loss_raises_without_sklearn_advice():
    """The engine knows nothing of sklearn: the facades add the advice."""
    net = Autoencoder(3, (4,), 2, generator=generator(0))
    X = np.full((20, 3), 1e30, dtype=np.float32)
    with pytest.raises(TrainingDivergedError, match="non-finite") as info:
        fit(net, X, max_epochs=3)
    for sklearn_word in ("StandardScaler", "learning_rate_init", "hidden_layer_sizes"):
        assert sklearn_word not in str(info.value)


def test_optimizer_state_resumes():
    net = Autoencoder(6, (8,), 2, generator=generator(0))
    first = fit(net, data(), max_epochs=2, early_stopping=False)
    second = train(
        net,
        mse,
        data(),
        config=TrainConfig(max_epochs=2, early_stopping=False),
        device=CPU,
        generator=generator(1),
        optimizer_state=first.optimizer_state,
        epoch_offset=2,
    )
    step = second.optimizer_state["state"][0]["step"]
    assert float(step) == 2 * 4  # 300 rows in batches of 256: 2 steps an epoch, 4 epochs


def test_a_state_of_another_network_starts_afresh_with_a_warning():
    first = fit(Autoencoder(6, (8,), 2, generator=generator(0)), data(), max_epochs=1)
    other = Autoencoder(6, (4,), 2, generator=generator(0))
    with pytest.warns(UserWarning, match="fresh optimiser state") as record:
        train(
            other,
            mse,
            data(),
            config=TrainConfig(max_epochs=1),
            device=CPU,
            generator=generator(0),
            optimizer_state=first.optimizer_state,
        )
    assert [w.filename for w in record] == [__file__]  # the caller's line, not skae's


@pytest.mark.parametrize("n_members", [1, 3])
def test_the_default_validation_loss_is_the_mean_over_the_validation_rows(n_members):
    """Without an eval_loss_fn, the batch-mean training loss monitors the validation rows:
    each member's curve holds the mean loss of its own held-out rows, not that mean
    divided by their number."""
    X = data(600)
    if n_members == 1:
        net, loss = Autoencoder(6, (8,), 2, generator=generator(0)), mse
        nets = [net]
    else:
        nets = members()
        net, loss = StackedAutoencoder(nets, "relu"), stacked_mse
    result = fit(net, X, loss=loss, n_members=n_members, max_epochs=3)
    if n_members > 1:
        net.write_members(nets)
    _, val = _engine._split(len(X), n_members, 0.1, CPU, generator(0))
    for k, member in enumerate(nets):  # holds the weights of its best epoch
        rows = torch.from_numpy(X)[val[k]]
        with torch.no_grad():
            expected = float((member(rows) - rows).square().mean())
        curve = result.members[k].validation_loss_curve
        assert min(curve) == pytest.approx(expected, rel=1e-5)


def test_single_row_batches_are_skipped_for_batch_norm():
    net = Autoencoder(3, (4,), 2, batch_norm=True, generator=generator(0))
    fit(
        net,
        data(257, 3),
        max_epochs=1,
        batch_size=256,
        early_stopping=False,
        skip_singleton_batches=True,
    )  # would raise without the skip


def members(n=3, seed=0):
    shapes = [((8,), 2), ((16,), 3), ((4,), 1)][:n]
    return [Autoencoder(6, h, c, generator=generator(seed + i)) for i, (h, c) in enumerate(shapes)]


def test_stacked_members_get_their_own_curves_and_early_stopping():
    stack = StackedAutoencoder(members(), "relu")
    result = fit(
        stack,
        data(600),
        loss=stacked_mse,
        max_epochs=200,
        learning_rate=1e-2,
        n_iter_no_change=3,
        tol=1e-2,
        n_members=3,
    )
    epochs = [m.n_epochs for m in result.members]
    assert len(set(epochs)) > 1  # they stopped at different epochs
    for m in result.members:
        assert len(m.loss_curve) == len(m.validation_loss_curve) == m.n_epochs
        assert m.best_epoch == int(np.argmin(m.validation_loss_curve))


def test_stopped_members_keep_their_best_weights_while_others_train():
    """Each member ends with the weights of its own best epoch: its validation loss, for
    those weights, equals the best of its curve."""
    nets = members()
    stack = StackedAutoencoder(nets, "relu")
    X = data(600)
    gen = generator(0)
    result = train(
        stack,
        stacked_mse,
        X,
        config=TrainConfig(max_epochs=200, learning_rate=1e-2, n_iter_no_change=3, tol=1e-2),
        device=CPU,
        generator=gen,
        n_members=3,
        eval_loss_fn=lambda m, x: (m(x) - x).square().mean(dim=-1),
    )
    stack.write_members(nets)
    # recompute each member's validation loss on its own validation rows
    _, val = _engine._split(len(X), 3, 0.1, CPU, generator(0))
    for k, net in enumerate(nets):
        rows = torch.from_numpy(X)[val[k]]
        with torch.no_grad():
            loss = float((net(rows) - rows).square().mean())
        assert loss == pytest.approx(min(result.members[k].validation_loss_curve), rel=1e-5)


def test_padding_of_a_stack_stays_exactly_zero():
    stack = StackedAutoencoder(members(), "tanh")
    fit(stack, data(300), loss=stacked_mse, max_epochs=5, alpha=1e-2, n_members=3)
    for layer in stack.stacked_layers():
        for k, (n_in, n_out) in enumerate(layer_shapes(stack, layer)):
            w, b = layer.weight[k], layer.bias[k, 0]
            assert torch.count_nonzero(w[n_in:]) == torch.count_nonzero(w[:, n_out:]) == 0
            assert torch.count_nonzero(b[n_out:]) == 0


def layer_shapes(stack, layer):
    j = stack.stacked_layers().index(layer)
    return [shapes[j] for shapes in stack.layer_shapes]


@requires_cuda
def test_training_on_cuda_ends_on_cpu():
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    result = train(
        net,
        mse,
        data(),
        config=TrainConfig(max_epochs=5),
        device=torch.device("cuda"),
        generator=generator(0, "cuda"),
    )
    assert next(net.parameters()).device.type == "cpu"
    assert all(np.isfinite(result.members[0].loss_curve))
    assert result.optimizer_state["state"][0]["exp_avg"].device.type == "cpu"


@requires_cuda
def test_a_stack_trains_on_cuda():
    stack = StackedAutoencoder(members(), "relu")
    result = train(
        stack,
        stacked_mse,
        data(),
        config=TrainConfig(max_epochs=5),
        device=torch.device("cuda"),
        generator=generator(0, "cuda"),
        n_members=3,
    )
    assert next(stack.parameters()).device.type == "cpu"
    assert all(np.isfinite(m.loss_curve).all() for m in result.members)


def test_the_adaptive_schedule_halves_the_rate_at_each_plateau_then_stops():
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    result = fit(
        net,
        data(),
        max_epochs=2000,
        learning_rate=5e-2,
        n_iter_no_change=5,
        tol=1e-2,
        lr_schedule="adaptive",
    )
    member = result.members[0]
    rates = sorted(set(member.learning_rates), reverse=True)
    assert rates == [5e-2, 2.5e-2, 1.25e-2, 6.25e-3]  # three halvings, then the stop
    assert member.stopped_early and len(member.learning_rates) == member.n_epochs
    constant = fit(
        Autoencoder(6, (16,), 2, generator=generator(0)),
        data(),
        max_epochs=2000,
        learning_rate=5e-2,
        n_iter_no_change=5,
        tol=1e-2,
    ).members[0]
    assert constant.learning_rates is None and constant.n_epochs < member.n_epochs


def test_the_linear_schedule_falls_to_zero_and_runs_every_epoch():
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    member = fit(
        net,
        data(),
        max_epochs=40,
        learning_rate=5e-2,
        n_iter_no_change=2,
        tol=0.5,  # a plateau at once: the linear schedule does not stop on it
        early_stopping=False,
        lr_schedule="linear",
    ).members[0]
    assert member.n_epochs == 40 and not member.stopped_early
    np.testing.assert_allclose(member.learning_rates, 5e-2 * (1 - np.arange(40) / 40))


def test_the_adaptive_schedule_refuses_a_stack():
    with pytest.raises(ValueError, match="one network at a time"):
        fit(
            StackedAutoencoder(
                [Autoencoder(6, (8,), 2, generator=generator(s)) for s in (0, 1)], "relu"
            ),
            data(),
            loss=stacked_mse,
            n_members=2,
            lr_schedule="adaptive",
        )
