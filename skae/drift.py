"""Has the traffic stopped looking like the training data? A drift check on scored rows.

Rows drawn like a detector's calibration rows have scores distributed like the
calibration scores, which an exported model carries; a two-sample Kolmogorov-Smirnov test
between a batch's scores and them (whose p-value accounts for both sample sizes) says
when a batch is unlikely to come from that distribution. ``skae score`` runs it on every
table it scores; :class:`DriftCheck` runs it on results scored anywhere (Dask, Spark,
chunk by chunk), in memory bounded by the calibration sample, not the batch.

Scores that tie up to rounding (discrete data: the graph's float32 scores against the
calibration scores computed in float64) are one value here as in the p-values
(:mod:`skae._ties`): a tie group is never split across the two samples. The statistic is
computed exactly; its p-value is the asymptotic one (Stephens' approximation, as
``scipy.stats.ks_2samp(method="asymp")``), conservative when the scores take few
distinct values.

Torch-free: numpy and the model's metadata only.

Examples
--------
::

    from skae.drift import check_drift
    from skae.onnx import load_onnx
    model = load_onnx("model.onnx")
    report = check_drift(model, scored)       # scored: score_frame / score_dask output
    print(report.summary())
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import _schema
from ._ties import tie_widths

# A batch whose scores are this unlikely under the calibration scores' distribution is
# reported as drift (the test's p-value; a batch drawn like the calibration rows is
# reported once in a thousand batches, whatever its size).
DRIFT_P_VALUE = 1e-3
# A column is named as one whose errors moved when its share of the rows' top_feature
# grew beyond chance: a one-sided two-proportion test against the calibration share,
# Holm-corrected over the columns at this family-wise level.
COLUMN_P_VALUE = 1e-2


def kolmogorov_sf(statistic, n, m):
    """P(D >= statistic) for the two-sample Kolmogorov-Smirnov statistic of samples of
    sizes n and m: the asymptotic distribution, with Stephens' correction for the
    effective size ``n m / (n + m)`` (as ``scipy.stats.ks_2samp(method="asymp")``)."""
    if statistic <= 0:
        return 1.0
    size = n * m / (n + m)
    lam = (math.sqrt(size) + 0.12 + 0.11 / math.sqrt(size)) * statistic
    terms = [(-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101)]
    return float(min(1.0, max(0.0, 2.0 * sum(terms))))


@dataclass
class DriftReport:
    """What :class:`DriftCheck` found.

    Attributes
    ----------
    rows, flagged : int
        Rows scored, and flagged as outliers.
    expected_share : float or None
        The share of normal rows the model flags by design: its ``false_alarm_rate``, or
        its ``contamination`` (then the share of training rows flagged).
    statistic, p_value : float or None
        The two-sample Kolmogorov-Smirnov statistic between the batch's scores and the
        calibration scores, and its p-value (None without calibration scores).
    drift : bool
        ``p_value < DRIFT_P_VALUE``.
    columns : list of (str, float, float)
        ``(column, share of rows it explains now, share at calibration)`` for the columns
        whose share as ``top_feature`` grew significantly (a one-sided two-proportion
        test per column against its share among the calibration rows, Holm-corrected at
        ``COLUMN_P_VALUE`` over the columns), largest growth first. A column that
        explains a few more rows than at calibration by chance is not named.
    held_out : bool
        Whether the calibration scores are of rows held out of training (the test's
        premise); training rows score better than new ones, so without a held-out
        sample the test is not run.
    """

    rows: int
    flagged: int
    expected_share: float | None
    expectation: str
    statistic: float | None
    p_value: float | None
    drift: bool
    columns: list = field(default_factory=list)
    held_out: bool = True

    @property
    def flagged_share(self):
        return self.flagged / self.rows if self.rows else 0.0

    def summary(self):
        """One line: rows, the share flagged against the expected one, and drift."""
        p = "< 1e-300" if self.p_value == 0 else f"= {self.p_value:.2g}" if self.p_value else ""
        line = f"{self.rows} rows, {self.flagged} flagged ({self.flagged_share:.2%}"
        line += f"; {self.expectation})" if self.expectation else ")"
        if self.p_value is None:
            if not self.held_out:
                line += (
                    "; no drift check (the model has no held-out calibration scores: "
                    "fit it with false_alarm_rate)"
                )
            return line
        if self.drift:
            moved = ", ".join(
                f"{c} ({now:.1%} of rows, {then:.1%} at calibration)"
                for c, now, then in self.columns[:3]
            )
            line += (
                f"; drift: the scores are unlikely to come from the calibration scores' "
                f"distribution (Kolmogorov-Smirnov p {p})"
                + (f"; the errors moved most in {moved}" if moved else "")
            )
        else:
            line += (
                f"; scores like the calibration rows' (Kolmogorov-Smirnov p = {self.p_value:.2g})"
            )
        return line


class DriftCheck:
    """Accumulate scored rows, chunk after chunk; :meth:`report` tests them for drift.

    Parameters
    ----------
    model : skae.onnx.OnnxModel
        The exported detector that scored the rows.

    Memory is bounded by the calibration sample: each chunk adds counts per calibration
    score (per tie group of them), so the statistic is exact however many rows arrive.
    """

    def __init__(self, model):
        meta = model.metadata
        scores = meta.get(_schema.META_CALIBRATION_SCORES)
        self._values, self._cumulative = None, None
        if scores:
            calibration = np.sort(np.asarray(json.loads(scores), float))
            lower, upper, counts = _tie_groups(calibration)
            # a batch score is at or below group i when s <= upper[i], below it when
            # s < lower[i] (scores within a tie width of the group are in it)
            self._values, self._cumulative = (lower, upper), np.cumsum(counts)
            self._at = np.zeros(len(counts) + 1, np.int64)  # batch scores by #upper < s
            self._below = np.zeros(len(counts) + 1, np.int64)  # by #lower <= s
        self.held_out = meta.get(_schema.META_CALIBRATION) == _schema.CALIBRATION_HELD_OUT
        self.offset = model.offset_ or 0.0
        self.rate = _float(meta.get(_schema.META_FALSE_ALARM_RATE))
        self.contamination = meta.get(_schema.META_CONTAMINATION)
        shares = meta.get(_schema.META_CALIBRATION_TOP_FEATURES)
        self._calibration_shares = json.loads(shares) if shares else {}
        self._features = {}
        self.rows = self.flagged = 0

    def update(self, scored):
        """Add scored rows: a DataFrame with ``score`` (``decision_function``), and
        ``label`` and ``top_feature`` where it has them (``score_frame``'s columns)."""
        score = np.asarray(scored["score"], dtype=np.float64)
        self.rows += len(score)
        labels = scored["label"] if "label" in scored else np.where(score < 0, -1, 1)
        self.flagged += int((np.asarray(labels) == -1).sum())
        if "top_feature" in scored:
            for name, count in zip(
                *np.unique(np.asarray(scored["top_feature"], dtype=str), return_counts=True),
                strict=True,
            ):
                self._features[name] = self._features.get(name, 0) + int(count)
        if self._values is not None and self.held_out:
            raw = score + self.offset  # score_samples, as the calibration scores are
            lower, upper = self._values
            self._at += np.bincount(np.searchsorted(upper, raw, "left"), minlength=len(self._at))
            self._below += np.bincount(
                np.searchsorted(lower, raw, "right"), minlength=len(self._below)
            )
        return self

    def statistic(self):
        """The two-sample Kolmogorov-Smirnov statistic, exact: the largest gap between
        the two distribution functions, at the calibration values (tie groups) and just
        below them."""
        n, big_n = int(self._cumulative[-1]), self.rows
        cal_at = self._cumulative / n  # F_cal(v_i)
        cal_below = np.r_[0, self._cumulative[:-1]] / n  # F_cal just below v_i
        batch_at = np.cumsum(self._at)[:-1] / big_n  # F_batch(v_i): scores <= v_i
        batch_below = np.cumsum(self._below)[:-1] / big_n  # scores < v_i
        return float(max(np.abs(batch_at - cal_at).max(), np.abs(batch_below - cal_below).max()))

    def report(self):
        """The :class:`DriftReport` of the rows added so far."""
        statistic = p_value = None
        if self._values is not None and self.held_out and self.rows:
            statistic = self.statistic()
            p_value = kolmogorov_sf(statistic, int(self._cumulative[-1]), self.rows)
        drift = p_value is not None and p_value < DRIFT_P_VALUE
        return DriftReport(
            rows=self.rows,
            flagged=self.flagged,
            expected_share=self.rate if self.rate is not None else _float(self.contamination),
            expectation=self._expectation(),
            statistic=statistic,
            p_value=p_value,
            drift=drift,
            columns=self._moved() if drift else [],
            held_out=self.held_out,
        )

    def _expectation(self):
        if self.rate is not None:
            return (
                f"false-alarm rate {self.rate:.2%}: on average over fits, normal rows are "
                "flagged at most that often; one fit's share, and one table's, can be higher"
            )
        share = _float(self.contamination)
        if share is not None:
            return f"{share:.2%} of the training rows by the contamination"
        return ""

    def _moved(self):
        """The columns that explain significantly more rows than at calibration (see
        ``DriftReport.columns``), largest growth first."""
        n_now = sum(self._features.values())
        n_then = int(self._cumulative[-1]) if self._cumulative is not None else 0
        if not n_now or not n_then:
            return []
        tests = []
        for name in set(self._features) | set(self._calibration_shares):
            now = self._features.get(name, 0) / n_now
            then = float(self._calibration_shares.get(name, 0.0))
            tests.append((grew_p_value(now, n_now, then, n_then), name, now, then))
        tests.sort()
        moved = []
        for rank, (p_value, name, now, then) in enumerate(tests):  # Holm's step-down
            if p_value > COLUMN_P_VALUE / (len(tests) - rank):
                break
            moved.append((name, now, then))
        return sorted(moved, key=lambda g: g[2] - g[1])


def grew_p_value(now, n_now, then, n_then):
    """One-sided p-value that a share ``now`` of ``n_now`` rows exceeds a share ``then``
    of ``n_then`` rows by chance: the two-proportion z-test with a pooled variance
    (normal approximation; 1.0 when the share did not grow)."""
    if now <= then:
        return 1.0
    pooled = (now * n_now + then * n_then) / (n_now + n_then)
    spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_now + 1.0 / n_then))
    if spread == 0:
        return 1.0
    return 0.5 * math.erfc((now - then) / spread / math.sqrt(2.0))


def _tie_groups(calibration):
    """``(lower, upper, counts)`` of the sorted calibration scores' tie groups: scores
    within a tie width of the next are one group (:mod:`skae._ties`); ``lower`` and
    ``upper`` are the group's ends widened by a tie width."""
    widths = tie_widths(calibration, calibration)
    starts = np.r_[True, np.diff(calibration) > widths[1:]]
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(calibration)] - 1
    counts = last - first + 1
    return calibration[first] - widths[first], calibration[last] + widths[last], counts


def check_drift(model, scored):
    """Test scored rows for drift against the model's calibration scores.

    Parameters
    ----------
    model : skae.onnx.OnnxModel
        The exported detector (``load_onnx``).
    scored : pandas.DataFrame
        Its rows scored: ``score`` and, where present, ``label`` and ``top_feature``
        (as :func:`skae.scoring.score_frame`, ``score_dask`` and ``score_spark`` give).

    Returns
    -------
    report : DriftReport
    """
    return DriftCheck(model).update(scored).report()


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "COLUMN_P_VALUE",
    "DRIFT_P_VALUE",
    "DriftCheck",
    "DriftReport",
    "check_drift",
    "grew_p_value",
    "kolmogorov_sf",
]
