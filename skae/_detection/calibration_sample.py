"""The detector's calibration sample: which training rows are held out, for how long,
and which rows the calibration is computed from.

Two samples, bounded in memory whatever the number of rows seen:

- the *training sample*, a uniform sample (:class:`~.reservoir.Reservoir`) of the rows
  trained on, from which the error scales, code statistics and the robust
  standardisation are computed;
- with ``false_alarm_rate``, the *held-out sample*: rows never trained on, whose scores
  are the conformal calibration scores.

**Which rows are held out.** A row's fate is a deterministic function of the row, not a
fresh draw per call, so that a streamed fit making several passes over the same rows
(``partial_fit`` chunk after chunk, ``skae fit --chunk-rows``) holds out the same rows
in every pass. Each row gets a 64-bit key: a hash of its values (as float32) and of how
many identical rows came before it in its chunk, salted by a seed drawn once per fit
from ``random_state``. The key gives the row a priority ``u`` uniform in [0, 1); a row is
held out when ``u`` is below the sample's *cutoff* (``CALIBRATION_FRACTION`` to begin
with, the share ``fit`` held out after a ``fit``).

**For how long.** The held-out sample keeps the rows of the smallest priorities (a
bottom-k sample: a uniform sample of the distinct held-out rows), at most
``MAX_CALIBRATION_SCORES``. When it overflows, the cutoff drops to the priority of the
first row left out: a row stays held out (never trained on) as long as it is in the
sample, and a row left out can only be trained on from then on, never come back. A
row seen again is recognised by its key and **counted once**.

**What "the same row" means.** Rows equal in every column are told apart only by their
rank among the equal rows of their chunk. Re-reading the same chunks (what ``skae fit
--chunk-rows`` does) gives every row the key it had; a row that is unique in the data
has one key however the data is chunked. Copies of a row that recur across chunks share
keys: on data with many exact duplicates (discrete tables) the held-out sample then
counts such a copy once, so it holds fewer rows than 20% of the stream, and a copy held
out in one chunk is held out in all (never one copy trained on and its twin held out).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import check_random_state

from . import conformal
from .reservoir import Reservoir

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z):
    """SplitMix64's finaliser on an array of uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def row_keys(X, seed):
    """A 64-bit key per row of X: its float32 values and its rank among the equal rows
    before it in X, hashed with ``seed``."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32) + np.float32(0.0))  # -0 is 0
    if X.shape[1] % 2:  # two float32 values per uint64 word
        X = np.column_stack([X, np.zeros(len(X), np.float32)])
    words = X.view(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(X), np.uint64(seed) * _GOLDEN + _GOLDEN, dtype=np.uint64)
        for j in range(words.shape[1]):
            h = _mix(h ^ (words[:, j] + _GOLDEN * np.uint64(j + 1)))
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        starts = np.r_[True, ordered[1:] != ordered[:-1]] if len(h) else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(starts, np.arange(len(h)), 0))
        rank = np.empty(len(h), dtype=np.uint64)
        rank[order] = (np.arange(len(h)) - first).astype(np.uint64)
        return _mix(h ^ _mix(rank + _GOLDEN))


def priorities(keys):
    """Each key's priority, uniform in [0, 1): its top 53 bits."""
    return (keys >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass(frozen=True)
class CalibrationSample:
    """The training sample and, with ``false_alarm_rate``, the held-out sample (see the
    module's docstring). Immutable: every update returns a new sample, so a failed fit
    that restores the previous state restores the previous sample too."""

    training: Reservoir
    holds_out: bool
    seed: int
    cutoff: float = conformal.CALIBRATION_FRACTION
    held_rows: np.ndarray | None = None  # (k, n_features) float32, never trained on
    held_keys: np.ndarray | None = None  # (k,) uint64

    @classmethod
    def start(cls, n_features, reservoir_size, hold_out, random_state):
        """An empty sample, for the first ``partial_fit``."""
        rng = check_random_state(random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        return cls(
            Reservoir(reservoir_size, n_features, random_state),
            bool(hold_out),
            seed,
            held_rows=np.empty((0, n_features), np.float32) if hold_out else None,
            held_keys=np.empty(0, np.uint64) if hold_out else None,
        )

    @classmethod
    def for_fit(cls, X, reservoir_size, rate, random_state):
        """``(sample, train, rows, held)`` for ``fit`` on X: with a ``rate``, the
        ``conformal.calibration_rows`` rows of smallest priority are held out (``held``,
        else None); ``train`` are the others, and ``rows`` a training sample of at most
        ``reservoir_size`` of them, standing for all of them (so that ``partial_fit``
        adds to it). ``rows`` and ``held`` keep X's dtype (the sample stores float32)."""
        sample = cls.start(X.shape[1], reservoir_size, rate is not None, random_state)
        train, held_rows = X, None
        if rate is not None:
            n_cal = conformal.calibration_rows(len(X), rate)
            keys = row_keys(X, sample.seed)
            u = priorities(keys)
            order = np.argsort(u, kind="stable")
            held = np.zeros(len(X), bool)
            held[order[:n_cal]] = True
            cutoff = float(u[order[n_cal]]) if n_cal < len(X) else 1.0
            train, held_rows = X[~held], X[held]
            sample = replace(
                sample,
                cutoff=cutoff,
                held_rows=np.asarray(X[held], np.float32),
                held_keys=keys[held],
            )
        rows = train
        if len(train) > reservoir_size:
            rng = check_random_state(random_state)
            rows = train[np.sort(rng.choice(len(train), reservoir_size, replace=False))]
        training = Reservoir.of(rows, len(train), reservoir_size, random_state)
        return replace(sample, training=training), train, rows, held_rows

    def add(self, X):
        """``(new sample, rows of X to train on)``: X's rows whose priority is below the
        cutoff join the held-out sample (once: a row it holds already is not added
        again) and are not trained on; the others join the training sample."""
        if not self.holds_out:
            return replace(self, training=self.training.add(X)), X
        keys = row_keys(X, self.seed)
        held = priorities(keys) < self.cutoff
        train = X[~held]
        fresh = held.copy()
        fresh[held] = ~np.isin(keys[held], self.held_keys)
        rows = np.concatenate([self.held_rows, np.asarray(X[fresh], np.float32)])
        all_keys = np.concatenate([self.held_keys, keys[fresh]])
        cutoff = self.cutoff
        size = conformal.MAX_CALIBRATION_SCORES
        if len(all_keys) > size:
            order = np.argsort(priorities(all_keys), kind="stable")
            cutoff = float(priorities(all_keys[order[size : size + 1]])[0])
            keep = np.sort(order[:size])
            rows, all_keys = rows[keep], all_keys[keep]
        new = replace(
            self,
            training=self.training.add(train),
            cutoff=cutoff,
            held_rows=rows,
            held_keys=all_keys,
        )
        return new, train

    @property
    def held_out(self):
        """The held-out rows (never trained on), or None without a hold-out."""
        return self.held_rows if self.holds_out else None

    @property
    def rows(self):
        """The training sample's rows."""
        return self.training.rows

    @property
    def n_seen(self):
        """Rows trained on (fit's and every chunk's), each pass counted."""
        return self.training.n_seen

    def calibration_rows(self, limit):
        """The rows the calibration scores come from, at most ``limit``: the held-out
        rows with a hold-out, else the training sample's."""
        source = self.held_rows if self.holds_out else self.training.rows
        return source[:limit]
