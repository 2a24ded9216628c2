"""The torch networks: MLP blocks, the autoencoder and the Gaussian-encoder VAE.

This is the only definition of each network. Training (``skae._engine``), the sklearn
facades and the ONNX export (``skae.onnx``) all use these modules, so what is exported is
exactly what is trained and served.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

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
_KAIMING = {"relu": "relu", "prelu": "leaky_relu", "leaky_relu": "leaky_relu",
            "elu": "relu", "gelu": "relu"}


def _init_linear(layer: nn.Linear, activation: str) -> None:
    """Kaiming for the ReLU family, LeCun for SELU (self-normalising), Xavier otherwise."""
    if activation in _KAIMING:
        # PReLU starts at a=0.25 and LeakyReLU has a=0.01: the 'leaky_relu' gain takes a.
        a = 0.25 if activation == "prelu" else 0.01 if activation == "leaky_relu" else 0.0
        nn.init.kaiming_normal_(layer.weight, a=a, nonlinearity=_KAIMING[activation])
    elif activation == "selu":
        nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
    elif activation == "tanh":
        nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
    else:
        nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def mlp(in_features, sizes, *, activation="relu", dropout=0.0, batch_norm=False):
    """Stack of ``Linear -> [BatchNorm] -> activation -> [Dropout]`` blocks.

    Returns the ``nn.Sequential`` and its output width (``in_features`` when ``sizes`` is
    empty, so the block is then an identity).
    """
    layers: list[nn.Module] = []
    width = in_features
    for size in sizes:
        linear = nn.Linear(width, size)
        _init_linear(linear, activation)
        layers.append(linear)
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            # Plain dropout breaks SELU's self-normalisation; AlphaDropout keeps it.
            layers.append(nn.AlphaDropout(dropout) if activation == "selu" else nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers), width


def _head(in_features, out_features):
    """A linear layer with no activation after it (the code layer, the output layer)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Decoder(nn.Module):
    """Latent code -> output logits, mirroring the encoder's hidden widths."""

    def __init__(self, n_components, hidden_layer_sizes, n_features, *, activation="relu",
                 dropout=0.0, batch_norm=False):
        super().__init__()
        self.body, width = mlp(n_components, tuple(reversed(hidden_layer_sizes)),
                               activation=activation, dropout=dropout, batch_norm=batch_norm)
        self.out = _head(width, n_features)

    def forward(self, z):
        return self.out(self.body(z))


class Autoencoder(nn.Module):
    """Deterministic MLP autoencoder with a linear bottleneck.

    ``forward`` returns the decoder's pre-activation output ("logits"); ``reconstruct``
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
        Applied by :meth:`reconstruct`.
    latent_normalize : bool
        Project the code onto the unit sphere.
    dropout : float
        Dropout rate after each hidden activation.
    batch_norm : bool
        Batch normalisation before each hidden activation.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_components, *, activation="relu",
                 output_activation=None, latent_normalize=False, dropout=0.0,
                 batch_norm=False):
        super().__init__()
        self.latent_normalize = latent_normalize
        self.output_activation = output_activation
        body, width = mlp(n_features, hidden_layer_sizes, activation=activation,
                          dropout=dropout, batch_norm=batch_norm)
        self.encoder = nn.Sequential(body, _head(width, n_components))
        self.decoder = Decoder(n_components, hidden_layer_sizes, n_features,
                               activation=activation, dropout=dropout, batch_norm=batch_norm)

    def encode(self, x):
        z = self.encoder(x)
        if self.latent_normalize:
            z = F.normalize(z, dim=1, eps=1e-12)
        return z

    def activate(self, logits):
        """The output activation: logits -> reconstruction in input space."""
        return torch.sigmoid(logits) if self.output_activation == "sigmoid" else logits

    def forward(self, x):
        return self.decoder(self.encode(x))

    def reconstruct(self, x):
        return self.activate(self.forward(x))


class VariationalAutoencoder(nn.Module):
    """VAE with a diagonal Gaussian posterior q(z|x) = N(mean, exp(log_var)) and N(0, I) prior.

    The encoder body is shared by the two linear heads (mean and log-variance); the decoder
    gives the likelihood's parameters: the mean of a unit-variance Gaussian, or the logits
    of a Bernoulli.
    """

    # Bounds on the log-variance keep exp() finite in float32 early in training.
    LOG_VAR_MIN, LOG_VAR_MAX = -30.0, 20.0

    def __init__(self, n_features, hidden_layer_sizes, n_components, *, activation="relu",
                 likelihood="gaussian", dropout=0.0, batch_norm=False):
        super().__init__()
        self.likelihood = likelihood
        self.body, width = mlp(n_features, hidden_layer_sizes, activation=activation,
                               dropout=dropout, batch_norm=batch_norm)
        self.mean = _head(width, n_components)
        self.log_var = _head(width, n_components)
        self.decoder = Decoder(n_components, hidden_layer_sizes, n_features,
                               activation=activation, dropout=dropout, batch_norm=batch_norm)

    def encode(self, x):
        """Posterior mean and log-variance."""
        h = self.body(x)
        log_var = torch.clamp(self.log_var(h), self.LOG_VAR_MIN, self.LOG_VAR_MAX)
        return self.mean(h), log_var

    @staticmethod
    def reparameterize(mean, log_var):
        """z = mean + sigma * eps, differentiable in mean and log_var."""
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)

    def activate(self, logits):
        """Decoder output -> the likelihood's mean in input space."""
        return torch.sigmoid(logits) if self.likelihood == "bernoulli" else logits

    def forward(self, x):
        """One stochastic pass: decoder output at a posterior sample, mean and log-variance."""
        mean, log_var = self.encode(x)
        return self.decoder(self.reparameterize(mean, log_var)), mean, log_var

    def reconstruct(self, x):
        """Deterministic reconstruction: decode the posterior mean."""
        return self.activate(self.decoder(self.encode(x)[0]))
