"""skae beyond one machine: Dask and Spark, each in local mode, shared by the module.

One ``LocalCluster(n_workers=2, threads_per_worker=1)`` and one ``local[2]`` Spark session
serve every test here and are torn down at the end. The scoring tests come first: they
check that torch is never imported on the workers, and the training tests after them
import it there (the ``torch_free_client`` fixture restarts the workers if another order
ran training first).

Functions sent to the workers are defined inside the tests, so cloudpickle ships them by
value: the workers never import this module (nor torch through it).
"""

import hashlib
import logging
import os
import pathlib
import pickle
import re
import signal
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

pytestmark = [
    # PySpark 4.3 on pandas 3: its own warnings about its own calls
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

FEATURES = ["x0", "x1", "x2", "x3", "x4"]
README = pathlib.Path(__file__).parent.parent / "README.md"


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def torch_free_client(client):
    """The cluster, with workers that have not imported torch (restarted if they have)."""
    if any(client.run(lambda: "torch" in sys.modules).values()):
        client.restart()
    return client


@pytest.fixture(scope="module")
def spark_cwd(tmp_path_factory):
    """The Spark JVM's working folder, where it resolves relative paths."""
    return tmp_path_factory.mktemp("spark-cwd")


@pytest.fixture(scope="module")
def spark(spark_cwd):
    from pyspark.sql import SparkSession

    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP")}
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this Python
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # no network: loopback only
    here = os.getcwd()
    sigint = signal.getsignal(signal.SIGINT)  # SparkContext installs its own handler
    os.chdir(spark_cwd)  # the JVM starts here, and keeps it as its working folder
    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("skae-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.host", "127.0.0.1")
            # start-up over peak speed: the JVM's quick compiler only, serial GC
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.sql.adaptive.enabled", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
    finally:
        os.chdir(here)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    signal.signal(signal.SIGINT, sigint)  # and leaves it there after stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def table():
    """400 rows on a 2-D plane in 5-D, 12 planted outliers, plus an id and a text column."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 2)) @ rng.normal(size=(2, 5)) + 0.05 * rng.normal(size=(400, 5))
    X[:12] += rng.choice([-4.0, 4.0], size=(12, 5))
    df = pd.DataFrame(X, columns=FEATURES)
    df.insert(0, "id", np.arange(400))
    df["city"] = rng.choice(["Oslo", "Lima", "Pune"], size=400)
    return df


@pytest.fixture(scope="module")
def model_path(table, tmp_path_factory):
    """``StandardScaler -> ReconstructionAnomalyDetector`` on the numeric columns, as ONNX
    with the per-feature errors (so scores come with ``top_feature``)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae.onnx import to_onnx

    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=5, n_jobs=1),
            contamination=0.05,
            random_state=0,
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(table[FEATURES])
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    path.write_bytes(
        to_onnx(pipe, table[FEATURES].iloc[:1], feature_errors=True).SerializeToString()
    )
    return path


@pytest.fixture(scope="module")
def reference(table, model_path):
    """The single-process result: ``load_onnx`` on the whole table."""
    from skae.onnx import load_onnx
    from skae.scoring import score_frame

    model = load_onnx(model_path)
    expected = score_frame(model, table)
    # score_frame is skae score's function; it must agree with the model's own methods
    np.testing.assert_array_equal(expected["label"], model.predict(table[FEATURES]))
    np.testing.assert_array_equal(expected["score"], model.decision_function(table[FEATURES]))
    return expected


