"""Running fitted networks over many rows: chunks within scikit-learn's working memory,
and the threads the call's work is worth."""

from __future__ import annotations

import torch
from sklearn.utils import gen_batches
from sklearn.utils._chunking import get_chunk_n_rows  # as IsolationForest does

from .._train.threads import mlp_flops, num_threads, resolve_threads

# Below this many floating-point operations in all (the networks' forward products over
# every row), an inference call with n_jobs=None runs on one thread and skips the
# busy-machine check of resolve_threads, which takes about 1 ms: on a quiet machine such
# a call takes up to about 2.5 ms on one thread (the float64 scorer runs at about 4e10
# FLOP/s), so a second thread would save at most what the check costs; on a busy machine
# the check would choose one thread anyway.
ONE_THREAD_CALL_FLOPS = 1e8


def chunk_rows(widths, n_rows):
    """Rows per inference chunk within scikit-learn's ``working_memory``."""
    return get_chunk_n_rows(row_bytes=8 * 3 * int(sum(widths)), max_n_rows=max(n_rows, 1))


def _call_threads(n_jobs, flops_per_row, n_rows, chunk):
    """Torch threads for an inference call of ``n_rows`` rows in chunks of ``chunk``."""
    if n_jobs is None and flops_per_row * n_rows < ONE_THREAD_CALL_FLOPS:
        return 1
    return resolve_threads(n_jobs, flops_per_row * chunk)


@torch.no_grad()
def map_batches(fn, X, networks, n_jobs, *, dtype=torch.float64):
    """``fn`` over the rows of X in chunks, with the threads ``n_jobs`` asks for.

    Parameters
    ----------
    fn : callable
        Takes a ``dtype`` tensor of rows; returns a tensor, or a tuple or list of tensors,
        with the rows first.
    X : ndarray of shape (n_samples, n_features)
        The rows.
    networks : list of list of int
        The layer widths of each network ``fn`` runs: the chunks stay within
        scikit-learn's ``working_memory``, and the work decides the threads.
    n_jobs : int or None
        The estimator's ``n_jobs``.
    dtype : torch.dtype, default=torch.float64
        What the rows are cast to.

    Returns
    -------
    out : ndarray, or list of ndarray
        ``fn``'s output(s), the chunks concatenated.
    """
    rows = chunk_rows([w for widths in networks for w in widths], len(X))
    flops_per_row = sum(mlp_flops(widths, 1) for widths in networks) / 3  # forward only
    with num_threads(_call_threads(n_jobs, flops_per_row, len(X), rows)):
        outs = [
            fn(torch.tensor(X[batch], dtype=dtype)) for batch in gen_batches(max(len(X), 1), rows)
        ]
    if isinstance(outs[0], torch.Tensor):
        return torch.cat(outs).numpy()
    return [torch.cat(parts).numpy() for parts in zip(*outs, strict=True)]
