"""Split-conformal calibration: a false-alarm rate that holds, and p-values.

Rows held out of training score like new rows drawn the same way (they are
exchangeable), so their scores, sorted, give each new row a p-value

    p = (1 + #{calibration scores <= score}) / (n + 1)        (higher score = more normal)

with ``P(p <= t) <= t`` for a new row drawn like them, for every ``t``; flagging rows
with ``p <= rate`` flags such a row with probability at most ``rate`` (and at least
``rate - 1 / (n + 1)``). The threshold on the score that does exactly that is
:func:`conformal_offset`.

**Ties.** Scores that tie up to rounding (discrete data; float64 in Python, float32 in
the graph) count as one value: a calibration score ``c`` counts as at or below ``s`` when
``s >= c - tie_width(c)`` (:mod:`skae._ties`, shared with the graph and the drift
check). Counting more calibration scores can only raise a p-value, so the guarantee
holds with ties; it is conservative by the calibration scores within a tie width above
``s`` (about none on continuous data).
"""

from __future__ import annotations

import math

import numpy as np

from .._ties import thresholds, tie_widths

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


def sorted_scores(scores, keep, rng):
    """At most ``keep`` of the scores (a uniform sample when there are more), sorted."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) > keep:
        scores = scores[rng.choice(len(scores), keep, replace=False)]
    return np.sort(scores)


def conformal_offset(calibration, rate):
    """The threshold on ``score_samples`` that flags a row (``score < offset``) exactly
    when its p-value is at most ``rate``: the lower end of the tie group of the
    ``floor(rate (n + 1))``-th smallest calibration score (below the lowest, nothing is
    flagged). It lies between distinct scores, so rounding does not move a tied row
    across it."""
    m = math.floor(rate * (len(calibration) + 1)) - 1
    if m < 0:
        return -math.inf
    return float(thresholds(calibration)[m])


def off_ties(offset, scores):
    """``offset``, or, when it falls in a tie group of ``scores`` (any order), the end of
    that group that leaves the share of scores below it nearer the share below
    ``offset``: the lower end (the group not flagged) or just above its top score."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if not len(s) or not np.isfinite(offset):
        return offset
    widths = tie_widths(s, s)
    lo = int(np.searchsorted(s + widths, offset, "left"))  # first s with s + w >= offset
    if lo == len(s) or s[lo] - widths[lo] > offset:
        return offset  # no score ties with the offset
    hi = lo
    while lo > 0 and s[lo] - s[lo - 1] <= widths[lo]:
        lo -= 1
    while hi + 1 < len(s) and s[hi + 1] - s[hi] <= widths[hi + 1]:
        hi += 1
    below, wanted = lo, np.searchsorted(s, offset, "left")
    if (hi + 1) - wanted < wanted - below:
        above = s[hi] + widths[hi]
        return float(above if hi + 1 == len(s) else min(above, (s[hi] + s[hi + 1]) / 2))
    return float(s[lo] - widths[lo])


def pvalues(calibration, scores):
    """``(1 + #{calibration <= score}) / (n + 1)`` for each score, a calibration score
    counted when the score is within its tie width of it (:func:`thresholds`)."""
    counts = np.searchsorted(
        thresholds(calibration), np.asarray(scores, dtype=np.float64), side="right"
    )
    return (1.0 + counts) / (len(calibration) + 1.0)
