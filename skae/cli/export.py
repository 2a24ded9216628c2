"""``skae export``: a fitted estimator or Pipeline saved with joblib, converted to ONNX."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError

from .._tables.reading import iter_table
from .._tables.writing import check_output, write_bytes
from ..onnx import to_onnx
from .common import CommandError, out


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
    write_bytes(options.output, onx.SerializeToString())
    out(f"skae export: {type(estimator).__name__} -> {options.output}")
    return 0


def _export_sample(options, estimator, n_features):
    """The sample that types the graph's inputs.

    --sample: the first row of a table (one typed input per column, text included). A
    Pipeline with a ColumnTransformer fitted on named columns: a float DataFrame (one input
    per column, selected by name). Otherwise one float32 tensor.
    """
    if options.sample is not None:
        chunk = next(
            iter(iter_table(options.sample, 1, dialect=options.dialect(options.sample))), None
        )
        if chunk is None or len(chunk) == 0:
            raise CommandError(f"{options.sample} has no data rows.")
        return chunk.reset_index(drop=True)
    names = getattr(estimator, "feature_names_in_", None)
    steps = getattr(estimator, "steps", [(None, estimator)])
    if names is not None and any(isinstance(s, ColumnTransformer) for _, s in steps):
        return pd.DataFrame({str(n): [0.0] for n in names})
    return np.zeros((1, n_features), np.float32)
