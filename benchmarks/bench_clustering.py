"""Dimensionality reduction before clustering: KMeans on the codes, adjusted Rand index.

Protocol: ``StandardScaler -> reducer to d dimensions -> KMeans(n_clusters=number of
classes, n_init=10)``, ARI against the classes, on scikit-learn's bundled digits, wine,
breast_cancer and iris (no download) at d = 2 and 8 where d < n_features, mean over the
seeds (each seed goes to the reducer's ``random_state`` and to KMeans). The estimators
run at their defaults: only ``n_components`` and ``random_state`` are set (the VAE's
codes are its posterior means). PCA, the scaled raw features and, when installed, UMAP
(umap-learn's defaults) and t-SNE (d = 2 only) are the references. One torch thread.

    python benchmarks/bench_clustering.py                        # every method, seeds 0-2
    python benchmarks/bench_clustering.py --methods ae,pca --seeds 0,1,2,3,4
    python benchmarks/bench_clustering.py --warnings             # count warnings of each fit
    python benchmarks/bench_clustering.py --methods ae,pca --ae-params '{"latent_noise": 0}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import single_thread, table  # noqa: E402

DATASETS = ("digits", "wine", "breast_cancer", "iris")
DIMS = (2, 8)
METHODS = ("ae", "vae", "pca", "raw", "umap", "tsne")
LABELS = {
    "ae": "AE",
    "vae": "VAE",
    "pca": "PCA",
    "raw": "scaled raw",
    "umap": "UMAP",
    "tsne": "t-SNE",
}


def load(name):
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X, y


def cells():
    """(dataset, d) pairs of the protocol: d < n_features only."""
    out = []
    for name in DATASETS:
        n_features = load(name)[0].shape[1]
        out += [(name, d) for d in DIMS if d < n_features]
    return out


def available(method):
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            return False
    return True


def reduce(method, X, d, seed, params=None):
    """Codes of the scaled X (None where the method does not apply to this cell);
    ``params`` go to skae's estimators (for measuring alternatives to the defaults)."""
    params = params or {}
    if method == "ae":
        from skae import AutoencoderTransformer

        ae = AutoencoderTransformer(n_components=d, random_state=seed, **params)
        return ae.fit_transform(X)
    if method == "vae":
        from skae import VAETransformer

        return VAETransformer(n_components=d, random_state=seed, **params).fit_transform(X)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(d, random_state=seed).fit_transform(X)
    if method == "raw":
        return X
    if method == "umap":
        import umap

        return umap.UMAP(n_components=d, random_state=seed).fit_transform(X)
    if method == "tsne":
        if d != 2:
            return None
        from sklearn.manifold import TSNE

        return TSNE(n_components=d, random_state=seed).fit_transform(X)
    raise ValueError(method)


def ari(Z, y, seed):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    labels = KMeans(n_clusters=len(np.unique(y)), n_init=10, random_state=seed).fit_predict(Z)
    return adjusted_rand_score(y, labels)


def run(methods, seeds, params=None):
    from sklearn.preprocessing import StandardScaler

    results, seconds, n_warnings = {}, {}, {}
    for name, d in cells():
        X, y = load(name)
        X = StandardScaler().fit_transform(X)
        for method in methods:
            scores, times, caught = [], [], 0
            for seed in seeds:
                start = time.perf_counter()
                with warnings.catch_warnings(record=True) as got:
                    warnings.simplefilter("always")
                    Z = reduce(method, X, d, seed, params)
                times.append(time.perf_counter() - start)
                if method in ("ae", "vae"):
                    caught += len(got)
                if Z is None:
                    break
                scores.append(ari(Z, y, seed))
            if scores:
                results[name, d, method] = float(np.mean(scores))
                seconds[name, d, method] = float(np.mean(times))
                n_warnings[name, d, method] = caught
    return results, seconds, n_warnings


def report(methods, seeds, results, seconds, n_warnings, count_warnings):
    rows, sums = [], {m: [] for m in methods}
    for name, d in cells():
        row = [name, d]
        for m in methods:
            value = results.get((name, d, m))
            row.append("" if value is None else f"{value:.3f}")
            if value is not None:
                sums[m].append(value)
        rows.append(row)
    full = len(cells())
    means = ["mean", ""]
    for m in methods:
        v = sums[m]
        means.append(f"{np.mean(v):.3f}" + ("" if len(v) == full else f" ({len(v)} cells)"))
    rows.append(means)
    print(
        f"\nKMeans(n_classes, n_init=10) on StandardScaler -> reducer codes, ARI, mean of "
        f"seeds {','.join(map(str, seeds))}"
    )
    print(table(rows, ["data", "d", *(LABELS[m] for m in methods)]))
    nets = [m for m in methods if m in ("ae", "vae")]
    if nets:
        rows = []
        for name, d in cells():
            row = [name, d]
            for m in nets:
                row.append(f"{seconds[name, d, m]:.2f}")
                if count_warnings:
                    row.append(str(n_warnings[name, d, m]))
            rows.append(row)
        headers = ["data", "d"]
        for m in nets:
            headers.append(f"{LABELS[m]} fit (s)")
            if count_warnings:
                headers.append(f"{LABELS[m]} warnings")
        print(
            "\nMean fit time per seed" + (" and warnings over the seeds" if count_warnings else "")
        )
        print(table(rows, headers))
    if "pca" in methods:
        for m in methods:
            if m == "pca":
                continue
            gaps = [
                results[name, d, m] - results[name, d, "pca"]
                for name, d in cells()
                if (name, d, m) in results
            ]
            print(
                f"{LABELS[m]}: mean - PCA's mean (same cells) {np.mean(gaps):+.3f}, "
                f"worst cell vs PCA {min(gaps):+.3f}"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated, of {','.join(METHODS)} (umap skipped when not installed)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated integers")
    parser.add_argument(
        "--warnings", action="store_true", help="count the warnings of the AE / VAE fits"
    )
    parser.add_argument(
        "--ae-params",
        default="{}",
        help="JSON of parameters for skae's estimators (default: their defaults)",
    )
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {','.join(METHODS)}")
    skipped = [m for m in methods if not available(m)]
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}")
    methods = [m for m in methods if m not in skipped]
    seeds = [int(s) for s in args.seeds.split(",")]
    limits = single_thread()  # noqa: F841
    results, seconds, n_warnings = run(methods, seeds, json.loads(args.ae_params))
    report(methods, seeds, results, seconds, n_warnings, args.warnings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
