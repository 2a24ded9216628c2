"""Helpers shared by the benchmark scripts (timing, tables, data)."""

from __future__ import annotations

import os
import time

import numpy as np

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "adbench")


def low_rank_data(n_samples, n_features=100, rank=8, noise=0.1, seed=0, chunk=10_000, basis_seed=0):
    """Low-rank Gaussian data plus noise, float32, roughly standardised.

    ``basis_seed`` picks the subspace and ``seed`` the rows in it, so rows drawn with
    another ``seed`` come from the same distribution (training and held-out rows).
    Built in chunks, so generating it never needs more memory than the result plus a
    few MiB (the memory benchmark measures growth above it).
    """
    basis = np.random.RandomState(basis_seed).normal(size=(rank, n_features)) / np.sqrt(rank)
    rng = np.random.RandomState(seed + 1_000_003)
    X = np.empty((n_samples, n_features), dtype=np.float32)
    for start in range(0, n_samples, chunk):
        m = min(chunk, n_samples - start)
        X[start : start + m] = rng.normal(size=(m, rank)) @ basis + noise * rng.normal(
            size=(m, n_features)
        )
    return X


def single_thread():
    """Pin torch and the BLAS libraries to one thread, as the peers are measured."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    return threadpool_limits(1)


def latencies(fn, repeats, warmup=20):
    """Per-call wall times in seconds."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out


def table(rows, headers):
    """A GitHub-markdown table as a string."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    lines = [fmt.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)
