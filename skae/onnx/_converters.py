"""skl2onnx shape calculators, parser and converters for the skae estimators.

Each converter traces the fitted estimator's own network through an inference head that
calls the estimator's own scoring hooks (the code behind ``transform`` and
``score_samples``), exports it at the container's opset and inlines it with
``skl2onnx.helpers.add_onnx_graph``. No network is rebuilt by hand.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import onnx
import torch
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from skl2onnx.helpers import add_onnx_graph

from .. import _schema
from .._detection import conformal
from .._schema import MISSING_CATEGORY
from .._tables.categories import CategoryEncoder
from ..autoencoder import AutoencoderTransformer
from ..detector import ReconstructionAnomalyDetector
from ..vae import VAETransformer

DETECTOR_OPTIONS = {"feature_errors": [False, True], "score_samples": [False, True]}


class CalibrationCount(torch.nn.Module):
    """``#{threshold <= score}`` for each row's score, as the (rows x n) comparison
    ``(thresholds <= score).sum(1)`` counts it, bit for bit, in about ``2 sqrt(n)``
    comparisons per row instead of ``n``.

    The float32 thresholds are sorted (a count does not depend on their order; NaN ones,
    which no score is at or above, are dropped) and padded with ``+inf`` to whole
    blocks of ``block`` (about ``sqrt(n)``). A score is compared with the last threshold
    of each block, which counts the whole blocks at or below it, and then with the
    thresholds of the next block, gathered by that number. The padding counts only for
    a score of ``+inf``, where every threshold does: the count is capped at ``n``. A NaN
    score is at or above nothing and counts 0, as before.
    """

    def __init__(self, thresholds):
        super().__init__()
        ends = np.sort(np.asarray(thresholds, dtype=np.float32).ravel())
        ends = ends[~np.isnan(ends)]
        self.n = len(ends)
        self.block = max(1, math.isqrt(max(self.n - 1, 0)) + 1)
        n_blocks = max(1, -(-self.n // self.block))
        padded = np.full(n_blocks * self.block, np.inf, dtype=np.float32)
        padded[: self.n] = ends
        blocks = torch.as_tensor(padded).reshape(n_blocks, self.block)
        self.register_buffer("blocks", blocks)
        self.register_buffer("block_ends", blocks[:, -1][None].clone())
        # Min with a constant, not clamp: clamp exports a Clip with an empty (absent)
        # input name, which skl2onnx's add_onnx_graph refuses
        self.register_buffer("last_block", torch.tensor(n_blocks - 1, dtype=torch.float32))
        self.register_buffer("total", torch.tensor(self.n, dtype=torch.float32))

    def forward(self, score):
        """The counts, shape ``(rows, 1)``, for float32 scores of shape ``(rows, 1)``.

        Counted in float32 (whole numbers up to 2**24, exact), which onnxruntime sums
        three times faster than int64; int64 only for the Gather's index.
        """
        whole = (self.block_ends <= score).to(score.dtype).sum(dim=1, keepdim=True)
        index = torch.minimum(whole, self.last_block).to(torch.int64).squeeze(1)
        within = (self.blocks[index] <= score).to(score.dtype).sum(dim=1, keepdim=True)
        return torch.minimum(whole * self.block + within, self.total)


class ExportHead(torch.nn.Module):
    """The estimator's inference outputs as one traceable module.

    ``outputs`` lists what to compute, in order, from the names in :mod:`skae._schema`:
    ``TRANSFORM_OUTPUT`` (``transform``), ``LABEL_OUTPUT``, ``SCORES_OUTPUT``
    (``decision_function``), ``P_VALUE_OUTPUT`` (``pvalues``), ``SCORE_SAMPLES_OUTPUT``
    and ``FEATURE_ERRORS_OUTPUT``.
    A transformer's network is its ``module_``; a detector's is its float32 scoring
    network (``_scoring_network``: the members stacked, one matrix product per layer,
    with the fitted calibration), the same module its Python scoring runs in float64.
    """

    def __init__(self, estimator, outputs):
        super().__init__()
        self.outputs = tuple(outputs)
        self.estimator = estimator
        # Registered as submodules: their weights become the graph's initializers.
        if isinstance(estimator, ReconstructionAnomalyDetector):
            self.network = estimator._scoring_network(torch.float32)
            self.offset = float(estimator.offset_)
            # the lower ends of the calibration scores' tie groups, as pvalues compares
            # with them: a tie group counts whole, in float32 as in float64
            ends = conformal.thresholds(estimator.calibration_scores_)
            self.calibration = CalibrationCount(ends)
            self.n_calibration = float(len(ends))
        else:
            self.network = estimator.module_
            self.offset = 0.0
        # int64 labels straight from Where: no Cast node in the graph
        self.register_buffer("minus", torch.tensor(-1, dtype=torch.int64))
        self.register_buffer("plus", torch.tensor(1, dtype=torch.int64))

    def forward(self, x):
        results = {}
        if _schema.TRANSFORM_OUTPUT in self.outputs:
            results[_schema.TRANSFORM_OUTPUT] = self.estimator._encode_tensor(self.network, x)
        scored = {_schema.LABEL_OUTPUT, _schema.SCORES_OUTPUT, _schema.SCORE_SAMPLES_OUTPUT}
        if (scored | {_schema.P_VALUE_OUTPUT}) & set(self.outputs):
            decision = self.network.decision_column(x, self.offset)
            results[_schema.SCORES_OUTPUT] = decision
            if {_schema.SCORE_SAMPLES_OUTPUT, _schema.P_VALUE_OUTPUT} & set(self.outputs):
                raw = decision + self.offset
                results[_schema.SCORE_SAMPLES_OUTPUT] = raw
                # (1 + #{calibration scores <= score, ties counted}) / (n + 1), as
                # pvalues computes it
                count = self.calibration(raw)
                results[_schema.P_VALUE_OUTPUT] = (count + 1.0) / (self.n_calibration + 1.0)
            results[_schema.LABEL_OUTPUT] = torch.where(
                decision < 0, self.minus, self.plus
            ).squeeze(1)
        if _schema.FEATURE_ERRORS_OUTPUT in self.outputs:
            results[_schema.FEATURE_ERRORS_OUTPUT] = self.network.feature_errors(x)
        return tuple(results[name] for name in self.outputs)


def export_head(estimator, outputs, opset):
    """Trace :class:`ExportHead` to an ``onnx.ModelProto`` with a dynamic batch axis."""
    head = ExportHead(estimator, outputs).eval()
    x = torch.zeros(2, estimator.n_features_in_, dtype=torch.float32)
    buffer = io.BytesIO()
    axes = {name: {0: "N"} for name in (_schema.INPUT_NAME, *outputs)}
    with warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) is deprecated, but it needs no
        # onnxscript and takes ~30 ms where the dynamo exporter takes seconds: silence
        # its two deprecation notices, and only those.
        warnings.filterwarnings(
            "ignore",
            category=DeprecationWarning,
            message=r"You are using the legacy TorchScript-based ONNX",
        )
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, message=r"The feature will be removed"
        )
        with torch.no_grad():
            torch.onnx.export(
                head,
                (x,),
                buffer,
                input_names=[_schema.INPUT_NAME],
                output_names=list(outputs),
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
    return onnx.load_model_from_string(buffer.getvalue())


def _transformer_shape(operator):
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_components])


def _detector_shape(operator):
    n = operator.inputs[0].get_first_dimension()
    det = operator.raw_operator
    shapes = {
        _schema.LABEL_OUTPUT: Int64TensorType([n]),
        _schema.SCORES_OUTPUT: FloatTensorType([n, 1]),
        _schema.SCORE_SAMPLES_OUTPUT: FloatTensorType([n, 1]),
        _schema.P_VALUE_OUTPUT: FloatTensorType([n, 1]),
        _schema.FEATURE_ERRORS_OUTPUT: FloatTensorType([n, det.n_features_in_]),
    }
    for out in operator.outputs:
        out.type = shapes[_output_kind(out)]


def _output_kind(variable):
    for kind in (
        _schema.FEATURE_ERRORS_OUTPUT,
        _schema.SCORE_SAMPLES_OUTPUT,
        _schema.P_VALUE_OUTPUT,
        _schema.LABEL_OUTPUT,
        _schema.SCORES_OUTPUT,
    ):
        if variable.raw_name.startswith(kind):
            return kind
    raise RuntimeError(f"unexpected output {variable.raw_name!r}")


def _float_input(scope, model, inputs):
    """One float32 tensor for the network from whatever reaches it.

    A DataFrame sample gives one input per column, and a preceding step may output
    double or int64: concatenate the columns (``SklearnConcat`` casts each part) and
    cast the result to float32, so the traced network always sees what it was traced on.
    """
    text = [v.onnx_name for v in inputs if isinstance(v.type, StringTensorType)]
    if text:
        raise TypeError(
            f"{type(model).__name__} takes numbers, but the inputs {text} hold text: encode "
            "them first (OneHotEncoder or OrdinalEncoder in a ColumnTransformer)."
        )
    floats = all(isinstance(v.type, FloatTensorType) for v in inputs)
    if len(inputs) > 1:
        concat = scope.declare_local_operator("SklearnConcat")
        concat.inputs = list(inputs)
        # (its shape calculator widens the type to double when a part is double)
        joined = scope.declare_local_variable("skae_columns", FloatTensorType())
        concat.outputs.append(joined)
        inputs = [joined]
    if floats:
        return list(inputs)
    cast = scope.declare_local_operator("SklearnCast")
    cast.inputs = inputs
    out = scope.declare_local_variable("skae_input", FloatTensorType())
    cast.outputs.append(out)
    return [out]


def _transformer_parser(scope, model, inputs, custom_parsers=None):
    """Declare the one output, ``variable``, on a float32 input."""
    operator = scope.declare_local_operator(f"Skae{type(model).__name__}", model)
    operator.inputs = _float_input(scope, model, inputs)
    operator.outputs.append(
        scope.declare_local_variable(_schema.TRANSFORM_OUTPUT, FloatTensorType())
    )
    return operator.outputs


def detector_outputs(score_samples, feature_errors):
    """A detector's graph outputs, in order: label, scores and p_value, then those asked
    for."""
    names = [_schema.LABEL_OUTPUT, _schema.SCORES_OUTPUT, _schema.P_VALUE_OUTPUT]
    if score_samples:
        names.append(_schema.SCORE_SAMPLES_OUTPUT)
    if feature_errors:
        names.append(_schema.FEATURE_ERRORS_OUTPUT)
    return names


def _detector_parser(scope, model, inputs, custom_parsers=None):
    """Declare label and scores, plus the optional outputs asked for in the options."""
    options = scope.get_options(model, dict(feature_errors=False, score_samples=False))
    operator = scope.declare_local_operator("SkaeReconstructionAnomalyDetector", model)
    operator.inputs = _float_input(scope, model, inputs)
    for name in detector_outputs(options["score_samples"], options["feature_errors"]):
        kind = Int64TensorType() if name == _schema.LABEL_OUTPUT else FloatTensorType()
        operator.outputs.append(scope.declare_local_variable(name, kind))
    return operator.outputs


def _convert(scope, operator, container):
    estimator = operator.raw_operator
    if isinstance(estimator, ReconstructionAnomalyDetector):
        outputs = [_output_kind(o) for o in operator.outputs]
    else:
        outputs = [_schema.TRANSFORM_OUTPUT]
    onx = export_head(estimator, outputs, container.target_opset)
    add_onnx_graph(scope, operator, container, onx)


def _category_shape(operator):
    n = operator.inputs[0].get_first_dimension()
    width = int(len(operator.raw_operator.feature_sources_))
    operator.outputs[0].type = FloatTensorType([n, width])


def _input_columns(operator):
    """``(variable name, column or None)`` for each text column reaching the operator."""
    columns = []
    for variable in operator.inputs:
        shape = variable.type.shape
        width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else 1
        columns += [(variable.full_name, j if width > 1 else None) for j in range(width)]
    return columns


def _convert_categories(scope, operator, container):
    """Per column: a LabelEncoder from text to the row of its category (the unseen row
    by default, the missing row for "nan"), a Gather of that row from the encoder's
    table, and the columns side by side."""
    encoder = operator.raw_operator
    parts = []
    columns = _input_columns(operator)
    for (name, j), cats, table in zip(columns, encoder.categories_, encoder.tables_, strict=True):
        unique = scope.get_unique_variable_name
        if j is not None:
            index = unique("skae_column")
            container.add_initializer(index, onnx.TensorProto.INT64, [1], [j])
            picked = unique("skae_text")
            container.add_node("Gather", [name, index], picked, axis=1, name=unique("Gather"))
            name = picked
        k = len(cats)
        codes = unique("skae_codes")
        container.add_node(
            "LabelEncoder",
            [name],
            codes,
            op_domain="ai.onnx.ml",
            op_version=2,
            keys_strings=[str(c) for c in cats] + [MISSING_CATEGORY],
            values_int64s=list(range(k)) + [k + 1],
            default_int64=k,
            name=unique("LabelEncoder"),
        )
        rows = unique("skae_table")
        container.add_initializer(
            rows, onnx.TensorProto.FLOAT, list(table.shape), table.astype("float32").ravel()
        )
        gathered, shape, flat = unique("skae_rows"), unique("skae_shape"), unique("skae_enc")
        container.add_node("Gather", [rows, codes], gathered, axis=0, name=unique("Gather"))
        container.add_initializer(shape, onnx.TensorProto.INT64, [2], [-1, table.shape[1]])
        container.add_node("Reshape", [gathered, shape], flat, name=unique("Reshape"))
        parts.append(flat)
    container.add_node(
        "Concat",
        parts,
        operator.outputs[0].full_name,
        axis=1,
        name=scope.get_unique_operator_name("Concat"),
    )


def register_converters():
    """Register skae's estimators and encoder with skl2onnx (idempotent)."""
    for cls in (AutoencoderTransformer, VAETransformer):
        update_registered_converter(
            cls, f"Skae{cls.__name__}", _transformer_shape, _convert, parser=_transformer_parser
        )
    update_registered_converter(
        ReconstructionAnomalyDetector,
        "SkaeReconstructionAnomalyDetector",
        _detector_shape,
        _convert,
        parser=_detector_parser,
        options=DETECTOR_OPTIONS,
    )
    update_registered_converter(
        CategoryEncoder, "SkaeCategoryEncoder", _category_shape, _convert_categories
    )
