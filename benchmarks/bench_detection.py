"""Detection quality on ADBench's classical datasets: skae's default detector vs peers.

ADBench's protocol (see ../shared/datasets/README.md): subsample 10,000 rows, stratified
70/30 split, MinMaxScaler fitted on the training part, unsupervised fit, ROC-AUC and PR-AUC
(average precision) on the test part; several seeds, then means and average ranks.

    python benchmarks/bench_detection.py [--data-dir DIR] [--seeds 0 1 2] [--methods ...]

Results are cached per (dataset, seed, method) in benchmarks/results/detection.json, so an
interrupted run resumes where it stopped; --fresh discards the cache for the methods run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import DEFAULT_DATA, table  # noqa: E402

CACHE = os.path.join(os.path.dirname(__file__), "results", "detection.json")


def _skae_default(seed):
    from skae import ReconstructionAnomalyDetector

    return ReconstructionAnomalyDetector(random_state=seed)


class Streamed:
    """The default detector trained with ``partial_fit`` on the training rows split into
    ``chunks`` chunks, ``epochs`` passes over them in a shuffled chunk order: the
    protocol of data that does not fit in memory. The default number of passes is what
    ``skae fit --chunk-rows`` uses: the in-memory default's budget of optimiser steps
    (``skae.detector.default_epochs``)."""

    def __init__(self, seed, chunks=10, epochs=None):
        from skae import ReconstructionAnomalyDetector

        self.detector = ReconstructionAnomalyDetector(random_state=seed)
        self.seed, self.chunks, self.epochs = seed, chunks, epochs

    def fit(self, X):
        from skae.detector import default_epochs

        rng = np.random.RandomState(self.seed)
        parts = np.array_split(X[rng.permutation(len(X))], self.chunks)
        for _ in range(self.epochs or default_epochs(len(X))):
            for i in rng.permutation(self.chunks):
                self.detector.partial_fit(parts[i])
        return self

    def decision_function(self, X):
        return self.detector.decision_function(X)


def _skae_vae(seed):
    from skae import ReconstructionAnomalyDetector, VAETransformer

    return ReconstructionAnomalyDetector(VAETransformer(), random_state=seed)


def _iforest(seed):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(random_state=seed)


def _lof(seed):
    from sklearn.neighbors import LocalOutlierFactor

    return LocalOutlierFactor(novelty=True)


def _pyod(name):
    def make(seed):
        if name == "ECOD":
            from pyod.models.ecod import ECOD

            return ECOD()
        if name == "PCA":
            from pyod.models.pca import PCA

            return PCA(random_state=seed)
        if name == "AutoEncoder":
            from pyod.models.auto_encoder import AutoEncoder

            return AutoEncoder(random_state=seed, verbose=0, device="cpu")
        from pyod.models.vae import VAE

        return VAE(random_state=seed, verbose=0, device="cpu")

    return make


# name -> (factory, "sklearn" if higher decision_function = more normal, else "pyod")
METHODS = {
    "skae": (_skae_default, "sklearn"),
    "skae streamed": (Streamed, "sklearn"),
    "skae VAE": (_skae_vae, "sklearn"),
    "IForest": (_iforest, "sklearn"),
    "LOF": (_lof, "sklearn"),
    "ECOD": (_pyod("ECOD"), "pyod"),
    "PCA": (_pyod("PCA"), "pyod"),
    "PyOD AE": (_pyod("AutoEncoder"), "pyod"),
    "PyOD VAE": (_pyod("VAE"), "pyod"),
}


def split(path, seed):
    """ADBench's protocol: subsample, stratified 70/30 split, MinMax on the training part."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    data = np.load(path)
    X, y = data["X"].astype(np.float64), data["y"].astype(int)
    rng = np.random.RandomState(seed)
    if len(X) > 10_000:
        keep = rng.choice(len(X), 10_000, replace=False)
        X, y = X[keep], y[keep]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, shuffle=True, random_state=seed
    )
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


