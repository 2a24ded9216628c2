"""
Hyper-parameter search on a Dask cluster, then scoring a Dask DataFrame
=======================================================================

The search of ``plot_anomaly_gridsearch.py`` (``StandardScaler ->
ReconstructionAnomalyDetector`` on the breast cancer data, malignant tumours as the rare
class), with every fit of ``GridSearchCV`` sent to a Dask worker through joblib's Dask
backend. Here the cluster is a ``LocalCluster`` of two single-threaded worker processes;
``Client("scheduler-host:8786")`` runs the same code on a real one.

Each worker starts with ``OMP_NUM_THREADS=1`` (distributed's nanny sets it), so torch
trains with one thread per worker and two workers use two cores, no more. The best
Pipeline is then exported to ONNX and scores a Dask DataFrame partition by partition with
:func:`skae.distributed.score_dask`, torch-free on the workers, giving the same labels as
``load_onnx`` on the whole table.
"""

# %%
import os

import numpy as np

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"


def roc_auc(estimator, X, y):
    """Higher decision_function = more normal, so the anomaly score is its negative."""
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, -estimator.decision_function(X))


def torch_threads():
    """What a worker's torch uses (run on each worker; no torch import on the client)."""
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def main():
    import dask.dataframe as dd
    import joblib
    import matplotlib.pyplot as plt
    import pandas as pd
    from distributed import Client, LocalCluster
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae.distributed import score_dask
    from skae.onnx import load_onnx, to_onnx
    from skae.scoring import score_frame

    data = load_breast_cancer(as_frame=True)
    X, target = data.data, data.target.to_numpy()
    rng = np.random.RandomState(0)
    benign, malignant = np.flatnonzero(target == 1), np.flatnonzero(target == 0)
    rows = np.r_[benign, rng.choice(malignant, size=len(benign) // 10, replace=False)]
    X, y = X.iloc[rows].reset_index(drop=True), (target[rows] == 0).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )

    # %%
    # Two worker processes with one thread each (the tests' cluster too).
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    try:
        for worker, (omp, threads) in sorted(client.run(torch_threads).items()):
            print(f"worker {worker}: OMP_NUM_THREADS={omp}, torch threads {threads}")

        # %%
        # The grid search: each (candidate, fold) fit runs on a worker.
        pipe = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "detect",
                    ReconstructionAnomalyDetector(
                        AutoencoderTransformer(
                            hidden_layer_sizes=(32,), max_iter=5 if FAST else 100
                        ),
                        random_state=0,
                    ),
                ),
            ]
        )
        grid = {"detect__estimator__n_components": [2, 8], "detect__latent_weight": [0.0, 0.5]}
        search = GridSearchCV(
            pipe,
            grid,
            scoring=roc_auc,
            n_jobs=-1,
            cv=StratifiedKFold(3, shuffle=True, random_state=0),
        )
        with joblib.parallel_backend("dask"):
            search.fit(X_train, y_train)  # y is for the scorer only; fit ignores it
        results = pd.DataFrame(search.cv_results_["params"]).assign(
            cv_roc_auc=search.cv_results_["mean_test_score"]
        )
        print(results.to_string(index=False, float_format="%.3f"))
        print(
            f"best: {search.best_params_}; test ROC-AUC "
            f"{roc_auc(search.best_estimator_, X_test, y_test):.3f}"
        )

        # %%
        # Scoring a Dask DataFrame with the exported best Pipeline, on the same workers.
        model = to_onnx(search.best_estimator_, X_test.iloc[:1], feature_errors=True)
        table = X_test.reset_index(drop=True)
        scored = score_dask(dd.from_pandas(table, npartitions=4), model).compute()
        expected = score_frame(load_onnx(model), table)
        same = np.array_equal(scored["label"], expected["label"])
        gap = np.max(
            np.abs(scored["score"] - expected["score"]) / np.maximum(np.abs(expected["score"]), 1.0)
        )
        print(
            f"score_dask on {len(scored)} rows in 4 partitions: labels identical to "
            f"load_onnx: {same}; max score difference {gap:.1e}"
        )
        print(
            scored.loc[scored["label"] == -1, ["score", "top_feature"]]
            .sort_values("score")
            .head()
            .to_string(float_format="%.2f")
        )
    finally:
        client.close()
        cluster.close()

    # %%
    _, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    names = [
        f"code {p['detect__estimator__n_components']}, latent {p['detect__latent_weight']}"
        for p in search.cv_results_["params"]
    ]
    ax.barh(names, search.cv_results_["mean_test_score"], xerr=search.cv_results_["std_test_score"])
    ax.set_xlabel("CV ROC-AUC (fits run on 2 Dask workers)")
    ax.set_xlim(0.5, 1.0)
    plt.show()


# Worker processes are spawned and re-import this script: the cluster starts only here.
if __name__ == "__main__":
    main()
