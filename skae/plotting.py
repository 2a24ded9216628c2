"""Plots in scikit-learn's Display style: ``Display.from_estimator(...)`` then ``.plot()``.

Each Display stores the computed values (so it can be re-plotted without recomputing)
and, after ``plot``, the matplotlib handles ``ax_``, ``figure_`` and the artists it drew.
As in scikit-learn, ``plot`` and ``from_estimator`` pass extra keyword arguments to the
matplotlib call that draws the data, and set no title (``display.ax_.set_title(...)``).
matplotlib is imported only when plotting (``pip install 'skae[plot]'``); nothing here
needs torch until an estimator is inspected.

- :class:`LossCurveDisplay`: training and validation loss per epoch.
- :class:`ReconstructionErrorDisplay`: histogram of anomaly scores with the threshold.
- :class:`LatentSpaceDisplay`: 2-D latent codes coloured by label.
- :class:`ReconstructionDisplay`: original images above their reconstructions.
- :class:`DecoderGridDisplay`: images decoded from a grid over a 2-D latent plane.
"""

from __future__ import annotations

import numpy as np

from ._plot_common import _axes, _pyplot, _skae_models, _style
from ._plot_images import DecoderGridDisplay, ReconstructionDisplay

__all__ = [
    "DecoderGridDisplay",
    "LatentSpaceDisplay",
    "LossCurveDisplay",
    "ReconstructionDisplay",
    "ReconstructionErrorDisplay",
    "format_score",
]

# Outside the axes, to the right: a legend there never covers the data.
_LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
_MAX_CLASSES = 20  # labels with at most this many values get a legend, more a colorbar


def format_score(value):
    """A number in three significant digits, large ones with a k / M / G / T suffix.

    For labels read at a glance: ``119141.9 -> '119k'``, ``5248.6 -> '5.25k'``,
    ``13.45 -> '13.4'``, ``-0.01234 -> '-0.0123'``.

    Parameters
    ----------
    value : float

    Returns
    -------
    text : str

    Examples
    --------
    >>> from skae.plotting import format_score
    >>> [format_score(v) for v in (119141.9, 5248.6, 13.45, -0.01234, 2.5e9)]
    ['119k', '5.25k', '13.4', '-0.0123', '2.5G']
    """
    value = float(f"{float(value):.3g}")  # round first: 999_960 is '1M', not '1e+03k'
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _plain_log_labels(axis, *, minor=True):
    """Label a log or symlog axis with plain numbers (0.4, 2, 1k), not 4x10^-1.

    The ticks matplotlib chooses to label stay the same; only their text changes.
    """
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return format_score(x) if super().__call__(x, pos) else ""

    axis.set_major_formatter(PlainLogFormatter(10))
    if minor:
        axis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))


def _network_name(model):
    """``"Autoencoder 64-32-8"``: the kind and the encoder's widths down to the code."""
    kind = type(model).__name__.removesuffix("Transformer")
    widths = [*getattr(model, "hidden_layer_sizes", ()), getattr(model, "n_components", "?")]
    return f"{kind} {'-'.join(map(str, widths))}"


