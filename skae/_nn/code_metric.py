"""The decoder's metric on the code space, folded into an autoencoder's weights.

An autoencoder's code has an arbitrary scale and shear: the decoder undoes any invertible
map of it, so two fits that reconstruct equally well can hand a Euclidean method such as
KMeans codes of very different shapes. :func:`fold_decoder_metric` re-expresses the codes
so that Euclidean distances between them match, on average over the training rows, the
distances between their reconstructions.

With J(z) the decoder's Jacobian (to its output, after the output activation), the metric
the decoder puts on the code space is the pullback G = mean over training codes of
J^T J; the codes become z' = G^(1/2) (z - mean code). The map is folded into the weights
(the code layer multiplied by it, the decoder's first layer by its inverse), so the
network computes the same reconstructions, ``transform`` returns its own code layer, and
the ONNX export needs nothing new. For a linear autoencoder the codes become PCA's scores,
up to a rotation.
"""

from __future__ import annotations

import copy

import torch

# The metric is estimated on at most this many rows, evenly spaced in X.
METRIC_ROWS = 4096
# Central differences, a step of this share of each code unit's spread (in float64).
STEP = 1e-4
# Code directions the decoder ignores get this share of the largest eigenvalue, so the
# map stays invertible.
FLOOR = 1e-8


@torch.no_grad()
def decoder_metric(module, X32):
    """G, the mean of J^T J over (up to :data:`METRIC_ROWS` of) the rows X32, and the mean
    code, both float64; (None, None) when the decoder ignores its code."""
    step = max(1, len(X32) // METRIC_ROWS)
    x = torch.from_numpy(X32[::step][:METRIC_ROWS]).double()
    net = copy.deepcopy(module).double().eval()
    z = net.encode(x)
    d = z.shape[1]
    h = STEP * z.std(dim=0).clamp_min(1e-12) if len(z) > 1 else torch.full((d,), STEP)
    columns = []
    for k in range(d):
        e = torch.zeros(d, dtype=z.dtype)
        e[k] = h[k]
        up = net.activate(net.decoder(z + e))
        down = net.activate(net.decoder(z - e))
        columns.append((up - down) / (2 * h[k]))
    J = torch.stack(columns, dim=-1)  # (n, n_features, d)
    G = torch.einsum("nfi,nfj->ij", J, J) / len(z)
    if not torch.isfinite(G).all() or torch.linalg.eigvalsh(G).max() <= 0:
        return None, None
    return G, z.mean(dim=0)


@torch.no_grad()
def fold_decoder_metric(module, X32):
    """Whiten ``module``'s codes by the decoder's metric on X32, in place (see the module
    docstring); returns whether it did (not when the decoder ignores its code)."""
    head = module.encoder[-1]
    first = module.decoder.body[0] if len(module.decoder.body) else module.decoder.out
    if not (isinstance(head, torch.nn.Linear) and isinstance(first, torch.nn.Linear)):
        return False
    G, mean = decoder_metric(module, X32)
    if G is None:
        return False
    evals, evecs = torch.linalg.eigh(G)
    evals = evals.clamp_min(FLOOR * evals.max())
    A = evecs @ torch.diag(evals.sqrt()) @ evecs.T
    A_inv = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    W, b = head.weight.double(), head.bias.double()
    W1, b1 = first.weight.double(), first.bias.double()
    head.weight.copy_(A @ W)
    head.bias.copy_(A @ (b - mean))
    first.bias.copy_(b1 + W1 @ mean)
    first.weight.copy_(W1 @ A_inv)
    return True
