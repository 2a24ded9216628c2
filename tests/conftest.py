import signal

import numpy as np
import pytest
import torch

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler for the test, whatever the runner inherited (a job
    started with nohup or in the background of a script begins with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def low_rank():
    """400 x 12 data of rank 3 plus small noise, standardised-ish."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 12)) + 0.05 * rng.normal(size=(400, 12))
    return X


@pytest.fixture
def blobs_with_outliers():
    """Gaussian inliers on a 2-D plane in 8-D, plus 5% off-plane outliers (label 1)."""
    rng = np.random.RandomState(42)
    basis = rng.normal(size=(2, 8))
    inliers = rng.normal(size=(570, 2)) @ basis + 0.1 * rng.normal(size=(570, 8))
    outliers = rng.uniform(-4, 4, size=(30, 8))
    X = np.vstack([inliers, outliers])
    y = np.r_[np.zeros(570), np.ones(30)]
    return X, y


# Cheap settings shared by the matrix-style tests (bad input, reliability).
SMALL = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", random_state=0)
KINDS = ["ae", "vae", "detector"]


def make(kind, **params):
    """A small unfitted estimator of one of KINDS (a detector wraps one autoencoder)."""
    params = {**SMALL, **params}
    if kind == "detector":
        return ReconstructionAnomalyDetector(AutoencoderTransformer(**params), random_state=0)
    return (AutoencoderTransformer if kind == "ae" else VAETransformer)(**params)
