"""Names shared by the export side and the torch-free runtime (no heavy imports here)."""

# One opset for the torch-exported subgraphs and the skl2onnx graph around them: mixing
# opsets breaks inlining (e.g. ReduceMean's 'axes' moved from attribute to input at 18).
OPSET = 18
ML_OPSET = 3  # ai.onnx.ml: onnx 1.23 rejects version 4 for tree ensembles

INPUT_NAME = "X"  # the single float32 tensor input of a model exported from a NumPy sample
TRANSFORM_OUTPUT = "variable"
LABEL_OUTPUT = "label"
SCORES_OUTPUT = "scores"
FEATURE_ERRORS_OUTPUT = "feature_errors"
SCORE_SAMPLES_OUTPUT = "score_samples"

# Keys of the model's metadata_props.
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

INPUTS_TENSOR = "tensor"
INPUTS_COLUMNS = "columns"
SPACE_INPUT = "input"  # one error per input column (one-hot blocks averaged)
SPACE_TRANSFORMED = "transformed"  # one per feature the detector sees
