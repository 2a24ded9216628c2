import numpy as np
import pytest

from skae._estimators.validation import check_codes, check_finite_output


def test_finite_values_whose_sum_overflows_are_accepted():
    """The quick check is the sum; a finite array whose sum overflows gets the full scan."""
    Z = np.full((4, 3), 1e308)
    assert check_codes(Z) is not None
    out = np.full(5, np.finfo(np.float64).max)
    assert check_finite_output(out, Z) is out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinity_are_told_apart(dtype):
    with pytest.raises(ValueError, match="contains NaN"):
        check_codes(np.array([[1.0, np.nan]], dtype=dtype))
    # +inf and -inf sum to NaN: still named as infinity
    with pytest.raises(ValueError, match="contains infinity"):
        check_codes(np.array([[np.inf, -np.inf]], dtype=dtype))


def test_a_non_finite_output_is_reported():
    X = np.ones((2, 2))
    with pytest.raises(ValueError, match="not finite"):
        check_finite_output(np.array([1.0, np.nan]), X)
