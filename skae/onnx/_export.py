"""``to_onnx``: one estimator or a whole Pipeline to one ONNX graph, with metadata."""

from __future__ import annotations

import json

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from .. import _schema
from .._version import __version__
from ..detector import ReconstructionAnomalyDetector
from ..inspection._error_columns import error_columns
from . import _graph
from ._converters import detector_outputs, register_converters
from ._feeds import is_frame

_FEATURE_ERRORS = (False, True, _schema.SPACE_INPUT, _schema.SPACE_TRANSFORMED)


def _walk(estimator):
    """Yield the estimator and every estimator nested in Pipelines / column transformers."""
    yield estimator
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps:
            yield from _walk(step)
    elif isinstance(estimator, ColumnTransformer):
        for _, step, _ in estimator.transformers_:
            if not isinstance(step, str):
                yield from _walk(step)
    elif isinstance(estimator, FeatureUnion):
        for _, step in estimator.transformer_list:
            yield from _walk(step)


def _final_step(estimator):
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


# ------------------------------------------------------------------ the sample
def _check_sample(estimator, X_sample):
    """The sample's columns, checked against what the estimator was fitted on.

    Returns ``(n_features, frame)``: the frame (columns in the fitted order) for a
    DataFrame sample, None for an array sample.
    """
    fitted = getattr(estimator, "n_features_in_", None)
    names = getattr(estimator, "feature_names_in_", None)
    if is_frame(X_sample):
        columns = [str(c) for c in X_sample.columns]
        if len(set(columns)) != len(columns):
            raise ValueError("X_sample has duplicated column names; give each column its own name.")
        if names is not None:
            missing = [str(n) for n in names if str(n) not in columns]
            if missing:
                raise ValueError(
                    f"X_sample lacks the columns the estimator was fitted on: {missing}. "
                    "Pass rows of the table it was fitted on (e.g. X_train.iloc[:1])."
                )
            X_sample = X_sample.iloc[:, [columns.index(str(n)) for n in names]]
        elif fitted is not None and X_sample.shape[1] != fitted:
            raise ValueError(
                f"X_sample has {X_sample.shape[1]} columns, but the estimator was fitted on "
                f"{fitted} features."
            )
        return X_sample.shape[1], X_sample
    shape = getattr(X_sample, "shape", None)
    if shape is None:
        shape = np.shape(X_sample)
    if len(shape) != 2:
        raise ValueError(
            f"X_sample must be 2-D (rows of the training data, e.g. X[:1]); got "
            f"{len(shape)} dimension(s). Reshape a single row with X.reshape(1, -1)."
        )
    if fitted is not None and shape[1] != fitted:
        raise ValueError(
            f"X_sample has {shape[1]} features, but the estimator was fitted on {fitted} "
            "features. Pass rows of the training data (e.g. X_train[:1])."
        )
    return int(shape[1]), None


def _selects_by_name(estimator):
    """Whether a ColumnTransformer in the estimator picks columns by name or dtype."""
    for step in _walk(estimator):
        if isinstance(step, ColumnTransformer):
            for _, _, columns in step.transformers:
                if (
                    callable(columns)
                    or isinstance(columns, str)
                    or (np.ndim(columns) == 1 and any(isinstance(c, str) for c in columns))
                ):
                    return True
    return False


def _needs_columns(estimator, frame):
    """A DataFrame sample gives one input per column when the table holds text (a
    tensor cannot carry it) or the estimator selects columns by name (skl2onnx then
    looks the names up among the inputs); an all-number table for an estimator that
    takes every column keeps the one float32 tensor, the fastest to feed."""
    if frame is None:
        return False
    numbers = all(getattr(dtype, "kind", "O") in "fiub" for dtype in frame.dtypes)
    return not numbers or _selects_by_name(estimator)


def _blocks(estimator):
    """``(input column names, steps of the block)`` for each transformer of each fitted
    ColumnTransformer in ``estimator``."""
    for step in _walk(estimator):
        if not isinstance(step, ColumnTransformer) or not hasattr(step, "transformers_"):
            continue
        names = getattr(step, "feature_names_in_", None)
        indices = getattr(step, "_transformer_to_input_indices", {})
        for name, inner, _ in step.transformers_:
            if isinstance(inner, str) or names is None:
                continue
            columns = [str(names[i]) for i in indices.get(name, ())]
            yield columns, [s for s in _walk(inner) if not isinstance(s, Pipeline)]


