"""``to_onnx``: one estimator or a whole Pipeline to one ONNX graph, with metadata."""

from __future__ import annotations

import json

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..detector import ReconstructionAnomalyDetector
from . import _spec
from ._converters import register_converters


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


def _metadata(estimator, n_features):
    meta = {
        _spec.META_VERSION: __version__,
        _spec.META_CLASS: f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        _spec.META_PARAMS: json.dumps(estimator.get_params(deep=False), default=repr,
                                      sort_keys=True),
        _spec.META_N_FEATURES: str(n_features),
    }
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        meta[_spec.META_FEATURE_NAMES] = json.dumps([str(n) for n in names])
    last = _final_step(estimator)
    if isinstance(last, ReconstructionAnomalyDetector):
        meta[_spec.META_CONTAMINATION] = repr(float(last.contamination))
        meta[_spec.META_OFFSET] = repr(float(last.offset_))
    return meta


def to_onnx(estimator, X_sample, *, feature_errors=False, score_samples=False,
            target_opset=None):
    """See :func:`skae.onnx.to_onnx`."""
    from skl2onnx import to_onnx as skl_to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    check_is_fitted(estimator)
    n_features = np.asarray(X_sample).reshape(len(X_sample), -1).shape[1]
    register_converters()
    opset = _spec.OPSET if target_opset is None else int(target_opset)
    options = {id(det): {"feature_errors": bool(feature_errors),
                         "score_samples": bool(score_samples)}
               for det in _walk(estimator) if isinstance(det, ReconstructionAnomalyDetector)}
    onx = skl_to_onnx(
        estimator,
        initial_types=[(_spec.INPUT_NAME, FloatTensorType([None, n_features]))],
        target_opset={"": opset, "ai.onnx.ml": _spec.ML_OPSET},
        options=options or None,
    )
    onx.doc_string = f"skae {__version__}: {type(estimator).__name__}"
    for key, value in _metadata(estimator, n_features).items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx
