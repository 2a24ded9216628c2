"""skae.plotting._common and what all displays share: short numbers, no titles, kwargs."""

import numpy as np
import pytest

from skae import ReconstructionAnomalyDetector
from skae.plotting import (
    DecoderGridDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
    ReconstructionErrorDisplay,
    format_score,
)

from .conftest import legend_texts


def test_log_axes_are_labelled_with_plain_numbers():
    display = LossCurveDisplay([[2.0, 0.6, 0.25]]).plot()
    display.figure_.canvas.draw()
    labels = [
        t.get_text()
        for t in display.ax_.get_yticklabels(minor=True) + display.ax_.get_yticklabels()
    ]
    assert {"0.3", "0.6", "1", "2"} <= set(labels)
    assert not any("^" in label or "times" in label for label in labels)
    heavy = ReconstructionErrorDisplay(np.r_[np.linspace(0, 1, 99), 5e4], threshold=2e4).plot()
    heavy.figure_.canvas.draw()
    assert "10k" in [t.get_text() for t in heavy.ax_.get_xticklabels()]
    assert "threshold (20k)" in legend_texts(heavy.ax_)


@pytest.mark.parametrize(
    "value, text",
    [
        (119141.9, "119k"),
        (5248.6, "5.25k"),
        (999960, "1M"),
        (13.45, "13.4"),
        (-0.01234, "-0.0123"),
        (0, "0"),
        (-2.5e9, "-2.5G"),
        (3e13, "30T"),
    ],
)
def test_format_score_is_short_and_readable(value, text):
    assert format_score(value) == text


def test_displays_set_no_title(ae2, digits):
    X, y = digits
    det = ReconstructionAnomalyDetector(ae2, random_state=0).fit(X)
    displays = [
        LossCurveDisplay.from_estimator(ae2),
        ReconstructionErrorDisplay.from_estimator(det, X),
        LatentSpaceDisplay.from_estimator(ae2, X, y),
        ReconstructionDisplay.from_estimator(ae2, X, n_images=3),
        DecoderGridDisplay.from_estimator(ae2, n=3),
    ]
    assert [d.ax_.get_title() for d in displays] == [""] * len(displays)


def test_keyword_arguments_reach_the_artists(ae2, digits):
    X, y = digits
    loss = LossCurveDisplay.from_estimator(ae2, lw=3, alpha=0.5)  # an alias, as matplotlib
    assert {(line.get_linewidth(), line.get_alpha()) for line in loss.lines_} == {(3, 0.5)}
    dotted = LossCurveDisplay.from_estimator(ae2, linestyle=":")
    assert {line.get_linestyle() for line in dotted.lines_} == {":"}
    hist = ReconstructionErrorDisplay(np.arange(20.0), y=np.arange(20) % 2).plot(
        histtype="step", ec="k", bins=5
    )
    assert len(hist.ax_.patches) == 2  # one outline per group, 5 bins each
    assert all(p.get_edgecolor()[:3] == (0, 0, 0) for p in hist.ax_.patches)
    latent = LatentSpaceDisplay.from_estimator(ae2, X, y, s=30, marker="x")
    assert np.all(latent.scatter_.get_sizes() == 30)
    black = LatentSpaceDisplay.from_estimator(ae2, X, y, color="k")  # replaces label colours
    assert black.classes_ is None and black.ax_.get_legend() is None
    recon = ReconstructionDisplay.from_estimator(
        ae2, X, n_images=2, cmap="viridis", interpolation="bilinear", gap=0
    )
    assert recon.image_.get_cmap().name == "viridis"
    assert recon.image_.get_interpolation() == "bilinear"
    assert recon.image_.get_array().shape == (16, 16)
    grid = DecoderGridDisplay.from_estimator(ae2, n=3, cmap="magma", gap=0.25)
    assert grid.image_.get_cmap().name == "magma"
    assert grid.image_.get_array().shape == (3 * 8 + 2 * 2,) * 2