def _takes_text(steps):
    """Whether a block's first fitted step learnt text values (categories, imputed
    values): its columns are then text inputs."""
    first = steps[0] if steps else None
    for attribute in ("categories_", "statistics_"):
        values = getattr(first, attribute, None)
        if values is not None:
            flat = (
                [v for part in values for v in np.ravel(part)]
                if attribute == "categories_"
                else list(np.ravel(values))
            )
            return any(isinstance(v, str) for v in flat)
    return False


def text_columns(estimator):
    """The input columns that a fitted ColumnTransformer in ``estimator`` feeds to a step
    fitted on text (a category encoder, an imputer of categories): the graph takes them
    as strings, whatever a sample's dtype says."""
    return [c for columns, steps in _blocks(estimator) if _takes_text(steps) for c in columns]


def _missing_tokens(estimator):
    """``{column: "None"}`` for text columns whose first fitted step learnt None as a
    category (skl2onnx writes it "None"; the runtime feeds a missing value so)."""
    tokens = {}
    for columns, steps in _blocks(estimator):
        cats = getattr(steps[0], "categories_", None) if steps else None
        if cats is None or not _takes_text(steps):
            continue
        for column, categories in zip(columns, cats, strict=False):
            if any(c is None for c in np.ravel(categories)):
                tokens[column] = "None"
    return tokens


def _check_text_imputers(estimator):
    """skl2onnx converts a SimpleImputer of text only when its missing_values is a string
    (the runtime feeds a missing text value as "nan")."""
    from sklearn.impute import SimpleImputer

    for columns, steps in _blocks(estimator):
        for step in steps:
            if (
                isinstance(step, SimpleImputer)
                and _takes_text([step])
                and not isinstance(step.missing_values, str)
            ):
                raise ValueError(
                    f"the SimpleImputer of the text columns {columns} has missing_values="
                    f"{step.missing_values!r}, which skl2onnx cannot convert: fit it with "
                    "missing_values='nan' on text whose missing values are 'nan' (as "
                    "skae score feeds them), or encode missing text as a category."
                )


def sample_from_fit(estimator):
    """A one-row DataFrame sample built from what the estimator was fitted on: each
    column it reads as text a string (one of its categories), every other a number."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return None
    text = set(text_columns(estimator))
    import pandas as pd

    return pd.DataFrame({str(n): ["a"] if str(n) in text else [0.0] for n in names})


def _read_columns(estimator, n_columns):
    """Positions of the columns the estimator reads: a leading ColumnTransformer that
    drops its remainder reads only those its transformers select (an ID or a free-text
    column it leaves out is no input of the graph), anything else every column."""
    first = estimator
    while isinstance(first, Pipeline):
        first = next((s for _, s in first.steps if s not in (None, "passthrough")), None)
    if not isinstance(first, ColumnTransformer):
        return list(range(n_columns))
    indices = getattr(first, "_transformer_to_input_indices", None)
    if indices is None:
        return list(range(n_columns))
    used = set()
    for name, step, _ in first.transformers_:
        if isinstance(step, str) and step == "drop":
            continue
        used.update(int(i) for i in indices.get(name, ()))
    return sorted(used) or list(range(n_columns))


def _column_type(name, column):
    """The ONNX input type of one DataFrame column: numbers (bool included) as float32,
    text and categories as strings."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    dtype = column.dtype
    if getattr(dtype, "name", "") == "category":
        dtype = dtype.categories.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in "fiub":
        return FloatTensorType([None, 1])
    if kind in "OSUT":
        values = column.dropna()
        if len(values) and not values.map(lambda v: isinstance(v, str)).all():
            raise ValueError(
                f"X_sample column {name!r} mixes text with other values; ONNX inputs are "
                "numbers or text: make it one or the other."
            )
        return StringTensorType([None, 1])
    raise ValueError(
        f"X_sample column {name!r} has dtype {column.dtype}, which ONNX inputs cannot "
        "carry: convert it to numbers (e.g. seconds since an origin) or text, in the data "
        "and in the Pipeline."
    )


