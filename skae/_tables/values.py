"""Values as a model takes them: a column's numbers (parsed from text where need be, with
the usual missing-value markers) and its categories (one canonical text per value).

The same conversions serve ``skae fit`` before training and every scorer (``skae score``,
:func:`skae.scoring.score_frame`, Dask, Spark), so a model sees the same values at fit and
at scoring. numpy and pandas only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._schema import MISSING_CATEGORY

# Text that means "missing" in a number column (pandas' read_csv defaults).
MISSING_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


_BOOLEANS = {"true": 1.0, "false": 0.0}


class RowsError(ValueError):
    """Some rows cannot be scored; ``position`` is the first one's position in the frame."""

    def __init__(self, message, position):
        super().__init__(message)
        self.position = int(position)


def as_number(column, name=None):
    """A column as float64, for a model input that takes numbers.

    Numbers and booleans convert directly (booleans to 0/1); text is parsed (``True``
    and ``False`` as 1 and 0), with the usual missing-value markers ("", "NA", "null",
    ...) read as NaN. Raises :class:`RowsError` naming the column and the first value
    that is not a number.
    """
    name = column.name if name is None else name
    dtype = column.dtype
    if pd.api.types.is_complex_dtype(dtype):
        raise ValueError(
            f"column {name!r} holds complex numbers ({dtype}); the model takes real "
            "numbers, and dropping the imaginary part would score other values than those "
            "given: give the real part or the magnitude as the column instead."
        )
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    text = column.astype(object)
    values = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)
    failed = np.flatnonzero(np.isnan(values) & text.notna().to_numpy())
    if len(failed):  # missing-value markers, True / False, or text that is no number
        words = text.iloc[failed]
        meaning = {w: _word(w) for w in pd.unique(words)}
        values[failed] = [meaning[w] for w in words]
        bad = [i for i, w in zip(failed, words, strict=True) if meaning[w] is None]
        if bad:
            raise RowsError(
                f"column {name!r} is not numeric: it holds {text.iloc[bad[0]]!r}; "
                "the model needs numbers there.",
                bad[0],
            )
    return values


def is_missing(values):
    """Whether each value (an object array or Series) is missing: None, NaN, or text
    that means missing ("", "NA", "null", ...)."""
    values = np.asarray(values, dtype=object)
    return pd.isna(values) | np.array(
        [isinstance(v, str) and v.strip() in MISSING_TEXT for v in values], dtype=bool
    )


def _word(value):
    """What a text that is no number means in a number column: NaN, 1, 0, or None."""
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    if stripped in MISSING_TEXT:
        return np.nan
    return _BOOLEANS.get(stripped.lower())


def _category(value):
    """The text of one category value: numbers (and numeric text) in one canonical form,
    so ``1``, ``1.0`` and ``"1.0"`` are one category whichever way a table was read; bytes
    (a Parquet binary column) as the UTF-8 text they hold, not as ``"b'...'"``."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in MISSING_TEXT:
            return MISSING_CATEGORY
        try:
            value = float(stripped)
        except ValueError:
            return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        if not np.isfinite(value):
            return MISSING_CATEGORY if np.isnan(value) else str(value)
        return str(int(value)) if value.is_integer() and abs(value) < 2**63 else repr(value)
    return str(value)


def as_text(column):
    """A column as an object array of str, for a model input that takes categories.

    Missing values (None, NaN, and text such as "NA" or "null") become "nan", which is
    how ``skae fit`` trains them (one more category) and how the ONNX runtime feeds a
    missing text value. Numbers, and text that reads as a number, take one canonical
    form (``1``, ``1.0`` and ``"1.0"`` give "1").
    """
    codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    texts = np.array([_category(v) for v in uniques] + [MISSING_CATEGORY], dtype=object)
    return texts[codes]  # code -1 (missing) takes the last entry
