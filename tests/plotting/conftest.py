"""Fixtures and helpers shared by the plotting tests (matplotlib on Agg)."""

import pytest
from sklearn.datasets import load_digits

from skae import AutoencoderTransformer

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
    return AutoencoderTransformer(
        n_components=2, hidden_layer_sizes=(32,), max_iter=5, device="cpu", random_state=0
    ).fit(digits[0])


def legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def renders_right_of_the_axes(ax):
    renderer = ax.figure.canvas.get_renderer()
    return ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
