"""skae._train.interrupts: Ctrl-C between steps, and an ignored SIGINT left ignored."""

import os
import signal
import warnings

import pytest

from skae._nn.networks import Autoencoder
from skae._nn.random import generator
from skae.exceptions import TrainingInterruptedWarning

from ._engine_helpers import data, fit, mse


def mse_sending_sigint_at_step(step):
    """An MSE loss that sends this process SIGINT during training step ``step``."""
    calls = {"n": 0}

    def loss(module, x, epoch):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signal.SIGINT)
        return mse(module, x)

    return loss


def test_ctrl_c_stops_at_a_step_boundary_and_keeps_the_best_weights(python_sigint):
    net = Autoencoder(6, (8,), 2, generator=generator(0))
    before = signal.getsignal(signal.SIGINT)
    with pytest.warns(TrainingInterruptedWarning, match="interrupted"):
        result = fit(
            net, data(2000), loss=mse_sending_sigint_at_step(5), max_epochs=50, batch_size=64
        )
    assert result.interrupted
    assert result.members[0].n_epochs == 1
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_an_ignored_sigint_stays_ignored_during_training():
    """nohup and background jobs ignore SIGINT: a fit must not start catching it."""
    net = Autoencoder(6, (8,), 2, generator=generator(0))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingInterruptedWarning)
            result = fit(
                net, data(640), loss=mse_sending_sigint_at_step(5), max_epochs=3, batch_size=64
            )
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not result.interrupted
    assert result.members[0].n_epochs == 3