def assert_same_scores(got, expected):
    """Same rows (matched by id), same columns: labels and top features equal, scores
    within 1e-6 relative, the input columns untouched."""
    got = got.sort_values("id").reset_index(drop=True)
    expected = expected.sort_values("id").reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got["label"], expected["label"])
    np.testing.assert_allclose(got["score"], expected["score"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(
        got["top_feature"].astype(str), expected["top_feature"].astype(str)
    )
    np.testing.assert_array_equal(got["city"].astype(str), expected["city"].astype(str))
    np.testing.assert_allclose(got[FEATURES], expected[FEATURES])


def _fail_if_computed(*args, **kwargs):
    raise AssertionError("something was computed")


# -------------------------------------------------------------------- Dask scoring
def test_score_dask_equals_load_onnx_on_the_whole_table(
    torch_free_client, table, model_path, reference
):
    import dask.dataframe as dd

    from skae.distributed import score_dask

    scored = score_dask(dd.from_pandas(table, npartitions=6), model_path)
    result = scored.compute()
    assert_same_scores(result, reference)
    pd.testing.assert_index_equal(result.index, table.index)  # partitions keep their rows


def test_score_dask_dtypes_are_known_without_computing(torch_free_client, table, model_path):
    import dask
    import dask.dataframe as dd

    from skae.distributed import score_dask

    ddf = dd.from_pandas(table, npartitions=3)
    with dask.config.set(scheduler=_fail_if_computed):
        scored = score_dask(ddf, model_path)
        meta = scored.dtypes
    assert list(meta.index) == list(table.columns) + ["score", "label", "p_value", "top_feature"]
    assert meta["score"] == np.float32 and meta["label"] == np.int64
    assert pd.api.types.is_string_dtype(meta["top_feature"])
    pd.testing.assert_series_equal(scored.compute().dtypes, meta)


def test_score_dask_ships_the_model_bytes_in_one_task(table, model_path):
    import dask.dataframe as dd

    from skae.distributed import score_dask

    scored = score_dask(dd.from_pandas(table, npartitions=6), model_path)
    data = model_path.read_bytes()
    graph = dict(scored.__dask_graph__())
    holding = [key for key, task in graph.items() if data in pickle.dumps(task)]
    assert len(holding) == 1, holding  # not embedded in each of the 6 partitions' tasks


def test_score_dask_creates_one_session_per_worker_process(torch_free_client, table, model_path):
    import dask.dataframe as dd

    from skae.distributed import score_dask

    model_bytes = pathlib.Path(model_path).read_bytes()

    def sessions_created():
        from skae.distributed import session_cache_info

        return session_cache_info(model_bytes).created

    before = torch_free_client.run(sessions_created)
    scored = score_dask(dd.from_pandas(table, npartitions=8), model_path)
    scored.compute()
    scored.compute()  # a second pass reuses the sessions too
    after = torch_free_client.run(sessions_created)
    new = {worker: after[worker] - before[worker] for worker in after}
    assert set(new.values()) <= {0, 1}, new  # never one per partition
    assert sum(new.values()) + sum(before.values()) >= 1
    assert all(count <= 1 for count in after.values()), after


def test_score_dask_workers_never_import_torch(torch_free_client, table, model_path):
    import dask.dataframe as dd

    from skae.distributed import score_dask

    score_dask(dd.from_pandas(table, npartitions=4), model_path).compute()

    def in_a_task():
        return "torch" in sys.modules, "skae.distributed" in sys.modules

    workers = list(torch_free_client.scheduler_info()["workers"])
    futures = [torch_free_client.submit(in_a_task, workers=[w], pure=False) for w in workers]
    assert torch_free_client.gather(futures) == [(False, True)] * len(workers)


def test_score_dask_empty_partitions_and_threshold(torch_free_client, table, model_path, reference):
    import dask.dataframe as dd

    from skae.distributed import score_dask

    ddf = dd.from_pandas(table, npartitions=4)
    ddf = ddf[ddf["id"] < 100]  # three partitions are now empty
    result = score_dask(ddf, model_path, threshold=-0.5).compute()
    expected = reference[reference["id"] < 100]
    assert len(result) == 100
    np.testing.assert_array_equal(result["label"], np.where(expected["score"] < -0.5, -1, 1))


def test_score_dask_rejects_bad_tables_before_computing(
    torch_free_client, table, model_path, tmp_path
):
    import dask
    import dask.dataframe as dd

    from skae.distributed import score_dask

    with dask.config.set(scheduler=_fail_if_computed):
        ddf = dd.from_pandas(table, npartitions=2)
        with pytest.raises(ValueError, match=r"lacks the columns .*'x3'"):
            score_dask(ddf.drop(columns="x3"), model_path)
        with pytest.raises(ValueError, match=r"already has columns \['label'\]"):
            score_dask(ddf.assign(label=1), model_path)
        with pytest.raises(TypeError, match="model must be the path"):
            score_dask(ddf, 3.5)
        not_a_model = tmp_path / "junk.onnx"
        not_a_model.write_bytes(b"not onnx")
        with pytest.raises(ValueError, match="ONNX model"):
            score_dask(ddf, not_a_model)


# ------------------------------------------------------------------- Spark scoring
def test_score_spark_equals_load_onnx_on_the_whole_table(spark, table, model_path, reference):
    from skae.distributed import score_spark

    scored = score_spark(spark.createDataFrame(table).repartition(4), model_path)
    assert_same_scores(scored.toPandas(), reference)


def test_score_spark_schema_is_known_without_running_a_job(spark, table, model_path):
    from skae.distributed import score_spark

    df = spark.createDataFrame(table)
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("skae-schema", "must stay empty")
    try:
        schema = score_spark(df, model_path).schema
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert tracker.getJobIdsForGroup("skae-schema") == []
    assert schema.simpleString() == (
        "struct<id:bigint,x0:double,x1:double,x2:double,x3:double,x4:double,"
        "city:string,score:float,label:bigint,p_value:float,top_feature:string>"
    )


def test_score_spark_creates_one_session_per_python_worker_without_torch(spark, table, model_path):
    from skae.distributed import score_spark

    model_bytes = pathlib.Path(model_path).read_bytes()
    scored = score_spark(spark.createDataFrame(table).repartition(8), model_path)
    assert len(scored.collect()) == len(table)

    def probe(batches):
        from skae.distributed import session_cache_info

        for _ in batches:
            yield pd.DataFrame(
                {
                    "pid": [os.getpid()],
                    "sessions": [session_cache_info(model_bytes).created],
                    "torch": ["torch" in sys.modules],
                }
            )

    seen = (
        spark.createDataFrame(table)
        .repartition(8)
        .mapInPandas(probe, "pid long, sessions long, torch boolean")
        .toPandas()
    )
    per_worker = seen.groupby("pid")["sessions"].max()
    # 8 partitions were scored by the Python workers; each made at most one session
    assert per_worker.max() == 1 and per_worker.min() >= 0, per_worker
    assert not seen["torch"].any()


def test_score_spark_threshold_and_bad_tables(spark, table, model_path, reference):
    from skae.distributed import score_spark

    df = spark.createDataFrame(table)
    got = score_spark(df, model_path, threshold=-0.5).toPandas().sort_values("id")
    np.testing.assert_array_equal(got["label"], np.where(reference["score"] < -0.5, -1, 1))
    with pytest.raises(ValueError, match=r"lacks the columns .*'x0'"):
        score_spark(df.drop("x0"), model_path)
    with pytest.raises(ValueError, match=r"already has columns \['score'\]"):
        score_spark(df.withColumnRenamed("city", "score"), model_path)


def test_typed_columns_score_the_same_on_dask_and_spark(torch_free_client, spark, table, tmp_path):
    """A model with a text column (one-hot encoded in the graph) takes typed inputs."""
    import dask.dataframe as dd
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae.distributed import score_dask, score_spark
    from skae.onnx import load_onnx, to_onnx
    from skae.scoring import score_frame

    columns = ["city", *FEATURES]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(sparse_output=False), ["city"]), (StandardScaler(), FEATURES)
        ),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=3, n_jobs=1), random_state=0
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(table[columns])
    path = tmp_path / "typed.onnx"
    path.write_bytes(
        to_onnx(pipe, table[columns].iloc[:1], feature_errors=True).SerializeToString()
    )
    expected = score_frame(load_onnx(path), table)
    np.testing.assert_array_equal(expected["label"], pipe.predict(table[columns]))

    on_dask = score_dask(dd.from_pandas(table, npartitions=3), path).compute()
    on_spark = score_spark(spark.createDataFrame(table).repartition(3), path).toPandas()
    assert_same_scores(on_dask, expected)
    assert_same_scores(on_spark, expected)


