"""Which columns ``skae fit`` models and how: roles from column statistics gathered in
chunks (bounded memory), and the preprocessing ColumnTransformer built from them.

Numeric and boolean columns are standardised, their missing values imputed (median by
default, plus a 0/1 missing-indicator for each column that had missing values); text columns
with few distinct values are one-hot encoded (:class:`~skae._tables.categories.CategoryEncoder`);
other text columns (IDs, free text), number columns that look like IDs (whole numbers,
nearly one row each, with an ID's name or in row order: :func:`id_like`), dates and empty
columns are left out and named. The statistics come from one pass over the data in
chunks, so the same code serves a table in memory and one streamed from disk.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import warnings

import numpy as np
import pandas as pd

from .._schema import MISSING_CATEGORY
from .values import as_number, as_text, is_missing

# The model's inputs are float32 (as its network computes): a number beyond this is inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class ColumnsError(ValueError):
    """Columns that cannot be modelled as asked; the message names them and the fix."""


@dataclasses.dataclass
class _Column:
    """What one pass has seen of a column."""

    text: bool = False  # a value that is not a number was seen
    dates: bool = False
    rows: int = 0
    missing: int = 0
    infinite: int = 0
    first_infinite: int = -1  # data row (0-based) of the first infinite value
    largest: float = 0.0  # the largest |number| seen
    first_largest: int = -1  # data row (0-based) where it was first seen
    counts: collections.Counter | None = dataclasses.field(
        default_factory=collections.Counter
    )  # None once over the category limit
    scaler: object = None  # StandardScaler.partial_fit on the numbers seen
    # what makes a number column an ID: whole numbers, (nearly) one row each, in order
    whole: bool = True  # every finite number seen is a whole number
    repeats: int = 0  # values seen again within a chunk
    increasing: bool = True  # strictly, in row order (across chunks too)
    decreasing: bool = True
    last: float | None = None  # the last finite number seen


class ColumnStats:
    """Per-column statistics gathered chunk by chunk, in memory bounded by the chunk.

    Parameters
    ----------
    count_limit : int
        Distinct values counted per column; beyond it the column counts as having many.
    sample_rows : int
        Rows kept in a uniform random sample (bottom-k of random keys) for medians and
        for fitting the preprocessing's structure.
    random_state : int
        Seed of the sample.
    """

    def __init__(self, *, count_limit, sample_rows, random_state=0):
        self.count_limit = int(count_limit)
        self.sample_rows = int(sample_rows)
        self.columns: dict[str, _Column] = {}
        self.rows = 0
        self.sample = None
        self._rng = np.random.RandomState(random_state)

    def update(self, chunk):
        """Add a chunk (a DataFrame) to the statistics."""
        if chunk.columns.duplicated().any():
            dupes = sorted({str(c) for c in chunk.columns[chunk.columns.duplicated()]})
            raise ColumnsError(f"the data has duplicated column names {dupes}; rename them.")
        for name in chunk.columns:
            column = chunk[name]
            if str(name) not in self.columns:  # absent from the chunks before: missing there
                self.columns[str(name)] = _Column(rows=self.rows, missing=self.rows)
                if self.rows and self.columns[str(name)].counts is not None:
                    self.columns[str(name)].counts[MISSING_CATEGORY] += self.rows
            info = self.columns[str(name)]
            info.rows += len(column)
            if pd.api.types.is_datetime64_any_dtype(column.dtype):
                info.dates = True
                continue
            if info.counts is not None:
                self._count(info, column)
            if not info.text:
                try:
                    values = as_number(column, name)
                except ValueError:
                    info.text = True
                else:
                    self._numbers(info, values)
                    continue
            info.missing += int(is_missing(column).sum())
        for name in set(self.columns) - {str(c) for c in chunk.columns}:
            info = self.columns[name]  # a column this chunk (a file of a folder) lacks
            info.rows += len(chunk)
            info.missing += len(chunk)
            if info.counts is not None:
                info.counts[MISSING_CATEGORY] += len(chunk)
        self._sample(chunk)
        self.rows += len(chunk)

    def _count(self, info, column):
        """Count a column's values as categories, until there are too many."""
        values = column.value_counts(dropna=False)
        values = values[values.to_numpy() > 0]  # a categorical dtype lists unused categories
        if len(values) > self.count_limit + 1:  # (+1: the missing "category")
            info.counts = None
            return
        for value, count in zip(as_text(values.index.to_series()), values.to_numpy(), strict=True):
            info.counts[value] += int(count)
        if len(set(info.counts) - {MISSING_CATEGORY}) > self.count_limit:
            info.counts = None

    def _numbers(self, info, values):
        from sklearn.preprocessing import StandardScaler

        _id_statistics(info, values[np.isfinite(values)])
        missing, infinite = np.isnan(values), np.isinf(values)
        info.missing += int(missing.sum())
        if infinite.any():
            if info.infinite == 0:
                info.first_infinite = self.rows + int(np.flatnonzero(infinite)[0])
            info.infinite += int(infinite.sum())
            values = np.where(infinite, np.nan, values)
        if (~np.isnan(values)).any():
            magnitude = np.abs(values)
            at = int(np.nanargmax(magnitude))
            if magnitude[at] > info.largest:
                info.largest, info.first_largest = float(magnitude[at]), self.rows + at
            info.scaler = info.scaler or StandardScaler()
            with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an overflow is refused later
                info.scaler.partial_fit(values.reshape(-1, 1))

    def _sample(self, chunk):
        if self.sample_rows == 0:
            return
        keys = self._rng.random_sample(len(chunk))
        chunk = chunk.reset_index(drop=True).assign(_skae_key=keys)
        both = chunk if self.sample is None else pd.concat([self.sample, chunk], ignore_index=True)
        self.sample = (
            both if len(both) <= self.sample_rows else both.nsmallest(self.sample_rows, "_skae_key")
        )

    def sample_frame(self):
        """The random sample of rows (all columns)."""
        return self.sample.drop(columns="_skae_key").reset_index(drop=True)


