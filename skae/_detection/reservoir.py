"""A uniform random sample of bounded size of all the rows seen, chunk after chunk."""

from __future__ import annotations

import copy

import numpy as np
from sklearn.utils import check_random_state


class Reservoir:
    """Reservoir sampling (Vitter's algorithm R): at most ``size`` rows, each row seen so
    far equally likely to be among them, in memory bounded by ``size``.

    :meth:`add` returns a new reservoir and leaves this one as it was, so a failed call
    that restores the previous state restores the previous sample too.

    Parameters
    ----------
    size : int
        The most rows kept.
    n_features : int
        Row width.
    random_state : int, RandomState instance or None
        Seeds which rows are kept.
    """

    def __init__(self, size, n_features, random_state=None):
        self.size = int(size)
        self.rows = np.empty((0, n_features), dtype=np.float32)
        self.n_seen = 0
        self._rng = check_random_state(random_state)

    @classmethod
    def of(cls, rows, n_seen, size, random_state=None):
        """A reservoir holding ``rows``, a uniform sample of ``n_seen`` rows (``fit``'s
        calibration sample), so that later rows join it as if it had seen them all."""
        reservoir = cls(size, rows.shape[1], random_state)
        reservoir.rows = np.asarray(rows[:size], dtype=np.float32)
        reservoir.n_seen = int(n_seen)
        return reservoir

    def add(self, X):
        """A new reservoir holding a uniform sample of the rows seen and of X."""
        new = copy.copy(self)
        new._rng = copy.deepcopy(self._rng)
        free = max(0, self.size - len(self.rows))
        rows = np.concatenate([self.rows, X[:free]], dtype=np.float32)
        rest = X[free:]
        if len(rest):
            seen = self.n_seen + free + np.arange(len(rest))
            slots = (new._rng.random_sample(len(rest)) * (seen + 1)).astype(np.int64)
            keep = slots < self.size
            # later rows replace earlier ones in the same slot, as in the sequential algorithm
            slots, chosen = slots[keep][::-1], np.flatnonzero(keep)[::-1]
            slots, first = np.unique(slots, return_index=True)
            rows[slots] = rest[chosen[first]]
        new.rows = rows
        new.n_seen = self.n_seen + len(X)
        return new
