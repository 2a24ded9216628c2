"""skae._detection.conformal: split-conformal thresholds and p-values."""

import numpy as np
import pytest

from skae._detection import conformal


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.05, 0.2, 0.49])
def test_the_offset_flags_exactly_the_rows_whose_p_value_is_at_most_the_rate(rate):
    rng = np.random.RandomState(0)
    calibration = np.sort(rng.normal(size=1500))
    scores = np.r_[rng.normal(size=5000), calibration]  # ties with calibration scores
    offset = conformal.conformal_offset(calibration, rate)
    np.testing.assert_array_equal(scores < offset, conformal.pvalues(calibration, scores) <= rate)


def test_p_values_count_the_calibration_scores_at_or_below():
    calibration = np.array([0.0, 1.0, 1.0, 2.0])
    p = conformal.pvalues(calibration, [-1.0, 0.0, 1.0, 5.0])
    np.testing.assert_allclose(p, np.array([1, 2, 4, 5]) / 5)


def test_the_rate_holds_on_average_over_calibration_draws():
    """For a new row drawn like the calibration rows, P(p <= t) <= t."""
    rng = np.random.RandomState(1)
    for rate in (0.01, 0.05):
        shares = [
            np.mean(
                rng.normal(size=2000)
                < conformal.conformal_offset(np.sort(rng.normal(size=400)), rate)
            )
            for _ in range(300)
        ]
        assert rate * 0.85 < np.mean(shares) <= rate + 3 * np.std(shares) / np.sqrt(300)


def test_too_few_calibration_rows_for_the_rate_are_refused_with_what_would_do():
    assert conformal.needed_rows(0.01) == 99
    assert conformal.calibration_rows(1000, 0.01) == 200
    with pytest.raises(ValueError, match=r"needs at least 999 calibration rows.*4995 rows"):
        conformal.calibration_rows(1000, 0.001)
