"""skae.plotting._images: ReconstructionDisplay, DecoderGridDisplay."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.plotting import (
    DecoderGridDisplay,
    ReconstructionDisplay,
)


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


def test_reconstructions_of_a_detector_pipeline_use_its_first_network(digits):
    X, _ = digits
    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(AutoencoderTransformer(max_iter=3, device="cpu")),
    ).fit(X)
    display = ReconstructionDisplay.from_estimator(pipe, X, n_images=4)
    member = pipe[-1].estimators_[0]
    scaler = pipe[0]
    expected = scaler.inverse_transform(
        member.inverse_transform(member.transform(scaler.transform(X[:4])))
    )
    np.testing.assert_allclose(display.reconstructions, expected, rtol=1e-5, atol=1e-5)
