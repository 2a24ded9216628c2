"""skae.plotting._curves: LossCurveDisplay."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.plotting import (
    LossCurveDisplay,
)

from .conftest import legend_texts, renders_right_of_the_axes


def test_loss_curve_of_an_estimator_and_of_an_ensemble(ae2, digits):
    display = LossCurveDisplay.from_estimator(ae2)
    assert len(display.lines_) == 2  # train and validation
    np.testing.assert_allclose(display.lines_[0].get_ydata(), ae2.loss_curve_)
    det = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            [ae2, VAETransformer(max_iter=3, device="cpu")], random_state=0
        ),
    ).fit(digits[0])
    display = LossCurveDisplay.from_estimator(det)
    assert len(display.lines_) == 4
    assert display.ax_.get_yscale() == "log" and display.figure_ is display.ax_.figure
    with pytest.raises(ValueError, match="no skae autoencoder"):
        LossCurveDisplay.from_estimator(make_pipeline(StandardScaler()).fit(digits[0]))


def test_loss_curve_legend_has_one_entry_per_kind_and_network(ae2, digits):
    display = LossCurveDisplay.from_estimator(ae2)
    assert legend_texts(display.ax_) == ["training", "validation"]
    members = [
        AutoencoderTransformer(
            n_components=2, hidden_layer_sizes=(h,), max_iter=3, device="cpu", random_state=0
        )
        for h in (8, 16, 32)
    ]
    det = ReconstructionAnomalyDetector(members, random_state=0).fit(digits[0])
    display = LossCurveDisplay.from_estimator(det)
    assert len(display.lines_) == 6  # 3 networks x (training, validation)
    # 2 kinds + 3 networks named by shape, not 6 "network i training/validation" entries
    assert legend_texts(display.ax_) == [
        "training",
        "validation",
        "Autoencoder 8-2",
        "Autoencoder 16-2",
        "Autoencoder 32-2",
    ]
    assert renders_right_of_the_axes(display.ax_)  # never over the curves
    assert {line.get_color() for line in display.lines_[::2]} == {"C0", "C1", "C2"}
    assert [line.get_linestyle() for line in display.lines_[:2]] == ["-", "--"]
