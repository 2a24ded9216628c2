"""What the plotting modules share: matplotlib on demand, keyword arguments over defaults,
and the fitted autoencoders inside an estimator."""

from __future__ import annotations


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

    from ._base import BaseAutoencoder

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