# ------------------------------------------------------------ the README's recipes
def readme_recipe(engine):
    """The README's code block under "Beyond one machine" that starts ``# <engine>:``."""
    section = README.read_text().split("## Beyond one machine", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    found = [b for b in blocks if b.startswith(f"# {engine}:")]
    assert len(found) == 1, f"README: one '# {engine}:' block under Beyond one machine"
    return found[0]


@pytest.mark.parametrize("engine", ["Dask", "Spark"])
def test_readme_scoring_recipe_runs_as_written(
    engine, torch_free_client, spark, spark_cwd, table, model_path, reference, tmp_path, monkeypatch
):
    recipe = readme_recipe(engine)
    code = [line for line in recipe.splitlines() if line and not line.startswith("#")]
    assert len(code) == 3, recipe  # the three-line recipe the README promises
    if engine == "Spark":  # Spark reads relative paths from its JVM's working folder
        tmp_path = spark_cwd
    (tmp_path / "new").mkdir()
    for i, start in enumerate(range(0, len(table), 150)):
        table.iloc[start : start + 150].to_parquet(
            tmp_path / "new" / f"part-{i}.parquet", index=False
        )
    (tmp_path / "model.onnx").write_bytes(model_path.read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(recipe, f"README.md ({engine} recipe)", "exec"), {"spark": spark})  # noqa: S102
    scored = pd.read_parquet(tmp_path / "scored").reset_index(drop=True)
    assert_same_scores(scored, reference)


# ----------------------------------------------------------- training on a cluster
def test_incremental_trains_autoencoder_over_dask_array_like_in_process(client):
    import dask.array as da
    from dask_ml.wrappers import Incremental

    from skae import AutoencoderTransformer

    X = np.random.RandomState(0).normal(size=(400, 6))
    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(8,), random_state=0, n_jobs=1)
    inc = Incremental(ae, shuffle_blocks=False).fit(da.from_array(X, chunks=(100, 6)))
    local = clone(ae)
    for start in range(0, 400, 100):
        local.partial_fit(X[start : start + 100])
    assert inc.estimator_.n_iter_ == local.n_iter_ == 4  # one epoch per block, in turn
    np.testing.assert_allclose(inc.estimator_.score_samples(X), local.score_samples(X), rtol=1e-9)


