"""Reconstruction losses, likelihoods and the KL term, elementwise or per sample.

The losses are given per element or per sample, so the same code gives training losses
(reduced by :func:`mean_loss`, its fused batch mean, or :func:`trimmed_mean`),
``score_samples`` (minus the per-sample loss) and ``feature_errors`` (the elementwise
loss). Everything used at
inference is written with operations that export to ONNX.
"""

from __future__ import annotations

import functools
import math

import torch
from torch.nn import functional as F

HUBER_DELTA = 1.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _huber(r):
    # Written out: torch's huber_loss has no ONNX export.
    d = r.abs()
    return torch.where(d <= HUBER_DELTA, 0.5 * d * d, HUBER_DELTA * (d - 0.5 * HUBER_DELTA))


# The losses that are a function of the residual ``reconstruction - x`` alone, elementwise.
_RESIDUAL = {"mse": lambda r: r * r, "mae": torch.abs, "huber": _huber}

# kind -> the batch mean of the elementwise loss through one fused torch kernel. "bce"
# works on the logits instead (see elementwise_loss).
_FUSED = {
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": functools.partial(F.huber_loss, delta=HUBER_DELTA),
    "bce": F.binary_cross_entropy_with_logits,
}
RECONSTRUCTION_LOSSES = tuple(_FUSED)
LIKELIHOODS = ("gaussian", "bernoulli")


def _lookup(table, kind):
    try:
        return table[kind]
    except KeyError:
        raise ValueError(f"Unknown loss {kind!r}; expected one of {tuple(table)}.") from None


def residual_loss(kind, residual):
    """Elementwise loss from the residual ``reconstruction - x`` ("mse", "mae", "huber")."""
    return _lookup(_RESIDUAL, kind)(residual)


def bernoulli_nll(logits, x):
    """Elementwise binary cross-entropy from logits, ``max(z, 0) - x z + log(1 + e^-|z|)``:
    stable for any logit, and written out (torch's fused version checks sizes with Python
    code that the ONNX tracer warns about)."""
    return torch.relu(logits) - x * logits + torch.log1p(torch.exp(-logits.abs()))


def elementwise_loss(kind, logits, x, activate):
    """Elementwise reconstruction loss, shape ``(..., n_features)``.

    Parameters
    ----------
    kind : {"mse", "bce", "mae", "huber"}
        "bce" is the Bernoulli negative log-likelihood computed from the logits
        (``binary_cross_entropy_with_logits``: stable for any logit); "huber" has delta=1.
    logits : torch.Tensor
        The decoder's pre-activation output.
    x : torch.Tensor
        The target.
    activate : callable
        The output activation, logits -> reconstruction (ignored for "bce").
    """
    _lookup(_FUSED, kind)  # an unknown kind raises
    if kind == "bce":
        return bernoulli_nll(logits, x)
    return _RESIDUAL[kind](activate(logits) - x)


def mean_loss(kind, logits, x, activate):
    """The batch mean of :func:`elementwise_loss`, through torch's fused reductions.

    Equal to ``elementwise_loss(...).mean()`` (every row has the same number of features)
    but one kernel forward and backward instead of three: it matters for small networks,
    whose training steps are dominated by per-operation overhead.
    """
    fused = _lookup(_FUSED, kind)
    return fused(logits if kind == "bce" else activate(logits), x)


def trimmed_mean(per_sample, fraction, dim=-1):
    """Mean of the per-sample losses after dropping the highest ``fraction`` of them.

    Training data for anomaly detection contains anomalies; leaving the worst-fitting rows
    of each minibatch out of the gradient keeps the network from learning them. ``dim``
    is the sample axis (a stacked ensemble trims each member's row of losses).
    """
    n = per_sample.shape[dim]
    keep = max(1, int(math.ceil((1.0 - fraction) * n)))
    if keep >= n:
        return per_sample.mean(dim=dim)
    return per_sample.topk(keep, dim=dim, largest=False, sorted=False).values.mean(dim=dim)


def elementwise_nll(likelihood, logits, x):
    """Elementwise negative log-likelihood of ``x`` under the decoder's distribution.

    "gaussian" is a unit-variance Gaussian with mean ``logits``; "bernoulli" has logits
    ``logits``.
    """
    if likelihood == "gaussian":
        return 0.5 * (x - logits).square() + _HALF_LOG_2PI
    if likelihood == "bernoulli":
        return bernoulli_nll(logits, x)
    raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}.")


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, shape ``(n,)``."""
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=-1)


def umap_cross_entropy(z, heads, tails, negative_heads, negatives, a, b, eps=1e-3):
    """UMAP's cross-entropy between a fuzzy graph and the codes' similarities, per edge.

    The similarity of two codes at squared distance ``s`` is ``q = 1 / (1 + a s^b)``;
    a sampled edge ``(heads, tails)`` costs ``-log q`` (attraction) and each negative
    pair ``(negative_heads, negatives)`` costs ``-log(1 - q)`` (repulsion), both written
    as softplus of ``log(a) + b log(s)`` so that neither overflows. ``eps`` is added to
    ``s``: ``s^b`` (b < 1) has an infinite gradient at 0, and a negative may be the row
    itself. Returns the sum over pairs divided by the number of edges (a scalar; 0 when
    no edge was sampled).
    """
    n_edges = heads.shape[0]
    if n_edges == 0:
        return z.sum() * 0.0
    first = torch.cat([heads, negative_heads])
    second = torch.cat([tails, negatives])
    gap = z.index_select(0, first) - z.index_select(0, second)
    logit = math.log(a) + b * torch.log(gap.square().sum(dim=-1) + eps)
    attraction = F.softplus(logit[:n_edges]).sum()
    repulsion = F.softplus(-logit[n_edges:]).sum()
    return (attraction + repulsion) / n_edges