def evaluate(method, path, seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    factory, convention = METHODS[method]
    X_train, X_test, y_test = split(path, seed)
    model = factory(seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_train)
        score = model.decision_function(X_test)
    seconds = time.perf_counter() - start
    anomaly = -score if convention == "sklearn" else score
    if not np.all(np.isfinite(anomaly)):
        return {"roc": None, "pr": None, "seconds": seconds, "note": "non-finite scores"}
    return {
        "roc": roc_auc_score(y_test, anomaly),
        "pr": average_precision_score(y_test, anomaly),
        "seconds": seconds,
    }


def load_cache():
    if os.path.exists(CACHE):
        with open(CACHE) as fh:
            return json.load(fh)
    return {}


def save_cache(cache):
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    tmp = CACHE + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(cache, fh, indent=1, sort_keys=True)
    os.replace(tmp, CACHE)  # atomic: an interrupted run never leaves a broken cache


def summarise(cache, datasets, methods, seeds):
    """Per-dataset mean ROC-AUC table, mean ROC/PR-AUC, average rank, wins vs PyOD AE."""

    def mean_of(ds, m, key):
        vals = [cache.get(f"{ds}|{s}|{m}", {}).get(key) for s in seeds]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if len(vals) == len(seeds) else np.nan

    roc = np.array([[mean_of(ds, m, "roc") for m in methods] for ds in datasets])
    pr = np.array([[mean_of(ds, m, "pr") for m in methods] for ds in datasets])
    secs = np.array([[mean_of(ds, m, "seconds") for m in methods] for ds in datasets])
    # Rank per dataset (1 = best); a method without a finite result ranks last.
    ranks = np.array([(-np.nan_to_num(r, nan=-1.0)).argsort().argsort() + 1 for r in roc])
    rows = [
        [ds, *[("n/a" if np.isnan(v) else f"{v:.3f}") for v in r]]
        for ds, r in zip(datasets, roc, strict=True)
    ]
    summary = [
        [
            "mean ROC-AUC",
            *[
                f"{np.nanmean(c):.3f}"
                + ("" if np.isfinite(c).all() else f" ({np.isnan(c).sum()} n/a)")
                for c in roc.T
            ],
        ],
        ["mean PR-AUC", *[f"{np.nanmean(c):.3f}" for c in pr.T]],
        ["average rank", *[f"{r:.2f}" for r in ranks.mean(axis=0)]],
        ["fit+score s / dataset", *[f"{np.nanmean(c):.2f}" for c in secs.T]],
    ]
    text = table(rows + summary, ["dataset", *methods])
    if "skae" in methods and "PyOD AE" in methods:
        i, j = methods.index("skae"), methods.index("PyOD AE")
        wins = int(np.sum(roc[:, i] > roc[:, j]))
        text += f"\n\nskae beats PyOD AutoEncoder on {wins} of {len(datasets)} datasets"
    if "skae" in methods and "skae streamed" in methods:
        i, j = methods.index("skae"), methods.index("skae streamed")
        text += (
            "\nskae streamed (partial_fit, 10 chunks, the default passes) mean ROC-AUC "
            f"{np.nanmean(roc[:, j]):.3f} vs in-memory fit {np.nanmean(roc[:, i]):.3f} "
            f"(difference {np.nanmean(roc[:, j]) - np.nanmean(roc[:, i]):+.3f})"
        )
    if "skae" in methods and "IForest" in methods:
        i, j = methods.index("skae"), methods.index("IForest")
        text += (
            f"\nskae mean ROC-AUC {np.nanmean(roc[:, i]):.3f} vs IsolationForest "
            f"{np.nanmean(roc[:, j]):.3f}"
        )
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA,
        help="folder of ADBench .npz files (default: ../shared/datasets/adbench)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--datasets", nargs="+", help="subset of dataset names (e.g. 14_glass)")
    parser.add_argument("--fresh", action="store_true", help="recompute the methods run")
    args = parser.parse_args(argv)

    paths = sorted(
        glob.glob(os.path.join(args.data_dir, "*.npz")),
        key=lambda p: int(os.path.basename(p).split("_")[0]),
    )
    if args.datasets:
        paths = [p for p in paths if os.path.basename(p)[:-4] in args.datasets]
    if not paths:
        print(f"no .npz datasets found in {args.data_dir}; pass --data-dir")
        return 1
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(1)  # one core each, as every peer runs
    cache = load_cache()
    datasets = [os.path.basename(p)[:-4] for p in paths]
    jobs = [
        (p, ds, s, m)
        for p, ds in zip(paths, datasets, strict=True)
        for s in args.seeds
        for m in args.methods
    ]
    if args.fresh:
        for _, ds, s, m in jobs:
            cache.pop(f"{ds}|{s}|{m}", None)
    todo = [j for j in jobs if f"{j[1]}|{j[2]}|{j[3]}" not in cache]
    for path, ds, seed, method in tqdm(todo, desc="fits", unit="fit"):
        cache[f"{ds}|{seed}|{method}"] = evaluate(method, path, seed)
        save_cache(cache)
    print(f"\nROC-AUC (mean of seeds {args.seeds}), ADBench protocol, {len(datasets)} datasets")
    print(summarise(cache, datasets, args.methods, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
