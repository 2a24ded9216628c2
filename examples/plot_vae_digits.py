"""
A variational autoencoder on digits: sampling and the decoder grid
==================================================================

A VAE with a 2-D latent space and a Bernoulli likelihood (pixels scaled to [0, 1]) is
trained on the ELBO. New digits are drawn from the N(0, I) prior through the decoder
(``sample``), and a grid over the latent plane is decoded as the Keras VAE tutorial
does. ``score_samples`` is the per-row ELBO.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skae import VAETransformer
from skae.plotting import DecoderGridDisplay, LatentSpaceDisplay

FAST = os.environ.get("SKAE_EXAMPLES_FAST") == "1"

X, digit = load_digits(return_X_y=True)
X = X / 16.0

vae = VAETransformer(
    n_components=2,
    hidden_layer_sizes=(256, 128),
    likelihood="bernoulli",
    kl_warmup_epochs=10,
    max_iter=10 if FAST else 300,
    random_state=0,
)
vae.fit(X)
print(f"mean ELBO per row: {vae.score_samples(X).mean():.2f} nats ({vae.n_iter_} epochs)")

# %%
LatentSpaceDisplay.from_estimator(vae, X, digit)
DecoderGridDisplay.from_estimator(vae, n=12)

# %%
# New digits from the prior
samples = vae.sample(16, random_state=0)
fig, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for ax, image in zip(axes.ravel(), samples, strict=True):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.axis("off")
fig.suptitle("Sampled from the prior")
plt.show()
