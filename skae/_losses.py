"""Reconstruction losses, likelihoods and the KL term, elementwise or per sample.

Every function returns one value per element or per sample (never a batch mean), so the
same code gives training losses (the engine averages), ``score_samples`` (minus the
per-sample loss) and ``feature_errors`` (the elementwise loss).
"""

from __future__ import annotations

import math

from torch.nn import functional as F

RECONSTRUCTION_LOSSES = ("mse", "bce", "mae", "huber")
LIKELIHOODS = ("gaussian", "bernoulli")

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def elementwise_loss(kind, logits, x, activate):
    """Elementwise reconstruction loss, shape ``(n, n_features)``.

    Parameters
    ----------
    kind : {"mse", "bce", "mae", "huber"}
        "bce" is the Bernoulli negative log-likelihood computed from the logits
        (``binary_cross_entropy_with_logits``: stable for any logit).
    logits : torch.Tensor
        The decoder's pre-activation output.
    x : torch.Tensor
        The target.
    activate : callable
        The output activation, logits -> reconstruction (ignored for "bce").
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    x_hat = activate(logits)
    if kind == "mse":
        return (x_hat - x).square()
    if kind == "mae":
        return (x_hat - x).abs()
    if kind == "huber":
        return F.huber_loss(x_hat, x, reduction="none", delta=1.0)
    raise ValueError(f"Unknown loss {kind!r}; expected one of {RECONSTRUCTION_LOSSES}.")


def mean_loss(kind, logits, x, activate):
    """The batch mean of :func:`elementwise_loss`, through torch's fused reductions.

    Equal to ``elementwise_loss(...).mean()`` (every row has the same number of features)
    but one kernel forward and backward instead of three: it matters for small networks,
    whose training steps are dominated by per-operation overhead.
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x)
    x_hat = activate(logits)
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    if kind == "mae":
        return F.l1_loss(x_hat, x)
    if kind == "huber":
        return F.huber_loss(x_hat, x, delta=1.0)
    raise ValueError(f"Unknown loss {kind!r}; expected one of {RECONSTRUCTION_LOSSES}.")


def trimmed_mean(per_sample, fraction):
    """Mean of the per-sample losses after dropping the highest ``fraction`` of them.

    Training data for anomaly detection contains anomalies; leaving the worst-fitting rows
    of each minibatch out of the gradient keeps the network from learning them.
    """
    keep = max(1, int(math.ceil((1.0 - fraction) * per_sample.shape[0])))
    if keep >= per_sample.shape[0]:
        return per_sample.mean()
    return per_sample.topk(keep, largest=False, sorted=False).values.mean()


def elementwise_nll(likelihood, logits, x):
    """Elementwise negative log-likelihood of ``x`` under the decoder's distribution.

    "gaussian" is a unit-variance Gaussian with mean ``logits``; "bernoulli" has logits
    ``logits``.
    """
    if likelihood == "gaussian":
        return 0.5 * (x - logits).square() + _HALF_LOG_2PI
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}.")


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, shape ``(n,)``."""
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=1)
