"""skae._train.stopping: patience on a relative tolerance, and the best weights."""

import numpy as np
import pytest

from skae._nn.networks import Autoencoder
from skae._nn.random import generator
from skae._train.stopping import EarlyStopping, EpochState

from ._engine_helpers import data, fit


def test_early_stopping_restores_the_best_weights():
    net = Autoencoder(6, (16,), 2, generator=generator(0))
    result = fit(net, data(), max_epochs=60, learning_rate=5e-2, n_iter_no_change=3, tol=0.0)
    member = result.members[0]
    curve = member.validation_loss_curve
    assert member.best_epoch == int(np.argmin(curve))
    assert member.n_epochs == len(curve) <= 60


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_tolerance_is_relative_so_stopping_ignores_the_data_scale(scale):
    """The same curve multiplied by any constant stops at the same epoch."""
    curve = [1.0 / (1 + e) ** 0.5 for e in range(400)]  # always falling, ever slower
    stopper = EarlyStopping(patience=5, tol=1e-2)
    for epoch, loss in enumerate(curve):
        _, stop = stopper(EpochState(epoch, scale * loss, None))
        if stop:
            break
    # 1/sqrt(1 + e) falls by 1% over 5 epochs until about epoch 250: stopping there, not
    # at epoch 54 where one epoch's step first fell below 1% of the best loss
    assert epoch == 254


def test_a_slowly_falling_loss_goes_on_a_flat_one_stops():
    """Patience counts from the last epoch that beat the reference by tol, so many small
    steps that add up to tol keep training going; noise around a level does not."""
    slow = EarlyStopping(patience=10, tol=1e-3)
    stops = [slow(EpochState(e, 1.0 - 2e-4 * e, None))[1] for e in range(100)]
    assert not any(stops)  # 0.02% an epoch: 0.2% a patience window
    flat = EarlyStopping(patience=10, tol=1e-3)
    noise = np.random.RandomState(0).normal(scale=1e-4, size=100)
    stops = [flat(EpochState(e, 1.0 + noise[e], None))[1] for e in range(100)]
    assert stops.index(True) == 10


def test_restart_patience_counts_afresh_from_the_best_loss():
    stopper = EarlyStopping(patience=3, tol=1e-2)
    for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.6]):
        best, stop = stopper(EpochState(epoch, loss, None))
    assert not stop and stopper.best_loss == 0.5
    stopper.restart_patience()
    results = [stopper(EpochState(4 + e, 0.499, None)) for e in range(3)]
    assert [stop for _, stop in results] == [False, False, True]  # 0.499 is not 1% below 0.5
