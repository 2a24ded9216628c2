"""A DataFrame's or an array's values as the graph's input types, with errors that name
the column at fault (numpy only; pandas is used only on the DataFrame it is given)."""

from __future__ import annotations

import numpy as np

from .._schema import MISSING_CATEGORY, repeated_names


def is_frame(X):
    """Whether X is a pandas DataFrame (without importing pandas)."""
    return hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "to_numpy")


def check_unique(names, wanted, subject):
    """ValueError naming the ``wanted`` columns that ``names`` (a table's column names,
    as str) hold more than once: a model reads its columns by name, and which copy is
    meant cannot be known (scikit-learn refuses duplicated names too)."""
    wanted = set(wanted)
    twice = [name for name in repeated_names(names) if name in wanted]
    if twice:
        raise ValueError(
            f"{subject} has more than one column named {twice[0]!r}"
            + (f" (and {twice[1:]})" if len(twice) > 1 else "")
            + ", a column the model reads by name: rename or drop the extra copies."
        )


def frame_numbers(df, names):
    """A DataFrame of number columns as one float32 array; ValueError naming a column
    that is not numeric, or whose values would lose information as real numbers."""
    values = df.to_numpy()  # one block of one dtype: no copy
    if values.dtype.kind in "fiub":
        with np.errstate(over="ignore"):  # too large for float32: named after the run
            return values.astype(np.float32)
    # object (mixed or nullable columns), complex, timedelta...: column by column
    columns = [numbers(name, df.iloc[:, j].array, np.float32) for j, name in enumerate(names)]
    return np.column_stack(columns) if columns else np.empty((len(df), 0), np.float32)


def check_real(name, dtype):
    """ValueError when ``dtype`` holds values that become numbers only by losing part of
    them: complex (the imaginary part), timedelta and datetime (the unit)."""
    kind = getattr(dtype, "kind", "O")
    if kind == "c":
        raise ValueError(
            f"{name} holds complex numbers ({dtype}); the model takes real numbers, and "
            "dropping the imaginary part would score other values than those given: pass "
            "the real part (X.real), the magnitude (abs(X)) or both as columns."
        )
    if kind in "mM":
        raise ValueError(
            f"{name} holds {dtype} values; the model takes numbers: convert them first "
            "(e.g. .dt.total_seconds() for durations, or derive numbers from dates)."
        )


def _not_numeric(exc):
    return ValueError(
        "X must be numeric (convertible to float32); non-numeric columns must be "
        f"encoded or dropped before scoring. ({exc})"
    )


def as_float32(X):
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise _not_numeric(exc) from None
    check_real("X", X.dtype)
    try:
        with np.errstate(over="ignore"):  # too large for float32: named after the run
            X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise _not_numeric(exc) from None
    if X.ndim == 1:
        raise ValueError(
            f"Expected a 2-D array, got a 1-D array of {X.shape[0]} values. Reshape "
            "with X.reshape(1, -1) for a single row or X.reshape(-1, 1) for a single "
            "feature."
        )
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got {X.ndim} dimensions.")
    return X


def numbers(name, values, dtype):
    """One column's values (a NumPy or pandas array) as ``dtype``; ValueError naming
    the column."""
    kind = values.dtype.kind
    check_real(f"column {name!r}", values.dtype)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # too large: named after the run
            if isinstance(values, np.ndarray) and kind == "f" and values.itemsize <= 8:
                numbers = values  # cast once, below (via float64: the same values)
            elif isinstance(values, np.ndarray) and kind in "fiub":
                numbers = values.astype(np.float64 if kind == "f" else dtype, copy=False)
            elif isinstance(values, np.ndarray):  # object: numbers, None, numeric text
                import pandas as pd  # X is a DataFrame: pandas is loaded already

                numbers = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
            else:  # a pandas extension array (nullable ints, booleans, text)
                numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        example = next((v for v in values if isinstance(v, (str, bytes))), None)
        found = f"it holds {example!r}" if example is not None else f"dtype {values.dtype}"
        raise ValueError(
            f"column {name!r} is not numeric ({found}); the model takes numbers there: fix "
            "the values, or encode text columns in the Pipeline before fitting."
        ) from None
    if (
        np.issubdtype(dtype, np.integer)
        and numbers.dtype.kind == "f"
        and not np.isfinite(numbers).all()
    ):
        raise ValueError(
            f"column {name!r} has missing or infinite values, but the model takes whole "
            "numbers there (it had none at fit): fill or drop them before scoring."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return numbers.astype(dtype, copy=False)


def _check_no_bytes(name, values):
    """ValueError for bytes in a text column: ``str(b"FR")`` is "b'FR'", a category the
    model never saw, so the values would be scored as other than they are."""
    example = next((v for v in values if isinstance(v, (bytes, bytearray))), None)
    if example is not None:
        raise ValueError(
            f"column {name!r} holds bytes ({example!r}); the model takes text there: "
            "decode them first (e.g. df[column].str.decode('utf-8'))."
        )


def text(name, values, missing_token=MISSING_CATEGORY):
    """One column's values as an object array of str; missing values as
    ``missing_token`` (the text the graph's encoder knows them by: "nan", or "None"
    for an encoder fitted where pandas kept missing text as None)."""
    import pandas as pd  # X is a DataFrame: pandas is loaded already

    original = values.dtype
    values = np.array(values, dtype=object)
    missing = pd.isna(values)
    if not all(isinstance(v, str) for v in values[~missing]):
        _check_no_bytes(name, values[~missing])
        if original.kind in "iufcb":
            raise ValueError(
                f"column {name!r} holds numbers ({original}) "
                "but the model takes text there (it was text at fit): read it as text, e.g. "
                f"pd.read_csv(..., dtype={{{name!r}: str}})."
            )
        values = np.array(
            [
                v if isinstance(v, str) or gap else str(v)
                for v, gap in zip(values, missing, strict=True)
            ],
            dtype=object,
        )
    if missing.any():
        values[missing] = missing_token
    return values