def _id_statistics(info, finite):
    """Update what tells an ID column of whole numbers apart (see :func:`id_like`)."""
    if not len(finite) or not (info.whole or info.increasing or info.decreasing):
        return
    info.whole = info.whole and bool((finite == np.round(finite)).all())
    info.repeats += len(finite) - len(np.unique(finite))
    steps = np.diff(finite if info.last is None else np.r_[info.last, finite])
    info.increasing = info.increasing and bool((steps > 0).all())
    info.decreasing = info.decreasing and bool((steps < 0).all())
    info.last = float(finite[-1])


# A name that says "identifier": customer_id, CustomerID, customerId, id, key, uuid, ...
_ID_NAME = re.compile(r"(?:^|[^a-z0-9])(?:id|key|uuid|guid|idx|index)$")
_CAMEL_ID = re.compile(r"[a-z0-9](?:Id|ID)$")
# Share of the rows that may repeat a value in an ID column ("nearly unique").
ID_REPEATS = 0.01


def id_like(name, info):
    """Why a number column looks like an ID (whole numbers, nearly one row each, and an
    ID's name or values in increasing or decreasing row order), or None.

    Such a column's values are labels, not measurements: as a number, each new ID is a
    value beyond the training range and its distance from the others means nothing.
    """
    counted = info.rows - info.missing - info.infinite
    if not info.whole or counted < 10 or info.repeats > ID_REPEATS * counted:
        return None
    named = _ID_NAME.search(str(name).lower()) or _CAMEL_ID.search(str(name))
    if not (named or info.increasing or info.decreasing):
        return None
    how = "named like one" if named else "in row order"
    each = "one per row" if not info.repeats else "nearly one per row"
    return f"an ID (whole numbers, {each}, {how}; --numeric uses it as a number)"


