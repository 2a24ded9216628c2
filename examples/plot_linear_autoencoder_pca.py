"""
Linear autoencoder vs PCA on 3-D data
=====================================

A linear autoencoder (no hidden layers, identity activation) trained on the squared
error learns the same subspace as PCA: its reconstruction error matches PCA's, and
the principal angles between the two 2-D subspaces are close to zero. Its codes are
not the principal components themselves (any invertible mix of them reconstructs as
well), which the side-by-side plot shows.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"

# 3-D points near a tilted plane
rng = np.random.RandomState(0)
X = rng.normal(size=(1000, 2)) @ np.array([[3.0, 1.0, 0.5], [0.5, 1.0, -2.0]])
X += 0.1 * rng.normal(size=X.shape)
X -= X.mean(axis=0)

# %%
pca = PCA(n_components=2).fit(X)
ae = AutoencoderTransformer(
    n_components=2,
    hidden_layer_sizes=(),
    activation="identity",
    learning_rate_init=1e-2,
    max_iter=20 if FAST else 300,
    random_state=0,
).fit(X)

pca_error = np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2)
ae_error = np.mean((X - ae.inverse_transform(ae.transform(X))) ** 2)
# The decoder's columns span the autoencoder's subspace
decoder = ae.inverse_transform(np.eye(2)) - ae.inverse_transform(np.zeros((1, 2)))
angles = np.degrees(subspace_angles(decoder.T, pca.components_.T))
print(f"reconstruction MSE: PCA {pca_error:.5f}, linear autoencoder {ae_error:.5f}")
print(f"principal angles between the subspaces: {np.round(angles, 2)} degrees")

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, (name, Z) in zip(
    axes, [("PCA", pca.transform(X)), ("linear autoencoder", ae.transform(X))], strict=True
):
    ax.scatter(Z[:, 0], Z[:, 1], s=4, c=X[:, 2], cmap="viridis")
    ax.set_title(f"{name} codes")
fig.tight_layout()
plt.show()
