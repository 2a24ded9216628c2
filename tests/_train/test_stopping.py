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
    assert epoch == 54  # where a 1% relative improvement takes longer than 5 epochs
