"""skae.plotting._latent: LatentSpaceDisplay."""

import numpy as np
import pytest

from skae import AutoencoderTransformer
from skae.plotting import (
    LatentSpaceDisplay,
)

from .conftest import legend_texts, renders_right_of_the_axes


def test_latent_space_scatter(ae2, digits):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(ae2, X, y)
    np.testing.assert_allclose(display.scatter_.get_offsets(), ae2.transform(X), rtol=1e-6)
    one = AutoencoderTransformer(n_components=1, max_iter=2, device="cpu").fit(X)
    with pytest.raises(ValueError, match="at least 2 latent"):
        LatentSpaceDisplay.from_estimator(one, X)


def test_latent_space_legend_per_class_and_colorbar_for_a_continuous_target(ae2, digits):
    X, y = digits
    display = LatentSpaceDisplay.from_estimator(ae2, X, y)
    assert legend_texts(display.ax_) == [str(d) for d in range(10)]
    assert renders_right_of_the_axes(display.ax_)
    named = LatentSpaceDisplay(ae2.transform(X[:4]), ["cat", "dog", "cat", "eel"]).plot()
    assert legend_texts(named.ax_) == ["cat", "dog", "eel"]  # strings work too
    continuous = LatentSpaceDisplay(ae2.transform(X), np.linspace(0, 1, len(X))).plot()
    assert continuous.classes_ is None and continuous.ax_.get_legend() is None
    assert len(continuous.figure_.axes) == 2  # the plot and its colorbar
