"""2-D latent codes, coloured by label."""

from __future__ import annotations

import numpy as np

from ._common import _LEGEND_OUTSIDE, _MAX_CLASSES, _axes, _pyplot, _style


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
