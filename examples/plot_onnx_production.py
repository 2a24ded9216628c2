"""
The ONNX production path
========================

Fit ``StandardScaler -> ReconstructionAnomalyDetector`` in Python, export the whole
Pipeline to one ONNX graph, and score with :func:`skae.onnx.load_onnx`, which needs only
numpy and onnxruntime (no torch, no pickle: loading it runs no code). The exported model
carries the per-feature errors that explain each flag, and its metadata says what it
is. Scores match the Python pipeline.
"""

# %%
import os
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"

data = load_breast_cancer(as_frame=True)
X = data.data[data.target == 1]  # benign tumours: the normal rows
pipeline = make_pipeline(
    StandardScaler(),
    ReconstructionAnomalyDetector(
        contamination=0.02, max_iter=10 if FAST else None, random_state=0
    ),
).fit(X)

# %%
# Export: one graph, scaler included; feature_errors=True adds the explanation output
path = os.path.join(tempfile.mkdtemp(), "detector.onnx")
with open(path, "wb") as fh:
    fh.write(to_onnx(pipeline, X.iloc[:1], feature_errors=True).SerializeToString())
model = load_onnx(path)
print(model)
print({k: v for k, v in model.metadata.items() if k in ("skae_version", "contamination")})

# %%
# Score new rows (a DataFrame: columns are matched by name, in any order)
new = data.data[data.target == 0].iloc[:, ::-1]  # malignant rows, columns reversed
onnx_scores = model.decision_function(new)
python_scores = pipeline.decision_function(new[X.columns])
print(
    f"max |ONNX - Python| relative to |score| + 1: "
    f"{np.max(np.abs(onnx_scores - python_scores) / (np.abs(python_scores) + 1)):.1e}"
)
print(f"malignant rows flagged: {np.mean(model.predict(new) == -1):.0%}")

# %%
# Why was a row flagged? The column with the largest normalised error
errors = pd.DataFrame(model.feature_errors(new), columns=model.feature_names_in_)
print("most common top feature:", errors.idxmax(axis=1).value_counts().index[0])

# %%
# A float32 NumPy row in the fitted column order skips the DataFrame handling
row = new[X.columns].to_numpy(np.float32)[:1]
start = time.perf_counter()
for _ in range(200):
    model.predict(row)
print(f"one row: {(time.perf_counter() - start) / 200 * 1e6:.0f} us per call")