def test_incremental_trains_over_dask_dataframe_with_feature_names(client, table):
    import dask.dataframe as dd
    from dask_ml.wrappers import Incremental

    from skae import VAETransformer

    vae = VAETransformer(n_components=2, hidden_layer_sizes=(8,), random_state=0, n_jobs=1)
    ddf = dd.from_pandas(table[FEATURES], npartitions=4)
    inc = Incremental(vae, shuffle_blocks=False).fit(ddf)
    assert list(inc.estimator_.feature_names_in_) == FEATURES
    local = clone(vae)
    for part in ddf.partitions:
        local.partial_fit(part.compute())
    np.testing.assert_allclose(
        inc.estimator_.transform(table[FEATURES]), local.transform(table[FEATURES]), rtol=1e-6
    )


def test_incremental_trains_the_detector_like_in_process_partial_fit(client, table, model_path):
    """The detector's partial_fit (each member one epoch per chunk) on the cluster."""
    import dask.dataframe as dd
    from dask_ml.wrappers import Incremental

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector

    assert hasattr(ReconstructionAnomalyDetector, "partial_fit")
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(hidden_layer_sizes=(8,), n_jobs=1),
        contamination=0.05,
        random_state=0,
    )
    ddf = dd.from_pandas(table[FEATURES], npartitions=4)
    # dask-ml asks for a scoring when the estimator has no score method (outlier
    # detectors have none, as IsolationForest); roc_auc suits +1 / -1 labels
    inc = Incremental(det, scoring="roc_auc", shuffle_blocks=False).fit(ddf)
    local = clone(det)
    for part in ddf.partitions:
        local.partial_fit(part.compute())
    fitted = inc.estimator_
    np.testing.assert_allclose(
        fitted.decision_function(table[FEATURES]),
        local.decision_function(table[FEATURES]),
        rtol=1e-6,
        atol=1e-9,
    )
    np.testing.assert_array_equal(fitted.predict(table[FEATURES]), local.predict(table[FEATURES]))
    # the distributed result scores through Incremental's own predict, on the cluster
    labels = inc.predict(ddf).compute()
    np.testing.assert_array_equal(labels, local.predict(table[FEATURES]))


