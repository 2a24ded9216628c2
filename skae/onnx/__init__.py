"""ONNX export of skae estimators and Pipelines, and torch-free scoring.

``load_onnx`` needs only numpy and onnxruntime: importing this package imports neither
torch nor skl2onnx; ``to_onnx`` and ``register_converters`` import them when called::

    from skae.onnx import to_onnx, load_onnx
    onx = to_onnx(fitted_pipeline, X[:1])          # an onnx.ModelProto
    open("model.onnx", "wb").write(onx.SerializeToString())
    load_onnx("model.onnx").predict(X_new)         # onnxruntime only
"""

from ._runtime import OnnxModel, load_onnx
from ._spec import OPSET


def to_onnx(estimator, X_sample, *, feature_errors=False, score_samples=False,
            target_opset=None):
    """Convert a fitted skae estimator, or a Pipeline containing skae estimators, to ONNX.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted :class:`~skae.AutoencoderTransformer`, :class:`~skae.VAETransformer`,
        :class:`~skae.ReconstructionAnomalyDetector`, or a Pipeline / ColumnTransformer
        (columns selected by integer position) whose steps skl2onnx or skae can convert.
    X_sample : array-like of shape (n_samples, n_features)
        A few input rows; only their width is used. The graph takes float32 input named
        ``"X"`` with a dynamic batch axis.
    feature_errors : bool, default=False
        Detectors also output ``"feature_errors"``, the per-feature reconstruction
        errors, shape (N, n_features).
    score_samples : bool, default=False
        Detectors also output ``"score_samples"``, shape (N, 1).
    target_opset : int, default=None
        ONNX opset; defaults to :data:`skae.onnx.OPSET`.

    Returns
    -------
    model : onnx.ModelProto
        Outputs ``"variable"`` for transformers, ``"label"`` (int64, +1/-1) and
        ``"scores"`` (``decision_function``) for detectors, as skl2onnx names them;
        ``metadata_props`` carry the skae version, the estimator's class and parameters,
        the input feature names, and ``contamination`` / ``offset`` for detectors.
    """
    from ._export import to_onnx as _to_onnx

    return _to_onnx(estimator, X_sample, feature_errors=feature_errors,
                    score_samples=score_samples, target_opset=target_opset)


def register_converters():
    """Register skae's shape calculators, parsers and converters with skl2onnx.

    Call it once before ``skl2onnx.to_onnx(pipeline, ...)`` on a pipeline containing skae
    estimators (:func:`to_onnx` does it for you). Importing skae registers nothing.
    """
    from ._converters import register_converters as _register

    _register()


__all__ = ["OPSET", "OnnxModel", "load_onnx", "register_converters", "to_onnx"]
