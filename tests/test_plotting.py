import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.plotting import (DecoderGridDisplay, LatentSpaceDisplay, LossCurveDisplay,
                           ReconstructionDisplay, ReconstructionErrorDisplay)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    return AutoencoderTransformer(n_components=2, hidden_layer_sizes=(32,), max_iter=5,
                                  device="cpu", random_state=0).fit(digits[0])


def test_loss_curve_of_an_estimator_and_of_an_ensemble(ae2, digits):
    display = LossCurveDisplay.from_estimator(ae2)
    assert len(display.lines_) == 2  # train and validation
    np.testing.assert_allclose(display.lines_[0].get_ydata(), ae2.loss_curve_)
    det = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
        [ae2, VAETransformer(max_iter=3, device="cpu")], random_state=0)).fit(digits[0])
    display = LossCurveDisplay.from_estimator(det)
    assert len(display.lines_) == 4
    assert display.ax_.get_yscale() == "log" and display.figure_ is display.ax_.figure
    with pytest.raises(ValueError, match="no skae autoencoder"):
        LossCurveDisplay.from_estimator(make_pipeline(StandardScaler()).fit(digits[0]))


def test_error_histogram_has_the_threshold(digits):
    X, y = digits
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0).fit(X)
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
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(
        n_components=4, max_iter=3, device="cpu")).fit(X)
    display = ReconstructionDisplay.from_estimator(pipe, X, n_images=6)
    assert display.image_.get_array().shape == (16, 48)  # 2 rows of 6 8x8 images
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
