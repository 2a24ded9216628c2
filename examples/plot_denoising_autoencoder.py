"""
A denoising autoencoder
=======================

``noise_std`` adds Gaussian noise to the inputs during training only; the target stays
the clean row. The network learns to map corrupted digits back to clean ones, so on
noisy test digits its reconstructions are closer to the clean originals than those of
the same network trained without noise.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer
from skae.plotting import ReconstructionDisplay

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"
MAX_ITER = 10 if FAST else 300
NOISE = 0.3

X, _ = load_digits(return_X_y=True)
X_train, X_test = train_test_split(X / 16.0, test_size=0.25, random_state=0)
noisy = X_test + NOISE * np.random.RandomState(1).normal(size=X_test.shape)

# %%
results = {}
for name, noise_std in [("plain", 0.0), ("denoising", NOISE)]:
    ae = AutoencoderTransformer(
        n_components=16,
        hidden_layer_sizes=(128,),
        output_activation="sigmoid",
        noise_std=noise_std,
        max_iter=MAX_ITER,
        random_state=0,
    ).fit(X_train)
    cleaned = ae.inverse_transform(ae.transform(noisy))
    results[name] = cleaned
    print(f"{name:<10} MSE to the clean digits: {np.mean((cleaned - X_test) ** 2):.4f}")
print(f"{'(noisy input':<10} MSE to the clean digits: {np.mean((noisy - X_test) ** 2):.4f})")

# %%
display = ReconstructionDisplay(np.clip(noisy[:10], 0, 1), results["denoising"][:10]).plot()
display.ax_.set_title("Noisy test digits (top) cleaned by the denoising autoencoder")
plt.show()
