"""What the displays share: matplotlib on demand, keyword arguments over defaults, the
fitted autoencoders inside an estimator, readable numbers and legends."""

from __future__ import annotations


def require_matplotlib():
    """Raise the ImportError naming the ``plot`` extra when matplotlib is missing."""
    from importlib.util import find_spec

    try:
        found = find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ImportError(
            "skae.plotting needs matplotlib, which is not installed: plots come with the "
            "'plot' extra, pip install \"skae[plot]\".",
            name="matplotlib",
        )


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _axes(ax, **subplots):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(**subplots)
    return ax


def _style(defaults, kwargs, artist):
    """``defaults`` overridden by the user's keyword arguments, matplotlib aliases resolved.

    ``lw=2`` from the user replaces a default ``linewidth``, as scikit-learn's Displays
    do; ``artist`` is the matplotlib Artist class whose aliases apply.
    """
    from matplotlib.cbook import normalize_kwargs

    return {**normalize_kwargs(defaults, artist), **normalize_kwargs(kwargs, artist)}


def _skae_models(estimator):
    """The fitted autoencoders inside an estimator, a detector or a Pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    from .._estimators.base import BaseAutoencoder

    check_is_fitted(estimator)
    if isinstance(estimator, Pipeline):
        return [
            m
            for _, step in estimator.steps
            if step not in (None, "passthrough")
            for m in _skae_models(step)
        ]
    if isinstance(estimator, BaseAutoencoder):
        return [estimator]
    return list(getattr(estimator, "estimators_", []))


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