class LossCurveDisplay:
    """Training (and validation) loss per epoch.

    One colour per network, a solid line for the training loss and a dashed one for the
    validation loss; the legend has one entry per network (for several) plus one per
    kind, outside the axes when there are several networks.

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
        The training and validation curves, network by network.

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
    def from_estimator(cls, estimator, *, ax=None, log_scale=True, **kwargs):
        """Plot the loss curves of a fitted estimator, detector (all members) or Pipeline.

        Parameters
        ----------
        estimator : fitted skae estimator, ReconstructionAnomalyDetector or Pipeline
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        log_scale : bool, default=True
            Logarithmic loss axis (when every loss is positive).
        **kwargs : dict
            Passed to matplotlib's ``plot`` for every curve.

        Returns
        -------
        display : LossCurveDisplay
        """
        models = _skae_models(estimator)
        if not models:
            raise ValueError(f"{type(estimator).__name__} holds no skae autoencoder.")
        names = [_network_name(m) for m in models]
        if len(set(names)) < len(names):
            names = [f"{i}: {name}" for i, name in enumerate(names)]
        return cls(
            [m.loss_curve_ for m in models], [m.validation_loss_curve_ for m in models], names
        ).plot(ax=ax, log_scale=log_scale, **kwargs)

    def plot(self, ax=None, *, log_scale=True, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        log_scale : bool, default=True
        **kwargs : dict
            Passed to matplotlib's ``plot`` for every curve (``linewidth``, ``alpha``,
            ...); ``color`` or ``linestyle`` replace the per-network colours or the
            per-kind line styles.

        Returns
        -------
        display : LossCurveDisplay
        """
        from matplotlib.lines import Line2D

        ax = _axes(ax)
        train_curves = [np.asarray(c, dtype=float) for c in self.loss_curves]
        n = len(train_curves)
        names = list(self.names) if self.names is not None else [f"network {i}" for i in range(n)]
        val_curves = [np.asarray(c, dtype=float) for c in (self.validation_loss_curves or [[]] * n)]
        self.lines_, networks, kinds = [], [], {}
        for i, (train, val, name) in enumerate(zip(train_curves, val_curves, names, strict=True)):
            for kind, curve, linestyle in [("training", train, "-"), ("validation", val, "--")]:
                if not len(curve):
                    continue
                style = _style(
                    {"color": f"C{i % 10}", "linestyle": linestyle, "label": f"{name} {kind}"},
                    kwargs,
                    Line2D,
                )
                self.lines_ += ax.plot(np.arange(1, len(curve) + 1), curve, **style)
                kinds.setdefault(
                    kind, Line2D([], [], color="0.35", label=kind, linestyle=style["linestyle"])
                )
            networks.append(Line2D([], [], color=self.lines_[-1].get_color(), label=name))
        curves = [c for c in train_curves + val_curves if len(c)]
        if log_scale and curves and all(np.all(c > 0) for c in curves):
            ax.set_yscale("log")
            _plain_log_labels(ax.yaxis)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        # Entries: the kinds, plus the networks when several colours tell them apart.
        handles = list(kinds.values())
        if n > 1 and len({h.get_color() for h in networks}) > 1:
            handles += networks
        if handles:
            where = _LEGEND_OUTSIDE if n > 1 else {"loc": "best"}
            ax.legend(handles=handles, fontsize="small", **where)
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
    def from_estimator(
        cls, estimator, X, y=None, *, pos_label=1, ax=None, bins=50, scale="auto", **kwargs
    ):
        """Score X with a fitted detector (or autoencoder, or Pipeline) and plot.

        Parameters
        ----------
        estimator : fitted estimator with ``score_samples``
            A ReconstructionAnomalyDetector (the threshold is ``-offset_``), an
            autoencoder, a Pipeline ending in one, or a detector loaded with
            :func:`skae.onnx.load_onnx` (no torch needed).
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
        **kwargs : dict
            Passed to matplotlib's ``hist``.

        Returns
        -------
        display : ReconstructionErrorDisplay
        """
        steps = getattr(estimator, "steps", None)  # a Pipeline, without importing sklearn
        offset = getattr(steps[-1][1] if steps else estimator, "offset_", None)
        return cls(
            -np.asarray(estimator.score_samples(X), dtype=float),
            None if offset is None else -offset,
            y,
            pos_label,
        ).plot(ax=ax, bins=bins, scale=scale, **kwargs)

    def plot(self, ax=None, *, bins=50, scale="auto", **kwargs):
        """Draw the histogram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        bins : int, default=50
        scale : {"auto", "linear", "symlog"}, default="auto"
        **kwargs : dict
            Passed to matplotlib's ``hist`` (``alpha``, ``histtype``, ``color``, ...).

        Returns
        -------
        display : ReconstructionErrorDisplay
        """
        from matplotlib.patches import Patch

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
            _plain_log_labels(ax.xaxis, minor=False)
        else:
            edges = np.histogram_bin_edges(scores, bins=bins)
        if self.y is None:
            groups = [(scores, "rows", "C0", 0.8)]
        else:
            anomalous = np.asarray(self.y) == self.pos_label
            groups = [
                (scores[~anomalous], "normal", "C0", 0.6),
                (scores[anomalous], "anomaly", "C3", 0.8),
            ]
        for values, label, color, alpha in groups:
            ax.hist(
                values,
                **_style(
                    {"bins": edges, "color": color, "alpha": alpha, "label": label}, kwargs, Patch
                ),
            )
        self.threshold_line_ = None
        if self.threshold is not None:
            self.threshold_line_ = ax.axvline(
                self.threshold,
                color="k",
                linestyle="--",
                label=f"threshold ({format_score(self.threshold)})",
            )
        ax.set_xlabel("anomaly score (-score_samples)")
        ax.set_ylabel("rows")
        ax.legend(fontsize="small", loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LatentSpaceDisplay:
    """Two latent dimensions as a scatter plot, coloured by label.

    Labels with at most 20 distinct values (classes, cluster ids, strings) get one
    colour and one legend entry each, outside the axes; more (a continuous target) get
    a colormap and a colorbar.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, 2)
    y : array-like of shape (n_samples,) or None, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection
    classes_ : ndarray or None
        The label values shown in the legend (None without labels or with a colorbar).
    """

    def __init__(self, codes, y=None):
        self.codes = codes
        self.y = y

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, dims=(0, 1), ax=None, **kwargs):
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
        **kwargs : dict
            Passed to matplotlib's ``scatter``.

        Returns
        -------
        display : LatentSpaceDisplay
        """
        codes = np.asarray(estimator.transform(X))
        if codes.ndim != 2 or codes.shape[1] < 2:
            raise ValueError(
                "LatentSpaceDisplay needs at least 2 latent dimensions; got "
                f"{codes.shape[1] if codes.ndim == 2 else codes.shape}."
            )
        return cls(codes[:, list(dims)], y).plot(ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to matplotlib's ``scatter`` (``s``, ``alpha``, ``marker``, ...); a
            ``c`` or ``color`` replaces the colouring by label.

        Returns
        -------
        display : LatentSpaceDisplay
        """
        from matplotlib.collections import PathCollection
        from matplotlib.colors import ListedColormap
        from matplotlib.lines import Line2D

        ax = _axes(ax)
        codes = np.asarray(self.codes)
        defaults = {"s": 8, "alpha": 0.8, "linewidths": 0}
        self.classes_ = None
        by_label = self.y is not None and not {"c", "color", "facecolor"} & set(
            _style({}, kwargs, PathCollection)
        )
        if by_label:
            classes, index = np.unique(np.asarray(self.y), return_inverse=True)
            if len(classes) <= _MAX_CLASSES:
                palette = _pyplot().get_cmap("tab10" if len(classes) <= 10 else "tab20")
                cmap = ListedColormap(palette.colors[: len(classes)])
                defaults.update(c=index, cmap=cmap, vmin=-0.5, vmax=len(classes) - 0.5)
                self.classes_ = classes
            else:
                defaults.update(c=np.asarray(self.y, dtype=float), cmap="viridis")
        self.scatter_ = ax.scatter(
            codes[:, 0], codes[:, 1], **_style(defaults, kwargs, PathCollection)
        )
        if self.classes_ is not None:
            handles = [
                Line2D([], [], marker="o", linestyle="", color=cmap(k), label=str(label))
                for k, label in enumerate(self.classes_)
            ]
            ax.legend(handles=handles, fontsize="small", handletextpad=0.1, **_LEGEND_OUTSIDE)
        elif by_label:
            ax.figure.colorbar(self.scatter_, ax=ax)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        self.ax_, self.figure_ = ax, ax.figure
        return self
