"""Beyond one machine: scoring throughput on Dask and Spark, and streamed training's memory.

1. Scoring: an exported detector (``StandardScaler -> ReconstructionAnomalyDetector``, the
   default ensemble) scores a Parquet table of ``--rows`` rows (default 10 million, 20
   float columns and an id) read from a folder of files, with ``score``, ``label`` and
   ``top_feature`` computed for every row (``skae score``'s columns) and reduced to the
   number of rows flagged and the sum of the scores, in five ways: one process with
   ``load_onnx`` in chunks; :func:`skae.distributed.score_dask` on a ``LocalCluster`` of 1
   and 2 single-threaded workers; :func:`skae.distributed.score_spark` on Spark
   ``local[1]`` and ``local[2]``. Every path must flag the same rows (checked). A warm-up
   on one file starts each engine's workers and sessions before the timed run. Where the
   time goes is measured in one process on the same rows: reading Parquet into pandas,
   ``score_frame`` (pandas columns -> model input -> onnxruntime -> the three columns),
   and onnxruntime alone; an engine's overhead is its time above (read + score) / workers.
2. Streamed training: ``skae fit DATA -o MODEL --chunk-rows N`` in a subprocess on a
   Parquet file four times larger than a memory bound (``--memory-mib``), and on a file of
   one chunk; the peak RSS of each (``wait4``'s ``ru_maxrss``) shows what memory grows with.

The data is generated into a temporary folder, removed at the end.

    python benchmarks/bench_scale.py [--rows 10000000] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import table

N_FEATURES = 20
FEATURES = [f"x{i}" for i in range(N_FEATURES)]


# --------------------------------------------------------------------------- data
BASIS = np.random.RandomState(0).normal(size=(4, N_FEATURES)) / 2.0


def sample(n_rows, seed):
    """Rows near one 4-D subspace (the same for every seed) plus noise, float64; one row
    in 100 shifted off it (the outliers)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows, 4)) @ BASIS + 0.1 * rng.normal(size=(n_rows, N_FEATURES))
    X[::100] += 4.0
    return X


