"""Torch-free scoring of exported skae models: numpy and onnxruntime only.

Nothing here imports torch or scikit-learn; pandas is touched only through the
DataFrame it is given. Input checks are hand-written for speed: ``sklearn.utils.check_array``
alone costs several times the model on one row.

Two kinds of model: one float32 tensor ``"X"`` (exported from a NumPy sample, or a
DataFrame of numbers), or one input per column (numbers as float32, text as strings), fed
here from a DataFrame by column name and converted to each input's type (``_feeds``).
Outputs are checked after each run (``_checks``): a NaN score is never returned.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .. import _schema
from .._schema import MISSING_CATEGORY
from ._checks import check_finite_input, raise_not_finite
from ._external_data import check_external_data
from ._feeds import as_float32, check_unique, frame_numbers, is_frame, numbers, text

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": np.object_,
    "tensor(bool)": np.bool_,
}
_NO_ROWS = "X has 0 rows; at least one row is needed."


def _frame_numbers(df, positions, names):
    """The DataFrame's number columns at ``positions`` (see ``OnnxModel._positions``), named
    ``names``, as one float32 array."""
    if positions is None:
        return frame_numbers(df, names)
    if len(positions) == df.shape[1]:  # the same columns in another order: reorder after
        # (pandas' column selection costs more than the model on one row; only an error
        # reads the names)
        return frame_numbers(df, map(str, df.columns))[:, positions]
    return frame_numbers(df.iloc[:, positions], names)


class OnnxModel:
    """An exported skae estimator or Pipeline, scored with onnxruntime.

    Create it with :func:`load_onnx`. It offers whichever of the fitted estimator's
    inference methods the graph carries: ``predict``, ``decision_function`` and
    ``score_samples`` for detectors (and ``feature_errors`` when exported with it),
    ``transform`` for transformers, ``predict`` for a Pipeline ending in a clusterer.

    Parameters
    ----------
    model : bytes or str
        A serialized ONNX model, or the path of one.
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
    input_columns_ : list of str or None
        For a model exported from a DataFrame sample, the columns it reads, one graph
        input each; None for a model with one tensor input.
    input_types_ : dict or None
        For such a model, each column's kind: "number" or "text".
    feature_error_names_ : list of str or None
        Names of the columns of the ``feature_errors`` output: input columns when the
        errors were averaged back onto them, transformed feature names when a step mixes
        columns (see ``feature_errors_space_``), None when unknown.
    feature_errors_space_ : {"input", "transformed"} or None
        What the ``feature_errors`` columns are; None when unknown or not exported.
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
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.chunk_size = int(chunk_size)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.output_names = [o.name for o in self._session.get_outputs()]
        _schema.check_metadata(
            self.metadata,
            [(i.name, i.type, i.shape) for i in self._session.get_inputs()],
            {o.name: o.shape for o in self._session.get_outputs()},
        )
        # float outputs that every call checks (the others derive from them)
        self._checked = [
            n for n in (_schema.SCORES_OUTPUT, _schema.TRANSFORM_OUTPUT) if n in self.output_names
        ]
        self._fetch_lists = {}
        self._position_cache = None
        names = self.metadata.get(_schema.META_FEATURE_NAMES)
        self.feature_names_in_ = json.loads(names) if names else None
        offset = self.metadata.get(_schema.META_OFFSET)
        self.offset_ = float(offset) if offset is not None else None
        self._read_inputs(self._session.get_inputs())
        tokens = self.metadata.get(_schema.META_MISSING_TEXT)
        self._missing_tokens = json.loads(tokens) if tokens else {}
        self._read_feature_errors()

    def _read_inputs(self, inputs):
        kind = self.metadata.get(_schema.META_INPUTS)
        if kind is None:  # exported before the metadata said: one input is a tensor
            kind = _schema.INPUTS_TENSOR if len(inputs) == 1 else _schema.INPUTS_COLUMNS
        if kind == _schema.INPUTS_TENSOR:
            if len(inputs) != 1 or inputs[0].type != "tensor(float)":
                raise ValueError(
                    "skae models take one float tensor input; this model takes "
                    f"{[(i.name, i.type) for i in inputs]}."
                )
            self._input, self._columns, self._text_columns = inputs[0].name, None, []
            self.input_columns_ = self.input_types_ = None
            width = inputs[0].shape[1] if len(inputs[0].shape or ()) == 2 else None
            self.n_features_in_ = int(self.metadata.get(_schema.META_N_FEATURES, width))
            return
        columns = self.metadata.get(_schema.META_INPUT_COLUMNS)
        columns = json.loads(columns) if columns else [i.name for i in inputs]
        if len(columns) != len(inputs):
            raise ValueError(
                f"The model's metadata names {len(columns)} input columns but "
                f"its graph has {len(inputs)} inputs."
            )
        unknown = [(i.name, i.type) for i in inputs if i.type not in _DTYPES]
        if unknown:
            raise ValueError(f"This model has inputs of types skae cannot feed: {unknown}.")
        self._input = None
        self._columns = [(c, i.name, _DTYPES[i.type]) for c, i in zip(columns, inputs, strict=True)]
        self._numbers_only = all(dtype is np.float32 for _, _, dtype in self._columns)
        self._text_columns = [c for c, _, dtype in self._columns if dtype is np.object_]
        self.input_columns_ = list(columns)
        self.input_types_ = {
            c: "text" if dtype is np.object_ else "number" for c, _, dtype in self._columns
        }
        self.n_features_in_ = len(columns)

    def _read_feature_errors(self):
        self.feature_error_names_ = self.feature_errors_space_ = None
        if _schema.FEATURE_ERRORS_OUTPUT not in self.output_names:
            return
        names = self.metadata.get(_schema.META_FEATURE_ERRORS_NAMES)
        self.feature_errors_space_ = self.metadata.get(_schema.META_FEATURE_ERRORS_SPACE)
        if names is not None:
            self.feature_error_names_ = json.loads(names)
        elif self.feature_errors_space_ is None and self.feature_names_in_ is not None:
            # exported before this metadata: the input names are right only when the
            # errors are as wide as the input
            out = self._session.get_outputs()[
                self.output_names.index(_schema.FEATURE_ERRORS_OUTPUT)
            ]
            width = out.shape[1] if len(out.shape or ()) == 2 else None
            if width == len(self.feature_names_in_):
                self.feature_error_names_ = list(self.feature_names_in_)

    # -------------------------------------------------------------- input
    def _prepare(self, X):
        """The graph's feeds: ``{input name: array}``."""
        if self._columns is None:
            return {self._input: self._tensor(X)}
        return self._column_feeds(X)

    def _tensor(self, X):
        if is_frame(X):
            wanted = self.feature_names_in_
            if wanted is None:
                X = frame_numbers(X, map(str, X.columns))  # (only an error reads the names)
            else:
                X = _frame_numbers(X, self._positions(X, wanted), wanted)
        return self._checked_array(X)

    def _positions(self, X, wanted):
        """Where each of the ``wanted`` columns is in X, by name; None when X's columns
        are ``wanted``, in that order. ValueError naming a wanted column X holds twice
        (which copy is meant cannot be known)."""
        # (iterating a pandas Index costs more than the model on one row: tolist first)
        names = tuple(map(str, X.columns.tolist()))
        cached = self._position_cache
        if cached is not None and cached[0] == names and cached[1] is wanted:
            return cached[2]
        positions = None
        if list(names) != wanted:
            by_name = {}
            for j, name in enumerate(names):
                by_name.setdefault(name, j)
            check_unique(names, wanted, "X")
            missing = [c for c in wanted if c not in by_name]
            if missing:
                raise ValueError(f"X is missing the columns the model was fitted on: {missing}.")
            positions = np.array([by_name[c] for c in wanted], dtype=np.intp)
        self._position_cache = (names, wanted, positions)
        return positions

    def _column_feeds(self, X):
        if not is_frame(X):
            return self._split(self._fitted_width_array(X))
        positions = self._positions(X, self.input_columns_)
        if len(X) == 0:
            raise ValueError(_NO_ROWS)
        if self._numbers_only:  # one conversion for all, then one column per input
            return self._split(_frame_numbers(X, positions, self.input_columns_))
        positions = range(len(self._columns)) if positions is None else positions.tolist()
        # (pandas' public per-column access costs more than the model on one row)
        get = getattr(X, "_get_column_array", None)
        feeds = {}
        for (column, name, dtype), j in zip(self._columns, positions, strict=True):
            values = get(j) if get is not None else X.iloc[:, j].array
            values = (
                text(column, values, self._missing_tokens.get(column, MISSING_CATEGORY))
                if dtype is np.object_
                else numbers(column, values, dtype)
            )
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def _fitted_width_array(self, X):
        """An array for a column-input model: its input columns in order, or every
        column the estimator was fitted on (those it reads are picked by position)."""
        names, fitted = self.feature_names_in_, self.metadata.get(_schema.META_N_FEATURES)
        width = np.shape(X)[1] if np.ndim(X) == 2 else None
        if (
            not self._text_columns
            and names
            and fitted
            and width == int(fitted) != self.n_features_in_
        ):
            position = {name: j for j, name in enumerate(names)}
            X = as_float32(X)[:, [position[c] for c in self.input_columns_]]
        return self._checked_array(X)

    def _checked_array(self, X):
        """X as a float32, C-contiguous 2-D array of the model's width, with rows."""
        if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # a scipy sparse matrix
            raise TypeError("Sparse input is not supported: pass a dense array (X.toarray()).")
        if self._text_columns:
            raise TypeError(
                f"This model reads named columns, some of them text ({self._text_columns}): "
                f"pass a pandas DataFrame with the columns {self.input_columns_}."
            )
        if not (
            isinstance(X, np.ndarray)
            and X.dtype == np.float32
            and X.ndim == 2
            and X.flags.c_contiguous
        ):
            X = as_float32(X)
        if X.shape[1] != self.n_features_in_:
            order = (
                ""
                if self.input_columns_ is None
                else f" (the columns {self.input_columns_}, in this order)"
            )
            raise ValueError(
                f"X has {X.shape[1]} features, but this model is expecting "
                f"{self.n_features_in_} features as input{order}."
            )
        if X.shape[0] == 0:
            raise ValueError(_NO_ROWS)
        return X

    def _split(self, X):
        """A float32 2-D array, one column per input."""
        return {
            name: np.ascontiguousarray(X[:, j : j + 1])
            if dtype is np.float32
            else X[:, j : j + 1].astype(dtype)
            for j, (_, name, dtype) in enumerate(self._columns)
        }

    # ---------------------------------------------------------------- run
    def run(self, X, outputs=None):
        """Run the graph on X; return a dict from output name to array.

        Parameters
        ----------
        X : array-like or pandas DataFrame
            For a model exported from a DataFrame sample, a DataFrame holding the columns
            in ``input_columns_`` (others are ignored), each converted to its input's
            type (numbers to float32, text to strings; a missing text value is fed as
            "nan", which is how an encoder fitted on missing values knows them), or,
            when every column is a number, a 2-D array in that column order.
        outputs : list of str, default=None
            Outputs to compute; None for all.

        Raises ValueError naming the columns at fault for missing columns, a column the
        model reads given twice, values of the wrong kind (complex numbers, durations and
        dates where numbers are taken, bytes where text is), and missing or infinite values
        the model does not impute (an output that is not finite). A row whose outputs are
        not finite is never returned: a NaN score would label it an inlier without a word.
        Numbers enter the graph as float32, as the network computes: integers are exact
        up to 2**24.
        """
        names = self.output_names if outputs is None else list(outputs)
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise ValueError(
                f"This model has no outputs {unknown}; it outputs {self.output_names}."
            )
        return dict(zip(names, self._run(self._prepare(X), names), strict=True))

    def _fetch_list(self, names):
        """The outputs to fetch for ``names`` (those checked after each run included), and
        where the checked ones are in that list; cached per tuple of names."""
        fetched = self._fetch_lists.get(names)
        if fetched is None:
            # A detector's labels come from its scores: fetch them too, to check them.
            fetch = list(names) + [n for n in self._checked if n not in names]
            fetched = self._fetch_lists[names] = (fetch, [fetch.index(n) for n in self._checked])
        return fetched

    def _session_run(self, fetch, feeds):
        try:
            return self._session.run(fetch, feeds)
        except Exception as exc:  # onnxruntime's own exception types
            if "Unknown Category" in str(exc):
                raise ValueError(
                    "X holds a category that an encoder of the model did not see at fit "
                    "time, and it was fitted with handle_unknown='error' (scikit-learn "
                    "raises too): drop such rows, or refit the encoder with "
                    "handle_unknown='ignore'."
                ) from None
            raise

    def _run(self, feeds, names):
        fetch, checks = self._fetch_list(tuple(names))
        n = len(next(iter(feeds.values())))
        if not checks:  # nothing to check afterwards: refuse non-finite input now
            check_finite_input(self, feeds)
        if n <= self.chunk_size:
            values = self._session_run(fetch, feeds)
        else:
            parts = [
                self._session_run(fetch, {k: v[i : i + self.chunk_size] for k, v in feeds.items()})
                for i in range(0, n, self.chunk_size)
            ]
            values = [np.concatenate([p[k] for p in parts]) for k in range(len(fetch))]
        for k in checks:
            v = values[k]
            if not (math.isfinite(v.item()) if v.size == 1 else np.isfinite(v).all()):
                raise_not_finite(self, feeds, fetch[k], v)
        return values[: len(names)]

    def _output(self, X, name, method):
        if name not in self.output_names:
            raise AttributeError(
                f"This model has no {method}: its graph outputs {self.output_names}. "
                + (
                    "Export it with to_onnx(..., feature_errors=True)."
                    if name == _schema.FEATURE_ERRORS_OUTPUT
                    else ""
                )
            )
        return self._run(self._prepare(X), (name,))[0]

    def predict(self, X):
        """Labels: +1 inlier / -1 outlier for detectors, cluster ids for clusterers."""
        return self._output(X, _schema.LABEL_OUTPUT, "predict").reshape(-1)

    def decision_function(self, X):
        """``score_samples - offset``; negative for outliers."""
        return self._output(X, _schema.SCORES_OUTPUT, "decision_function").reshape(-1)

    def pvalues(self, X):
        """Conformal p-values against the detector's calibration scores (small =
        unusual; see ``ReconstructionAnomalyDetector.pvalues``)."""
        return self._output(X, _schema.P_VALUE_OUTPUT, "pvalues").reshape(-1)

    def score_samples(self, X):
        """Normality scores (higher = more normal)."""
        if _schema.SCORE_SAMPLES_OUTPUT in self.output_names:
            return self._output(X, _schema.SCORE_SAMPLES_OUTPUT, "score_samples").reshape(-1)
        if self.offset_ is None:
            if _schema.SCORES_OUTPUT in self.output_names:
                raise AttributeError(
                    "This model has no score_samples: its graph outputs only "
                    f"{self.output_names}, and the offset that turns scores into "
                    "score_samples is in skae's metadata, which this model lacks (it was "
                    "converted with skl2onnx.to_onnx, which writes none). Convert it with "
                    "skae.onnx.to_onnx, or give skl2onnx.to_onnx "
                    "options={id(detector): {'score_samples': True}}."
                )
            raise AttributeError("This model has no score_samples (it is not a detector).")
        return self.decision_function(X) + np.float32(self.offset_)

    def feature_errors(self, X):
        """Per-column reconstruction errors, shape (n_samples, len(feature_error_names_)).

        The columns are named by ``feature_error_names_`` and described by
        ``feature_errors_space_``.
        """
        return self._output(X, _schema.FEATURE_ERRORS_OUTPUT, "feature_errors")

    def transform(self, X):
        """Latent codes (or the Pipeline's transformed output)."""
        return self._output(X, self._transform_output(), "transform")

    def _transform_output(self):
        if _schema.TRANSFORM_OUTPUT in self.output_names:
            return _schema.TRANSFORM_OUTPUT
        # exported before skae named every transformer's output "variable": a Pipeline
        # ending in a FeatureUnion outputs "union", a ColumnTransformer "transformed_column"
        if len(self.output_names) == 1 and self.offset_ is None:
            return self.output_names[0]
        return _schema.TRANSFORM_OUTPUT

    def __repr__(self):
        cls = self.metadata.get(_schema.META_CLASS, "?").rsplit(".", 1)[-1]
        return (
            f"OnnxModel({cls}, n_features_in_={self.n_features_in_}, outputs={self.output_names})"
        )


