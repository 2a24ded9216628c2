"""Input and output checks shared by the estimators: sklearn's, with the fix spelled out.

``validate_data`` / ``check_array`` do the parsing; the cases users meet most (text
columns, infinity, NaN, complex numbers) are then recognised by checking the data itself,
never by matching sklearn's wording, and the message says what to do. Outputs are checked
too: a finite input can still overflow the network, and a NaN score would silently label a
row an inlier.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from .._warnings import warn_at_caller

FLOATS = (np.float32, np.float64)

TEXT_FIX = (
    "encode text or categorical columns first (e.g. OneHotEncoder or OrdinalEncoder "
    "in a ColumnTransformer) or drop them."
)


def _text_columns(X):
    """Names (DataFrame) or a description (arrays) of values that are not numbers."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):
        import pandas as pd

        return [
            str(c)
            for c, d in dtypes.items()
            if not (pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d))
        ]
    try:
        values = np.asarray(X)
    except (TypeError, ValueError):
        return []
    if values.dtype.kind in "OUSV":
        try:
            values.astype(np.float64)
        except (TypeError, ValueError):
            return ["some values are text"]
    return []


def _all_finite(X):
    """Whether every value of the float array X is finite, without an n x F mask unless
    the sum is not finite (as scikit-learn checks: the float64 sum is finite only when
    every value is, or, rarely, overflows for finite values)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum(dtype=np.float64)):
            return True
    return bool(np.isfinite(X).all())


def _check_values(X, input_name):
    """NaN and infinity, named with the fix (after parsing with ensure_all_finite=False)."""
    if X.dtype.kind != "f" or _all_finite(X):
        return X
    if np.isnan(X).any():
        raise ValueError(
            f"Input {input_name} contains NaN. Impute them (e.g. SimpleImputer "
            "in a Pipeline) or drop those rows."
        )
    raise ValueError(
        f"Input {input_name} contains infinity. Replace or drop the infinite "
        "values first (e.g. clip them, or treat them as missing and impute)."
    )


def _is_complex(X):
    dtype = getattr(X, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(X).dtype
        except (TypeError, ValueError):
            return False
    return getattr(dtype, "kind", "") == "c"


def _parse(parse, X, input_name):
    """Run sklearn's parsing; when it fails, look at the data to name the fix."""
    try:
        out = parse()
    except (TypeError, ValueError) as exc:
        if hasattr(X, "tocsr"):  # sparse input: sklearn's message already says what to do
            raise
        if _is_complex(X):
            raise ValueError(
                f"Complex data not supported in {input_name}. Pass real "
                f"numbers: {input_name}.real, or np.abs({input_name}) for "
                "magnitudes."
            ) from exc
        text = _text_columns(X)
        if not text:
            raise
        # same exception type, sklearn's words kept, the fix added
        raise type(exc)(
            f"{str(exc).rstrip('.')}. {input_name} must be numeric "
            f"({', '.join(text[:10])}): {TEXT_FIX}"
        ) from exc
    return _check_values(out, input_name)


def validate(estimator, X, **kwargs):
    """``validate_data(estimator, X, dtype=float32/float64, **kwargs)`` with fixes named."""
    return _parse(
        lambda: validate_data(estimator, X, dtype=FLOATS, ensure_all_finite=False, **kwargs), X, "X"
    )


def validate_fitted(estimator, X):
    """Inference input: fitted check first, then X against what ``fit`` saw."""
    check_is_fitted(estimator)
    return validate(estimator, X, reset=False)


def check_codes(Z):
    """``check_array`` for latent codes given to ``inverse_transform``."""
    return _parse(
        lambda: check_array(Z, dtype=FLOATS, ensure_all_finite=False, input_name="X"), Z, "X"
    )


def check_finite_output(out, X, what="output"):
    """Raise when the network produced NaN or infinity from finite input."""
    if _all_finite(out):
        return out
    largest = float(np.max(np.abs(X))) if np.size(X) else 0.0
    raise ValueError(
        f"The network's {what} is not finite for some rows of X (largest |value| in X: "
        f"{largest:.3g}): values this large overflow its arithmetic. Scale X the way the "
        "training data was scaled (e.g. keep the StandardScaler in the Pipeline)."
    )


def warn_wide_code(estimator, n_features):
    """UserWarning when the code is wider than the input: the network can then copy its
    input instead of compressing it (codes with more columns than X, reconstruction
    errors that say little about how unusual a row is)."""
    n_components = getattr(estimator, "n_components", None)
    if isinstance(n_components, int) and n_components > n_features:
        warn_at_caller(
            f"{type(estimator).__name__}: n_components={n_components} is larger than "
            f"n_features={n_features}: the code is wider than the input, so the network "
            "need not compress anything (it can learn to copy X). Choose n_components of "
            f"at most {n_features}, fewer to compress."
        )
