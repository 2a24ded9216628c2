"""The preprocessing ``skae fit`` puts before the detector: a ColumnTransformer selecting
columns by name (impute and standardise numbers, one-hot encode and standardise
categories), fitted in memory or from streamed column statistics
(:class:`skae._tables.columns.ColumnStats`). Needs scikit-learn (the ``train`` extra)."""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer, StandardScaler

from .categories import CategoryEncoder

# What the missing-value indicators fill a missing number with before marking it (as
# above ``_MISSING_MARK / 3``): near the float32 limit, beyond any real value a float32
# model input can hold without overflowing.
_MISSING_MARK = 3e38


def build_preprocessor(roles, *, impute="median", indicators=False):
    """The unfitted ColumnTransformer, selecting columns by name.

    Blocks: ``numeric`` (impute, then standardise: every numeric column is imputed unless
    ``impute="none"``, so a model fitted on complete data still takes a gap),
    ``missing`` (with ``indicators``: one 0/1 indicator per numeric column that had
    missing values at fit) and ``categorical``
    (:class:`~skae._tables.categories.CategoryEncoder`: one-hot and standardised, an
    unseen category standing out as one seen once, a missing value counted as the most
    frequent category, or flagged with ``indicators``). The indicators are built from
    steps every ONNX converter knows (a constant fill, then a threshold), so the whole
    pipeline exports as one graph.
    """
    parts = []
    imputes = impute != "none"
    if roles.numeric:
        steps = [StandardScaler()]
        if imputes:
            steps.insert(0, SimpleImputer(strategy=impute, keep_empty_features=True))
        parts.append(("numeric", make_pipeline(*steps), list(roles.numeric)))
    if imputes and indicators and roles.missing:
        parts.append(
            (
                "missing",
                make_pipeline(
                    SimpleImputer(
                        strategy="constant", fill_value=_MISSING_MARK, keep_empty_features=True
                    ),
                    Binarizer(threshold=_MISSING_MARK / 3),
                ),
                list(roles.missing),
            )
        )
    if roles.categorical:
        encoder = CategoryEncoder(
            categories=[list(c) for c in roles.categorical.values()],
            missing="indicator" if indicators else "most_frequent",
        )
        parts.append(("categorical", encoder, list(roles.categorical)))
    return ColumnTransformer(parts, remainder="drop")


def fit_streamed_preprocessor(roles, stats, *, sample, impute="median", indicators=False):
    """The preprocessor fitted from streamed statistics, never the whole table.

    Its structure (and the imputer's medians) come from the random sample, ``sample``
    (``model_frame(stats.sample_frame(), roles)``); the scaler's means and variances are
    the exact ones of the whole data, from the first pass's ``StandardScaler.partial_fit``
    (adjusted for the imputed values), and the categories' shares the whole data's counts.
    """
    pre = build_preprocessor(roles, impute=impute, indicators=indicators)
    pre.fit(sample)
    if roles.numeric:
        _set_scaler(pre.named_transformers_["numeric"], roles, stats)
    if roles.categorical:
        pre.named_transformers_["categorical"].fit_counts(
            [stats.columns[name].counts for name in roles.categorical],
            stats.rows,
            feature_names=list(roles.categorical),
        )
    return pre


def _set_moments(scaler, means, variances, rows):
    """A fitted StandardScaler's statistics, set as ``partial_fit`` would have."""
    scaler.mean_ = np.asarray(means, dtype=np.float64)
    scaler.var_ = np.asarray(variances, dtype=np.float64)
    scale = np.sqrt(scaler.var_)
    # (a constant column keeps scale 1, as StandardScaler does)
    scaler.scale_ = np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)
    scaler.n_samples_seen_ = int(rows)


def _set_scaler(numeric, roles, stats):
    """Overwrite the numeric block's scaler with the whole data's statistics (and a mean
    imputer's means with the exact ones; a median comes from the sample)."""
    scaler = numeric.steps[-1][1]
    total = float(stats.rows)
    means, variances = [], []
    imputer = numeric.steps[0][1] if len(numeric.steps) > 1 else None
    for j, name in enumerate(roles.numeric):
        s = stats.columns[name].scaler
        n_seen = float(np.ravel(s.n_samples_seen_)[0])
        mean, var = float(s.mean_[0]), float(s.var_[0])
        if imputer is not None and imputer.strategy == "mean":
            imputer.statistics_[j] = mean
        if imputer is not None:  # the imputed column: observed values plus medians
            fill, n_fill = float(imputer.statistics_[j]), total - n_seen
            new_mean = (n_seen * mean + n_fill * fill) / total
            var = (n_seen * (var + mean**2) + n_fill * fill**2) / total - new_mean**2
            mean = new_mean
        means.append(mean)
        variances.append(max(var, 0.0))
    _set_moments(scaler, means, variances, total)