@dataclasses.dataclass
class Roles:
    """How each column is used: ``numeric`` and ``categorical`` (name -> categories) are
    the model's inputs, in this order; ``left_out`` maps a name to the reason."""

    numeric: list
    categorical: dict
    left_out: dict
    missing: dict  # numeric column -> missing values filled at fit

    @property
    def inputs(self):
        return list(self.numeric) + list(self.categorical)

    def describe(self, fills=None, *, strategy="median", indicators=False):
        """``{heading: names or {column: note}}`` for the model's metadata and
        ``skae info``. ``fills`` maps each imputed column to its fill value."""
        filled = {}
        for name in self.numeric if fills is not None else ():
            count = self.missing.get(name, 0)
            filled[name] = (
                f"{count} at fit; a missing value is filled with the training {strategy} "
                f"{fills[name]:.6g}"
                + (", flagged in an indicator column" if indicators and count else "")
            )
        missing_text = (
            "flagged in an indicator column" if indicators else "counted as the most frequent"
        )
        return {
            "numeric columns (standardised)": list(self.numeric),
            "missing values": filled,
            "categorical columns (one-hot, standardised; an unseen category stands out as one "
            f"seen once; a missing value is {missing_text})": {
                name: f"{len(cats)} categories" for name, cats in self.categorical.items()
            },
            "left out at fit": dict(self.left_out),
        }


def _check_names(stats, option, names):
    unknown = [n for n in names or () if n not in stats.columns]
    if unknown:
        raise ColumnsError(
            f"{option} names columns that are not in the data: {unknown}; "
            f"the data has {list(stats.columns)[:30]}."
        )


def choose_roles(
    stats,
    *,
    columns=None,
    categorical=None,
    ignore=None,
    numeric=None,
    max_categories=20,
    impute=True,
):
    """Decide each column's role from its statistics (see the module docstring).

    ``columns`` restricts the choice to those columns (each still typed by its values);
    ``categorical`` forces one-hot encoding (of every value; more than
    ``max_categories`` is an error); ``numeric`` forces a number column in that would be
    left out as an ID; ``ignore`` leaves columns out. Raises ColumnsError for unknown
    names, conflicting options, infinite values, missing values when ``impute`` is
    False, and when no column is left.
    """
    options = {"--columns": columns, "--categorical": categorical, "--ignore": ignore}
    options["--numeric"] = numeric
    for option, names in options.items():
        _check_names(stats, option, names)
    _check_conflicts(categorical, ignore, numeric)
    forced, ignored, numbers = set(categorical or ()), set(ignore or ()), set(numeric or ())
    chosen = set(columns) if columns else None
    roles = Roles([], {}, {}, {})
    for name, info in stats.columns.items():
        if name in ignored:
            roles.left_out[name] = "--ignore"
        elif chosen is not None and name not in chosen and name not in forced | numbers:
            roles.left_out[name] = "not in --columns"
        elif name in forced:
            roles.categorical[name] = _forced_categories(name, info, max_categories)
        else:
            _add_by_values(roles, name, info, max_categories, name in numbers)
            if chosen is not None and name in roles.left_out:
                raise ColumnsError(
                    f"--columns names {name!r}, which cannot be used: {roles.left_out[name]}."
                )
    _check_numbers(stats, roles, impute)
    if not roles.numeric and not roles.categorical:
        shown = {n: r for n, r in list(roles.left_out.items())[:10]}
        raise ColumnsError(f"the data has no column skae fit can use (left out: {shown}).")
    return roles


def _check_conflicts(categorical, ignore, numeric):
    pairs = [
        ("--categorical", categorical, "--ignore", ignore),
        ("--numeric", numeric, "--ignore", ignore),
        ("--numeric", numeric, "--categorical", categorical),
    ]
    for first, a, second, b in pairs:
        both = sorted(set(a or ()) & set(b or ()))
        if both:
            raise ColumnsError(f"columns {both} are both in {first} and {second}.")


def _forced_categories(name, info, max_categories):
    """The categories of a column ``--categorical`` names (all its values)."""
    if info.counts is None:
        raise ColumnsError(
            f"--categorical names {name!r}, which has more than {max_categories} "
            "distinct values; raise --max-categories to encode them all."
        )
    return sorted(set(info.counts) - {MISSING_CATEGORY})


