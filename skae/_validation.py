"""Input and output checks shared by the estimators: sklearn's, with the fix spelled out.

``validate_data`` / ``check_array`` name the problem; for the cases users meet most
(text columns, infinity, NaN in latent codes, complex numbers) the message here also says
what to do. Outputs are checked too: a finite input can still overflow the network, and
a NaN score would silently label a row an inlier.
"""

from __future__ import annotations

import contextlib

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

FLOATS = (np.float32, np.float64)

_FIXES = [
    ("could not convert", "X must be numeric: encode text or categorical columns first "
     "(e.g. OneHotEncoder or OrdinalEncoder in a ColumnTransformer) or drop them."),
    ("infinity", "Replace or drop the infinite values first (e.g. clip them, or treat "
     "them as missing and impute)."),
    ("Complex data", "Pass real numbers: X.real, or np.abs(X) for magnitudes."),
    ("contains NaN", "Impute them (e.g. SimpleImputer in a Pipeline) or drop those rows."),
]


@contextlib.contextmanager
def _with_fix():
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        for needle, fix in _FIXES:
            already = fix in message or (needle == "contains NaN" and "imputer" in message)
            if needle in message and not already:
                raise ValueError(f"{message.rstrip().rstrip('.')}. {fix}") from exc
        raise


def validate(estimator, X, **kwargs):
    """``validate_data(estimator, X, dtype=float32/float64, **kwargs)`` with fixes named."""
    with _with_fix():
        return validate_data(estimator, X, dtype=FLOATS, **kwargs)


def check_codes(Z):
    """``check_array`` for latent codes given to ``inverse_transform``."""
    with _with_fix():
        return check_array(Z, dtype=FLOATS, input_name="X")


def check_finite_output(out, X, what="output"):
    """Raise when the network produced NaN or infinity from finite input."""
    if np.isfinite(out).all():
        return out
    largest = float(np.max(np.abs(X))) if np.size(X) else 0.0
    raise ValueError(
        f"The network's {what} is not finite for some rows of X (largest |value| in X: "
        f"{largest:.3g}): values this large overflow its arithmetic. Scale X the way the "
        "training data was scaled (e.g. keep the StandardScaler in the Pipeline).")
