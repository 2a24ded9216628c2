"""The image displays of :mod:`skae.plotting`: reconstructions under their originals, and
images decoded from a grid over a 2-D latent plane (rows of pixels, e.g. digits)."""

from __future__ import annotations

import numpy as np

from ._common import _axes, _skae_models, _style


def _image_shape(n_features, image_shape):
    if image_shape is not None:
        if int(np.prod(image_shape)) != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)} holds {np.prod(image_shape)} "
                f"pixels but the rows have {n_features} features."
            )
        return tuple(image_shape)
    side = round(np.sqrt(n_features))
    if side * side != n_features:
        raise ValueError(
            f"rows of {n_features} features are not square images; pass "
            "image_shape=(height, width)."
        )
    return side, side


def _image_grid(ax, images, n_rows, n_cols, gap, imshow_kwargs):
    """Images on one canvas, ``gap`` (a fraction of an image's size) apart, each framed.

    Returns the AxesImage and the centres of the columns and rows in data coordinates.
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.image import AxesImage
    from matplotlib.patches import Rectangle

    h, w = images.shape[1:]
    gh, gw = round(gap * h), round(gap * w)
    canvas = np.full((n_rows * (h + gh) - gh, n_cols * (w + gw) - gw), np.nan)
    framed = bool(gh or gw)  # frames show where each image ends on a light background
    frames = []
    for k, image in enumerate(images[: n_rows * n_cols]):
        r, c = divmod(k, n_cols)
        top, left = r * (h + gh), c * (w + gw)
        canvas[top : top + h, left : left + w] = image
        if framed:
            frames.append(Rectangle((left - 0.5, top - 0.5), w, h))
    style = _style(
        {"cmap": "gray_r", "interpolation": "nearest", "aspect": "equal"}, imshow_kwargs, AxesImage
    )
    image = ax.imshow(canvas, **style)
    if framed:
        ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="0.7", linewidth=0.6))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(not framed)
    columns = np.arange(n_cols) * (w + gw) + (w - 1) / 2
    rows = np.arange(n_rows) * (h + gh) + (h - 1) / 2
    return image, columns, rows


def _reconstruct(estimator, X):
    """X through an autoencoder and back, through the Pipeline's steps before it (which
    must invert: scalers); a detector reconstructs with its first network."""
    from sklearn.pipeline import Pipeline

    steps = list(estimator.steps) if isinstance(estimator, Pipeline) else [(None, estimator)]
    *before, (_, last) = [(n, s) for n, s in steps if s not in (None, "passthrough")]
    if not hasattr(last, "inverse_transform"):
        models = _skae_models(last)
        if not models:
            raise TypeError(
                f"ReconstructionDisplay needs an autoencoder, a detector, or a Pipeline "
                f"ending in one; got one ending in {type(last).__name__}."
            )
        last = models[0]
    for _, step in before:
        X = step.transform(X)
    recon = last.inverse_transform(last.transform(X))
    for name, step in reversed(before):
        if not hasattr(step, "inverse_transform"):
            raise TypeError(
                f"the Pipeline step {name!r} ({type(step).__name__}) has no "
                "inverse_transform, so reconstructions cannot be mapped back to the images; "
                "pass a Pipeline whose steps before the autoencoder invert (scalers)."
            )
        recon = step.inverse_transform(recon)
    return np.asarray(recon)


class ReconstructionDisplay:
    """Original images (top row) above their reconstructions (bottom row).

    Square pixels, a gap between images and between the two rows, one caption per
    column (e.g. the anomaly score, see :func:`format_score`).

    Parameters
    ----------
    originals, reconstructions : ndarray of shape (n_images, n_features)
    image_shape : tuple of int or None, default=None
        (height, width); None for square images.
    titles : list of str or None, default=None
        A caption per column, under it.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage
    """

    def __init__(self, originals, reconstructions, image_shape=None, titles=None):
        self.originals = originals
        self.reconstructions = reconstructions
        self.image_shape = image_shape
        self.titles = titles

    @classmethod
    def from_estimator(cls, estimator, X, *, image_shape=None, n_images=8, ax=None, **kwargs):
        """Reconstruct the first ``n_images`` rows of X and plot them.

        Parameters
        ----------
        estimator : fitted estimator
            An autoencoder, or a Pipeline such as ``StandardScaler -> autoencoder``
            (reconstructions are mapped back through the scaler); or a detector, or a
            Pipeline ending in one (``StandardScaler -> ReconstructionAnomalyDetector``),
            whose first network reconstructs.
        X : array-like of shape (n_samples, n_features)
        image_shape : tuple of int or None, default=None
        n_images : int, default=8
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot` (``gap``) and matplotlib's ``imshow``.

        Returns
        -------
        display : ReconstructionDisplay
        """
        X = np.asarray(X, dtype=float)[:n_images]
        return cls(X, _reconstruct(estimator, X), image_shape).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, gap=0.25, **kwargs):
        """Draw the two rows.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        gap : float, default=0.25
            Space between images, as a fraction of an image's height (width).
        **kwargs : dict
            Passed to matplotlib's ``imshow`` (``cmap="gray_r"``, ``vmin`` / ``vmax``:
            the originals' range, ``aspect="equal"``, ...).

        Returns
        -------
        display : ReconstructionDisplay
        """
        originals = np.asarray(self.originals, dtype=float)
        recon = np.asarray(self.reconstructions, dtype=float)
        shape = _image_shape(originals.shape[1], self.image_shape)
        n = len(originals)
        ax = _axes(ax, figsize=(0.9 * n + 1.2, 2.4))
        images = np.concatenate([originals, recon]).reshape(-1, *shape)
        # The originals' range for both rows: a wild reconstruction saturates instead of
        # washing out the contrast of every other image.
        kwargs = {"vmin": originals.min(), "vmax": originals.max(), **kwargs}
        self.image_, columns, rows = _image_grid(ax, images, 2, n, gap, kwargs)
        ax.set_yticks(rows, ["original", "reconstruction"])
        if self.titles is not None:
            ax.set_xticks(columns, [str(t) for t in self.titles])
        self.ax_, self.figure_ = ax, ax.figure
        return self


class DecoderGridDisplay:
    """Images decoded from an ``n x n`` grid over a 2-D latent plane.

    Parameters
    ----------
    images : ndarray of shape (n * n, n_features)
        Decoded rows, grid row by grid row.
    n : int
        Grid size.
    image_shape : tuple of int or None, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage
    """

    def __init__(self, images, n, image_shape=None):
        self.images = images
        self.n = n
        self.image_shape = image_shape

    @classmethod
    def from_estimator(cls, estimator, X=None, *, n=15, image_shape=None, ax=None, **kwargs):
        """Decode a grid over the latent plane of a fitted 2-D autoencoder or VAE.

        The grid spans the 5th to 95th percentile of each code over X when given;
        otherwise, for a VAE, the same quantiles of the N(0, 1) prior (as the Keras VAE
        tutorial does), and [-2, 2] for a plain autoencoder.

        Parameters
        ----------
        estimator : fitted estimator with ``inverse_transform`` and 2 latent dimensions
            An autoencoder or a Pipeline ending in one (decoded rows are mapped back
            through the earlier steps).
        X : array-like of shape (n_samples, n_features), default=None
        n : int, default=15
        image_shape : tuple of int or None, default=None
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot` (``gap``) and matplotlib's ``imshow``.

        Returns
        -------
        display : DecoderGridDisplay
        """
        from scipy.stats import norm

        from ..vae import VAETransformer

        models = _skae_models(estimator)
        if not models or models[-1].n_components != 2:
            raise ValueError("DecoderGridDisplay needs an autoencoder with n_components=2.")
        if X is not None:
            codes = np.asarray(estimator.transform(X))
            lo, hi = np.percentile(codes, [5, 95], axis=0)
            axes = [np.linspace(lo[d], hi[d], n) for d in range(2)]
        elif isinstance(models[-1], VAETransformer):
            axes = [norm.ppf(np.linspace(0.05, 0.95, n))] * 2
        else:
            axes = [np.linspace(-2, 2, n)] * 2
        # Top row = largest z[1], as in a plot with the y axis pointing up.
        grid = np.array([[x, y] for y in axes[1][::-1] for x in axes[0]], dtype=np.float32)
        return cls(np.asarray(estimator.inverse_transform(grid)), n, image_shape).plot(
            ax=ax, **kwargs
        )

    def plot(self, ax=None, *, gap=0.0, **kwargs):
        """Draw the grid.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        gap : float, default=0.0
            Space between images, as a fraction of an image's height (width).
        **kwargs : dict
            Passed to matplotlib's ``imshow`` (``cmap="gray_r"``, ...).

        Returns
        -------
        display : DecoderGridDisplay
        """
        images = np.asarray(self.images, dtype=float)
        shape = _image_shape(images.shape[1], self.image_shape)
        ax = _axes(ax, figsize=(6, 6))
        self.image_, _, _ = _image_grid(ax, images.reshape(-1, *shape), self.n, self.n, gap, kwargs)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        self.ax_, self.figure_ = ax, ax.figure
        return self