def _add_by_values(roles, name, info, max_categories, numeric=False):
    """Give a column the role its values call for: a number, categories, or left out
    (``numeric``: --numeric names it, so a number column is used even if an ID)."""
    if numeric and (info.text or info.dates or info.scaler is None):
        kind = "dates" if info.dates else "text" if info.text else "empty"
        raise ColumnsError(
            f"--numeric names {name!r}, which is {kind}, not numbers; --categorical "
            "encodes text columns."
        )
    why = None
    if not (numeric or info.text or info.dates or info.scaler is None):
        why = id_like(name, info)
    if why is not None:
        roles.left_out[name] = why
    elif info.dates:
        roles.left_out[name] = "dates; derive numbers from them to use them"
    elif info.text:
        kept = _text_categories(info, max_categories)
        if isinstance(kept, list):
            roles.categorical[name] = kept
        else:
            roles.left_out[name] = kept
    elif info.scaler is None:
        roles.left_out[name] = "no values"
    else:
        roles.numeric.append(name)
        if info.missing:
            roles.missing[name] = info.missing


def _text_categories(info, max_categories):
    """A text column's categories when few enough to one-hot encode (at most
    ``max_categories``, and at most one per two rows), else why it is left out."""
    distinct = None if info.counts is None else len(set(info.counts) - {MISSING_CATEGORY})
    if distinct is not None and 2 <= distinct <= min(max_categories, info.rows / 2):
        return sorted(set(info.counts) - {MISSING_CATEGORY})
    if distinct is not None and distinct < 2:
        return "text with a single value"
    if distinct is not None and distinct <= max_categories:
        return (
            f"text with {distinct} distinct values in {info.rows} "
            "rows, an ID or free text (--categorical encodes it)"
        )
    return (
        f"text with more than {max_categories} distinct values, "
        "an ID or free text (--max-categories or --categorical encodes it)"
    )


def _check_numbers(stats, roles, impute):
    """Refuse numeric columns with infinite values, too large to standardise, or with
    missing values when not imputing."""
    numeric, missing = roles.numeric, roles.missing
    infinite = {n: stats.columns[n] for n in numeric if stats.columns[n].infinite}
    if infinite:
        name, info = next(iter(infinite.items()))
        raise ColumnsError(
            f"columns {list(infinite)} hold infinite values ({info.infinite} in {name!r}, "
            f"first at data row {info.first_infinite + 1}); replace or drop them."
        )
    if missing and not impute:
        counts = {n: c for n, c in list(missing.items())[:5]}
        raise ColumnsError(
            f"columns with missing values (count per column): {counts}; "
            "fill or drop those rows, leave the columns out with --ignore, or "
            "let skae fit impute them (--impute median)."
        )
    huge = [n for n in numeric if not np.isfinite(stats.columns[n].scaler.var_).all()]
    if huge:
        raise ColumnsError(
            f"columns {huge[:5]} hold values too large to standardise (their "
            "variance overflows); rescale them first (e.g. divide by a power "
            "of ten)."
        )
    beyond = {n: stats.columns[n] for n in numeric if stats.columns[n].largest > FLOAT32_MAX}
    if beyond:
        name, info = next(iter(beyond.items()))
        raise ColumnsError(
            f"columns {list(beyond)[:5]} hold values beyond float32, the precision the model "
            f"computes in ({info.largest:.3g} in {name!r}, first at data row "
            f"{info.first_largest + 1}; the largest float32 is {FLOAT32_MAX:.3g}); rescale "
            "them first (e.g. divide by a power of ten) or leave them out with --ignore."
        )


def model_frame(df, roles):
    """The model's input columns from a table: numbers as float64, categories as str."""

    def column(name):  # a column a file of a folder lacks: missing in its rows
        return df[name] if name in df.columns else pd.Series(None, index=df.index, dtype=object)

    data = {name: as_number(column(name), name) for name in roles.numeric}
    data.update({name: as_text(column(name)) for name in roles.categorical})
    return pd.DataFrame(data, index=df.index)
