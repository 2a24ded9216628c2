import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import load_onnx, to_onnx
from skae.plotting import (
    DecoderGridDisplay,
    LatentSpaceDisplay,
    LossCurveDisplay,
    ReconstructionDisplay,
    ReconstructionErrorDisplay,
    format_score,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .test_package import NOT_INSTALLED  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def ae2(digits):
    return AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(32,), max_iter=5, device="cpu", random_state=0
    ).fit(digits[0])


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


def test_latent_space_scatter(ae2, digits):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(ae2, X, y)
    np.testing.assert_allclose(display.scatter_.get_offsets(), ae2.transform(X), rtol=1e-6)
    one = AutoencoderTransformer(n_components=1, max_iter=2, device="cpu").fit(X)
    with pytest.raises(ValueError, match="at least 2 latent"):
        LatentSpaceDisplay.from_estimator(one, X)


def test_reconstructions_of_a_pipeline(digits):
    X, _ = digits
    pipe = make_pipeline(
        StandardScaler(), AutoencoderTransformer(n_components=4, max_iter=3, device="cpu")
    ).fit(X)
    display = ReconstructionDisplay.from_estimator(pipe, X, n_images=6)
    # 2 rows of 6 8x8 images, 2-pixel gaps (a quarter of an image) between them
    assert display.image_.get_array().shape == (8 + 2 + 8, 6 * 8 + 5 * 2)
    # back in pixel units: reconstructions went through the scaler's inverse
    assert display.reconstructions.shape == (6, 64)
    with pytest.raises(ValueError, match="image_shape"):
        ReconstructionDisplay(X[:2, :10], X[:2, :10]).plot()
    ReconstructionDisplay(X[:2, :10], X[:2, :10], image_shape=(2, 5)).plot()


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_decoder_grid(cls, digits):
    X, _ = digits
    model = cls(n_components=2, max_iter=3, device="cpu").fit(X)
    display = DecoderGridDisplay.from_estimator(model, n=5)
    assert display.images.shape == (25, 64)
    assert display.image_.get_array().shape == (40, 40)
    DecoderGridDisplay.from_estimator(model, X, n=4)
    wide = cls(n_components=3, max_iter=2, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_components=2"):
        DecoderGridDisplay.from_estimator(wide)


def _legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _renders_right_of_the_axes(ax):
    renderer = ax.figure.canvas.get_renderer()
    return ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_loss_curve_legend_has_one_entry_per_kind_and_network(ae2, digits):
    display = LossCurveDisplay.from_estimator(ae2)
    assert _legend_texts(display.ax_) == ["training", "validation"]
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
    assert _legend_texts(display.ax_) == [
        "training",
        "validation",
        "Autoencoder 8-2",
        "Autoencoder 16-2",
        "Autoencoder 32-2",
    ]
    assert _renders_right_of_the_axes(display.ax_)  # never over the curves
    assert {line.get_color() for line in display.lines_[::2]} == {"C0", "C1", "C2"}
    assert [line.get_linestyle() for line in display.lines_[:2]] == ["-", "--"]


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
    assert "threshold (20k)" in _legend_texts(heavy.ax_)


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


def test_image_grids_have_square_pixels_gaps_and_readable_labels(digits):
    X, _ = digits
    display = ReconstructionDisplay(X[:4], X[4:8], titles=["5.25k", "1.17k", "796", "548"])
    display.plot()
    ax = display.ax_
    assert ax.get_aspect() == 1.0  # square pixels, whatever the axes' shape
    empty = np.ma.getmaskarray(display.image_.get_array())  # NaN pixels, drawn blank
    assert empty[8:10].all() and empty[:, 8:10].all()  # the gaps
    assert not empty[:8, :8].any() and not empty[10:, 10:18].any()  # the images
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5.25k", "1.17k", "796", "548"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["original", "reconstruction"]
    np.testing.assert_allclose(ax.get_xticks(), [3.5, 13.5, 23.5, 33.5])  # column centres
    assert all(t.get_fontsize() >= 8 for t in ax.get_xticklabels())


def test_latent_space_legend_per_class_and_colorbar_for_a_continuous_target(ae2, digits):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(ae2, X, y)
    assert _legend_texts(display.ax_) == [str(d) for d in range(10)]
    assert _renders_right_of_the_axes(display.ax_)
    named = LatentSpaceDisplay(ae2.transform(X[:4]), ["cat", "dog", "cat", "eel"]).plot()
    assert _legend_texts(named.ax_) == ["cat", "dog", "eel"]  # strings work too
    continuous = LatentSpaceDisplay(ae2.transform(X), np.linspace(0, 1, len(X))).plot()
    assert continuous.classes_ is None and continuous.ax_.get_legend() is None
    assert len(continuous.figure_.axes) == 2  # the plot and its colorbar


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
