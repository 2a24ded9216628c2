"""The torch networks: MLP blocks, the autoencoder and the Gaussian-encoder VAE.

This is the only definition of each network. Training (``skae._train.engine``), the sklearn
facades and the ONNX export (``skae.onnx``) all use these modules, so what is exported is
exactly what is trained and served. :mod:`skae._nn.stacked` runs several autoencoders of
this module as one batched network.

Random draws (initial weights, dropout masks, reparameterisation noise) come from the
fit's private generator (:mod:`skae._nn.random`), never from torch's global one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import random as _random

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

# The gain passed to ``nn.init`` for the hidden layers of each activation.
_KAIMING = {
    "relu": "relu",
    "prelu": "leaky_relu",
    "leaky_relu": "leaky_relu",
    "elu": "relu",
    "gelu": "relu",
}
# Xavier gain of tanh layers: between Glorot's 1 and torch's 5/3 (calculate_gain), so a
# network starts nearer tanh's linear range; measured with benchmarks/bench_clustering.py
# (1.0, 1.3 and 5/3 tried for the codes KMeans gets).
TANH_GAIN = 1.3
# SELU's fixed point, for alpha-dropout (Klambauer et al., 2017).
_SELU_ALPHA_PRIME = -1.0507009873554805 * 1.6732632423543772


def _init_linear(layer: nn.Linear, activation: str, generator=None) -> None:
    """Kaiming for the ReLU family, LeCun for SELU (self-normalising), Xavier otherwise."""
    weight = layer.weight
    if activation in _KAIMING:
        # PReLU starts at a=0.25 and LeakyReLU has a=0.01: the 'leaky_relu' gain takes a.
        a = 0.25 if activation == "prelu" else 0.01 if activation == "leaky_relu" else 0.0
        nn.init.kaiming_normal_(weight, a=a, nonlinearity=_KAIMING[activation], generator=generator)
    elif activation == "selu":
        nn.init.normal_(weight, std=1.0 / math.sqrt(layer.in_features), generator=generator)
    elif activation == "tanh":
        nn.init.xavier_uniform_(weight, gain=TANH_GAIN, generator=generator)
    else:
        nn.init.xavier_uniform_(weight, generator=generator)
    nn.init.zeros_(layer.bias)


class Dropout(nn.Module):
    """Dropout whose masks come from the fit's generator (alpha-dropout for SELU).

    ``torch.nn.Dropout`` draws from torch's global generator; this draws from
    :func:`skae._nn.random.rand_like`. It is an identity in eval mode, so it leaves no trace
    in exported graphs.
    """

    def __init__(self, p, alpha=False):
        super().__init__()
        self.p = float(p)
        self.alpha = bool(alpha)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = (_random.rand_like(x) >= self.p).to(x.dtype)
        if not self.alpha:
            return x * keep / (1.0 - self.p)
        # alpha-dropout: dropped units go to SELU's negative saturation, then an affine map
        # restores zero mean and unit variance
        q = 1.0 - self.p
        a = (q + _SELU_ALPHA_PRIME**2 * q * self.p) ** -0.5
        b = -a * _SELU_ALPHA_PRIME * self.p
        return a * (x * keep + _SELU_ALPHA_PRIME * (1.0 - keep)) + b

    def extra_repr(self):
        return f"p={self.p}" + (", alpha=True" if self.alpha else "")


def mlp(in_features, sizes, *, activation="relu", dropout=0.0, batch_norm=False, generator=None):
    """Stack of ``Linear -> [BatchNorm] -> activation -> [Dropout]`` blocks.

    Returns the ``nn.Sequential`` and its output width (``in_features`` when ``sizes`` is
    empty, so the block is then an identity).
    """
    layers: list[nn.Module] = []
    width = in_features
    for size in sizes:
        linear = _linear(width, size)
        _init_linear(linear, activation, generator)
        layers.append(linear)
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            # Plain dropout breaks SELU's self-normalisation; alpha-dropout keeps it.
            layers.append(Dropout(dropout, alpha=activation == "selu"))
        width = size
    return nn.Sequential(*layers), width


def _linear(in_features, out_features):
    """``nn.Linear`` without its default initialisation, which draws from torch's global
    generator; every caller initialises the weights from the fit's generator."""
    return torch.nn.utils.skip_init(nn.Linear, in_features, out_features)


def _head(in_features, out_features, generator=None):
    """A linear layer with no activation after it (the code layer, the output layer)."""
    layer = _linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight, generator=generator)
    nn.init.zeros_(layer.bias)
    return layer


def unit_sphere(z, eps=1e-12):
    """``z / max(||z||, eps)`` along the last axis: ``F.normalize``'s result, written with
    ops that export to plain ONNX (``F.normalize`` traces to a Clip with an empty input)."""
    norm = torch.sqrt((z * z).sum(dim=-1, keepdim=True))
    return z / torch.maximum(norm, torch.full_like(norm, eps))