def _initial_types(n_features, frame):
    from skl2onnx.common.data_types import FloatTensorType

    if frame is None:
        return [(_schema.INPUT_NAME, FloatTensorType([None, n_features]))]
    return [(str(c), _column_type(str(c), frame[c])) for c in frame.columns]


# ------------------------------------------------------------------ the graph
def _convert(estimator, initial_types, options, opset):
    from skl2onnx import convert_sklearn

    register_converters()
    return convert_sklearn(
        estimator,
        initial_types=initial_types,
        target_opset={"": opset, "ai.onnx.ml": _schema.ML_OPSET},
        options=options or None,
    )


def _canonical_outputs(onx, last, options):
    """Give the outputs the names the runtime knows, whatever skl2onnx made unique.

    skl2onnx names a detector's outputs label / scores (in the order the parser
    declares them) and a transformer's ``variable``, but a Pipeline ending in a
    FeatureUnion outputs ``union``, one ending in a ColumnTransformer
    ``transformed_column``, and an input column called ``label`` pushes the output to
    ``label1``. Inputs holding one of the names are renamed first. ``last`` is the
    estimator's final step.
    """
    outputs = [o.name for o in onx.graph.output]
    if isinstance(last, ReconstructionAnomalyDetector):
        det_options = options.get(id(last), {})
        wanted = detector_outputs(
            det_options.get("score_samples"), det_options.get("feature_errors")
        )
    elif len(outputs) == 1 and hasattr(last, "transform") and not hasattr(last, "predict"):
        wanted = [_schema.TRANSFORM_OUTPUT]
    else:
        return
    if len(wanted) != len(outputs):
        raise RuntimeError(f"skae expected the outputs {wanted}; the graph has {outputs}.")
    for old, new in zip(outputs, wanted, strict=True):
        if old == new:
            continue
        if new in _graph.names(onx.graph):  # an input or an inner value: move it away
            _graph.rename(onx.graph, new, _graph.unique_name(onx.graph, f"{new}_0"))
        _graph.rename(onx.graph, old, new)


def _map_feature_errors(onx, estimator, space):
    """Sum the feature_errors output onto input columns where asked and possible;
    return its columns (``ErrorColumns``)."""
    columns = error_columns(estimator, space=space)
    if columns.space == _schema.SPACE_INPUT and not columns.one_to_one:
        _graph.append_matmul(onx.graph, _schema.FEATURE_ERRORS_OUTPUT, columns.matrix(np.float32))
    return columns


def _metadata(estimator, last, n_features, frame):
    """The model's metadata_props; ``last`` is the estimator's final step."""
    meta = {
        _schema.META_VERSION: __version__,
        _schema.META_CLASS: f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        _schema.META_PARAMS: json.dumps(_fitted_params(estimator), default=repr, sort_keys=True),
        _schema.META_N_FEATURES: str(n_features),
        _schema.META_INPUTS: _schema.INPUTS_TENSOR if frame is None else _schema.INPUTS_COLUMNS,
    }
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        meta[_schema.META_FEATURE_NAMES] = json.dumps([str(n) for n in names])
    if frame is not None:
        meta[_schema.META_INPUT_COLUMNS] = json.dumps([str(c) for c in frame.columns])
        tokens = _missing_tokens(estimator)
        if tokens:
            meta[_schema.META_MISSING_TEXT] = json.dumps(tokens)
    if isinstance(last, ReconstructionAnomalyDetector):
        # what the fit used (fitted attributes), not the parameters as set since
        contamination = last.contamination_  # a float, or "auto"; None with a rate
        if last.false_alarm_rate_ is None:
            meta[_schema.META_CONTAMINATION] = (
                contamination if isinstance(contamination, str) else repr(float(contamination))
            )
        meta[_schema.META_OFFSET] = repr(float(last.offset_))
        meta[_schema.META_NOVELTY] = "true" if last.novelty_ else "false"
        meta[_schema.META_TRAINING_ROWS] = str(int(last.model_training_rows_))
        meta.update(_calibration_metadata(last))
    return meta


