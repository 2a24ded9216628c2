"""
Stacked autoencoder reconstructions on digits
=============================================

A stacked (deep) MLP autoencoder, 64 -> 128 -> 64 -> 16 -> 64 -> 128 -> 64, compresses
8x8 digits to 16 numbers. Held-out digits are reconstructed from their codes and
shown above the originals; a one-hidden-layer network with the same code size and
PCA with 16 components are the references.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import LossCurveDisplay, ReconstructionDisplay

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"
MAX_ITER = 10 if FAST else 300

X, _ = load_digits(return_X_y=True)
X_train, X_test = train_test_split(X / 16.0, test_size=0.25, random_state=0)

# %%
models = {
    "stacked (128, 64)": AutoencoderTransformer(
        n_components=16, hidden_layer_sizes=(128, 64), max_iter=MAX_ITER, random_state=0
    ),
    "one layer (64,)": AutoencoderTransformer(
        n_components=16, hidden_layer_sizes=(64,), max_iter=MAX_ITER, random_state=0
    ),
    "PCA": PCA(n_components=16),
}
for name, model in models.items():
    model.fit(X_train)
    error = np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2)
    print(f"{name:<18} test reconstruction MSE {error:.4f}")

# %%
stacked = models["stacked (128, 64)"]
ReconstructionDisplay.from_estimator(stacked, X_test, n_images=10)
LossCurveDisplay.from_estimator(stacked)
plt.show()
