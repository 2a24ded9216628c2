"""``skae info``: an exported model's metadata, inputs and outputs; torch-free."""

from __future__ import annotations

import json
import os
import re

from .._schema import (
    CALIBRATION_HELD_OUT,
    FEATURE_ERRORS_OUTPUT,
    META_CALIBRATION,
    META_CALIBRATION_SCORES,
    META_CALIBRATION_TOP_FEATURES,
    META_COLUMNS,
    META_FALSE_ALARM_RATE,
    META_FEATURE_ERRORS_NAMES,
    META_FEATURE_ERRORS_SPACE,
    META_FEATURE_NAMES,
    META_INPUT_COLUMNS,
    META_INPUTS,
    META_N_FEATURES,
    META_PARAMS,
    META_TRAINING_ROWS,
    SPACE_INPUT,
    SPACE_TRANSFORMED,
)
from ..scoring import model_inputs, top_feature_names
from .common import load_model, out


def run(options):
    """Print an exported model's metadata, inputs and outputs; return 0."""
    model = load_model(options.model)
    meta = dict(model.metadata)
    out(f"{options.model}: {os.path.getsize(options.model)} bytes")
    inputs = model_inputs(model)
    if getattr(model, "input_columns_", None) is None:
        out(f"  inputs:  X, float32, {model.n_features_in_} features")
    else:
        out(f"  inputs:  {len(inputs)} columns, one input each")
    out(f"  outputs: {', '.join(model.output_names)}")
    unread = _unread_columns(model, inputs)
    if model.feature_names_in_ is not None:
        shown = model.feature_names_in_[:20]
        more = len(model.feature_names_in_) - len(shown)
        heading = "feature names" if not unread else "fitted on"
        out(f"  {heading}: {', '.join(shown)}" + (f" ... (+{more})" if more else ""))
        meta.pop(META_FEATURE_NAMES, None)
    if unread:
        out(
            f"  unused: {', '.join(unread)} ({len(unread)} of the "
            f"{len(model.feature_names_in_)} columns it was fitted on; the pipeline drops "
            "them, so they need not be given)"
        )
    for key in (META_INPUTS, META_INPUT_COLUMNS, META_N_FEATURES):  # shown above
        meta.pop(key, None)
    for line in _column_lines(meta.pop(META_COLUMNS, None), inputs):
        out(line)
    if FEATURE_ERRORS_OUTPUT in model.output_names:
        out("  " + _feature_errors_line(model, meta, top_feature_names(model)))
    meta.pop(META_FEATURE_ERRORS_NAMES, None)
    line = _calibration_line(meta)
    if line:
        out("  " + line)
    line = _training_rows_line(meta.pop(META_TRAINING_ROWS, None))
    if line:
        out("  " + line)
    params = meta.pop(META_PARAMS, None)
    for key, value in sorted(meta.items()):
        out(f"  {key}: {value}")
    if params and options.params:
        out("  estimator_params:")
        breaks = re.compile(r"(?:\\n|\s)+")
        try:
            items = json.loads(params).items()
        except (ValueError, AttributeError):
            items = [("(unreadable)", params)]
        for key, value in items:
            # reprs of nested estimators carry (escaped) line breaks: one line each
            out(f"    {key}: {breaks.sub(' ', str(value))}")
    return 0


def _training_rows_line(value):
    """Whether the file holds training rows as they are, and how many."""
    if value is None:
        return None
    if value == "0":
        return "training rows: none kept (the neighbour term keeps centroids, or is off)"
    return (
        f"training rows: {value} kept as they are (the neighbour term's reference rows, "
        "readable by anyone with this file; refit with --no-training-rows to keep none)"
    )


def _calibration_line(meta):
    """What the threshold and the p-values rest on (the scores themselves not shown)."""
    scores = meta.pop(META_CALIBRATION_SCORES, None)
    kind = meta.pop(META_CALIBRATION, None)
    meta.pop(META_CALIBRATION_TOP_FEATURES, None)
    rate = meta.pop(META_FALSE_ALARM_RATE, None)
    if scores is None:
        return None
    try:
        n = len(json.loads(scores))
    except ValueError:
        return None
    if kind == CALIBRATION_HELD_OUT:
        return (
            f"calibration: {n} scores of rows held out of training; false_alarm_rate {rate} "
            "(p-values calibrated; skae score checks each table for drift)"
        )
    return (
        f"calibration: {n} scores of training rows (p-values are ranks among them; no drift check)"
    )


def _column_lines(columns, inputs):
    """How the model uses each column, from the metadata ``skae fit`` writes."""
    if not columns:
        if len(inputs) > 1:
            yield "  columns: " + ", ".join(f"{n} ({k})" for n, k in inputs)
        return
    try:
        roles = json.loads(columns)
    except ValueError:
        return
    for heading, names in roles.items():
        if not names:
            continue
        if isinstance(names, dict):
            yield f"  {heading}:"
            for name, note in names.items():
                yield f"    {name}: {note}"
        else:
            shown = ", ".join(map(str, names[:30]))
            yield f"  {heading}: {shown}" + (
                f" ... (+{len(names) - 30})" if len(names) > 30 else ""
            )


def _unread_columns(model, inputs):
    """The columns the model was fitted on but does not read (a Pipeline that drops
    them): none for a model that reads every column."""
    if model.feature_names_in_ is None or getattr(model, "input_columns_", None) is None:
        return []
    read = {name for name, _ in inputs}
    return [n for n in model.feature_names_in_ if n not in read]


def _feature_errors_line(model, meta, names):
    meta.pop(META_FEATURE_ERRORS_SPACE, None)
    space = getattr(model, "feature_errors_space_", None)
    if names is None:
        return "feature errors: per feature, names unknown (skae score writes no top_feature)"
    if space is None:
        space = SPACE_INPUT if names == model.feature_names_in_ else SPACE_TRANSFORMED
    where = (
        "per input column"
        if space == SPACE_INPUT
        else "per transformed feature (after the pipeline's preprocessing)"
    )
    return f"feature errors: {where}: top_feature names one of {len(names)}" + (
        f" ({', '.join(names[:8])}" + (", ...)" if len(names) > 8 else ")")
    )
