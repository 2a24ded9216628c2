"""The private random streams of a fit: torch's global generator is never used.

A fit draws everything (initial weights, shuffling, the validation split, input noise,
dropout masks, the VAE's reparameterisation noise) from :class:`torch.Generator` objects
of its own, so fits with the same seed are identical whichever thread runs them, and a
fit never moves anyone else's ``torch.rand`` stream.

The networks draw their training-time noise through :func:`randn_like` and
:func:`rand_like`, which read the generator that :func:`drawing_from` installs for the
current thread (None outside a fit: then torch's default generator, as any torch module).
"""

from __future__ import annotations

import contextlib
import threading

import torch

_local = threading.local()


def generator(seed, device="cpu"):
    """A new generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


@contextlib.contextmanager
def drawing_from(gen):
    """Make :func:`randn_like` / :func:`rand_like` draw from ``gen`` in this thread."""
    previous = getattr(_local, "generator", None)
    _local.generator = gen
    try:
        yield gen
    finally:
        _local.generator = previous


def current():
    """The generator installed by :func:`drawing_from` in this thread, or None."""
    return getattr(_local, "generator", None)


def randn_like(x):
    """Standard normal draws shaped like ``x``, from the current fit's generator."""
    return torch.randn(x.shape, generator=current(), dtype=x.dtype, device=x.device)


def rand_like(x):
    """Uniform [0, 1) draws shaped like ``x``, from the current fit's generator."""
    return torch.rand(x.shape, generator=current(), dtype=x.dtype, device=x.device)
