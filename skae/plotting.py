"""Plots in scikit-learn's Display style: ``Display.from_estimator(...)`` then ``.plot()``.

Each Display stores the computed values (so it can be re-plotted without recomputing)
and, after ``plot``, the matplotlib handles ``ax_``, ``figure_`` and the artists it drew.
matplotlib is imported only when plotting (``pip install 'skae[plot]'``).

- :class:`LossCurveDisplay`: training and validation loss per epoch.
- :class:`ReconstructionErrorDisplay`: histogram of anomaly scores with the threshold.
- :class:`LatentSpaceDisplay`: 2-D latent codes coloured by label.
- :class:`ReconstructionDisplay`: original images above their reconstructions.
- :class:`DecoderGridDisplay`: images decoded from a grid over a 2-D latent plane.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._base import BaseAutoencoder

__all__ = ["DecoderGridDisplay", "LatentSpaceDisplay", "LossCurveDisplay",
           "ReconstructionDisplay", "ReconstructionErrorDisplay"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("skae.plotting needs matplotlib: pip install 'skae[plot]'.") from None
    return plt


def _axes(ax, **subplots):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(**subplots)
    return ax


def _skae_models(estimator):
    """The fitted autoencoders inside an estimator, a detector or a Pipeline."""
    check_is_fitted(estimator)
    if isinstance(estimator, Pipeline):
        return [m for _, step in estimator.steps
                if step not in (None, "passthrough") for m in _skae_models(step)]
    if isinstance(estimator, BaseAutoencoder):
        return [estimator]
    return list(getattr(estimator, "estimators_", []))


def _image_shape(n_features, image_shape):
    if image_shape is not None:
        if int(np.prod(image_shape)) != n_features:
            raise ValueError(f"image_shape={tuple(image_shape)} holds {np.prod(image_shape)} "
                             f"pixels but the rows have {n_features} features.")
        return tuple(image_shape)
    side = int(round(np.sqrt(n_features)))
    if side * side != n_features:
        raise ValueError(f"rows of {n_features} features are not square images; pass "
                         "image_shape=(height, width).")
    return side, side


class LossCurveDisplay:
    """Training (and validation) loss per epoch.

    Parameters
    ----------
    loss_curves : list of array-like
        Training loss per epoch, one curve per network.
    validation_loss_curves : list of array-like or None, default=None
        Validation loss per epoch, one per network (empty when there was none).
    names : list of str or None, default=None
        Legend label per network.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : list of matplotlib Line2D

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import LossCurveDisplay
    >>> ae = AutoencoderTransformer(max_iter=5).fit(np.random.RandomState(0).rand(64, 4))
    >>> LossCurveDisplay.from_estimator(ae)  # doctest: +SKIP
    """

    def __init__(self, loss_curves, validation_loss_curves=None, names=None):
        self.loss_curves = loss_curves
        self.validation_loss_curves = validation_loss_curves
        self.names = names

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_scale=True):
        """Plot the loss curves of a fitted estimator, detector (all members) or Pipeline.

        Parameters
        ----------
        estimator : fitted skae estimator, ReconstructionAnomalyDetector or Pipeline
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        log_scale : bool, default=True
            Logarithmic loss axis.

        Returns
        -------
        display : LossCurveDisplay
        """
        models = _skae_models(estimator)
        if not models:
            raise ValueError(f"{type(estimator).__name__} holds no skae autoencoder.")
        names = [type(m).__name__ if len(models) == 1 else f"network {i}"
                 for i, m in enumerate(models)]
        return cls([m.loss_curve_ for m in models],
                   [m.validation_loss_curve_ for m in models], names).plot(
                       ax=ax, log_scale=log_scale)

    def plot(self, ax=None, *, log_scale=True):
        """Draw the curves; returns self."""
        ax = _axes(ax)
        names = self.names or [f"network {i}" for i in range(len(self.loss_curves))]
        vals = self.validation_loss_curves or [[]] * len(self.loss_curves)
        self.lines_ = []
        for i, (train, val, name) in enumerate(zip(self.loss_curves, vals, names)):
            color = f"C{i % 10}"
            epochs = np.arange(1, len(train) + 1)
            self.lines_ += ax.plot(epochs, train, color=color, label=f"{name} train")
            if len(val):
                self.lines_ += ax.plot(np.arange(1, len(val) + 1), val, color=color,
                                       linestyle="--", label=f"{name} validation")
        if log_scale and all(np.all(np.asarray(c) > 0) for c in self.loss_curves):
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title("Loss curve")
        ax.legend(fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class ReconstructionErrorDisplay:
    """Histogram of anomaly scores (``-score_samples``) with the decision threshold.

    Parameters
    ----------
    anomaly_scores : ndarray of shape (n_samples,)
        Higher = more anomalous (minus the estimator's ``score_samples``).
    threshold : float or None, default=None
        Rows above it are flagged (a detector's ``-offset_``).
    y : array-like of shape (n_samples,) or None, default=None
        Known labels (1 / True / -1 as anomaly, see ``pos_label``) to split the histogram.
    pos_label : int or bool, default=1
        The value of ``y`` that marks an anomaly.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    threshold_line_ : matplotlib Line2D or None
    """

    def __init__(self, anomaly_scores, threshold=None, y=None, pos_label=1):
        self.anomaly_scores = anomaly_scores
        self.threshold = threshold
        self.y = y
        self.pos_label = pos_label

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, pos_label=1, ax=None, bins=50,
                       scale="auto"):
        """Score X with a fitted detector (or autoencoder, or Pipeline) and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``score_samples``
            A ReconstructionAnomalyDetector (the threshold is ``-offset_``), an
            autoencoder, or a Pipeline ending in one.
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Known labels, to show inliers and anomalies apart.
        pos_label : int or bool, default=1
            The value of ``y`` that marks an anomaly.
        ax : matplotlib Axes, default=None
        bins : int, default=50
        scale : {"auto", "linear", "symlog"}, default="auto"
            Score axis. Reconstruction errors are heavy-tailed: "auto" switches to a
            symmetric log axis (and log-spaced bins) when the largest score lies more
            than 100 interquartile ranges above the median.

        Returns
        -------
        display : ReconstructionErrorDisplay
        """
        last = estimator[-1] if isinstance(estimator, Pipeline) else estimator
        offset = getattr(last, "offset_", None)
        return cls(-np.asarray(estimator.score_samples(X), dtype=float),
                   None if offset is None else -offset, y, pos_label).plot(
                       ax=ax, bins=bins, scale=scale)

    def plot(self, ax=None, *, bins=50, scale="auto"):
        """Draw the histogram; returns self."""
        if scale not in ("auto", "linear", "symlog"):
            raise ValueError(f"scale must be 'auto', 'linear' or 'symlog'; got {scale!r}.")
        ax = _axes(ax)
        scores = np.asarray(self.anomaly_scores, dtype=float)
        q1, median, q3 = np.percentile(scores, [25, 50, 75])
        spread = q3 - q1 if q3 > q1 else 1.0
        if scale == "auto":
            scale = "symlog" if scores.max() - median > 100 * spread else "linear"
        if scale == "symlog":
            # bins evenly spaced in sign(x) * log1p(|x| / spread), the axis' own warping
            t = np.sign(scores) * np.log1p(np.abs(scores) / spread)
            grid = np.linspace(t.min(), t.max(), bins + 1)
            edges = np.sign(grid) * np.expm1(np.abs(grid)) * spread
            ax.set_xscale("symlog", linthresh=spread)
        else:
            edges = np.histogram_bin_edges(scores, bins=bins)
        if self.y is None:
            ax.hist(scores, bins=edges, color="C0", alpha=0.8, label="rows")
        else:
            anomalous = np.asarray(self.y) == self.pos_label
            ax.hist(scores[~anomalous], bins=edges, color="C0", alpha=0.7, label="normal")
            ax.hist(scores[anomalous], bins=edges, color="C3", alpha=0.7, label="anomaly")
        self.threshold_line_ = None
        if self.threshold is not None:
            self.threshold_line_ = ax.axvline(self.threshold, color="k", linestyle="--",
                                              label="threshold")
        ax.set_xlabel("anomaly score (-score_samples)")
        ax.set_ylabel("rows")
        ax.set_title("Reconstruction error")
        ax.legend(fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LatentSpaceDisplay:
    """Two latent dimensions as a scatter plot, coloured by label.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, 2)
    y : array-like of shape (n_samples,) or None, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection
    """

    def __init__(self, codes, y=None):
        self.codes = codes
        self.y = y

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, dims=(0, 1), ax=None):
        """Encode X with a fitted autoencoder (or a Pipeline ending in one) and plot.

        Parameters
        ----------
        estimator : fitted AutoencoderTransformer, VAETransformer or Pipeline
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Colours (class labels, cluster ids).
        dims : pair of int, default=(0, 1)
            Which latent dimensions to show.
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : LatentSpaceDisplay
        """
        codes = np.asarray(estimator.transform(X))
        if codes.ndim != 2 or codes.shape[1] < 2:
            raise ValueError("LatentSpaceDisplay needs at least 2 latent dimensions; got "
                             f"{codes.shape[1] if codes.ndim == 2 else codes.shape}.")
        return cls(codes[:, list(dims)], y).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the scatter plot; returns self."""
        ax = _axes(ax)
        codes = np.asarray(self.codes)
        kwargs = {"s": 8, "alpha": 0.8}
        if self.y is not None:
            kwargs.update(c=np.asarray(self.y), cmap="tab10")
        self.scatter_ = ax.scatter(codes[:, 0], codes[:, 1], **kwargs)
        if self.y is not None:
            ax.figure.colorbar(self.scatter_, ax=ax)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title("Latent space")
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _image_grid(ax, images, n_rows, n_cols, cmap="gray_r", vmin=None, vmax=None):
    h, w = images.shape[1:]
    canvas = np.full((n_rows * h, n_cols * w), np.nan)
    for k, image in enumerate(images[:n_rows * n_cols]):
        r, c = divmod(k, n_cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    im = ax.imshow(canvas, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


class ReconstructionDisplay:
    """Original images (top row) above their reconstructions (bottom row).

    Parameters
    ----------
    originals, reconstructions : ndarray of shape (n_images, n_features)
    image_shape : tuple of int or None, default=None
        (height, width); None for square images.
    titles : list of str or None, default=None
        A caption per column (e.g. the anomaly score).

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
    def from_estimator(cls, estimator, X, *, image_shape=None, n_images=8, ax=None):
        """Reconstruct the first ``n_images`` rows of X and plot them.

        Parameters
        ----------
        estimator : fitted estimator with ``transform`` and ``inverse_transform``
            An autoencoder, or a Pipeline such as ``StandardScaler -> autoencoder``
            (reconstructions are mapped back through the scaler).
        X : array-like of shape (n_samples, n_features)
        image_shape : tuple of int or None, default=None
        n_images : int, default=8
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : ReconstructionDisplay
        """
        X = np.asarray(X, dtype=float)[:n_images]
        recon = np.asarray(estimator.inverse_transform(estimator.transform(X)))
        return cls(X, recon, image_shape).plot(ax=ax)

    def plot(self, ax=None, *, cmap="gray_r"):
        """Draw the two rows; returns self."""
        originals = np.asarray(self.originals, dtype=float)
        recon = np.asarray(self.reconstructions, dtype=float)
        shape = _image_shape(originals.shape[1], self.image_shape)
        n = len(originals)
        ax = _axes(ax, figsize=(1.2 * n, 2.6))
        images = np.concatenate([originals, recon]).reshape(-1, *shape)
        # The originals' range for both rows: a wild reconstruction saturates instead of
        # washing out the contrast of every other image.
        self.image_ = _image_grid(ax, images, 2, n, cmap, originals.min(), originals.max())
        ax.set_ylabel("reconstructed    original", fontsize="small")
        if self.titles is not None:
            ax.set_xticks((np.arange(n) + 0.5) * shape[1] - 0.5)
            ax.set_xticklabels(self.titles, fontsize="x-small")
        ax.set_title("Originals and reconstructions")
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
    def from_estimator(cls, estimator, X=None, *, n=15, image_shape=None, ax=None):
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

        Returns
        -------
        display : DecoderGridDisplay
        """
        from scipy.stats import norm

        from .vae import VAETransformer

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
        return cls(np.asarray(estimator.inverse_transform(grid)), n, image_shape).plot(ax=ax)

    def plot(self, ax=None, *, cmap="gray_r"):
        """Draw the grid; returns self."""
        images = np.asarray(self.images, dtype=float)
        shape = _image_shape(images.shape[1], self.image_shape)
        ax = _axes(ax, figsize=(6, 6))
        self.image_ = _image_grid(ax, images.reshape(-1, *shape), self.n, self.n, cmap)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title("Decoded latent grid")
        self.ax_, self.figure_ = ax, ax.figure
        return self
