"""The model-file contract: what an exported skae model's graph and metadata are called.

One leaf module, imported by both sides and importing nothing of skae: the export
(:mod:`skae.onnx._export`, the converters), the torch-free runtime
(:mod:`skae.onnx._runtime`), the scorer of tables (:mod:`skae.scoring`) and the command
line. A name changed here changes for all of them; a model written by one version is read
by the next through these names. It also checks a model file's metadata against this
contract (:func:`check_metadata`), with the standard library only.
"""

import json as _json
import math as _math

# One opset for the torch-exported subgraphs and the skl2onnx graph around them: mixing
# opsets breaks inlining (e.g. ReduceMean's 'axes' moved from attribute to input at 18).
OPSET = 18
ML_OPSET = 3  # ai.onnx.ml: onnx 1.23 rejects version 4 for tree ensembles

# ------------------------------------------------------------------ graph inputs
INPUT_NAME = "X"  # the single float32 tensor input of a model exported from a NumPy sample

# ----------------------------------------------------------------- graph outputs
TRANSFORM_OUTPUT = "variable"
LABEL_OUTPUT = "label"
SCORES_OUTPUT = "scores"
FEATURE_ERRORS_OUTPUT = "feature_errors"
SCORE_SAMPLES_OUTPUT = "score_samples"
# A detector's conformal p-value of each row against its calibration scores.
P_VALUE_OUTPUT = "p_value"

# ------------------------------------------------------------ metadata_props keys
META_VERSION = "skae_version"
META_CLASS = "estimator_class"
META_PARAMS = "estimator_params"
META_FEATURE_NAMES = "feature_names_in"
META_N_FEATURES = "n_features_in"
META_CONTAMINATION = "contamination"
META_OFFSET = "offset"
# "tensor" (one float32 input "X") or "columns" (one typed input per column).
META_INPUTS = "inputs"
# Columns mode: the DataFrame column behind each graph input, in graph-input order
# (JSON list); skl2onnx may rewrite column names into valid ONNX names.
META_INPUT_COLUMNS = "input_columns"
# The columns of the "feature_errors" output (JSON list) and what they are (below).
META_FEATURE_ERRORS_NAMES = "feature_errors_names"
META_FEATURE_ERRORS_SPACE = "feature_errors_space"
# What ``skae fit`` writes: how the model uses each column (JSON). A model with it takes
# its categories in :func:`skae._tables.values.as_text`'s form.
META_COLUMNS = "skae_cli_columns"
# The detector's calibration: its sorted calibration scores (JSON list, score_samples),
# whether they are of rows held out of training (CALIBRATION_HELD_OUT) or the training
# rows' own (CALIBRATION_TRAINING), its false_alarm_rate, and each column's share of the
# calibration rows' top_feature (JSON {column: share}).
META_CALIBRATION_SCORES = "calibration_scores"
META_CALIBRATION = "calibration"
META_FALSE_ALARM_RATE = "false_alarm_rate"
META_CALIBRATION_TOP_FEATURES = "calibration_top_features"
# Whether the detector took its training rows as normal ("true") or as possibly holding
# anomalies ("false"): its ``novelty`` setting, resolved.
META_NOVELTY = "novelty"
# {column: text} for text columns whose encoder knows a missing value by another text
# than MISSING_CATEGORY (an encoder fitted on pandas 2's None writes "None").
META_MISSING_TEXT = "missing_text"
# How many training rows the graph holds as they are (the neighbour term's reference
# rows; "0" with references="centroids" or without the term), as a decimal integer.
META_TRAINING_ROWS = "training_rows"

# ------------------------------------------------------------ metadata values
INPUTS_TENSOR = "tensor"
INPUTS_COLUMNS = "columns"
SPACE_INPUT = "input"  # one error per input column (one-hot blocks averaged)
SPACE_TRANSFORMED = "transformed"  # one per feature the detector sees
CALIBRATION_HELD_OUT = "held-out"
CALIBRATION_TRAINING = "training"

# ---------------------------------------------------------------- values fed
# The category a missing text value is: skl2onnx writes an encoder's NaN category as
# "nan", so the runtime feeds a missing text value as "nan" (and ``skae fit`` trains it so).
MISSING_CATEGORY = "nan"

# ------------------------------------------------------------ scored tables
# The columns ``skae score``, score_frame, score_dask and score_spark add to each row.
SCORE_COLUMNS = ("score", "label", "p_value", "top_feature")


