"""The model-file contract: what an exported skae model's graph and metadata are called.

One leaf module, imported by both sides and importing nothing: the export
(:mod:`skae.onnx._export`, the converters), the torch-free runtime
(:mod:`skae.onnx._runtime`), the scorer of tables (:mod:`skae.scoring`) and the command
line. A name changed here changes for all of them; a model written by one version is read
by the next through these names.
"""

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
