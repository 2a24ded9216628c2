"""``skae export``: a fitted estimator or Pipeline saved with joblib, converted to ONNX."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError

from .._tables.formats import first_line
from .._tables.reading import iter_table
from .._tables.values import as_text
from .._tables.writing import check_output, write_bytes
from ..onnx import to_onnx
from ..onnx._export import sample_from_fit, text_columns
from .common import CommandError, out

# Rows of --sample whose values type each input column.
SAMPLE_ROWS = 10_000


def run(options):
    """Convert a fitted estimator or Pipeline saved with joblib to ONNX; return 0."""
    check_output(
        options.output,
        inputs=[options.model] + ([options.sample] if options.sample else []),
        suffixes=(".onnx",),
    )
    if not os.path.exists(options.model):
        raise FileNotFoundError(f"{options.model}: no such file.")
    try:
        estimator = joblib.load(options.model)
    except Exception as exc:
        raise CommandError(
            f"{options.model} could not be loaded with joblib ({type(exc).__name__}: {exc})."
        ) from None
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise CommandError(
            f"{options.model} holds a {type(estimator).__name__} that is not a "
            "fitted estimator (no n_features_in_); fit it before saving."
        )
    sample = _export_sample(options, estimator, n_features)
    try:
        onx = to_onnx(estimator, sample, feature_errors=not options.no_feature_errors)
    except NotFittedError as exc:
        raise CommandError(f"{options.model}: {exc}") from None
    except (ValueError, TypeError, RuntimeError) as exc:
        hint = (
            ""
            if options.sample
            else "; if the Pipeline takes text or categorical columns, give --sample TABLE "
            "(rows of the training data)"
        )
        raise CommandError(
            f"{options.model} could not be exported ({first_line(exc)}){hint}."
        ) from None
    write_bytes(options.output, onx.SerializeToString())
    out(f"skae export: {type(estimator).__name__} -> {options.output}")
    return 0


def _export_sample(options, estimator, n_features):
    """The sample that types the graph's inputs, one input per column where the
    estimator selects columns by name.

    --sample: the table's rows, each column typed from the first 10,000 rows (not the
    first row: a gap there reads as a number) and as text where a fitted category
    encoder takes it as text. Without --sample, a Pipeline fitted on named columns gets
    a row built from its encoders (text where they read text), else one float32 tensor.
    """
    text = set(text_columns(estimator))
    if options.sample is not None:
        rows = next(
            iter(iter_table(options.sample, SAMPLE_ROWS, dialect=options.dialect(options.sample))),
            None,
        )
        if rows is None or len(rows) == 0:
            raise CommandError(f"{options.sample} has no data rows.")
        rows = rows.reset_index(drop=True)
        for name in rows.columns:
            if str(name) in text:  # the encoder's categories are text: so is the input
                rows[name] = pd.Series(as_text(rows[name]), dtype=object)
        return rows.iloc[:1]
    names = getattr(estimator, "feature_names_in_", None)
    steps = getattr(estimator, "steps", [(None, estimator)])
    if names is not None and any(isinstance(s, ColumnTransformer) for _, s in steps):
        return sample_from_fit(estimator)
    return np.zeros((1, n_features), np.float32)