def _calibration_metadata(detector):
    """The calibration a deployment reads without the graph: the sorted calibration
    scores (for the drift check), whether they were held out, the false-alarm rate."""
    scores = np.asarray(detector.calibration_scores_, dtype=np.float64)
    meta = {
        _schema.META_CALIBRATION_SCORES: json.dumps([float(f"{v:.9g}") for v in scores]),
        _schema.META_CALIBRATION: _schema.CALIBRATION_HELD_OUT
        if detector._calibrated().held_out
        else _schema.CALIBRATION_TRAINING,
    }
    if detector.false_alarm_rate_ is not None:
        meta[_schema.META_FALSE_ALARM_RATE] = repr(float(detector.false_alarm_rate_))
    return meta


def _fitted_params(estimator):
    """``get_params(deep=False)``, with a detector's settings as its fit used them
    (``set_params`` after the fit does not change what the exported model does)."""
    params = estimator.get_params(deep=False)
    if isinstance(estimator, ReconstructionAnomalyDetector):
        params["false_alarm_rate"] = estimator.false_alarm_rate_
        if estimator.contamination_ is not None:
            params["contamination"] = estimator.contamination_
        if estimator._settings()["novelty"] != estimator.novelty_:
            params["novelty"] = estimator.novelty_
    return params


def _top_feature_shares(detector, columns):
    """Each error column's share of the calibration rows' ``top_feature`` (the drift
    check names the columns whose share grew significantly), from the rows the detector
    keeps: with a false-alarm rate every held-out row, as many as the calibration
    scores, which the drift check takes for the count behind the shares."""
    rows = detector._calibration_rows()
    if rows is None or not len(rows) or columns.names is None:
        return None
    errors = columns.apply(np.asarray(detector.feature_errors(rows)))
    names, counts = np.unique(
        np.asarray(columns.names, dtype=object)[errors.argmax(axis=1)], return_counts=True
    )
    return {str(n): round(float(c) / len(rows), 6) for n, c in zip(names, counts, strict=True)}


def to_onnx(estimator, X_sample, *, feature_errors=False, score_samples=False, target_opset=None):
    """See :func:`skae.onnx.to_onnx`."""
    if feature_errors not in _FEATURE_ERRORS:
        raise ValueError(
            f"feature_errors must be one of {_FEATURE_ERRORS}; got {feature_errors!r}."
        )
    check_is_fitted(estimator)
    _check_text_imputers(estimator)
    n_features, frame = _check_sample(estimator, X_sample)
    opset = _schema.OPSET if target_opset is None else int(target_opset)
    detectors = [d for d in _walk(estimator) if isinstance(d, ReconstructionAnomalyDetector)]
    options = {
        id(det): {"feature_errors": bool(feature_errors), "score_samples": bool(score_samples)}
        for det in detectors
    }
    if not _needs_columns(estimator, frame):
        frame = None
    elif frame is not None:
        frame = frame.iloc[:, _read_columns(estimator, frame.shape[1])]
    onx = _convert(estimator, _initial_types(n_features, frame), options, opset)
    last = _final_step(estimator)
    _canonical_outputs(onx, last, options)
    meta = _metadata(estimator, last, n_features, frame)
    if feature_errors and isinstance(last, ReconstructionAnomalyDetector):
        space = (
            _schema.SPACE_TRANSFORMED
            if feature_errors == _schema.SPACE_TRANSFORMED
            else _schema.SPACE_INPUT
        )
        columns = _map_feature_errors(onx, estimator, space)
        meta[_schema.META_FEATURE_ERRORS_SPACE] = columns.space
        if columns.names is not None:
            meta[_schema.META_FEATURE_ERRORS_NAMES] = json.dumps(columns.names)
        shares = _top_feature_shares(last, columns)
        if shares is not None:
            meta[_schema.META_CALIBRATION_TOP_FEATURES] = json.dumps(shares)
    onx.doc_string = f"skae {__version__}: {type(estimator).__name__}"
    for key, value in meta.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx
