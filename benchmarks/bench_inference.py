"""Inference speed: skae's ONNX scorer vs the estimator's torch path vs PyOD's AutoEncoder.

Same network for all (100 -> 64 -> 32 -> 64 -> 100), one thread each. Parity between the
ONNX scorer and the estimator is checked before anything is timed.

    python benchmarks/bench_inference.py [--repeats 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import latencies, low_rank_data, single_thread, table  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000, help="single-row calls timed")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (all models)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    limits = single_thread()  # noqa: F841  (kept alive for the whole run)

    from pyod.models.auto_encoder import AutoEncoder

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae.onnx import load_onnx, to_onnx

    X = low_rank_data(10_000)
    X_big = low_rank_data(100_000, seed=1)
    det = ReconstructionAnomalyDetector(AutoencoderTransformer(
        n_components=32, hidden_layer_sizes=(64,), max_iter=args.epochs, random_state=0,
        device="cpu")).fit(X)
    onnx_model = load_onnx(to_onnx(det, X[:1]), intra_op_num_threads=1)
    pyod = AutoEncoder(epoch_num=args.epochs, hidden_neuron_list=[64, 32], verbose=0,
                       device="cpu", random_state=0).fit(X)

    # Parity first: the ONNX graph must give the estimator's labels and scores.
    ref, got = det.decision_function(X_big), onnx_model.decision_function(X_big)
    score = det.score_samples(X_big)
    rel = np.max(np.abs(got - ref) / np.maximum(np.abs(score), 1e-12))
    same_labels = np.array_equal(onnx_model.predict(X_big), det.predict(X_big))
    print(f"parity on 100,000 rows: max relative score error {rel:.2e}, labels identical: "
          f"{same_labels}")
    if rel > 1e-4 or not same_labels:
        print("PARITY FAILED")
        return 1

    row, rows64 = X[:1], X[:64]
    paths = {
        "skae load_onnx": onnx_model.decision_function,
        "skae estimator (torch)": det.decision_function,
        "PyOD AutoEncoder": pyod.decision_function,
    }
    results = {}
    for name, fn in paths.items():
        single = latencies(lambda: fn(row), args.repeats) * 1e6
        batch = latencies(lambda: fn(rows64), max(args.repeats // 10, 50))
        start = time.perf_counter()
        fn(X_big)
        big = time.perf_counter() - start
        results[name] = dict(p50=np.median(single), p99=np.percentile(single, 99),
                             rows64=64 / np.median(batch), rows100k=len(X_big) / big)
    base = results["skae load_onnx"]["p50"]
    rows = [[name, f"{r['p50']:.1f}", f"{r['p99']:.1f}", f"{r['p50'] / base:.1f}x",
             f"{r['rows64'] / 1e3:,.0f}k", f"{r['rows100k'] / 1e3:,.0f}k"]
            for name, r in results.items()]
    print()
    print(table(rows, ["path (1 thread)", "1 row p50 (us)", "1 row p99 (us)",
                       "p50 vs load_onnx", "64-row rows/s", "100k-row rows/s"]))
    onnx_p50 = results["skae load_onnx"]["p50"]
    print(f"\nsingle-row decision_function: load_onnx is "
          f"{results['PyOD AutoEncoder']['p50'] / onnx_p50:.1f}x faster than PyOD "
          f"(target >= 20x) and "
          f"{results['skae estimator (torch)']['p50'] / onnx_p50:.1f}x faster than the "
          f"estimator's torch path (target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