def test_grid_search_on_the_dask_backend_matches_in_process(client, table):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from skae import AutoencoderTransformer

    X = table[FEATURES].to_numpy()
    grid = {"n_components": [1, 2], "hidden_layer_sizes": [(4,), (8,)]}
    ae = AutoencoderTransformer(max_iter=3, random_state=0, n_jobs=1)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(ae, grid, cv=2, n_jobs=-1).fit(X)
    local = GridSearchCV(ae, grid, cv=2, n_jobs=1).fit(X)
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=1e-6
    )
    assert remote.best_params_ == local.best_params_
    # the fitted search and its estimator pickle cleanly and score the same after
    again = pickle.loads(pickle.dumps(remote))
    np.testing.assert_array_equal(
        again.best_estimator_.score_samples(X), remote.best_estimator_.score_samples(X)
    )


def test_grid_search_fits_on_workers_use_one_torch_thread_and_leak_no_state(client, table):
    import joblib
    import torch
    from sklearn.model_selection import GridSearchCV

    from skae import AutoencoderTransformer

    here = os.getpid()

    class ThreadsSeen(AutoencoderTransformer):
        """Records torch's thread count while it trains (default n_jobs), and where."""

        def _train_loss(self, *args, **kwargs):
            self.threads_seen_ = max(getattr(self, "threads_seen_", 0), torch.get_num_threads())
            self.pid_ = os.getpid()
            return super()._train_loss(*args, **kwargs)

    def threads_on_a_worker(estimator, X, y=None):
        return estimator.threads_seen_ if estimator.pid_ != here else -1.0

    def torch_state():
        import torch

        return (
            os.environ.get("OMP_NUM_THREADS"),
            torch.get_num_threads(),
            torch.get_default_dtype(),
            torch.is_grad_enabled(),
            hashlib.sha256(torch.random.get_rng_state().numpy().tobytes()).hexdigest(),
        )

    def in_tasks(fn):  # one task per worker: the thread a fit would run on
        workers = list(client.scheduler_info()["workers"])
        return client.gather([client.submit(fn, workers=[w], pure=False) for w in workers])

    before = in_tasks(torch_state)
    assert {state[:2] for state in before} == {("1", 1)}  # the nanny's cap, in a task
    main_before = (torch.get_num_threads(), torch.random.get_rng_state())
    X = table[FEATURES].to_numpy()
    with joblib.parallel_backend("dask"):
        search = GridSearchCV(
            ThreadsSeen(max_iter=2, random_state=0),
            {"n_components": [1, 2, 3]},
            cv=2,
            n_jobs=-1,
            scoring=threads_on_a_worker,
            refit=False,
        ).fit(X)
    # every fit ran on a worker and trained with one torch thread: no oversubscription
    np.testing.assert_array_equal(search.cv_results_["split0_test_score"], 1)
    np.testing.assert_array_equal(search.cv_results_["split1_test_score"], 1)
    # threads, default dtype, autograd and the global RNG untouched, there and here
    assert in_tasks(torch_state) == before
    assert torch.get_num_threads() == main_before[0]
    assert torch.equal(torch.random.get_rng_state(), main_before[1])


def test_session_cache_info_counts_each_models_sessions(table, model_path):
    import dask.dataframe as dd

    from skae.distributed import score_dask, session_cache_info

    data = pathlib.Path(model_path).read_bytes()
    ddf = dd.from_pandas(table, npartitions=2)
    score_dask(ddf, model_path)  # the driver loads the model once, to check the columns
    first = session_cache_info(data)
    score_dask(ddf, data)  # the same model, given by its bytes: the same session
    assert session_cache_info(data) == first
    assert first.cached == 1 and first.created >= 1
    assert session_cache_info().created >= first.created
