"""
Outliers in a mixed-type table, from fit to ``skae score``
==========================================================

Real tables mix numbers, categories, flags and IDs, with gaps. Here a generated
payments table goes through one scikit-learn Pipeline (a ColumnTransformer that selects
columns by name: imputer and scaler for the numbers, skae's
:class:`~skae.preprocessing.CategoryEncoder` for the categories, as ``skae fit`` encodes
them, the ID left out) into a :class:`~skae.ReconstructionAnomalyDetector`. The
whole Pipeline exports to one ONNX graph with one typed input per column, which
:func:`skae.onnx.load_onnx` and ``skae score`` feed straight from a DataFrame or a CSV
file. Each flagged payment is explained per input column: a one-hot block's errors are
averaged back onto the column it encodes.
"""

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import ReconstructionAnomalyDetector
from skae.cli import main as skae
from skae.inspection import feature_errors
from skae.onnx import load_onnx, to_onnx
from skae.preprocessing import CategoryEncoder

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"


def payments(n, seed):
    """Card payments: amounts depend on the merchant, online payments have no card
    present; 2% are fraud-like (large amounts at night, a few from another country)."""
    rng = np.random.RandomState(seed)
    merchants = np.array(["grocery", "fuel", "restaurant", "online", "travel", "pharmacy"])
    m = rng.choice(len(merchants), n, p=[0.3, 0.15, 0.2, 0.2, 0.05, 0.1])
    table = pd.DataFrame(
        {
            "payment_id": 50_000_000 + rng.permutation(n),  # an ID: no signal, left out
            "amount": np.round(
                np.array([45, 60, 35, 80, 400, 25])[m] * np.exp(rng.normal(0, 0.4, n)), 2
            ),
            "hour": np.clip(rng.normal(14, 3.5, n).round(), 0, 23).astype(int),
            "items": 1 + rng.poisson(np.array([6, 0.2, 2, 1, 0.1, 1.5])[m]),
            "merchant": merchants[m],
            "country": rng.choice(["FR", "DE", "ES", "IT"], n, p=[0.7, 0.1, 0.1, 0.1]),
            "card_present": (m != 3) & (rng.rand(n) > 0.05),
        }
    )
    fraud = rng.choice(n, n // 50, replace=False)
    table.loc[fraud, "amount"] = np.round(
        table.loc[fraud, "amount"] * rng.uniform(5, 15, len(fraud)), 2
    )
    table.loc[fraud, "hour"] = rng.choice([1, 2, 3, 4], len(fraud))
    table.loc[fraud[::3], "country"] = "BR"
    table.loc[rng.rand(n) < 0.03, "amount"] = np.nan  # gaps, imputed in the Pipeline
    table.loc[rng.rand(n) < 0.02, "merchant"] = None  # a category of its own
    return table, np.isin(np.arange(n), fraud)


train, _ = payments(2000 if FAST else 20000, seed=0)
new, is_fraud = payments(1000 if FAST else 5000, seed=1)
print(train.dtypes.to_string(), "\n")

# %%
# One Pipeline: columns by name, imputation and encoding inside it
numbers = ["amount", "hour", "items", "card_present"]
categories = ["merchant", "country"]
pipeline = make_pipeline(
    ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            ("categories", CategoryEncoder(), categories),
        ]
    ),  # remainder="drop": payment_id is not a feature
    ReconstructionAnomalyDetector(contamination=0.02, max_iter=10 if FAST else 100, random_state=0),
).fit(train)
print(f"ROC-AUC on new payments: {roc_auc_score(is_fraud, -pipeline.score_samples(new)):.3f}")

# %%
# Export: one graph, one typed input per column (numbers as float32, text as strings)
folder = tempfile.mkdtemp()
path = os.path.join(folder, "payments.onnx")
with open(path, "wb") as fh:
    fh.write(to_onnx(pipeline, train.iloc[:1], feature_errors=True).SerializeToString())
model = load_onnx(path)
print(model)
print("inputs:", model.input_types_)

# %%
# The graph agrees with Python, on unseen categories ("BR") and missing values too.
# Scores are standardised and cross 0 at the threshold: the tolerance is 1e-4 of
# |score| + 1, since float32 arithmetic leaves about 1e-6 in absolute terms.
python_scores = pipeline.decision_function(new)
onnx_scores = model.decision_function(new)
print(
    f"labels identical: {np.array_equal(model.predict(new), pipeline.predict(new))}; "
    "max |ONNX - Python| / (|score| + 1): "
    f"{np.max(np.abs(onnx_scores - python_scores) / (np.abs(python_scores) + 1)):.1e}"
)

# %%
# Scoring a file from the shell: `skae score payments.onnx new.csv -o scored.csv`
new.to_csv(os.path.join(folder, "new.csv"), index=False)
skae(
    [
        "score",
        path,
        os.path.join(folder, "new.csv"),
        "-o",
        os.path.join(folder, "scored.csv"),
        "--quiet",
    ]
)
scored = pd.read_csv(os.path.join(folder, "scored.csv"))
print(
    scored.sort_values("score")
    .head(5)[["payment_id", "amount", "hour", "merchant", "country", "score", "top_feature"]]
    .to_string()
)

# %%
# Why? The errors per input column, in Python too (skae.inspection.feature_errors)
errors = feature_errors(pipeline, new)
flagged = scored["label"] == -1
print("\ntop feature of the flagged payments:")
print(errors[flagged.to_numpy()].idxmax(axis=1).value_counts().to_string())

fig, ax = plt.subplots(figsize=(6, 3))
errors[flagged.to_numpy()].drop(columns="payment_id").mean().plot.barh(ax=ax)
ax.set_xlabel("mean normalised reconstruction error (flagged payments)")
fig.tight_layout()
