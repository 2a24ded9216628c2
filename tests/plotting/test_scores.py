"""skae.plotting._scores: ReconstructionErrorDisplay."""

import subprocess
import sys

import numpy as np
import pytest

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx
from skae.plotting import (
    ReconstructionErrorDisplay,
)

from ..test_package import NOT_INSTALLED


def test_error_histogram_has_the_threshold(digits):
    X, y = digits
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0
    ).fit(X)
    display = ReconstructionErrorDisplay.from_estimator(det, X, y == 0)
    assert display.threshold == pytest.approx(-det.offset_)
    assert display.threshold_line_.get_xdata()[0] == pytest.approx(-det.offset_)
    assert len(display.ax_.patches) > 0
    heavy = ReconstructionErrorDisplay(np.r_[np.zeros(99), 1e6]).plot()
    assert heavy.ax_.get_xscale() == "symlog"  # "auto" with a heavy tail
    assert ReconstructionErrorDisplay(np.arange(10.0)).plot().ax_.get_xscale() == "linear"
    with pytest.raises(ValueError, match="scale"):
        ReconstructionErrorDisplay(np.arange(10.0)).plot(scale="log")


def test_error_histogram_from_a_load_onnx_model(digits):
    X, y = digits
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(max_iter=3, device="cpu"), random_state=0
    ).fit(X)
    model = load_onnx(to_onnx(det, X[:1]))
    display = ReconstructionErrorDisplay.from_estimator(model, X, y == 0)
    assert display.threshold == pytest.approx(-det.offset_)
    np.testing.assert_allclose(display.anomaly_scores, -det.score_samples(X), rtol=1e-4, atol=1e-4)


def test_score_histogram_plots_without_torch_or_sklearn():
    # The scoring install plus matplotlib: plot load_onnx scores with no training stack.
    code = (
        NOT_INSTALLED.format(missing={"torch", "sklearn", "skl2onnx"})
        + """
import matplotlib
matplotlib.use("Agg")
import numpy as np
from skae.plotting import ReconstructionErrorDisplay
display = ReconstructionErrorDisplay(np.arange(50.0), threshold=40.0).plot()
assert display.threshold_line_ is not None
"""
    )
    subprocess.run([sys.executable, "-c", code], check=True)
