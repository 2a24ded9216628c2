"""
A spherical latent space
========================

With ``latent_normalize=True`` the code is projected onto the unit sphere: only its
direction carries information, so similarity between rows is the cosine of their
codes. With 3 latent units the codes lie on the 2-sphere; classes occupy caps.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"
MAX_ITER = 10 if FAST else 200

X, digit = load_digits(return_X_y=True)
X = X / 16.0

sphere = AutoencoderTransformer(
    n_components=3,
    hidden_layer_sizes=(128, 64),
    latent_normalize=True,
    max_iter=MAX_ITER,
    random_state=0,
)
codes = sphere.fit_transform(X)
print(
    f"code norms: min {np.linalg.norm(codes, axis=1).min():.4f}, "
    f"max {np.linalg.norm(codes, axis=1).max():.4f}"
)

# %%
# Nearest neighbours by cosine on the sphere vs by Euclidean distance in a free 3-D code
free = AutoencoderTransformer(
    n_components=3, hidden_layer_sizes=(128, 64), max_iter=MAX_ITER, random_state=0
)
for name, model, metric in [
    ("spherical codes, cosine", sphere, "cosine"),
    ("free codes, euclidean", free, "euclidean"),
]:
    knn = make_pipeline(model, KNeighborsClassifier(n_neighbors=5, metric=metric))
    accuracy = cross_val_score(knn, X, digit, cv=3).mean()
    print(f"5-NN accuracy on {name:<24} {accuracy:.3f}")

# %%
fig = plt.figure(figsize=(6, 6))
ax = fig.add_subplot(projection="3d")
ax.scatter(*codes.T, c=digit, cmap="tab10", s=5)
ax.set_title("Codes on the unit sphere, by digit")
plt.show()
