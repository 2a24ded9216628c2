"""ONNX export of skae estimators and Pipelines, and torch-free scoring.

``load_onnx`` needs only numpy and onnxruntime: importing this package imports neither
torch nor skl2onnx; ``to_onnx`` and ``register_converters`` import them when called::

    from skae.onnx import to_onnx, load_onnx
    onx = to_onnx(fitted_pipeline, X[:1])          # an onnx.ModelProto
    open("model.onnx", "wb").write(onx.SerializeToString())
    load_onnx("model.onnx").predict(X_new)         # onnxruntime only

A model exported with ``skl2onnx.to_onnx`` after :func:`register_converters` computes the
same outputs but carries none of skae's metadata (skl2onnx writes none): no ``offset``,
so ``score_samples`` is unavailable unless the graph outputs it, and no column names.
:func:`to_onnx` takes the same Pipelines and writes both.
"""

from .._schema import OPSET
from ._runtime import OnnxModel, load_onnx


def to_onnx(estimator, X_sample, *, feature_errors=False, score_samples=False, target_opset=None):
    """Convert a fitted skae estimator, or a Pipeline containing skae estimators, to ONNX.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A fitted :class:`~skae.AutoencoderTransformer`, :class:`~skae.VAETransformer`,
        :class:`~skae.ReconstructionAnomalyDetector`, or a Pipeline / ColumnTransformer
        whose steps skl2onnx or skae can convert.
    X_sample : ndarray or pandas DataFrame of shape (n_samples, n_features)
        A few rows of the training data (zero rows will do); their width, and for a
        DataFrame the columns' names and dtypes, are checked against the fitted
        estimator and set the graph's inputs:

        - an array, or a DataFrame of numbers for an estimator that takes every
          column, gives one float32 tensor input ``"X"`` of width ``n_features`` (the
          fastest to score; :func:`load_onnx` still selects a DataFrame's columns by
          name);
        - a DataFrame with text or categorical columns, or for an estimator with a
          ColumnTransformer that selects columns by name (or dtype), gives one input
          per column, each of shape (N, 1): numbers (float, int and bool columns,
          booleans as 0/1) as float32, text and categorical columns as strings. Such a
          Pipeline, with OneHotEncoder / OrdinalEncoder / SimpleImputer / scalers,
          exports as one graph, and :func:`load_onnx` feeds it from a DataFrame by
          column name. Numbers travel as float32, as the network computes: an integer
          column is exact up to 2**24, and a column whose values are large next to
          their spread (an epoch timestamp, an account number) loses digits before it
          is scaled; derive smaller features from it or drop it.
    feature_errors : bool or {"input", "transformed"}, default=False
        Detectors also output ``"feature_errors"``, the per-feature reconstruction
        errors that explain a score. True (or "input") reports them per input column
        when every feature the detector sees comes from one input column (a one-hot
        block's errors averaged onto its source column, scalers and imputers one to one;
        columns the model does not read get 0), and per transformed feature where a step
        mixes columns (PCA, polynomial features); "transformed" always reports the
        features the detector sees. The metadata keys ``feature_errors_names`` and
        ``feature_errors_space`` say which (:attr:`OnnxModel.feature_error_names_`).
    score_samples : bool, default=False
        Detectors also output ``"score_samples"``, shape (N, 1).
    target_opset : int, default=None
        ONNX opset; defaults to :data:`skae.onnx.OPSET`.

    Returns
    -------
    model : onnx.ModelProto
        Outputs ``"variable"`` for transformers (any Pipeline ending in a transformer,
        FeatureUnion or ColumnTransformer included), ``"label"`` (int64, +1/-1) and
        ``"scores"`` (``decision_function``) for detectors, as skl2onnx names them;
        ``metadata_props`` carry the skae version, the estimator's class and parameters,
        the input feature names, how the inputs are laid out, and ``contamination`` /
        ``offset`` for detectors.

    Raises
    ------
    ValueError
        When ``X_sample`` is not 2-D, its width differs from the estimator's
        ``n_features_in_``, a DataFrame sample lacks a column the estimator was fitted
        on, or a column's dtype cannot be an ONNX input (e.g. datetimes).
    """
    from .. import _require_train

    _require_train("skae.onnx.to_onnx")  # names the train extra when it is missing
    from ._export import to_onnx as _to_onnx

    return _to_onnx(
        estimator,
        X_sample,
        feature_errors=feature_errors,
        score_samples=score_samples,
        target_opset=target_opset,
    )


def register_converters():
    """Register skae's shape calculators, parsers and converters with skl2onnx.

    Call it once before ``skl2onnx.to_onnx(pipeline, ...)`` on a pipeline containing skae
    estimators (:func:`to_onnx` does it for you). Importing skae registers nothing.
    """
    from .. import _require_train

    _require_train("skae.onnx.register_converters")
    from ._converters import register_converters as _register

    _register()


__all__ = ["OPSET", "OnnxModel", "load_onnx", "register_converters", "to_onnx"]
