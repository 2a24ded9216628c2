"""Split-conformal calibration: a false-alarm rate that holds, and p-values.

Rows held out of training score like new rows drawn the same way (they are
exchangeable), so their scores, sorted, give each new row a p-value

    p = (1 + #{calibration scores <= score}) / (n + 1)        (higher score = more normal)

with ``P(p <= t) <= t`` for a new row drawn like them, for every ``t``; flagging rows
with ``p <= rate`` flags such a row with probability at most ``rate`` (and at least
``rate - 1 / (n + 1)``). The threshold on the score that does exactly that is one of the
calibration scores (:func:`conformal_offset`).
"""

from __future__ import annotations

import math

import numpy as np

# The share of the training rows held out to calibrate when a false-alarm rate is set,
# and the most calibration scores a detector keeps (and its exported graph holds).
CALIBRATION_FRACTION = 0.2
MAX_CALIBRATION_SCORES = 10_000
# The calibration scores kept for p-values when no rate is set (training rows' scores).
TRAINING_SCORES_KEPT = 2_000


def needed_rows(rate):
    """The fewest calibration rows with which a row can be flagged at ``rate`` at all:
    ``floor(rate * (n + 1)) >= 1``."""
    return math.ceil(1.0 / rate) - 1


def calibration_rows(n_rows, rate):
    """How many of ``n_rows`` training rows to hold out: ``CALIBRATION_FRACTION`` of
    them, at most ``MAX_CALIBRATION_SCORES``; ValueError when that is too few for
    ``rate``, naming what would do."""
    n_cal = min(int(CALIBRATION_FRACTION * n_rows), MAX_CALIBRATION_SCORES)
    need = needed_rows(rate)
    if n_cal < need:
        raise ValueError(
            f"false_alarm_rate={rate} needs at least {need} calibration rows, held out of "
            f"the training rows ({CALIBRATION_FRACTION:.0%} of them); these {n_rows} rows "
            f"give {n_cal}. Fit on at least {math.ceil(need / CALIBRATION_FRACTION)} rows, "
            "or raise false_alarm_rate."
        )
    return n_cal


def split(n_rows, n_cal, rng):
    """Random (training, calibration) row indices, each sorted."""
    order = rng.permutation(n_rows)
    return np.sort(order[n_cal:]), np.sort(order[:n_cal])


def sorted_scores(scores, keep, rng):
    """At most ``keep`` of the scores (a uniform sample when there are more), sorted."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) > keep:
        scores = scores[rng.choice(len(scores), keep, replace=False)]
    return np.sort(scores)


def conformal_offset(calibration, rate):
    """The threshold on ``score_samples`` that flags a row (``score < offset``) exactly
    when its p-value is at most ``rate``: the ``floor(rate (n + 1))``-th smallest
    calibration score (below the lowest, nothing is flagged)."""
    m = math.floor(rate * (len(calibration) + 1)) - 1
    if m < 0:
        return -math.inf
    return float(calibration[m])


def pvalues(calibration, scores):
    """``(1 + #{calibration <= score}) / (n + 1)`` for each score."""
    counts = np.searchsorted(calibration, np.asarray(scores, dtype=np.float64), side="right")
    return (1.0 + counts) / (len(calibration) + 1.0)
