"""
Autoencoder codes for clustering, with t-SNE
============================================

Dimensionality reduction before clustering: KMeans on 2-D autoencoder codes against
KMeans on 2-D PCA codes and on the raw pixels, scored by the adjusted Rand index
against the true digit. t-SNE of 10-D autoencoder codes shows how the classes
separate in the code space.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"
MAX_ITER = 10 if FAST else 200

X, digit = load_digits(return_X_y=True)
X = X / 16.0

# %%
# A Pipeline: the autoencoder is just another transformer before KMeans
for name, reducer in [
    (
        "autoencoder (2-D)",
        AutoencoderTransformer(
            n_components=2, hidden_layer_sizes=(128, 64), max_iter=MAX_ITER, random_state=0
        ),
    ),
    ("PCA (2-D)", PCA(n_components=2, random_state=0)),
    ("raw pixels", "passthrough"),
]:
    pipe = make_pipeline(reducer, KMeans(n_clusters=10, n_init=10, random_state=0))
    labels = pipe.fit_predict(X)
    print(f"KMeans on {name:<18} ARI {adjusted_rand_score(digit, labels):.3f}")

# %%
codes = AutoencoderTransformer(
    n_components=10, hidden_layer_sizes=(128, 64), max_iter=MAX_ITER, random_state=0
).fit_transform(X)
embedding = TSNE(
    n_components=2, init="pca", random_state=0, max_iter=250 if FAST else 1000
).fit_transform(codes)
fig, ax = plt.subplots(figsize=(6, 5))
points = ax.scatter(embedding[:, 0], embedding[:, 1], c=digit, cmap="tab10", s=6)
fig.colorbar(points, ax=ax, label="digit")
ax.set_title("t-SNE of 10-D autoencoder codes")
plt.show()
