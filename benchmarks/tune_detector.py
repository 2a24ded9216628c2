"""The detector's parts, scored once and combined offline: the ablation behind its default.

Per (protocol, dataset, seed) this trains each part of the score once and caches its raw
anomaly scores (higher = more anomalous) on the training and test rows in
``benchmarks/results/tune/<protocol>/<dataset>_<seed>.npz``:

- ``ae``: the autoencoders' reconstruction term (the default members, standardised
  per-feature errors, summed over members), ``code``: their code-space term;
- ``knn<k>``: the mean distance to the k nearest of 1,024 training rows (a training row
  leaves itself out), k in :data:`KS` and 8% of the reference rows (``knn8pct``);
- ``km<C>_m<M>``: the distance to the nearest of C k-means centroids of the training
  rows, centroids of fewer than M rows left out (they would be rows, or close to);
- peers: ``iforest`` (scikit-learn's), ``pyodknn`` (PyOD's KNN: distance to the 5th
  nearest of all training rows).

Then every combination in :func:`combinations` is evaluated offline per half
(:data:`HALVES`, fixed by name) in seconds. Choose on one half, confirm on the other.

    python benchmarks/tune_detector.py [--protocol adbench clean] [--seeds 0 1 2]
        [--data-dir DIR] [--only-eval]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import DEFAULT_DATA  # noqa: E402
from bench_detection import HALVES, RESULTS, split  # noqa: E402

KS = (1, 2, 3, 5, 10, 20)
CENTROIDS = (16, 64, 256)
MIN_SIZES = (1, 5, 20)


def _robust(train, test):
    """(train, test) standardised by the training median and IQR."""
    med = np.median(train)
    q1, q3 = np.percentile(train, [25, 75])
    iqr = max(q3 - q1, 1e-12 * max(abs(med), 1.0), 1e-300)
    return (train - med) / iqr, (test - med) / iqr


def _knn_parts(Xtr, Xte, seed):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.RandomState(seed)
    ref_idx = np.sort(rng.choice(len(Xtr), min(1024, len(Xtr)), replace=False))
    refs = Xtr[ref_idx]
    k8 = max(1, int(round(0.08 * len(refs))))
    kmax = min(max(max(KS), k8) + 1, len(refs))
    nn = NearestNeighbors(n_neighbors=kmax).fit(refs)
    dte, _ = nn.kneighbors(Xte)
    dtr, itr = nn.kneighbors(Xtr)
    # a training row in the reference set leaves itself out
    is_self = np.zeros(len(Xtr), bool)
    is_self[ref_idx] = True
    dtr_loo = np.where(is_self[:, None], np.roll(dtr, -1, axis=1), dtr)
    out = {}
    for k in (*KS, k8):
        k = min(k, kmax - 1)
        name = "knn8pct" if k == k8 and k not in KS else f"knn{k}"
        out[name] = (dtr_loo[:, :k].mean(1), dte[:, :k].mean(1))
        if k == k8:
            out["knn8pct"] = out[name]
    return out


def _centroid_parts(Xtr, Xte, seed):
    from sklearn.cluster import KMeans

    out = {}
    for c in CENTROIDS:
        c_eff = min(c, len(Xtr) // 2)
        km = KMeans(n_clusters=c_eff, n_init=1, random_state=seed, max_iter=50).fit(Xtr)
        sizes = np.bincount(km.labels_, minlength=c_eff)
        dtr, dte = km.transform(Xtr), km.transform(Xte)
        for m in MIN_SIZES:
            keep = sizes >= m
            if not keep.any():
                keep = sizes == sizes.max()
            out[f"km{c}_m{m}"] = (dtr[:, keep].min(1), dte[:, keep].min(1))
    return out


def _centroid_neighbourhoods(Xtr, Xte, seed):
    """Mean distance to the J nearest of C k-means centroids (clusters of >= 5 rows), and
    a mass-weighted version: the nearest centroids until they hold 8% of the rows."""
    from sklearn.cluster import KMeans

    out = {}
    for c in (64, 256):
        c_eff = min(c, len(Xtr) // 2)
        km = KMeans(n_clusters=c_eff, n_init=1, random_state=seed, max_iter=50).fit(Xtr)
        sizes = np.bincount(km.labels_, minlength=c_eff)
        keep = sizes >= 5
        if not keep.any():
            keep = sizes == sizes.max()
        dtr, dte = np.sort(km.transform(Xtr)[:, keep], 1), np.sort(km.transform(Xte)[:, keep], 1)
        for j in (2, 5, 10):
            j_eff = min(j, keep.sum())
            out[f"km{c}_n{j}"] = (dtr[:, :j_eff].mean(1), dte[:, :j_eff].mean(1))
        # mass-weighted: centroids in order of distance, weighted by their rows, to 8%
        order_tr = np.argsort(km.transform(Xtr)[:, keep], 1)
        order_te = np.argsort(km.transform(Xte)[:, keep], 1)
        mass = sizes[keep] / sizes[keep].sum()

        def massed(d, order, mass=mass):
            m = mass[order]
            cum = np.cumsum(m, 1)
            w = np.clip(0.08 - (cum - m), 0, None)
            w = np.minimum(w, m)
            return (d * w).sum(1) / w.sum(1)

        out[f"km{c}_mass8"] = (massed(dtr, order_tr), massed(dte, order_te))
    return out


def _ae_parts(Xtr, Xte, seed, novelty):
    import torch

    from skae import ReconstructionAnomalyDetector

    det = ReconstructionAnomalyDetector(
        latent_weight=1.0, neighbor_weight=0.0, novelty=novelty, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(Xtr)
    scorer = det._scorer64()
    k = len(det.estimators_)

    def terms(X):
        with torch.no_grad():
            t = scorer(torch.as_tensor(X, dtype=torch.float64)).numpy()
        return t[:, :k].sum(1), t[:, k:].sum(1)

    (etr, ctr), (ete, cte) = terms(Xtr), terms(Xte)
    return {"ae": (etr, ete), "code": (ctr, cte)}


def _peers(Xtr, Xte, seed):
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import NearestNeighbors

    forest = IsolationForest(random_state=seed).fit(Xtr)
    nn = NearestNeighbors(n_neighbors=6).fit(Xtr)
    dtr = nn.kneighbors(Xtr)[0][:, 5]  # itself first
    dte = nn.kneighbors(Xte, n_neighbors=5)[0][:, 4]
    return {
        "iforest": (-forest.score_samples(Xtr), -forest.score_samples(Xte)),
        "pyodknn": (dtr, dte),
    }


def compute(path, seed, protocol):
    ds = os.path.basename(path)[:-4]
    out_path = os.path.join(RESULTS, "tune", protocol, f"{ds}_{seed}.npz")
    extra = out_path[:-4] + "_kmn.npz"
    if not os.path.exists(extra):
        Xtr, Xte, _ = split(path, seed, protocol)
        parts = _centroid_neighbourhoods(Xtr, Xte, seed)
        arrays = {f"{n}|train": v[0] for n, v in parts.items()}
        arrays.update({f"{n}|test": v[1] for n, v in parts.items()})
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        np.savez(extra, **arrays)
    if os.path.exists(out_path):
        return out_path
    Xtr, Xte, yte = split(path, seed, protocol)
    parts, seconds = {}, {}
    for name, fn in (
        ("ae", lambda: _ae_parts(Xtr, Xte, seed, protocol == "clean")),
        ("knn", lambda: _knn_parts(Xtr, Xte, seed)),
        ("km", lambda: _centroid_parts(Xtr, Xte, seed)),
        ("peers", lambda: _peers(Xtr, Xte, seed)),
    ):
        start = time.perf_counter()
        parts.update(fn())
        seconds[name] = time.perf_counter() - start
    arrays = {f"{n}|train": v[0] for n, v in parts.items()}
    arrays.update({f"{n}|test": v[1] for n, v in parts.items()})
    arrays.update({f"seconds|{n}": np.array(s) for n, s in seconds.items()})
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    np.savez(out_path + ".tmp.npz", y=yte, **arrays)
    os.replace(out_path + ".tmp.npz", out_path)
    return out_path


def load(protocol, datasets, seeds):
    runs = {}
    for ds in datasets:
        for s in seeds:
            p = os.path.join(RESULTS, "tune", protocol, f"{ds}_{s}.npz")
            if os.path.exists(p):
                runs[(ds, s)] = dict(np.load(p))
                extra = p[:-4] + "_kmn.npz"
                if os.path.exists(extra):
                    runs[(ds, s)].update(dict(np.load(extra)))
    return runs


def standardised(run, name):
    return _robust(run[f"{name}|train"], run[f"{name}|test"])


def combine(run, spec):
    """A combination's test anomaly scores. ``spec``: a part name, or ("sum", {name:
    weight}) of robustly standardised terms, or ("rank", names), or ("max", names)."""
    if isinstance(spec, str):
        return run[f"{spec}|test"]
    kind, terms = spec
    if kind == "sum":
        return sum(w * standardised(run, n)[1] for n, w in terms.items())
    if kind == "max":
        return np.max([standardised(run, n)[1] for n in terms], axis=0)
    raise ValueError(kind)


def combinations():
    specs = {}
    parts = ["ae", "code", *[f"knn{k}" for k in KS], "knn8pct"]
    parts += [f"km{c}_m{m}" for c in CENTROIDS for m in MIN_SIZES]
    parts += [f"km{c}_n{j}" for c in (64, 256) for j in (2, 5, 10)]
    parts += ["km64_mass8", "km256_mass8"]
    parts += ["iforest", "pyodknn"]
    for p in parts:
        specs[p] = p
    for nb in ("knn2", "knn5", "knn8pct", "km64_m5", "km256_m5", "km256_m1", "km64_m20"):
        for w in (0.5, 1, 2, 4):
            specs[f"ae+{w}*{nb}"] = ("sum", {"ae": 1, nb: w})
        specs[f"max(ae,{nb})"] = ("max", ["ae", nb])
    for nb in ("km256_mass8", "km64_n5", "km256_n10", "km256_n2"):
        for w in (1, 2, 4):
            specs[f"ae+{w}*{nb}"] = ("sum", {"ae": 1, nb: w})
    specs["knn2+knn8pct"] = ("sum", {"knn2": 1, "knn8pct": 1})
    specs["ae+knn2+knn8pct"] = ("sum", {"ae": 1, "knn2": 1, "knn8pct": 1})
    specs["ae+2*knn2+2*knn8pct"] = ("sum", {"ae": 1, "knn2": 2, "knn8pct": 2})
    specs["km256_m5+km16_m20"] = ("sum", {"km256_m5": 1, "km16_m20": 1})
    specs["ae+km256_m5+km16_m20"] = ("sum", {"ae": 1, "km256_m5": 1, "km16_m20": 1})
    specs["ae+2*km256_m5+2*km16_m20"] = ("sum", {"ae": 1, "km256_m5": 2, "km16_m20": 2})
    specs["ae+code+4*knn8pct"] = ("sum", {"ae": 1, "code": 1, "knn8pct": 4})
    return specs


def evaluate(protocol, datasets, seeds):
    from sklearn.metrics import average_precision_score, roc_auc_score

    runs = load(protocol, datasets, seeds)
    specs = combinations()
    res = {}
    for name, spec in specs.items():
        per_ds = {}
        for ds in datasets:
            rocs, prs = [], []
            for s in seeds:
                run = runs.get((ds, s))
                if run is None:
                    continue
                try:
                    score = combine(run, spec)
                except KeyError:
                    continue
                rocs.append(roc_auc_score(run["y"], score))
                prs.append(average_precision_score(run["y"], score))
            if len(rocs) == len(seeds):
                per_ds[ds] = (np.mean(rocs), np.mean(prs))
        res[name] = per_ds
    return res


def report(protocol, res):
    print(f"\n== {protocol}: mean ROC-AUC / PR-AUC per half (A | B | all)")
    rows = []
    for name, per_ds in res.items():
        cells = []
        for half in ("A", "B", None):
            names = HALVES[half] if half else [*HALVES["A"], *HALVES["B"]]
            vals = [per_ds[d] for d in names if d in per_ds]
            if len(vals) < len(names):
                cells.append((np.nan, np.nan))
            else:
                cells.append(tuple(np.mean(vals, axis=0)))
        rows.append((name, cells))
    rows.sort(key=lambda r: -np.nan_to_num(r[1][0][0]))
    for name, cells in rows:
        text = " | ".join(f"{r:.3f}/{p:.3f}" for r, p in cells)
        print(f"{name:32s} {text}")


# the ablation table in benchmarks/README.md: each part alone and the combinations used
ABLATION = {
    "autoencoders' reconstruction (ae)": "ae",
    "code-space term (code)": "code",
    "2 nearest of 1,024 rows (knn2)": "knn2",
    "5 nearest of 1,024 rows (knn5)": "knn5",
    "8% nearest of 1,024 rows (knn8pct)": "knn8pct",
    "nearest of 256 centroids, clusters >= 5 rows": "km256_m5",
    "centroids for 8% of the rows, clusters >= 5 rows": "km256_mass8",
    "ae + 4 knn8pct": "ae+4*knn8pct",
    "ae + code + 4 knn8pct": "ae+code+4*knn8pct",
    "ae + 4 knn2": "ae+4*knn2",
    "ae + 4 centroids (8%)": "ae+4*km256_mass8",
    "ae + 4 nearest centroid": "ae+4*km256_m5",
    "max(ae, knn8pct)": "max(ae,knn8pct)",
    "IsolationForest (peer)": "iforest",
    "PyOD KNN, 5th nearest of all rows (peer)": "pyodknn",
}


def ablation_table(results):
    """Markdown rows: part, then per protocol half A / half B ROC-AUC and PR-AUC."""
    lines = [
        "| part or combination | ADBench A ROC / PR | ADBench B ROC / PR "
        "| normal rows A ROC / PR | normal rows B ROC / PR |",
        "|---|---|---|---|---|",
    ]
    for label, name in ABLATION.items():
        cells = []
        for protocol in ("adbench", "clean"):
            per_ds = results[protocol][name]
            for half in ("A", "B"):
                vals = [per_ds[d] for d in HALVES[half] if d in per_ds]
                r, p = np.mean(vals, axis=0) if len(vals) == len(HALVES[half]) else (np.nan,) * 2
                cells.append(f"{r:.3f} / {p:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", nargs="+", default=["adbench", "clean"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=DEFAULT_DATA)
    parser.add_argument("--only-eval", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    paths = sorted(
        glob.glob(os.path.join(args.data_dir, "*.npz")),
        key=lambda p: int(os.path.basename(p).split("_")[0]),
    )
    datasets = [os.path.basename(p)[:-4] for p in paths]
    if not args.only_eval:
        for protocol in args.protocol:
            for path in paths:
                for seed in args.seeds:
                    start = time.perf_counter()
                    compute(path, seed, protocol)
                    print(
                        f"{protocol} {os.path.basename(path)} {seed}: "
                        f"{time.perf_counter() - start:.1f} s",
                        flush=True,
                    )
    results = {}
    for protocol in args.protocol:
        results[protocol] = evaluate(protocol, datasets, args.seeds)
        report(protocol, results[protocol])
    if set(results) == {"adbench", "clean"}:
        print("\n" + ablation_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