# ------------------------------------------------------------ validation at load
# A model file is untrusted input: every metadata key the torch-free side reads is checked
# when the model is loaded (``skae.onnx.load_onnx``, hence ``skae info`` and ``skae
# score``), so that a crafted or damaged value is refused by name instead of giving NaN
# scores or an IndexError deep in the scoring. Standard library only (this module is the
# leaf every side imports).


class ModelFileError(ValueError):
    """A model file skae cannot load: its metadata contradicts itself or its graph."""


class _Bad(Exception):
    """Why one metadata value is refused (turned into a ModelFileError naming the key)."""


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise _Bad("is not a number") from None
    if not _math.isfinite(value):
        raise _Bad("is not a finite number")
    return value


def _rate(text):
    value = _number(text)
    if not 0 < value < 1:
        raise _Bad("is not in (0, 1)")
    return value


_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _json_value(text, kind, what):
    try:
        value = _json.loads(text)
    except (TypeError, ValueError):
        raise _Bad(f"is not JSON (a {what} is expected)") from None
    if not isinstance(value, kind):
        found = _JSON_KINDS.get(type(value), type(value).__name__)
        raise _Bad(f"is a JSON {found}, not a {what}")
    return value


def repeated_names(names):
    """The names that occur more than once in ``names``, each once, in the order their
    second copy comes: one definition for every place that refuses duplicated columns."""
    seen, twice = set(), {}
    for name in names:
        if name in seen:
            twice.setdefault(name, None)
        seen.add(name)
    return list(twice)


def _names(text):
    """A JSON list of distinct strings, at least one."""
    names = _json_value(text, list, "list of column names")
    if not names:
        raise _Bad("is an empty list of column names")
    if not all(isinstance(n, str) for n in names):
        raise _Bad("holds a name that is not a string")
    if len(set(names)) != len(names):
        twice = sorted(repeated_names(names))
        raise _Bad(f"names the columns {twice[:5]} twice")
    return names


def _count(text, least=1):
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise _Bad("is not a whole number") from None
    if value < least:
        raise _Bad("is not a positive whole number" if least == 1 else f"is below {least}")
    return value


def _row_count(text):
    """How many training rows the file holds: 0 or more."""
    return _count(text, least=0)


def _one_of(*choices):
    def check(text):
        if text not in choices:
            raise _Bad(f"is none of {list(choices)}")
        return text

    return check


def _contamination(text):
    if text == "auto":
        return text
    value = _number(text)
    if not 0 < value <= 0.5:
        raise _Bad("is neither 'auto' nor in (0, 0.5]")
    return value


def _scores(text):
    scores = _json_value(text, list, "list of numbers")
    if not scores:
        raise _Bad("is an empty list (the p-values and the drift check need scores)")
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
        raise _Bad("holds a value that is not a number")
    if not all(_math.isfinite(s) for s in scores):
        raise _Bad("holds a value that is not finite")
    if scores != sorted(scores):
        raise _Bad("is not sorted in increasing order")
    return scores


def _shares(text):
    shares = _json_value(text, dict, "JSON object {column: share}")
    for value in shares.values():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad("holds a share that is not a number")
        if not 0 <= value <= 1:
            raise _Bad("holds a share outside [0, 1]")
    if sum(shares.values()) > 1.001:  # (each share is rounded to 6 digits)
        raise _Bad("holds shares that add up to more than 1")
    return shares


def _texts(text):
    tokens = _json_value(text, dict, "JSON object {column: text}")
    if not all(isinstance(v, str) for v in tokens.values()):
        raise _Bad("holds a value that is not a string")
    return tokens


def _roles(text):
    roles = _json_value(text, dict, "JSON object {heading: columns}")
    for names in roles.values():
        if isinstance(names, dict):
            if not all(isinstance(v, str) for v in names.values()):
                raise _Bad("holds a note that is not a string")
        elif not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _Bad("holds a heading whose columns are not a list of names")
    return roles


def _text(text):
    if not text or not isinstance(text, str):
        raise _Bad("is empty")
    return text


