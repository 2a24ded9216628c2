"""Tie groups of detector scores, defined once for every place that compares scores.

A score is computed in float64 in Python and in float32 in the exported graph, and on
discrete data many rows score the same: the members of a tie group then differ by
rounding (1e-16 between batchings in float64, about 1e-6 of the scores' scale in
float32). The detector's p-values and threshold (:mod:`skae._detection.conformal`), the
graph's p-values and the drift check (:mod:`skae.drift`) all treat scores within
:func:`tie_widths` of each other as equal, so a whole tie group falls on one side of any
comparison, wherever it is computed.

Torch-free and scipy-free (numpy only): the scoring install uses it.
"""

from __future__ import annotations

import numpy as np

# Scores within this share of (their size plus the calibration scores' scale) of each
# other are one tie group: far above float32 rounding of a score (about 1e-6 of the
# scale), far below the gap between distinct scores of discrete data.
TIE_TOLERANCE = 5e-5


def tie_widths(values, calibration):
    """How far below each of ``values`` a score still ties with it: ``TIE_TOLERANCE``
    times (``|value|`` plus the scale of the sorted ``calibration`` scores, their 90th
    percentile of ``|c|``: rounding is relative to the size of the terms a score sums,
    not to the score, which can be near 0)."""
    values = np.asarray(values, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    scale = float(np.percentile(np.abs(calibration), 90)) if len(calibration) else 0.0
    if not scale > 0:
        scale = float(np.abs(calibration).max()) if len(calibration) else 0.0
    return TIE_TOLERANCE * (np.abs(values) + (scale if scale > 0 else 1.0))


def thresholds(calibration):
    """The lower end of each sorted calibration score's tie group, ``c - tie_width(c)``
    (sorted too): a score ``s`` counts ``c`` as at or below it when ``s >= threshold``.
    The exported graph holds these (as float32) and compares them as Python does."""
    calibration = np.asarray(calibration, dtype=np.float64)
    return calibration - tie_widths(calibration, calibration)
