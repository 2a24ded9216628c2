"""Scoring a pandas DataFrame with an exported detector: the input rows plus ``score``,
``label``, ``p_value`` and ``top_feature``.

Torch-free (numpy, pandas and the ONNX runtime only): the ``skae score`` command calls
:func:`score_columns` per chunk, and the Dask / Spark scorers call :func:`score_frame` per
partition, so a table scored anywhere gets the same columns. The value conversions here
(:func:`as_number`, :func:`as_text`) are also the ones ``skae fit`` applies before
training, so a model sees the same values at fit and at scoring.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._schema import META_COLUMNS, P_VALUE_OUTPUT, SCORE_COLUMNS, SPACE_INPUT
from ._tables.values import RowsError, as_number, as_text, is_missing
from .onnx._feeds import check_unique


def model_inputs(model):
    """``[(column name, kind)]`` of an exported model, kind "number" or "text".

    A model exported from a NumPy sample has one float input, whose columns are
    ``model.feature_names_in_`` (generic names when it has none); one exported from a
    DataFrame sample has one input per column, ``model.input_columns_``.
    """
    columns = getattr(model, "input_columns_", None)
    if columns is None:
        names = model.feature_names_in_ or [f"x{j}" for j in range(model.n_features_in_)]
        return [(name, "number") for name in names]
    return [(name, model.input_types_[name]) for name in columns]


def model_columns(model):
    """The frame columns a model reads, or None when it reads all of them by position."""
    columns = getattr(model, "input_columns_", None)
    return list(columns) if columns is not None else model.feature_names_in_


def check_detector(model, subject, fix="export a ReconstructionAnomalyDetector"):
    """Raise ValueError, naming ``subject`` and the ``fix``, when ``model`` (a loaded
    ONNX model) is not an outlier detector (no ``label`` and ``scores`` outputs)."""
    if "label" not in model.output_names or "scores" not in model.output_names:
        raise ValueError(
            f"{subject} is not an outlier detector (its outputs are {model.output_names}); {fix}."
        )


def check_free_columns(columns, subject):
    """Raise ValueError, naming ``subject``, when ``columns`` hold a ``score``, ``label``
    or ``top_feature`` column, which the scores would overwrite."""
    taken = [c for c in SCORE_COLUMNS if c in columns]
    if taken:
        raise ValueError(
            f"{subject} already has columns {taken}; rename them so the scores do not "
            "overwrite them."
        )


def feature_error_names(model):
    """Names of the columns of the model's ``feature_errors`` output, or None if unknown.

    Input column names when the model's errors are per input column, transformed
    feature names (such as ``pca0``) when a step mixes columns (see the model's
    ``feature_errors_space_``).
    """
    if "feature_errors" not in model.output_names:
        return None
    names = getattr(model, "feature_error_names_", None)
    return None if names is None else [str(n) for n in names]


def top_feature_names(model):
    """The names ``top_feature`` takes: the ``feature_errors`` columns, less the input
    columns the model was fitted on but does not read (a Pipeline that drops ID columns
    still has an error column for each, always 0); None when unknown."""
    names = feature_error_names(model)
    if names is None or getattr(model, "feature_errors_space_", None) != SPACE_INPUT:
        return names
    read = getattr(model, "input_columns_", None)
    if read is None:
        return names
    read = set(read)
    return [n for n in names if n in read] or names


def _columns_by_name(frame, names):
    """``{model name: frame column}``; ValueError naming the columns that are missing."""
    check_unique([str(c) for c in frame.columns], names, "the data")
    by_name = {str(column): column for column in frame.columns}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"the data lacks the columns the model was fitted on: {missing}.")
    return {n: frame[by_name[n]] for n in names}


def _model_input(model, frame):
    """The model's columns, converted: numbers (parsed from text when need be) as
    float64, categories as text (in :func:`as_text`'s form for ``skae fit`` models)."""
    names = model_columns(model)
    if names is None:
        if frame.shape[1] != model.n_features_in_:
            raise ValueError(
                f"the data has {frame.shape[1]} columns but the model expects "
                f"{model.n_features_in_} (it was fitted without column names)."
            )
        columns = {str(j): frame.iloc[:, j] for j in range(frame.shape[1])}
        return np.column_stack([as_number(c, n) for n, c in columns.items()])
    columns = _columns_by_name(frame, names)
    canonical = META_COLUMNS in model.metadata
    data = {}
    for name, kind in model_inputs(model):
        column = columns[name]
        if kind == "number":
            data[name] = as_number(column, name)
        else:
            data[name] = as_text(column) if canonical else _with_missing(column)
    return pd.DataFrame(data, index=frame.index)


def _with_missing(column):
    """A text column as object values, with missing-value text ("", "NA", ...) as None,
    as ``pandas.read_csv`` reads it (and the runtime feeds a missing text value)."""
    values = column.to_numpy(dtype=object).copy()
    values[is_missing(values)] = None
    return values


_POSITION = re.compile(r" \((\d+) rows, the first at position (\d+)\)")


def _run(model, X, outputs):
    """``model.run``, with the first bad row of a failure as ``RowsError.position``."""
    try:
        return model.run(X, outputs)
    except ValueError as exc:
        message = str(exc)
        found = _POSITION.search(message)
        if found is None:
            raise
        raise RowsError(
            _POSITION.sub(f" ({found.group(1)} rows)", message, count=1), int(found.group(2))
        ) from None


def score_columns(model, frame, *, threshold=None):
    """The ``score``, ``label``, ``p_value`` and ``top_feature`` columns for a frame's rows.

    Parameters
    ----------
    model : skae.onnx.OnnxModel
        An exported outlier detector (outputs ``label`` and ``scores``).
    frame : pandas.DataFrame
        Rows to score; the model's columns are selected by name (by position for a model
        fitted without names), other columns are ignored.
    threshold : float, default=None
        Label rows whose score is below it -1; None keeps the model's cut (0).

    Returns
    -------
    columns : pandas.DataFrame
        Indexed like ``frame``: ``score`` (float32, ``decision_function``; negative =
        outlier), ``label`` (int64, -1 outlier / +1 inlier), ``p_value`` (float32, the
        conformal p-value against the detector's calibration scores; models exported
        before skae had them have none) and, when the model outputs per-feature errors
        with known names, ``top_feature`` (the name of the column whose reconstruction
        error is largest).
    """
    check_detector(model, "the model")
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    names = feature_error_names(model)
    p_values = P_VALUE_OUTPUT in model.output_names
    outputs = ["label", "scores"] + ([P_VALUE_OUTPUT] if p_values else [])
    outputs += ["feature_errors"] if names is not None else []
    if len(frame) == 0:
        result = {
            "scores": np.empty(0, np.float32),
            "label": np.empty(0, np.int64),
            P_VALUE_OUTPUT: np.empty(0, np.float32),
            "feature_errors": np.empty((0, len(names or ())), np.float32),
        }
    else:
        result = _run(model, _model_input(model, frame), outputs)
    scores = np.asarray(result["scores"]).reshape(-1)
    if threshold is None:
        labels = np.asarray(result["label"]).reshape(-1).astype(np.int64)
    else:
        labels = np.where(scores < threshold, -1, 1).astype(np.int64)
    columns = {"score": scores, "label": labels}
    if p_values:
        columns[P_VALUE_OUTPUT] = np.asarray(result[P_VALUE_OUTPUT]).reshape(-1)
    if names is not None:
        errors = np.asarray(result["feature_errors"])
        if errors.ndim == 2 and errors.shape[1] == len(names):
            columns["top_feature"] = _top_feature(model, names, errors)
    return pd.DataFrame(columns, index=frame.index)


def _top_feature(model, names, errors):
    """The name of each row's largest error, among the columns the model reads."""
    shown = top_feature_names(model)
    if len(shown) < len(names):
        keep = [names.index(n) for n in shown]
        names, errors = shown, errors[:, keep]
    return pd.array(
        np.asarray(names, dtype=object)[errors.argmax(axis=1)] if len(errors) else [],
        dtype="str",
    )


def score_frame(model, frame, *, threshold=None):
    """The frame with ``score``, ``label``, ``p_value`` and ``top_feature`` appended.

    Parameters
    ----------
    model : skae.onnx.OnnxModel
        An exported outlier detector.
    frame : pandas.DataFrame
        Rows to score; every column is kept, the model's are selected by name.
    threshold : float, default=None
        Label rows whose score is below it -1; None keeps the model's cut (0).

    Returns
    -------
    scored : pandas.DataFrame
        The frame's columns and index (rows align with the input, as Dask's
        ``map_partitions`` needs), then ``score``, ``label`` and (see
        :func:`score_columns`) ``top_feature``.

    Raises
    ------
    ValueError
        When the frame already has a column named ``score``, ``label`` or
        ``top_feature`` (it would be overwritten), lacks a model column or has one twice,
        or holds values the model cannot take (the message names the column and the fix).
    """
    check_free_columns(frame.columns, "the data")
    columns = score_columns(model, frame, threshold=threshold)
    return pd.concat([frame, columns], axis=1)
