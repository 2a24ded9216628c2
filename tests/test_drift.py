"""skae.drift: the two-sample Kolmogorov-Smirnov check of scored rows, chunk by chunk."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skae import _schema
from skae.drift import DRIFT_P_VALUE, DriftCheck, check_drift, kolmogorov_sf


class Model:
    """What DriftCheck reads of an OnnxModel: its metadata and offset."""

    def __init__(self, calibration, offset=0.0, held_out=True, rate=0.01, shares=None):
        self.offset_ = offset
        self.metadata = {
            _schema.META_CALIBRATION_SCORES: json.dumps(sorted(map(float, calibration))),
            _schema.META_CALIBRATION: _schema.CALIBRATION_HELD_OUT
            if held_out
            else _schema.CALIBRATION_TRAINING,
            _schema.META_FALSE_ALARM_RATE: repr(rate),
            _schema.META_CALIBRATION_TOP_FEATURES: json.dumps(shares or {}),
        }


def scored(raw, offset=0.0, top=None):
    frame = pd.DataFrame({"score": raw - offset})
    frame["label"] = np.where(frame["score"] < 0, -1, 1)
    if top is not None:
        frame["top_feature"] = top
    return frame


@pytest.mark.parametrize("n, m", [(50, 40), (2000, 10_000), (500, 300_000)])
def test_the_statistic_is_scipys_and_the_p_value_close(n, m):
    rng = np.random.RandomState(0)
    calibration, batch = rng.normal(size=n), rng.normal(0.05, 1, size=m)
    batch[:5] = calibration[:5]  # ties between the samples
    check = DriftCheck(Model(calibration, offset=0.3))
    for part in np.array_split(batch, 7):  # chunk by chunk, as skae score adds them
        check.update(scored(part, offset=0.3))
    expected = stats.ks_2samp(batch, calibration, method="asymp")
    report = check.report()
    # batch scores within a tie width of a calibration score (5e-5 of the scale) count as
    # equal to it: about n m / 1e4 of them here, moving the statistic by about 1 / 1e4
    assert report.statistic == pytest.approx(expected.statistic, abs=1e-4)
    # scipy's Kolmogorov distribution for n m / (n + m) rows; here its asymptotic form
    # with Stephens' correction (no scipy in the scoring install)
    assert report.p_value == pytest.approx(expected.pvalue, rel=0.05, abs=1e-3)


def test_batches_drawn_like_the_calibration_rows_stay_quiet_whatever_their_size():
    rng = np.random.RandomState(1)
    calibration = rng.normal(size=2000)
    alarms = [
        check_drift(Model(calibration), scored(rng.normal(size=size))).drift
        for size in (100, 10_000, 1_000_000)
        for _ in range(5)
    ]
    assert not any(alarms)
    # over calibration draws, the p-values of such batches are uniform
    p_values = [
        check_drift(Model(rng.normal(size=1000)), scored(rng.normal(size=5000))).p_value
        for _ in range(200)
    ]
    assert stats.kstest(p_values, "uniform").pvalue > 1e-3
    assert np.mean(np.array(p_values) < DRIFT_P_VALUE) < 0.02


def test_a_shifted_batch_is_drift_naming_the_columns_whose_errors_moved():
    rng = np.random.RandomState(2)
    model = Model(rng.normal(size=2000), shares={"a": 0.5, "b": 0.5})
    top = np.where(rng.rand(3000) < 0.8, "b", "a")
    report = check_drift(model, scored(rng.normal(-0.3, 1, size=3000), top=top))
    assert report.drift and report.p_value < 1e-6
    assert report.columns[0][0] == "b"
    line = report.summary()
    assert "drift" in line and "3000 rows" in line and "b (" in line


def test_training_scores_give_no_drift_test():
    """Training rows score better than new ones: without held-out calibration scores the
    test would fire on every large batch, so it is not run (and says why)."""
    rng = np.random.RandomState(3)
    report = check_drift(Model(rng.normal(size=500), held_out=False), scored(rng.normal(size=900)))
    assert report.p_value is None and not report.drift
    assert "no drift check" in report.summary()


def test_the_asymptotic_distribution_at_the_edges():
    assert kolmogorov_sf(0.0, 10, 10) == 1.0
    assert kolmogorov_sf(1.0, 1000, 1000) < 1e-100


def test_tied_scores_are_not_split_between_the_samples():
    """A discrete table's scores: the calibration scores (float64, stored to 9 digits)
    and the batch's (float32 from the graph) differ by rounding within a tie group; the
    statistic is scipy's on the exact scores, and a batch drawn like the calibration rows
    is no drift."""
    rng = np.random.RandomState(4)
    values = np.array([-4.1, -2.3, -0.9, 0.0652, 0.31])
    share = [0.05, 0.1, 0.2, 0.4, 0.25]
    calibration = rng.choice(values, 1000, p=share) * (1 + 1e-16 * rng.randn(1000))
    batch = rng.choice(values, 20_000, p=share)
    offset = -2.0
    as_graph = ((batch - offset).astype(np.float32)).astype(np.float64) + offset
    model = Model([float(f"{v:.9g}") for v in calibration], offset=offset)
    report = check_drift(model, scored(as_graph, offset=offset))
    expected = stats.ks_2samp(batch, np.round(calibration, 12), method="asymp")
    assert report.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert report.p_value == pytest.approx(expected.pvalue, rel=0.05, abs=1e-3)
    assert not report.drift


def test_only_columns_whose_share_grew_significantly_are_named():
    """Beside a real shift (b: 20% -> 45%), a column that explains a few more rows than at
    calibration by chance (c: 13.8% -> 14.1%) is not named."""
    rng = np.random.RandomState(5)
    n_cal = 4000
    model = Model(rng.normal(size=n_cal), shares={"a": 0.662, "b": 0.2, "c": 0.138})
    m = 20_000
    top = rng.choice(["a", "b", "c"], size=m, p=[0.409, 0.45, 0.141])
    report = check_drift(model, scored(rng.normal(-0.5, 1, size=m), top=top))
    assert report.drift
    assert [c[0] for c in report.columns] == ["b"]
    assert "b (" in report.summary() and "c (" not in report.summary()


def test_the_column_test_is_a_two_proportion_test():
    from skae.drift import grew_p_value

    # 14.1% of 20,000 against 13.8% of 4,000: z = 0.51, one-sided p = 0.30
    assert grew_p_value(0.141, 20_000, 0.138, 4000) == pytest.approx(0.305, abs=0.01)
    assert grew_p_value(0.45, 20_000, 0.2, 4000) < 1e-100
    assert grew_p_value(0.1, 100, 0.2, 100) == 1.0  # shrank
    # the normal approximation against scipy's
    z = (0.3 - 0.25) / np.sqrt(0.26 * 0.74 * (1 / 1000 + 1 / 4000))
    assert grew_p_value(0.3, 1000, 0.25, 4000) == pytest.approx(stats.norm.sf(z), rel=1e-9)


def test_the_summary_says_what_the_false_alarm_rate_promises():
    rng = np.random.RandomState(6)
    line = check_drift(Model(rng.normal(size=500), rate=0.01), scored(rng.normal(size=700)))
    line = line.summary()
    assert "false-alarm rate 1.00%" in line and "on average over fits" in line
    assert "can be higher" in line
