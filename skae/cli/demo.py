"""``skae demo``: the main job end to end on scikit-learn's bundled digits (no download).

1. Outlier detection: one digit is the rare class (5% of the normal rows' count);
   ``StandardScaler -> ReconstructionAnomalyDetector`` against IsolationForest on the same
   stratified split, ROC-AUC on the held-out part.
2. Dimensionality reduction before clustering: KMeans (10 clusters) on 2-D codes of the
   autoencoder set for clustering (``embedding="umap"``), on 2-D PCA codes, on umap-learn's
   where it is installed, and on the scaled pixels, scored by adjusted Rand index
   (``--quick``: a sample of 600 digits, trained the same way).
3. Production: the fitted Pipeline exported to ONNX, re-scored with ``load_onnx``
   (onnxruntime only) and compared with the Python scores.
4. A PNG report: loss curves, the score histogram with the threshold, the 2-D codes, and
   the most anomalous test digits above their reconstructions, with readable scores.
"""

from __future__ import annotations

import io
import os
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import adjusted_rand_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .._tables.writing import write_bytes
from ..autoencoder import AutoencoderTransformer
from ..detector import ReconstructionAnomalyDetector
from ..onnx import load_onnx, to_onnx


def _split(rare, seed):
    X, digit = load_digits(return_X_y=True)
    rng = np.random.RandomState(seed)
    normal = np.flatnonzero(digit != rare)
    rare_rows = rng.choice(np.flatnonzero(digit == rare), size=len(normal) // 20, replace=False)
    idx = np.r_[normal, rare_rows]
    X, y = X[idx], (digit[idx] == rare).astype(int)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)


def _timed(fit):
    start = time.perf_counter()
    fitted = fit()
    return fitted, time.perf_counter() - start


def _detection(X_train, X_test, y_test, seed):

    skae, skae_s = _timed(
        lambda: make_pipeline(
            StandardScaler(), ReconstructionAnomalyDetector(contamination=0.05, random_state=seed)
        ).fit(X_train)
    )
    forest, forest_s = _timed(
        lambda: make_pipeline(
            StandardScaler(), IsolationForest(contamination=0.05, random_state=seed)
        ).fit(X_train)
    )
    for name, model, seconds in [
        ("skae ReconstructionAnomalyDetector", skae, skae_s),
        ("sklearn IsolationForest", forest, forest_s),
    ]:
        auc = roc_auc_score(y_test, -model.decision_function(X_test))
        print(f"  {name:<36} ROC-AUC {auc:.3f}   fit {seconds:5.1f} s")
    return skae


# --quick clusters a random sample of this many digits (of 1,797), trained as the full
# run is: the defaults a user gets, to convergence, on fewer rows.
QUICK_ROWS = 600


def _umap_codes(X, seed):
    """umap-learn's 2-D codes where it is installed (a reference; not a dependency)."""
    try:
        import umap
    except ImportError:
        return None
    return umap.UMAP(n_components=2, random_state=seed).fit_transform(X)


def _clustering(quick, seed):
    """KMeans on 2-D codes of the setting for clustering (``StandardScaler ->
    AutoencoderTransformer(n_components=2, embedding="umap")``), on 2-D PCA codes, on
    umap-learn's where installed, and on the scaled pixels."""
    X, digit = load_digits(return_X_y=True)
    if quick:
        keep = np.sort(np.random.RandomState(seed).choice(len(X), QUICK_ROWS, replace=False))
        X, digit = X[keep], digit[keep]
    X = StandardScaler().fit_transform(X)
    ae = AutoencoderTransformer(n_components=2, embedding="umap", random_state=seed)
    codes = {"autoencoder": ae.fit_transform(X), "PCA": PCA(2, random_state=seed).fit_transform(X)}
    umap_codes = _umap_codes(X, seed)
    if umap_codes is not None:
        codes["UMAP"] = umap_codes
    for name, Z in [
        *((f"{k} codes (2-D)", Z) for k, Z in codes.items()),
        ("scaled pixels (64-D)", X),
    ]:
        labels = KMeans(10, n_init=10, random_state=seed).fit_predict(Z)
        print(f"  KMeans on {name:<26} ARI {adjusted_rand_score(digit, labels):.3f}")
    return codes, digit


def _onnx(pipeline, X_test, folder):
    path = os.path.join(folder, "detector.onnx")
    write_bytes(path, to_onnx(pipeline, X_test[:1]).SerializeToString())  # atomically
    model = load_onnx(path)
    python = pipeline.decision_function(X_test)
    # relative to |score| + 1: scores are in units of the training scores' spread
    diff = np.max(np.abs(model.decision_function(X_test) - python) / (np.abs(python) + 1))
    same = np.mean(model.predict(X_test) == pipeline.predict(X_test))
    print(
        f"  wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB); load_onnx re-scored "
        f"{len(X_test)} rows: labels {same:.1%} identical, scores within {diff:.1e} "
        "(relative)"
    )
    return path


