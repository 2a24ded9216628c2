"""Thread counts for training, quiet and busy: the measurements behind ``n_jobs=None``.

Run through ``python benchmarks/bench_fit.py --only threads``. Each condition runs in a
fresh process with torch's own default thread setting (no pinning), so ``n_jobs=None``
below is exactly what a user gets. "busy" starts one CPU-burning process per core for
the duration of the condition and stops them after.

Two tables:
1. the sweep: seconds per epoch for 1, 2 and all threads over hidden widths 16-1024 and
   batch sizes 64-1024 (10 000 x 100 rows, network 100 -> w -> 8 -> w -> 100), and what
   the default chose, as a ratio to the best thread count;
2. the goal: the default against ``n_jobs=1`` and the best, for the bench network
   (100 -> 64 -> 32 -> 8, batch 256) and for the default detector on a 10 000 x 20 table.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

WIDTHS = (16, 64, 256, 1024)
BATCHES = (64, 256, 1024)


def _burn():
    while True:
        pass


def start_burners():
    """One busy-looping process per core; returns them for :func:`stop_burners`."""
    n = os.cpu_count() or 1
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let them get going
    return procs


def stop_burners(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.join()


def _williams_orders(n):
    """n orders of range(n) (n even) in which every setting directly follows every other
    exactly once (a Williams design), so what one run leaves behind (idle threads of a
    two-thread run still spinning) falls on every setting alike."""
    first = [0]
    for k in range(1, n):
        first.append((k + 1) // 2 if k % 2 else n - k // 2)
    return [[(i + r) % n for i in first] for r in range(n)]


def _time_settings(make_fit, settings, repeats):
    """Median seconds per setting, the settings interleaved in every repeat (a load that
    drifts over time hits every setting alike), in carry-over-balanced orders (an even
    number of settings)."""
    names = list(settings)
    orders = _williams_orders(len(names))
    times = {name: [] for name in names}
    for r in range(repeats):
        for i in orders[r % len(orders)]:
            name = names[i]
            fit = make_fit(settings[name])
            start = time.perf_counter()
            fit()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def measure(quick):
    """Runs in a fresh process: every point, for n_jobs in (1, 2, -1, None)."""
    import warnings

    warnings.filterwarnings("ignore")
    from _common import low_rank_data

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae._train.threads import mlp_flops, resolve_threads

    repeats = 1 if quick else 8
    settings = {"1": 1, "2": 2, "all": -1, "default": None}
    X = low_rank_data(4_000 if quick else 10_000)
    widths, batches = (WIDTHS[::3], BATCHES[1:2]) if quick else (WIDTHS, BATCHES)
    AutoencoderTransformer(max_iter=1, device="cpu").fit(X[:500])  # start-up costs
    sweep = []
    for width in widths:
        for batch in batches:
            row = {"width": width, "batch": batch}

            def sweep_fit(n_jobs, width=width, batch=batch):
                ae = AutoencoderTransformer(
                    n_components=8,
                    hidden_layer_sizes=(width,),
                    batch_size=batch,
                    max_iter=1,
                    early_stopping=False,
                    device="cpu",
                    n_jobs=n_jobs,
                    random_state=0,
                )
                return lambda: ae.fit(X)

            row.update(_time_settings(sweep_fit, settings, repeats))
            flops = mlp_flops([100, width, 8, width, 100], batch)
            row["default_threads"] = resolve_threads(None, flops)
            sweep.append(row)
    goal = []
    bench = dict(
        n_components=8,
        hidden_layer_sizes=(64, 32),
        batch_size=256,
        max_iter=3 if quick else 10,
        early_stopping=False,
        device="cpu",
        random_state=0,
    )
    table = low_rank_data(4_000 if quick else 10_000, n_features=20, rank=4, seed=1)
    for label, make, data in [
        (
            "bench network (100-64-32-8, batch 256)",
            lambda n: AutoencoderTransformer(**bench, n_jobs=n),
            X,
        ),
        (
            "default detector, 10,000 x 20 (max_iter=20)",
            lambda n: ReconstructionAnomalyDetector(
                max_iter=5 if quick else 20, n_jobs=n, device="cpu", random_state=0
            ),
            table,
        ),
    ]:
        row = {"what": label}
        row.update(
            _time_settings(
                lambda n_jobs, make=make, data=data: lambda: make(n_jobs).fit(data),
                settings,
                repeats,
            )
        )
        goal.append(row)
    print(json.dumps({"sweep": sweep, "goal": goal}))


def run(quick=False):
    """Both conditions; prints the two tables and returns whether the goal is met."""
    from _common import table

    here = os.path.dirname(os.path.abspath(__file__))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    }
    results = {}
    for condition in ("quiet", "busy"):
        burners = start_burners() if condition == "busy" else []
        try:
            out = subprocess.run(
                [sys.executable, os.path.join(here, "bench_fit.py"), "--threads-point"]
                + (["--quick"] if quick else []),
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
        finally:
            stop_burners(burners)
        results[condition] = json.loads(out.strip().splitlines()[-1])
    cores = os.cpu_count()
    rows = []
    for quiet, busy in zip(results["quiet"]["sweep"], results["busy"]["sweep"], strict=True):
        line = [quiet["width"], quiet["batch"]]
        for r in (quiet, busy):
            best = min(r["1"], r["2"], r["all"])
            line += [
                f"{r['1']:.3f}",
                f"{r['2']:.3f}",
                f"{r['all']:.3f}",
                f"{r['default']:.3f} ({r['default_threads']})",
                f"{r['default'] / best:.2f}x",
            ]
        rows.append(line)
    print(
        f"\nThreads: seconds per epoch, 10,000 x 100, network 100-w-8-w-100, {cores} cores; "
        "default = n_jobs=None (threads it chose), ratio to the best thread count; busy = "
        f"{cores} CPU burners running"
    )
    head = ["width", "batch"]
    for c in ("quiet", "busy"):
        head += [f"{c} 1", f"{c} 2", f"{c} all", f"{c} default", f"{c} default/best"]
    print(table(rows, head))
    rows, met = [], True
    for quiet, busy in zip(results["quiet"]["goal"], results["busy"]["goal"], strict=True):
        line = [quiet["what"]]
        for r in (quiet, busy):
            best = min(r["1"], r["2"], r["all"])
            ratio = r["default"] / best
            met &= ratio <= 1.2
            line += [f"{r['default']:.2f}", f"{r['1']:.2f}", f"{best:.2f}", f"{ratio:.2f}x"]
        rows.append(line)
    print(
        "\nDefault settings (n_jobs=None) next to n_jobs=1 and the best thread count, "
        "seconds per fit"
    )
    print(
        table(
            rows,
            [
                "fit",
                "quiet default",
                "quiet n_jobs=1",
                "quiet best",
                "quiet default/best",
                "busy default",
                "busy n_jobs=1",
                "busy best",
                "busy default/best",
            ],
        )
    )
    print(f"goal (default within 1.2x of the best, quiet and busy): {'met' if met else 'NOT met'}")
    return met
