"""Scoring tables too large for one machine with an exported model, on Dask or Spark.

:func:`score_dask` scores a Dask DataFrame partition by partition (``map_partitions``);
:func:`score_spark` scores a Spark DataFrame through ``mapInPandas``. Both return the
input columns plus ``score``, ``label`` and ``top_feature``, computed by the same function
as ``skae score`` (:func:`skae.scoring.score_frame`), so a table scored on a cluster
equals the same table scored in one process.

The workers need numpy, pandas and onnxruntime, never torch. The model's bytes travel
once to each worker (a Dask task every partition depends on; a Spark broadcast
variable), and each worker process creates one onnxruntime session per model, cached by
the model's SHA-256 digest, however many partitions it scores.

Training on a cluster needs nothing from this module: the estimators' ``partial_fit``
works under ``dask_ml.wrappers.Incremental``, and ``GridSearchCV(..., n_jobs=-1)`` runs
on a Dask cluster inside ``joblib.parallel_backend("dask")`` (see the README, "Beyond one
machine").
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import threading

from ._schema import P_VALUE_OUTPUT
from ._tables.formats import first_line
from .onnx._feeds import check_unique
from .onnx._runtime import load_onnx
from .scoring import (
    check_detector,
    check_free_columns,
    feature_error_names,
    model_columns,
    score_frame,
)

__all__ = ["score_dask", "score_spark", "session_cache_info"]

# This process's onnxruntime sessions, by model digest, oldest first (a long-lived worker
# that scores many models keeps the latest few).
_CACHE_SIZE = 4
_MODELS: collections.OrderedDict = collections.OrderedDict()
_CREATED: collections.Counter = collections.Counter()  # sessions ever created, by digest
_LOCK = threading.Lock()

SessionCacheInfo = collections.namedtuple("SessionCacheInfo", "created cached")


def session_cache_info(model=None):
    """How many onnxruntime sessions this process created for ``score_dask`` and
    ``score_spark``, and how many it holds, as ``functools.lru_cache``'s ``cache_info``.

    Run it on the workers (``client.run(session_cache_info)`` on Dask, inside a
    ``mapInPandas`` function on Spark) to check that each worker process loaded a model
    once, not once per partition.

    Parameters
    ----------
    model : str, bytes or OnnxModel, default=None
        Count only this model's sessions (by the digest of its bytes); None counts all.

    Returns
    -------
    info : SessionCacheInfo
        ``created`` (sessions created since the process started) and ``cached`` (held
        now, at most four models).
    """
    digest = None if model is None else hashlib.sha256(_bytes_of(model)).hexdigest()
    with _LOCK:
        if digest is None:
            return SessionCacheInfo(sum(_CREATED.values()), len(_MODELS))
        return SessionCacheInfo(_CREATED[digest], int(digest in _MODELS))


def _cached_model(digest, load_bytes):
    """This process's session for the model ``digest``, created on first use.

    ``load_bytes()`` returns the model's bytes; it is called only when the session is
    created. The lock makes worker threads scoring partitions at once share one session
    (sessions are safe to run from several threads).
    """
    with _LOCK:
        model = _MODELS.get(digest)
        if model is None:
            model = _MODELS[digest] = load_onnx(load_bytes())
            _CREATED[digest] += 1
            while len(_MODELS) > _CACHE_SIZE:
                _MODELS.popitem(last=False)
        else:
            _MODELS.move_to_end(digest)
        return model


def _bytes_of(model):
    """A model's bytes from a path, bytes or ModelProto."""
    if hasattr(model, "SerializeToString"):
        return model.SerializeToString()
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as fh:
            return fh.read()
    raise TypeError(
        "model must be the path of an ONNX file, its bytes or an "
        f"onnx.ModelProto; got {type(model).__name__}."
    )


def _model_bytes(model):
    """``(bytes, digest, session)`` for a path, bytes or ModelProto, checked on the driver."""
    data = _bytes_of(model)
    digest = hashlib.sha256(data).hexdigest()
    try:
        session = _cached_model(digest, lambda: data)
    except Exception as exc:
        if not type(exc).__module__.startswith("onnxruntime"):
            raise
        raise ValueError(
            f"model is not an ONNX model onnxruntime can load ({first_line(exc)})."
        ) from None
    check_detector(
        session, "model", "export a ReconstructionAnomalyDetector or a Pipeline ending in one"
    )
    return data, digest, session


def _check_columns(session, columns):
    """Fail on the driver, before any work, when the table cannot be scored."""
    columns = [str(c) for c in columns]
    check_free_columns(columns, "df")
    needed = model_columns(session)
    if needed is None:
        if len(columns) != session.n_features_in_:
            raise ValueError(
                f"df has {len(columns)} columns but the model expects "
                f"{session.n_features_in_} (it was fitted without column names, so every "
                "column is an input, by position); select the model's columns first."
            )
        return
    check_unique(columns, needed, "df")
    missing = [n for n in needed if n not in set(columns)]
    if missing:
        raise ValueError(f"df lacks the columns the model was fitted on: {missing}.")


# ---------------------------------------------------------------------------- Dask
def _score_partition(part, data, digest, threshold):
    return score_frame(_cached_model(digest, lambda: data), part, threshold=threshold)


