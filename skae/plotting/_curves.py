"""Loss curves: training and validation loss per epoch, of a network or an ensemble."""

from __future__ import annotations

import numpy as np

from ._common import _LEGEND_OUTSIDE, _axes, _network_name, _plain_log_labels, _skae_models, _style


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
