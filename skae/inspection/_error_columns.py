"""Which input column each feature a fitted Pipeline feeds its detector comes from.

A detector's ``feature_errors`` are per *transformed* feature: after a ColumnTransformer
they are one-hot blocks, scaled copies and imputed columns. :func:`error_columns` traces
each transformed feature back to the input column it was computed from, so the errors
can be reported per input column: a one-hot block's errors are averaged onto its source
column, one-to-one transforms (scalers, imputers, ordinal encoders, feature selectors)
map straight through. Where a step mixes columns (PCA, polynomial features, an
autoencoder), no input column owns a feature, and the errors stay on the transformed
features under their ``get_feature_names_out`` names rather than wrong input names.

Used by :func:`skae.onnx.to_onnx` (the graph's ``feature_errors`` output) and by
:func:`skae.inspection.feature_errors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._schema import SPACE_INPUT as INPUT
from .._schema import SPACE_TRANSFORMED as TRANSFORMED


@dataclass(frozen=True)
class ErrorColumns:
    """Where the columns of a detector's ``feature_errors`` are reported.

    Attributes
    ----------
    space : {"input", "transformed"}
        "input": one error column per input column of the estimator (columns the model
        never reads get 0); "transformed": one per feature the detector sees.
    names : list of str or None
        The error columns' names; None when the estimator was fitted without column
        names (then column k is input column / transformed feature k).
    sources : ndarray of shape (n_transformed,) or None
        For "input", the input column each transformed feature comes from.
    n_columns : int
        Number of error columns.
    """

    space: str
    names: list | None
    sources: np.ndarray | None
    n_columns: int

    @property
    def one_to_one(self):
        """Whether transformed feature k is input column k: no mapping to apply."""
        return self.sources is None or np.array_equal(self.sources, np.arange(self.n_columns))

    def matrix(self, dtype=np.float64):
        """The matrix M with ``errors @ M`` = each input column's mean error over the
        features computed from it (a one-hot block's mean, not its sum: with errors
        normalised per feature, a sum would make every many-category column the
        largest for ordinary rows)."""
        counts = np.bincount(self.sources, minlength=self.n_columns)
        m = np.zeros((len(self.sources), self.n_columns), dtype=dtype)
        m[np.arange(len(self.sources)), self.sources] = 1.0 / counts[self.sources]
        return m

    def apply(self, errors):
        """Per-transformed-feature errors, shape (n, n_transformed), to these columns."""
        errors = np.asarray(errors)
        if self.one_to_one:
            return errors
        return errors @ self.matrix(errors.dtype)


def split_detector(estimator):
    """``(preprocessing steps, detector)`` of a detector or a Pipeline ending in one."""
    from sklearn.pipeline import Pipeline

    from ..detector import ReconstructionAnomalyDetector

    steps = []
    while isinstance(estimator, Pipeline):
        steps.extend(step for _, step in estimator.steps[:-1])
        estimator = estimator.steps[-1][1]
    if not isinstance(estimator, ReconstructionAnomalyDetector):
        raise TypeError(
            "Expected a fitted ReconstructionAnomalyDetector or a Pipeline ending in one; "
            f"got one ending in {type(estimator).__name__}."
        )
    return [s for s in steps if s is not None and not _is_passthrough(s)], estimator


def error_columns(estimator, *, space=INPUT):
    """Trace a fitted detector's (or detector Pipeline's) features to its input columns.

    Parameters
    ----------
    estimator : ReconstructionAnomalyDetector or Pipeline
        Fitted; a Pipeline's last step must be the detector.
    space : {"input", "transformed"}, default="input"
        "input" maps onto the input columns where every feature the detector sees comes
        from one input column, and falls back on "transformed" where a step mixes
        columns; "transformed" keeps the features the detector sees.

    Returns
    -------
    columns : ErrorColumns
    """
    return _error_columns(estimator, *split_detector(estimator), space)


def _error_columns(estimator, steps, detector, space):
    """:func:`error_columns`, given ``split_detector(estimator)``."""
    n_in = int(estimator.n_features_in_)
    names = getattr(estimator, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    sources = _chain_sources(steps, n_in)
    if not steps or (
        space == INPUT and sources is not None and len(sources) == detector.n_features_in_
    ):
        return ErrorColumns(INPUT, names, sources, n_in)
    return ErrorColumns(
        TRANSFORMED, _transformed_names(steps, detector), None, int(detector.n_features_in_)
    )


def _transformed_names(steps, detector):
    from sklearn.pipeline import make_pipeline

    try:
        names = make_pipeline(*steps).get_feature_names_out()
    except (AttributeError, ValueError, TypeError):  # a step without feature names
        return None
    names = [str(n) for n in names]
    return names if len(names) == detector.n_features_in_ else None


def _is_passthrough(step):
    return isinstance(step, str) and step == "passthrough"


def _chain_sources(steps, n_in):
    """:func:`_sources` through ``steps`` applied one after another."""
    sources = np.arange(n_in)
    for step in steps:
        mapped = _sources(step, len(sources))
        if mapped is None:
            return None
        sources = sources[mapped]
    return sources


def _sources(step, n_in):
    """For each output feature of a fitted ``step`` taking ``n_in`` features, the index
    of the input feature it comes from; None when an output mixes inputs or the step is
    unknown."""
    from sklearn.base import OneToOneFeatureMixin
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if step is None or _is_passthrough(step):
        return np.arange(n_in)
    if isinstance(step, Pipeline):
        return _chain_sources([inner for _, inner in step.steps], n_in)
    if isinstance(step, ColumnTransformer):
        return _column_transformer_sources(step)
    if isinstance(step, FeatureUnion):
        parts = []
        for _, inner in step.transformer_list:
            if isinstance(inner, str) and inner == "drop":
                continue
            part = _sources(inner, n_in)
            if part is None:
                return None
            parts.append(part)
        return np.concatenate(parts) if parts else np.arange(0)
    own = getattr(step, "feature_sources_", None)  # skae's CategoryEncoder says it
    if own is not None:
        return np.asarray(own, dtype=int)
    if isinstance(step, OneHotEncoder):
        counts = _one_hot_counts(step)
        return None if counts is None else np.repeat(np.arange(n_in), counts)
    n_out = _n_features_out(step)
    if isinstance(step, OneToOneFeatureMixin) and n_out == n_in:
        return np.arange(n_in)
    return _sources_by_name(step)


def _n_features_out(step):
    try:
        return len(step.get_feature_names_out())
    except (AttributeError, ValueError, TypeError):
        return None


def _sources_by_name(step):
    """Steps that keep, drop or flag input features by name (imputers, selectors,
    missing indicators): each output named after one input, or ``missingindicator_``
    one input, maps to it."""
    try:
        out = [str(n) for n in step.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return None
    own = getattr(step, "feature_names_in_", None)
    n_own = getattr(step, "n_features_in_", None)
    if own is None and n_own is None:
        return None
    own = [str(n) for n in own] if own is not None else [f"x{i}" for i in range(n_own)]
    if len(set(own)) != len(own):
        return None
    index = {name: i for i, name in enumerate(own)}
    sources = []
    for name in out:
        if name in index:
            sources.append(index[name])
        elif name.startswith("missingindicator_") and name[17:] in index:
            sources.append(index[name[17:]])
        else:
            return None
    return np.asarray(sources, dtype=int)


def _one_hot_counts(encoder):
    """Output columns per input feature of a fitted OneHotEncoder (after ``drop`` and
    infrequent categories), checked against its feature names."""
    counts = []
    infrequent = getattr(encoder, "infrequent_categories_", None)
    drop = getattr(encoder, "drop_idx_", None)
    for i, categories in enumerate(encoder.categories_):
        n = len(categories)
        if infrequent is not None and infrequent[i] is not None:
            n = n - len(infrequent[i]) + 1
        if drop is not None and drop[i] is not None:
            n -= 1
        counts.append(n)
    return counts if sum(counts) == _n_features_out(encoder) else None


def _column_transformer_sources(ct):
    n_out = _n_features_out(ct)
    indices = getattr(ct, "_transformer_to_input_indices", None)
    if n_out is None or indices is None:
        return None
    sources = np.full(n_out, -1)
    for name, step, _ in ct.transformers_:
        cut = ct.output_indices_.get(name)
        if cut is None or cut.stop == cut.start or (isinstance(step, str) and step == "drop"):
            continue
        columns = np.asarray(indices[name], dtype=int)
        part = _sources(step, len(columns))
        if part is None or len(part) != cut.stop - cut.start:
            return None
        sources[cut] = columns[part]
    return None if (sources < 0).any() else sources


def feature_errors(estimator, X, *, space=INPUT):
    """See :func:`skae.inspection.feature_errors`."""
    import pandas as pd
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    steps, detector = split_detector(estimator)
    Xt = X
    for step in steps:
        Xt = step.transform(Xt)
    errors = np.asarray(detector.feature_errors(Xt))
    columns = _error_columns(estimator, steps, detector, space)
    values = columns.apply(errors)
    names = columns.names if columns.names is not None else range(values.shape[1])
    index = X.index if hasattr(X, "index") and hasattr(X, "columns") else None
    frame = pd.DataFrame(values, columns=list(names), index=index)
    frame.attrs["feature_errors_space"] = columns.space
    return frame
