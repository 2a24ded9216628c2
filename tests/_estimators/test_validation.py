import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
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


def test_a_code_wider_than_the_input_warns_naming_both_widths():
    X = np.random.RandomState(0).normal(size=(40, 5))
    for est in (AutoencoderTransformer, VAETransformer):
        with pytest.warns(UserWarning, match="n_components=10 is larger than n_features=5"):
            est(n_components=10, max_iter=1, device="cpu").fit(X)
    with warnings.catch_warnings():  # the defaults on few features: no such warning
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        AutoencoderTransformer(max_iter=1, device="cpu").fit(X[:, :2])
        ReconstructionAnomalyDetector(max_iter=1, random_state=0).fit(X[:, :1])
