"""skae._ties: one definition of tied scores for Python, the graph and the drift check."""

import numpy as np

from skae._ties import TIE_TOLERANCE, thresholds, tie_widths


def test_thresholds_sit_one_tie_width_below_each_score_and_stay_sorted():
    rng = np.random.RandomState(0)
    calibration = np.sort(rng.normal(-1, 3, size=500))
    ends = thresholds(calibration)
    assert np.all(np.diff(ends) >= 0)
    widths = calibration - ends
    assert np.all(widths > 0)
    np.testing.assert_allclose(widths, tie_widths(calibration, calibration))


def test_the_width_is_far_above_float32_rounding_and_far_below_distinct_scores():
    """Rounding a score to float32 moves it by about 6e-8 of its size; the width is about
    1e3 times that, and scores that differ by a thousandth of the scale are distinct."""
    calibration = np.array([-4.1, -2.3, -0.9, 0.065, 0.31])
    widths = tie_widths(calibration, calibration)
    rounding = np.abs(calibration.astype(np.float32).astype(np.float64) - calibration)
    assert np.all(widths > 100 * rounding)
    assert np.all(widths < 1e-3 * np.abs(calibration).max())


def test_the_scale_is_not_set_by_a_few_extreme_scores():
    bulk = np.linspace(-1, 1, 1000)
    with_outliers = np.r_[bulk, [-1e6, -1e5]]
    assert tie_widths([0.0], with_outliers)[0] < 2 * tie_widths([0.0], bulk)[0]
    assert tie_widths([0.0], np.zeros(10))[0] == TIE_TOLERANCE  # all zero: unit scale
