"""
Bernoulli (cross-entropy) vs squared-error reconstruction on [0, 1] data
========================================================================

For data in [0, 1], ``loss="bce"`` treats each value as the mean of a Bernoulli
variable: the decoder outputs logits and reconstructions go through a sigmoid, so they
stay in [0, 1]. ``loss="mse"`` is the Gaussian likelihood. Both are compared by the
error they were not trained on, and by how many reconstructed values leave [0, 1].
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer
from skae.plotting import ReconstructionDisplay

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"
MAX_ITER = 10 if FAST else 300

X, _ = load_digits(return_X_y=True)
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
scaler = MinMaxScaler().fit(X_train)  # bce needs [0, 1]
X_train, X_test = scaler.transform(X_train), np.clip(scaler.transform(X_test), 0, 1)


def bce(x, r):
    r = np.clip(r, 1e-6, 1 - 1e-6)
    return -np.mean(x * np.log(r) + (1 - x) * np.log(1 - r))


# %%
recon = {}
for loss in ["bce", "mse"]:
    ae = AutoencoderTransformer(
        n_components=8, hidden_layer_sizes=(128,), loss=loss, max_iter=MAX_ITER, random_state=0
    ).fit(X_train)
    r = recon[loss] = ae.inverse_transform(ae.transform(X_test))
    outside = np.mean((r < 0) | (r > 1))
    print(
        f"loss={loss}: test MSE {np.mean((r - X_test) ** 2):.4f}, "
        f"test BCE {bce(X_test, r):.4f}, values outside [0, 1]: {outside:.1%}"
    )

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 5))
for ax, loss in zip(axes, ["bce", "mse"], strict=True):
    ReconstructionDisplay(X_test[:10], recon[loss][:10]).plot(ax=ax)
    ax.set_title(f"loss={loss!r}")
fig.tight_layout()
plt.show()
