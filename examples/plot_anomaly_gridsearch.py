"""
Anomaly detection in a Pipeline, tuned with GridSearchCV
========================================================

``StandardScaler -> ReconstructionAnomalyDetector`` on scikit-learn's breast cancer data,
with malignant tumours as the rare class (10% of the benign count). The detector is
trained without labels; a few labelled rows are enough to pick its settings with
``GridSearchCV`` and a ROC-AUC scorer on ``decision_function``. IsolationForest on the
same split is the reference.
"""

# %%
import os

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"

X, target = load_breast_cancer(return_X_y=True)
rng = np.random.RandomState(0)
benign, malignant = np.flatnonzero(target == 1), np.flatnonzero(target == 0)
rows = np.r_[benign, rng.choice(malignant, size=len(benign) // 10, replace=False)]
X, y = X[rows], (target[rows] == 0).astype(int)  # y = 1 marks an anomaly
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def roc_auc(estimator, X, y):
    """Higher decision_function = more normal, so the anomaly score is its negative."""
    return roc_auc_score(y, -estimator.decision_function(X))


# %%
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "detect",
            ReconstructionAnomalyDetector(
                AutoencoderTransformer(hidden_layer_sizes=(32,), max_iter=10 if FAST else 200),
                random_state=0,
            ),
        ),
    ]
)
grid = {
    "detect__estimator__n_components": [2, 8],
    "detect__latent_weight": [0.0, 0.5],
}
search = GridSearchCV(
    pipe, grid, scoring=roc_auc, cv=StratifiedKFold(3, shuffle=True, random_state=0)
)
search.fit(X_train, y_train)  # y is used by the scorer only; fit ignores it
results = search.cv_results_
for params, score in zip(results["params"], results["mean_test_score"], strict=True):
    print(f"{params}  CV ROC-AUC {score:.3f}")

# %%
forest = Pipeline([("scale", StandardScaler()), ("detect", IsolationForest(random_state=0))]).fit(
    X_train
)
print(f"best: {search.best_params_}")
print(
    f"test ROC-AUC: skae {roc_auc(search.best_estimator_, X_test, y_test):.3f}, "
    f"IsolationForest {roc_auc(forest, X_test, y_test):.3f}"
)
labels = search.best_estimator_.predict(X_test)
print(
    f"flagged {np.mean(labels == -1):.1%} of test rows; "
    f"{np.mean(y_test[labels == -1]):.0%} of them malignant"
)