def load_onnx(model, *, intra_op_num_threads=1, chunk_size=4096):
    """Load an exported model for scoring with onnxruntime (no torch needed).

    Parameters
    ----------
    model : str, path-like, bytes or onnx.ModelProto
        The file written from :func:`skae.onnx.to_onnx`'s result, its bytes, or the
        ModelProto itself. Tensors kept in external data files resolve against the
        model file's folder; locations outside that folder are refused.
    intra_op_num_threads : int, default=1
        onnxruntime's intra-op threads.
    chunk_size : int, default=4096
        Rows per onnxruntime call for large inputs.

    Returns
    -------
    model : OnnxModel

    Raises
    ------
    skae._schema.ModelFileError
        A ValueError, when a metadata value skae reads is malformed, not finite, or
        contradicts the graph or another key: the message says "not a model skae can
        load" and names the key (a model file is untrusted input).
    """
    path = folder = None
    if hasattr(model, "SerializeToString"):
        data = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(path, "rb") as fh:
            data = fh.read()
        folder = os.path.dirname(os.path.abspath(path))
    else:
        raise TypeError(
            f"model must be a path, bytes or an onnx.ModelProto; got {type(model).__name__}."
        )
    external = check_external_data(data, folder)
    # The bytes checked are the model run (the file may change meanwhile); onnxruntime
    # finds external data files only next to a model it reads by path.
    source = path if path is not None and external else data
    return OnnxModel(source, intra_op_num_threads=intra_op_num_threads, chunk_size=chunk_size)