def score_dask(df, model, *, threshold=None):
    """Score a Dask DataFrame with an exported outlier detector, partition by partition.

    Lazy: nothing is computed until the result is (``.compute()``, ``.to_parquet(...)``).
    Each worker process receives the model's bytes once and creates one onnxruntime
    session for it (one thread), reused for every partition it scores; torch is never
    imported on the workers.

    Parameters
    ----------
    df : dask.dataframe.DataFrame
        The rows to score. The model's columns are selected by name (by position for a
        model fitted without names); every column is kept in the result.
    model : str, path-like, bytes or onnx.ModelProto
        An outlier detector exported with :func:`skae.onnx.to_onnx` (``skae fit`` writes
        one), with ``feature_errors=True`` for the ``top_feature`` column. Its bytes are
        what the workers get, so it must be one self-contained file (no external data).
    threshold : float, default=None
        Label rows whose score is below it -1; None keeps the model's cut (0).

    Returns
    -------
    scored : dask.dataframe.DataFrame
        ``df``'s columns and index, then ``score`` (float32, the model's
        ``decision_function``: negative = outlier), ``label`` (int64, -1 outlier / +1
        inlier) and ``top_feature`` (str, the column with the largest reconstruction
        error; only when the model outputs per-feature errors), the same columns as
        ``skae score``. Its ``dtypes`` are known without computing anything.

    Raises
    ------
    ValueError
        When the model is not an outlier detector, or ``df`` lacks a model column or
        already has a ``score``, ``label`` or ``top_feature`` column (checked at once).

    Examples
    --------
    ``skae score`` on a cluster, with a ``distributed.Client`` connected (without one, on
    Dask's local threads), from a folder of Parquet files to another::

        import dask.dataframe as dd
        from skae.distributed import score_dask
        score_dask(dd.read_parquet("new/"), "model.onnx").to_parquet("scored/")
    """
    import dask

    data, digest, session = _model_bytes(model)
    _check_columns(session, df.columns)
    # the dtypes, from the scoring function itself on the empty frame Dask keeps as meta
    meta = score_frame(session, df._meta, threshold=threshold)
    # one task holds the bytes: fetched once per worker, not embedded in every task
    blob = dask.delayed(data, name=f"skae-onnx-{digest}", pure=True, traverse=False)
    return df.map_partitions(
        _score_partition, blob, digest, threshold, meta=meta, enforce_metadata=False
    )


# --------------------------------------------------------------------------- Spark
def _score_batches(source, digest, threshold, batches):
    """``mapInPandas`` function: each pandas batch scored with this worker's session."""
    load = (lambda: source) if isinstance(source, bytes) else (lambda: source.value)
    for batch in batches:
        yield score_frame(_cached_model(digest, load), batch, threshold=threshold)


def _spark_schema(schema, session):
    from pyspark.sql import types

    fields = [
        *schema.fields,
        types.StructField("score", types.FloatType(), False),
        types.StructField("label", types.LongType(), False),
    ]
    if P_VALUE_OUTPUT in session.output_names:
        fields.append(types.StructField(P_VALUE_OUTPUT, types.FloatType(), False))
    if feature_error_names(session) is not None:
        fields.append(types.StructField("top_feature", types.StringType(), False))
    return types.StructType(fields)


def score_spark(df, model, *, threshold=None):
    """Score a Spark DataFrame with an exported outlier detector, through ``mapInPandas``.

    Lazy, like any Spark transformation. The model's bytes are broadcast once (on Spark
    Connect, where broadcast variables do not exist, they travel with the function), and
    each Python worker creates one onnxruntime session for it (one thread), reused for
    every Arrow batch of every partition it scores (with ``spark.python.worker.reuse``,
    Spark's default). torch is never imported on the workers.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The rows to score. The model's columns are selected by name (by position for a
        model fitted without names); every column is kept in the result.
    model : str, path-like, bytes or onnx.ModelProto
        An outlier detector exported with :func:`skae.onnx.to_onnx` (``skae fit`` writes
        one), with ``feature_errors=True`` for the ``top_feature`` column. Its bytes are
        what the workers get, so it must be one self-contained file (no external data).
    threshold : float, default=None
        Label rows whose score is below it -1; None keeps the model's cut (0).

    Returns
    -------
    scored : pyspark.sql.DataFrame
        ``df``'s columns, then ``score`` (float), ``label`` (bigint, -1 outlier / +1
        inlier) and ``top_feature`` (string; only when the model outputs per-feature
        errors), the same columns as ``skae score``. The schema is known without running
        a job.

    Raises
    ------
    ValueError
        When the model is not an outlier detector, or ``df`` lacks a model column or
        already has a ``score``, ``label`` or ``top_feature`` column (checked at once).

    Notes
    -----
    Spark's Python workers must run a Python with skae installed: set
    ``PYSPARK_PYTHON`` (or ``spark.pyspark.python``) to it.

    Examples
    --------
    ``skae score`` on a cluster, where ``spark`` is a SparkSession, from a folder of
    Parquet files to another::

        from skae.distributed import score_spark
        scored = score_spark(spark.read.parquet("new/"), "model.onnx")
        scored.write.parquet("scored/")
    """
    data, digest, session = _model_bytes(model)
    _check_columns(session, df.columns)
    try:
        source = df.sparkSession.sparkContext.broadcast(data)
    except (AttributeError, NotImplementedError):  # Spark Connect: no SparkContext
        source = data
    # functools.partial of a module function pickles by reference: the workers import
    # this module, and with it the one session cache of their process
    func = functools.partial(_score_batches, source, digest, threshold)
    return df.mapInPandas(func, _spark_schema(df.schema, session))