# What each key must hold; a key not listed here is not read by skae and is shown as is.
METADATA_CHECKS = {
    META_VERSION: _text,
    META_CLASS: _text,
    META_PARAMS: lambda text: _json_value(text, dict, "JSON object {parameter: value}"),
    META_FEATURE_NAMES: _names,
    META_N_FEATURES: _count,
    META_CONTAMINATION: _contamination,
    META_OFFSET: _number,
    META_INPUTS: _one_of(INPUTS_TENSOR, INPUTS_COLUMNS),
    META_INPUT_COLUMNS: _names,
    META_FEATURE_ERRORS_NAMES: _names,
    META_FEATURE_ERRORS_SPACE: _one_of(SPACE_INPUT, SPACE_TRANSFORMED),
    META_COLUMNS: _roles,
    META_CALIBRATION_SCORES: _scores,
    META_CALIBRATION: _one_of(CALIBRATION_HELD_OUT, CALIBRATION_TRAINING),
    META_FALSE_ALARM_RATE: _rate,
    META_CALIBRATION_TOP_FEATURES: _shares,
    META_NOVELTY: _one_of("true", "false"),
    META_MISSING_TEXT: _texts,
    META_TRAINING_ROWS: _row_count,
}


def _refuse(key, value, why):
    shown = value if len(value) <= 60 else value[:57] + "..."
    return ModelFileError(
        f"not a model skae can load: its metadata {key!r} ({shown!r}) {why}; the file was "
        "edited, damaged or written by another tool: export the model again with skae"
    )


def check_metadata(metadata, inputs, outputs):
    """Parse and check every metadata key skae reads, against each other and the graph.

    Parameters
    ----------
    metadata : dict of str to str
        The model's ``metadata_props``.
    inputs : list of (name, type, shape)
        The graph's inputs as onnxruntime describes them (shape: a list whose entries
        are ints or names of free dimensions).
    outputs : dict of str to shape
        The graph's outputs by name.

    Returns
    -------
    values : dict
        The parsed value of each key present.

    Raises
    ------
    ModelFileError
        Naming the first key whose value is refused, and why.
    """
    values = {}
    for key, check in METADATA_CHECKS.items():
        if key in metadata:
            try:
                values[key] = check(metadata[key])
            except _Bad as bad:
                raise _refuse(key, str(metadata[key]), bad) from None
    for key, why in _contradictions(values, inputs, outputs):
        raise _refuse(key, str(metadata[key]), why)
    return values


def _width(shape):
    """The second dimension of a 2-D shape when fixed, else None."""
    if shape is None or len(shape) != 2 or not isinstance(shape[1], int):
        return None
    return shape[1]


def _contradictions(values, inputs, outputs):
    """``(key, why)`` for each key that contradicts the graph or another key."""
    names, n = values.get(META_FEATURE_NAMES), values.get(META_N_FEATURES)
    kind = values.get(META_INPUTS)
    if names is not None and n is not None and len(names) != n:
        yield META_N_FEATURES, f"differs from the {len(names)} names in {META_FEATURE_NAMES!r}"
    if kind == INPUTS_TENSOR:
        width = _width(inputs[0][2]) if len(inputs) == 1 else None
        if len(inputs) != 1:
            yield META_INPUTS, f"says one tensor input, but the graph has {len(inputs)}"
        elif n is not None and width is not None and n != width:
            yield META_N_FEATURES, f"differs from the graph's input width {width}"
    columns = values.get(META_INPUT_COLUMNS)
    if columns is not None:
        if len(columns) != len(inputs):
            yield META_INPUT_COLUMNS, f"names {len(columns)} columns for {len(inputs)} inputs"
        if names is not None and not set(columns) <= set(names):
            extra = [c for c in columns if c not in set(names)][:5]
            yield META_INPUT_COLUMNS, f"names columns {extra} not in {META_FEATURE_NAMES!r}"
        if n is not None and len(columns) > n:
            yield META_INPUT_COLUMNS, f"names more columns than {META_N_FEATURES!r} ({n})"
    unknown = set(values.get(META_MISSING_TEXT, ())) - set(columns or ())
    if unknown:
        yield META_MISSING_TEXT, f"names columns {sorted(unknown)[:5]} the model does not read"
    errors = values.get(META_FEATURE_ERRORS_NAMES)
    width = _width(outputs.get(FEATURE_ERRORS_OUTPUT))
    if errors is not None and width is not None and len(errors) != width:
        yield (
            META_FEATURE_ERRORS_NAMES,
            f"names {len(errors)} columns, but the graph's {FEATURE_ERRORS_OUTPUT!r} has {width}",
        )
