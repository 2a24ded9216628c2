"""The anomaly scores' histogram, with the threshold."""

from __future__ import annotations

import numpy as np

from ._common import _axes, _plain_log_labels, _style, format_score


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
