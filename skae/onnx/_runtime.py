"""Torch-free scoring of exported skae models: numpy and onnxruntime only.

Nothing here imports torch, scikit-learn or pandas, so production scoring installs and
starts light. Input checks are hand-written for speed: ``sklearn.utils.check_array``
alone costs several times the model on one row.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import _spec


class OnnxModel:
    """An exported skae estimator or Pipeline, scored with onnxruntime.

    Create it with :func:`load_onnx`. It offers whichever of the fitted estimator's
    inference methods the graph carries: ``predict``, ``decision_function`` and
    ``score_samples`` for detectors (and ``feature_errors`` when exported with it),
    ``transform`` for transformers, ``predict`` for a Pipeline ending in a clusterer.

    Parameters
    ----------
    model : bytes
        A serialized ONNX model.
    intra_op_num_threads : int, default=1
        onnxruntime's intra-op threads. One is fastest for small networks and one row;
        raise it for large batches of wide models.
    chunk_size : int, default=4096
        Rows scored per onnxruntime call; large inputs are scored in chunks, which is
        faster than one call and bounds memory.

    Attributes
    ----------
    metadata : dict
        The model's ``metadata_props``.
    n_features_in_ : int
        Number of input columns expected.
    feature_names_in_ : list of str or None
        Column names expected, when the model was fitted on a DataFrame.
    output_names : list of str
        The graph's outputs.
    """

    def __init__(self, model, *, intra_op_num_threads=1, chunk_size=4096):
        import onnxruntime as ort

        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_num_threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options,
                                             providers=["CPUExecutionProvider"])
        self.chunk_size = int(chunk_size)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ValueError("skae models take one float tensor input; this model takes "
                             f"{len(inputs)} inputs.")
        self._input = inputs[0].name
        self.output_names = [o.name for o in self._session.get_outputs()]
        # float outputs that every call checks (the others derive from them)
        self._checked = [n for n in (_spec.SCORES_OUTPUT, _spec.TRANSFORM_OUTPUT)
                         if n in self.output_names]
        self._plans = {}
        width = inputs[0].shape[1]
        self.n_features_in_ = int(self.metadata.get(_spec.META_N_FEATURES, width))
        names = self.metadata.get(_spec.META_FEATURE_NAMES)
        self.feature_names_in_ = json.loads(names) if names else None
        offset = self.metadata.get(_spec.META_OFFSET)
        self.offset_ = float(offset) if offset is not None else None

    # -------------------------------------------------------------- input
    def _prepare(self, X):
        if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a DataFrame, no pandas import
            try:
                X = self._select_columns(X)
            except (TypeError, ValueError) as exc:
                if "missing the columns" in str(exc):
                    raise
                raise ValueError(
                    "X must be numeric: encode text or categorical columns (or drop them) "
                    f"before scoring. ({exc})") from None
        elif hasattr(X, "tocsr") and hasattr(X, "nnz"):  # a scipy sparse matrix
            raise TypeError("Sparse input is not supported: pass a dense array "
                            "(X.toarray()).")
        if not (isinstance(X, np.ndarray) and X.dtype == np.float32 and X.ndim == 2
                and X.flags.c_contiguous):
            try:
                with np.errstate(over="ignore"):  # too large for float32: named below
                    X = np.ascontiguousarray(X, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    "X must be numeric (convertible to float32); non-numeric columns must be "
                    f"encoded or dropped before scoring. ({exc})") from None
            if X.ndim == 1:
                raise ValueError(
                    f"Expected a 2-D array, got a 1-D array of {X.shape[0]} values. Reshape "
                    "with X.reshape(1, -1) for a single row or X.reshape(-1, 1) for a single "
                    "feature.")
            if X.ndim != 2:
                raise ValueError(f"Expected a 2-D array, got {X.ndim} dimensions.")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this model is expecting "
                             f"{self.n_features_in_} features as input.")
        if X.shape[0] == 0:
            raise ValueError("X has 0 rows; at least one row is needed.")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity (or values too large for float32); "
                             "impute or drop them before scoring.")
        return X

    def _select_columns(self, df):
        names = [str(c) for c in df.columns]
        if self.feature_names_in_ is None:
            return df.to_numpy(dtype=np.float32)
        if names == self.feature_names_in_:
            return df.to_numpy(dtype=np.float32)
        missing = [n for n in self.feature_names_in_ if n not in set(names)]
        if missing:
            raise ValueError(f"X is missing the columns the model was fitted on: {missing}.")
        # Same columns in another order, or extra columns: select by name.
        return df[[df.columns[names.index(n)] for n in self.feature_names_in_]].to_numpy(
            dtype=np.float32)

    # ---------------------------------------------------------------- run
    def run(self, X, outputs=None):
        """Run the graph on X; return a dict from output name to array.

        Raises ValueError when an output is not finite (input values too large for the
        network's float32 arithmetic): a NaN score would otherwise label a row an inlier
        without a word.
        """
        names = self.output_names if outputs is None else list(outputs)
        return dict(zip(names, self._run(self._prepare(X), names)))

    def _fetch_plan(self, names):
        plan = self._plans.get(names)
        if plan is None:
            # A detector's labels come from its scores: fetch them too, to check them.
            fetch = list(names) + [n for n in self._checked if n not in names]
            plan = self._plans[names] = (fetch, [fetch.index(n) for n in self._checked])
        return plan

    def _run(self, X, names):
        fetch, checks = self._fetch_plan(tuple(names))
        if len(X) <= self.chunk_size:
            values = self._session.run(fetch, {self._input: X})
        else:
            parts = [self._session.run(fetch, {self._input: X[i:i + self.chunk_size]})
                     for i in range(0, len(X), self.chunk_size)]
            values = [np.concatenate([p[k] for p in parts]) for k in range(len(fetch))]
        for k in checks:
            v = values[k]
            if not (math.isfinite(v.item()) if v.size == 1 else np.isfinite(v).all()):
                raise ValueError(
                    f"The model's {fetch[k]!r} output is not finite for some rows of X "
                    f"(largest |value| in X: {float(np.abs(X).max()):.3g}): values this large "
                    "overflow its float32 arithmetic. Scale X the way the training data was "
                    "scaled.")
        return values[:len(names)]

    def _output(self, X, name, method):
        if name not in self.output_names:
            raise AttributeError(
                f"This model has no {method}: its graph outputs {self.output_names}. "
                + ("Export it with to_onnx(..., feature_errors=True)."
                   if name == _spec.FEATURE_ERRORS_OUTPUT else ""))
        return self._run(self._prepare(X), (name,))[0]

    def predict(self, X):
        """Labels: +1 inlier / -1 outlier for detectors, cluster ids for clusterers."""
        return self._output(X, _spec.LABEL_OUTPUT, "predict").reshape(-1)

    def decision_function(self, X):
        """``score_samples - offset``; negative for outliers."""
        return self._output(X, _spec.SCORES_OUTPUT, "decision_function").reshape(-1)

    def score_samples(self, X):
        """Normality scores (higher = more normal)."""
        if _spec.SCORE_SAMPLES_OUTPUT in self.output_names:
            return self._output(X, _spec.SCORE_SAMPLES_OUTPUT, "score_samples").reshape(-1)
        if self.offset_ is None:
            raise AttributeError("This model has no score_samples (it is not a detector).")
        return self.decision_function(X) + np.float32(self.offset_)

    def feature_errors(self, X):
        """Per-feature reconstruction errors, shape (n_samples, n_features)."""
        return self._output(X, _spec.FEATURE_ERRORS_OUTPUT, "feature_errors")

    def transform(self, X):
        """Latent codes (or the Pipeline's transformed output)."""
        return self._output(X, _spec.TRANSFORM_OUTPUT, "transform")

    def __repr__(self):
        cls = self.metadata.get(_spec.META_CLASS, "?").rsplit(".", 1)[-1]
        return (f"OnnxModel({cls}, n_features_in_={self.n_features_in_}, "
                f"outputs={self.output_names})")


def load_onnx(model, *, intra_op_num_threads=1, chunk_size=4096):
    """Load an exported model for scoring with onnxruntime (no torch needed).

    Parameters
    ----------
    model : str, path-like, bytes or onnx.ModelProto
        The file written from :func:`skae.onnx.to_onnx`'s result, its bytes, or the
        ModelProto itself.
    intra_op_num_threads : int, default=1
        onnxruntime's intra-op threads.
    chunk_size : int, default=4096
        Rows per onnxruntime call for large inputs.

    Returns
    -------
    model : OnnxModel
    """
    if hasattr(model, "SerializeToString"):
        data = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray)):
        data = bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as fh:
            data = fh.read()
    else:
        raise TypeError("model must be a path, bytes or an onnx.ModelProto; got "
                        f"{type(model).__name__}.")
    return OnnxModel(data, intra_op_num_threads=intra_op_num_threads, chunk_size=chunk_size)