def _report(pipeline, codes, digit, X_test, y_test, rare, folder):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("  (no PNG report: pip install 'skae[plot]' for matplotlib)")
        return None
    from ..plotting import LossCurveDisplay, ReconstructionErrorDisplay

    fig = Figure(figsize=(15, 12), layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=[1, 1.15, 0.62])
    shown = LossCurveDisplay.from_estimator(pipeline[-1], ax=fig.add_subplot(grid[0, 0]))
    shown.ax_.set_title(f"Training the detector's {len(shown.loss_curves)} autoencoders")
    shown = ReconstructionErrorDisplay.from_estimator(
        pipeline, X_test, y_test, ax=fig.add_subplot(grid[0, 1])
    )
    shown.ax_.set_title(f"Anomaly scores of the held-out rows (anomaly = digit {rare})")
    _code_panels(fig, grid, codes, digit)
    _worst_digits_panel(fig.add_subplot(grid[2, :]), pipeline, X_test, y_test, rare)
    path = os.path.join(folder, "report.png")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    write_bytes(path, buffer.getvalue())  # atomically: a failed run keeps the old report
    print(f"  wrote {path}")
    return path


def _code_panels(fig, grid, codes, digit):
    """The 2-D codes side by side, each digit's name at the median of its codes."""
    from matplotlib import patheffects

    from ..plotting import LatentSpaceDisplay

    outline = [patheffects.withStroke(linewidth=3, foreground="white")]
    panels = grid[1, :].subgridspec(1, len(codes))
    titles = {"autoencoder": 'autoencoder (embedding="umap")'}
    for col, (name, Z) in enumerate(codes.items()):
        shown = LatentSpaceDisplay(Z, digit).plot(ax=fig.add_subplot(panels[0, col]))
        shown.ax_.set_title(f"2-D {titles.get(name, name)} codes of {len(Z)} digits")
        for d in range(10):
            x, y = np.median(Z[digit == d], axis=0)
            shown.ax_.text(
                x,
                y,
                str(d),
                fontsize="large",
                fontweight="bold",
                ha="center",
                va="center",
                path_effects=outline,
            )
        if col < len(codes) - 1:  # digits named in the plots and the last panel's legend
            shown.ax_.get_legend().remove()


def _worst_digits_panel(ax, pipeline, X_test, y_test, rare):
    """The most anomalous test digits, reconstructed by the first network of the ensemble."""
    from ..plotting import ReconstructionDisplay, format_score

    scaler, detector = pipeline[0], pipeline[-1]
    scores = -pipeline.score_samples(X_test)
    worst = np.argsort(scores)[::-1][:10]
    member = detector.estimators_[0]
    Z = scaler.transform(X_test[worst])
    recon = scaler.inverse_transform(member.inverse_transform(member.transform(Z)))
    shown = ReconstructionDisplay(
        X_test[worst], recon, (8, 8), [format_score(s) for s in scores[worst]]
    ).plot(ax=ax)
    for label, i in zip(shown.ax_.get_xticklabels(), worst, strict=True):
        label.set_color("C3" if y_test[i] else "k")
    shown.ax_.tick_params(labelsize="large")
    shown.ax_.set_title(
        f"The {len(worst)} most anomalous held-out digits, reconstructed by "
        f"the first autoencoder; anomaly score below (red: digit {rare})"
    )


def run(options):
    """Run ``skae demo``; return the exit code."""
    return run_demo(options.output, quick=options.quick, rare=options.rare, seed=options.seed)


def run_demo(output="skae-demo", *, quick=False, rare=7, seed=0):
    """Run the demo, print its findings, write ``detector.onnx`` and ``report.png``."""
    from .. import _require_train

    _require_train("skae demo")  # before any output: the demo trains and exports
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"{output} is a file; give a folder for the demo's outputs.")
    start = time.perf_counter()
    os.makedirs(output, exist_ok=True)
    with warnings.catch_warnings():  # the caller's warning filters stay as they were
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test, y_train, y_test = _split(rare, seed)
        print(
            f"skae demo: scikit-learn's digits, digit {rare} as the rare class "
            f"({y_train.mean():.1%} of {len(X_train)} training rows), ROC-AUC on "
            f"{len(X_test)} held-out rows"
        )
        pipeline = _detection(X_train, X_test, y_test, seed)
        rows = f"a sample of {QUICK_ROWS} digits" if quick else "all 1797 digits"
        print(
            f"Dimensionality reduction before clustering ({rows}, 10 clusters; the "
            'autoencoder set for clustering, embedding="umap"):'
        )
        codes, digit = _clustering(quick, seed)
        print("Production path:")
        _onnx(pipeline, X_test, output)
        _report(pipeline, codes, digit, X_test, y_test, rare, output)
    print(f"done in {time.perf_counter() - start:.0f} s; outputs in {os.path.abspath(output)}")
    return 0