class Decoder(nn.Module):
    """Latent code -> output logits, mirroring the encoder's hidden widths."""

    def __init__(
        self,
        n_components,
        hidden_layer_sizes,
        n_features,
        *,
        activation="relu",
        dropout=0.0,
        batch_norm=False,
        generator=None,
    ):
        super().__init__()
        self.body, width = mlp(
            n_components,
            tuple(reversed(hidden_layer_sizes)),
            activation=activation,
            dropout=dropout,
            batch_norm=batch_norm,
            generator=generator,
        )
        self.out = _head(width, n_features, generator)

    def forward(self, z):
        return self.out(self.body(z))


class AutoencoderMethods:
    """What an autoencoder does with its ``encoder`` and ``decoder``: shared by
    :class:`Autoencoder` and :class:`skae._nn.stacked.StackedAutoencoder`."""

    def encode(self, x):
        z = self.encoder(x)
        return unit_sphere(z) if self.latent_normalize else z

    def activate(self, logits):
        """The output activation: logits -> reconstruction in input space."""
        return torch.sigmoid(logits) if self.output_activation == "sigmoid" else logits

    def forward(self, x):
        return self.decoder(self.encode(x))


class Autoencoder(AutoencoderMethods, nn.Module):
    """Deterministic MLP autoencoder with a linear bottleneck.

    ``forward`` returns the decoder's pre-activation output ("logits"); ``activate``
    applies the output activation and gives the reconstruction in input space. A code
    layer without activation is deliberate: a ReLU there leaves runs stuck with dead units.

    Parameters
    ----------
    n_features : int
        Input width.
    hidden_layer_sizes : tuple of int
        Encoder widths; the decoder mirrors them. Empty gives a linear autoencoder.
    n_components : int
        Latent size.
    activation : str
        One of :data:`ACTIVATIONS`.
    output_activation : {None, "sigmoid"}
        Applied by :meth:`activate`.
    latent_normalize : bool
        Project the code onto the unit sphere.
    dropout : float
        Dropout rate after each hidden activation.
    batch_norm : bool
        Batch normalisation before each hidden activation.
    generator : torch.Generator, optional
        Draws the initial weights.
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        *,
        activation="relu",
        output_activation=None,
        latent_normalize=False,
        dropout=0.0,
        batch_norm=False,
        generator=None,
    ):
        super().__init__()
        self.latent_normalize = latent_normalize
        self.output_activation = output_activation
        block = dict(
            activation=activation, dropout=dropout, batch_norm=batch_norm, generator=generator
        )
        body, width = mlp(n_features, hidden_layer_sizes, **block)
        self.encoder = nn.Sequential(body, _head(width, n_components, generator))
        self.decoder = Decoder(n_components, hidden_layer_sizes, n_features, **block)


class VariationalAutoencoder(nn.Module):
    """VAE with a diagonal Gaussian posterior q(z|x) = N(mean, exp(log_var)) and N(0, I) prior.

    The encoder body is shared by the two linear heads (mean and log-variance); the decoder
    gives the likelihood's parameters: the mean of a unit-variance Gaussian, or the logits
    of a Bernoulli.
    """

    # Bounds on the log-variance keep exp() finite in float32 early in training.
    LOG_VAR_MIN, LOG_VAR_MAX = -30.0, 20.0

    def __init__(
        self,
        n_features,
        hidden_layer_sizes,
        n_components,
        *,
        activation="relu",
        likelihood="gaussian",
        dropout=0.0,
        batch_norm=False,
        generator=None,
    ):
        super().__init__()
        self.likelihood = likelihood
        block = dict(
            activation=activation, dropout=dropout, batch_norm=batch_norm, generator=generator
        )
        self.body, width = mlp(n_features, hidden_layer_sizes, **block)
        self.mean = _head(width, n_components, generator)
        self.log_var = _head(width, n_components, generator)
        self.decoder = Decoder(n_components, hidden_layer_sizes, n_features, **block)

    def encode(self, x):
        """Posterior mean and log-variance."""
        h = self.body(x)
        log_var = torch.clamp(self.log_var(h), self.LOG_VAR_MIN, self.LOG_VAR_MAX)
        return self.mean(h), log_var

    @staticmethod
    def reparameterize(mean, log_var):
        """z = mean + sigma * eps, differentiable in mean and log_var."""
        return mean + torch.exp(0.5 * log_var) * _random.randn_like(mean)

    def activate(self, logits):
        """Decoder output -> the likelihood's mean in input space."""
        return torch.sigmoid(logits) if self.likelihood == "bernoulli" else logits

    def forward(self, x):
        """One stochastic pass: decoder output at a posterior sample, mean and log-variance."""
        mean, log_var = self.encode(x)
        return self.decoder(self.reparameterize(mean, log_var)), mean, log_var