def write_table(folder, n_rows, n_files, seed=0):
    """``n_rows`` rows (20 float64 columns and an int64 id) as ``n_files`` Parquet files,
    written in row groups of at most a million rows (bounded memory at any size)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    bounds = np.linspace(0, n_rows, n_files + 1).astype(int)
    paths = []
    for i, (start, stop) in enumerate(itertools.pairwise(bounds)):
        paths.append(os.path.join(folder, f"part-{i:04d}.parquet"))
        writer = None
        for k in range(start, stop, 1_000_000):
            end = min(k + 1_000_000, stop)
            df = pd.DataFrame(sample(end - k, seed=seed * 100_003 + k), columns=FEATURES)
            df.insert(0, "id", np.arange(k, end, dtype=np.int64))
            piece = pa.Table.from_pandas(df, preserve_index=False)
            writer = writer or pq.ParquetWriter(paths[-1], piece.schema)
            writer.write_table(piece)
        writer.close()
    return paths


def fit_model(path):
    """The exported detector the scoring paths use, trained on 20,000 rows."""
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skae import ReconstructionAnomalyDetector
    from skae.onnx import to_onnx

    X = pd.DataFrame(sample(20_000, seed=99), columns=FEATURES)
    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            contamination=0.01, max_iter=10, random_state=0, device="cpu"
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X)
    with open(path, "wb") as fh:
        fh.write(to_onnx(pipe, X.iloc[:1], feature_errors=True).SerializeToString())
    return path


# ------------------------------------------------------------------ scoring paths
# Each path has ``score(files, model_path) -> (rows, flagged, sum of scores)`` and
# ``move(files) -> rows``: the same rows read and handed to Python the same way, no model.
class OneProcess:
    """``load_onnx`` and ``score_frame`` over Parquet record batches, as ``skae score``."""

    workers = 1

    def __init__(self, batch_rows=100_000):
        self.batch_rows = batch_rows

    def _frames(self, files):
        import pyarrow.parquet as pq

        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=self.batch_rows):
                yield batch.to_pandas()

    def score(self, files, model_path):
        from skae.onnx import load_onnx
        from skae.scoring import score_frame

        model = load_onnx(model_path)
        rows = flagged = 0
        total = 0.0
        for frame in self._frames(files):
            scored = score_frame(model, frame)
            rows += len(scored)
            flagged += int((scored["label"].to_numpy() == -1).sum())
            total += float(scored["score"].to_numpy(dtype=np.float64).sum())
        return rows, flagged, total

    def move(self, files):
        return sum(len(frame) for frame in self._frames(files))

    def close(self):
        pass


def _identity(frame):
    return frame


class DaskPath:
    """:func:`skae.distributed.score_dask` on a LocalCluster of single-threaded workers."""

    def __init__(self, workers):
        from distributed import Client, LocalCluster

        self.workers = workers
        self.cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        self.client = Client(self.cluster)

    def score(self, files, model_path):
        import dask
        import dask.dataframe as dd

        from skae.distributed import score_dask

        scored = score_dask(dd.read_parquet(files), model_path)
        flagged = (scored["label"] == -1).sum()
        total = scored["score"].astype("float64").sum()
        rows, flagged, total = dask.compute(scored.shape[0], flagged, total)
        return int(rows), int(flagged), float(total)

    def move(self, files):
        import dask.dataframe as dd

        df = dd.read_parquet(files)
        return int(df.map_partitions(_identity, meta=df._meta).shape[0].compute())

    def close(self):
        self.client.close()
        self.cluster.close()


class SparkPath:
    """:func:`skae.distributed.score_spark` on Spark ``local[k]``."""

    def __init__(self, workers, cwd):
        from pyspark.sql import SparkSession

        self.workers = workers
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        here = os.getcwd()
        os.chdir(cwd)  # the JVM keeps it as its working folder
        try:
            self.spark = (
                SparkSession.builder.master(f"local[{workers}]")
                .appName("skae-bench")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", str(workers))
                .config("spark.driver.memory", "2g")
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .getOrCreate()
            )
        finally:
            os.chdir(here)
        self.spark.sparkContext.setLogLevel("ERROR")

    def score(self, files, model_path):
        from pyspark.sql import functions as F

        from skae.distributed import score_spark

        scored = score_spark(self.spark.read.parquet(*files), model_path)
        row = scored.agg(
            F.count(F.lit(1)),
            F.sum((F.col("label") == -1).cast("long")),
            F.sum(F.col("score").cast("double")),
        ).collect()[0]
        return int(row[0]), int(row[1] or 0), float(row[2] or 0.0)

    def move(self, files):
        df = self.spark.read.parquet(*files)
        return df.mapInPandas(_identity_batches, df.schema).count()

    def close(self):
        self.spark.stop()


def _identity_batches(batches):
    yield from batches


def breakdown(files, model_path, batch_rows=100_000):
    """One process, seconds: reading into pandas, score_frame, onnxruntime alone."""
    import pyarrow.parquet as pq

    from skae.onnx import load_onnx
    from skae.scoring import score_frame

    model = load_onnx(model_path)
    read = score = onnx = 0.0
    outputs = ["label", "scores", "feature_errors"]
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            start = time.perf_counter()
            frame = batch.to_pandas()
            read += time.perf_counter() - start
            start = time.perf_counter()
            score_frame(model, frame)
            score += time.perf_counter() - start
            X = frame[FEATURES].to_numpy(dtype=np.float32)
            start = time.perf_counter()
            model.run(X, outputs)
            onnx += time.perf_counter() - start
    return read, score, onnx


def scoring(args, folder):
    n_files = max(4, min(40, args.rows // 250_000))
    start = time.perf_counter()
    files = write_table(os.path.join(folder, "table"), args.rows, n_files)
    size = sum(os.path.getsize(f) for f in files)
    print(
        f"data: {args.rows:,} rows x {N_FEATURES + 1} columns in {n_files} Parquet files, "
        f"{size / 2**20:,.0f} MiB on disk, written in {time.perf_counter() - start:.0f} s"
    )
    model_path = fit_model(os.path.join(folder, "model.onnx"))

    read, score, onnx = breakdown(files[:2], model_path)
    print(
        f"where one process's time goes (2 files): reading Parquet into pandas "
        f"{read / (read + score):.0%}, score_frame {score / (read + score):.0%} (of which "
        f"onnxruntime {onnx / score:.0%}, the rest pandas in and out)"
    )

    paths = [("one process (load_onnx, chunks)", OneProcess)]
    paths += [
        (f"Dask LocalCluster, {k} worker{'s' * (k > 1)}", lambda k=k: DaskPath(k)) for k in (1, 2)
    ]
    paths += [(f"Spark local[{k}]", lambda k=k: SparkPath(k, folder)) for k in (1, 2)]
    results, reference = {}, None
    for name, make in paths:
        start = time.perf_counter()
        path = make()
        try:
            path.score(files[: path.workers], model_path)  # warm-up: imports, sessions,
            path.move(files[: path.workers])  # and the JVM's compiled code for both passes
            ready = time.perf_counter() - start
            start = time.perf_counter()
            moved = path.move(files)
            move = time.perf_counter() - start
            start = time.perf_counter()
            got = path.score(files, model_path)
            seconds = time.perf_counter() - start
        finally:
            path.close()
        reference = reference or got
        if (
            moved != got[0]
            or got[:2] != reference[:2]
            or not np.isclose(got[2], reference[2], rtol=1e-6, atol=1e-3)
        ):
            print(
                f"PARITY FAILED: {name} gave (rows, flagged, score sum) {got} "
                f"({moved} rows moved), one process {reference}"
            )
            return 1
        results[name] = (path.workers, seconds, move, ready)
        print(
            f"  {name}: {seconds:.1f} s, without the model {move:.1f} s "
            f"({ready:.1f} s to start and warm up)"
        )

    base = results["one process (load_onnx, chunks)"][1]
    pairs = {
        "Dask LocalCluster, 2 workers": "Dask LocalCluster, 1 worker",
        "Spark local[2]": "Spark local[1]",
    }
    rows = []
    for name, (_workers, seconds, move, ready) in results.items():
        pair = pairs.get(name)
        rows.append(
            [
                name,
                f"{seconds:.1f}",
                f"{args.rows / seconds / 1e3:,.0f}k",
                f"{base / seconds:.2f}x",
                f"{results[pair][1] / seconds:.2f}x" if pair else "",
                f"{move:.1f} ({move / seconds:.0%})",
                f"{ready:.1f}",
            ]
        )
    print()
    print(
        table(
            rows,
            [
                "path",
                "seconds",
                "rows/s",
                "vs one process",
                "2 vs 1 worker",
                "without the model (s)",
                "start (s)",
            ],
        )
    )
    print(
        f"\nevery path flagged the same {reference[1]:,} of {reference[0]:,} rows, with the "
        "same sum of scores. 'without the model': the same rows read and handed to "
        "Python the same way (Dask map_partitions, Spark mapInPandas) by an identity "
        "function: the engine's share of the time."
    )
    return 0


# ------------------------------------------------------------------ streamed fit
def peak_rss_mib(command):
    """Run ``command``; return (exit code, peak RSS in MiB, seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        print(err[-2000:])
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - start


def streamed_fit(args, folder):
    bound = args.memory_mib * 2**20
    row_bytes = (N_FEATURES + 1) * 8  # in memory, as float64 / int64
    chunk_rows = max(1_000, int(bound / 8 / row_bytes))  # a chunk is 1/8 of the bound
    small = write_table(os.path.join(folder, "small"), chunk_rows, 1, seed=8)[0]
    # the big file's rows from the small one's bytes per row, then corrected (row groups
    # and compression make bytes per row vary with the file's size)
    big_rows = int(np.ceil(4.05 * bound / (os.path.getsize(small) / chunk_rows)))
    for _ in range(3):
        big = write_table(os.path.join(folder, "big"), big_rows, 1, seed=7)[0]
        size = os.path.getsize(big)
        if size >= 4 * bound:
            break
        big_rows = int(np.ceil(big_rows * 4.05 * bound / size))
    print(
        f"\nstreamed fit: memory bound {args.memory_mib} MiB; file {size / 2**20:,.0f} MiB "
        f"on disk ({size / bound:.1f}x the bound), {big_rows:,} rows "
        f"({big_rows * row_bytes / 2**20:,.0f} MiB in memory); --chunk-rows {chunk_rows:,} "
        f"({chunk_rows * row_bytes / 2**20:.1f} MiB a chunk); {args.epochs} epoch(s)"
    )
    rows, peaks = [], []
    for name, path, n in (("one chunk", small, chunk_rows), ("4x the bound", big, big_rows)):
        command = [
            sys.executable,
            "-m",
            "skae",
            "fit",
            path,
            "-o",
            os.path.join(folder, f"fit-{n}.onnx"),
            "--chunk-rows",
            str(chunk_rows),
            "--epochs",
            str(args.epochs),
            "--device",
            "cpu",
            "--seed",
            "0",
            "-q",
        ]
        code, peak, seconds = peak_rss_mib(command)
        if code:
            print(f"skae fit failed on {name} (exit {code})")
            return 1
        peaks.append(peak)
        rows.append(
            [
                name,
                f"{n:,}",
                f"{os.path.getsize(path) / 2**20:,.0f}",
                f"{peak:,.0f}",
                f"{seconds:.0f}",
            ]
        )
    grown = peaks[1] - peaks[0]
    print(table(rows, ["data", "rows", "file (MiB)", "peak RSS (MiB)", "seconds"]))
    print(
        f"peak RSS grew by {grown:,.0f} MiB from one chunk to a file of "
        f"{size / 2**20:,.0f} MiB ({grown / (size / 2**20):.2f} MiB per MiB of data); "
        f"bound {args.memory_mib} MiB: {'within' if grown <= args.memory_mib else 'OVER'}"
    )
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows scored")
    parser.add_argument(
        "--memory-mib",
        type=int,
        default=256,
        help="memory bound of the streamed fit (the file is 4x larger)",
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the streamed fit")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200,000 rows and a 16 MiB bound: checks that it all runs",
    )
    parser.add_argument("--only", choices=["scoring", "fit"], help="run one part")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.memory_mib = min(args.rows, 200_000), min(args.memory_mib, 16)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per process, all paths
    # PySpark 4.3 warns about pandas 3 in every Python worker; the workers inherit this
    os.environ["PYTHONWARNINGS"] = "ignore::FutureWarning,ignore::DeprecationWarning"
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    folder = tempfile.mkdtemp(prefix="skae-bench-scale-")
    try:
        code = 0
        if args.only in (None, "scoring"):
            code = scoring(args, folder)
        if code == 0 and args.only in (None, "fit"):
            code = streamed_fit(args, folder)
        return code
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Dask's worker processes are spawned and re-import this script: work starts only here.
if __name__ == "__main__":
    sys.exit(main())
