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


def _tied(values, n, rng, noise=1e-16):
    """Scores of a discrete table: few distinct values, each copy off by rounding."""
    scores = rng.choice(values, size=n, p=[0.5, 0.3, 0.15, 0.05][: len(values)])
    return scores * (1 + noise * rng.uniform(-1, 1, size=n))


def test_a_tie_group_counts_whole_whatever_its_rounding():
    """A calibration tie group counts for a score of the group whether the copies are
    off by float64 batching noise or by float32 rounding (as in the graph)."""
    rng = np.random.RandomState(0)
    values = np.array([-3.1, -0.7, 0.05, 0.4])
    calibration = np.sort(_tied(values, 400, rng))
    exact = conformal.pvalues(calibration, values)
    for noise in (1e-16, 3e-7):
        noisy = values * (1 + noise * np.array([-1, 1, -1, 1]))
        np.testing.assert_array_equal(conformal.pvalues(calibration, noisy), exact)
    as_float32 = conformal.pvalues(
        conformal.thresholds(calibration).astype(np.float32), values.astype(np.float32)
    )
    np.testing.assert_array_equal(as_float32, exact)
    counts = exact * (len(calibration) + 1) - 1
    np.testing.assert_array_equal(counts, [np.sum(calibration < v + 1e-9) for v in values])


def test_the_offset_lies_between_distinct_scores_and_flags_exactly_the_small_p_values():
    rng = np.random.RandomState(1)
    values = np.array([-3.1, -0.7, 0.05, 0.4])
    calibration = np.sort(_tied(values, 1000, rng))
    for rate in (0.01, 0.1, 0.3):
        offset = conformal.conformal_offset(calibration, rate)
        assert np.all(np.abs(values - offset) > 1e-5)  # off every tie group, beyond rounding
        for noise in (0.0, 1e-16, -1e-16, 3e-7, -3e-7):
            scores = values * (1 + noise)
            np.testing.assert_array_equal(
                scores < offset, conformal.pvalues(calibration, scores) <= rate
            )


def test_p_values_are_valid_under_ties():
    """P(p <= t) <= t for new rows drawn like the calibration rows, on average over
    calibration draws, when the scores take four values (and carry rounding noise)."""
    rng = np.random.RandomState(2)
    values = np.array([-3.1, -0.7, 0.05, 0.4])
    for t in (0.05, 0.2, 0.5):
        shares = [
            np.mean(
                conformal.pvalues(np.sort(_tied(values, 200, rng)), _tied(values, 500, rng, 3e-7))
                <= t
            )
            for _ in range(100)
        ]
        assert np.mean(shares) <= t


def test_a_contamination_offset_in_a_tie_group_moves_to_its_nearer_end():
    rng = np.random.RandomState(3)
    scores = np.r_[rng.normal(-5, 0.1, 60), np.full(300, 1.0) + 1e-16 * rng.randn(300)]
    # the 10th percentile falls in the lower bulk, between distinct scores: it flags the
    # same rows wherever it lands between them
    ten = np.percentile(scores, 10)
    assert (scores < conformal.off_ties(ten, scores)).sum() == (scores < ten).sum()
    # the 30th percentile falls in the tie group at 1.0 (its lower end is 60 rows
    # from the 108 wanted, its upper end 252): the offset moves below the whole group
    offset = conformal.off_ties(np.percentile(scores, 30), scores)
    assert scores.max() - 1e-3 < 1.0 and (scores < offset).sum() == 60
    assert 1.0 - offset > 1e-6  # below the group by more than rounding
    # the 90th percentile: nearer the upper end, the whole group flagged
    high = conformal.off_ties(np.percentile(scores, 90), scores)
    assert (scores < high).sum() == len(scores) and high - 1.0 > 1e-6
