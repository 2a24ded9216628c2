"""CSV dialects: the separator and decimal mark of a file, detected from its first lines or
given by the user, and decimal commas rewritten as points."""

from __future__ import annotations

import csv
import dataclasses
import io
import re

from .formats import TableError, open_text, reading_errors, split_name, table_format

_SEPARATORS = (",", ";", "\t", "|")


# ----------------------------------------------------------------- CSV dialects
@dataclasses.dataclass(frozen=True)
class Dialect:
    """How a CSV file separates fields and writes decimal numbers."""

    sep: str = ","
    decimal: str = "."


# Characters read from the start of a CSV file to detect its dialect.
_SAMPLE_CHARS = 1 << 16


def _sample_text(path, compression):
    """The first ``_SAMPLE_CHARS`` characters of a (compressed) text file."""
    with reading_errors(path, "csv"), open_text(path, compression, errors="replace") as fh:
        return fh.read(_SAMPLE_CHARS)


_COMMA_DECIMAL = re.compile(r"^\s*[+-]?\d+,\d+(?:[eE][+-]?\d+)?\s*$")
_POINT_DECIMAL = re.compile(r"^\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*$")


def _records(sample, sep, truncated):
    rows = [r for r in csv.reader(io.StringIO(sample), delimiter=sep) if r]
    return rows[:-1] if truncated and len(rows) > 1 else rows


def detect_dialect(path, *, sep=None, decimal=None):
    """The separator and decimal mark of a CSV file, from its name and first lines.

    ``sep`` / ``decimal`` given are kept (the file is not read when both are); otherwise
    a ``.tsv`` file is tab-separated, and for other names the separator among
    ``, ; tab |`` that splits the header into the most fields, with every sampled line
    splitting the same way, is chosen. The decimal mark is "," when the separator is not
    "," and numbers such as ``1,5`` appear. Raises ValueError for a file that reads as
    one column whose header holds ";" or a tab (a separator the lines do not agree on),
    naming ``--sep``, and when the separator and the decimal mark are the same.
    """
    _, base, compression = split_name(path)
    if sep is None and base == ".tsv":
        sep = "\t"
    if sep is None or decimal is None:
        sample = _sample_text(path, compression)
        truncated = len(sample) >= _SAMPLE_CHARS
        rows = None  # the sample's records, split on the separator
        if sep is None:
            sep, rows = _separator(path, sample, truncated)
        if decimal is None and sep == ",":
            decimal = "."
        elif decimal is None:
            if rows is None:
                rows = _records(sample, sep, truncated)
            decimal = _decimal_mark(rows)
    if sep == decimal:
        raise TableError(
            f"the separator and the decimal mark are both {sep!r}; give "
            "different --sep and --decimal."
        )
    return Dialect(sep, decimal)


def _separator(path, sample, truncated):
    """The separator that splits the header into the most fields, every line alike, and
    the sample's records split on it."""
    split = {candidate: _records(sample, candidate, truncated) for candidate in _SEPARATORS}
    best, best_fields = ",", 1
    for candidate, rows in split.items():
        if not rows:
            continue
        width = len(rows[0])
        if width > best_fields and all(len(r) == width for r in rows[1:]):
            best, best_fields = candidate, width
    header = sample.split("\n", 1)[0]
    if best_fields == 1 and (";" in header or "\t" in header):
        shown = "tab" if "\t" in header else "';'"
        raise TableError(
            f"{path} reads as one column but its header holds {shown} and its lines do "
            "not split evenly on it; give the separator with --sep (e.g. --sep ';')."
        )
    return best, split[best]


def _decimal_mark(rows):
    """ "," when the data rows (after the header) hold more numbers written ``1,5`` than
    ``1.5``; else "."."""
    fields = [f for r in rows[1:] for f in r]
    comma = sum(bool(_COMMA_DECIMAL.match(f)) for f in fields)
    point = sum(bool(_POINT_DECIMAL.match(f)) for f in fields)
    return "," if comma > point else "."


def dialect_for(path, *, sep=None, decimal=None):
    """A CSV file's dialect (see :func:`detect_dialect`); None for a Parquet file."""
    if table_format(path) != "csv":
        return None
    return detect_dialect(path, sep=sep, decimal=decimal)


def decimal_points(frame, columns=None):
    """Text chunks with decimal commas (``1,5``) rewritten as ``1.5`` in ``columns``.

    Only fields that are whole numbers with a decimal comma change; other text (``a,b``)
    is kept.
    """
    columns = list(frame.columns if columns is None else columns)
    if not columns:
        return frame
    pattern = r"^(\s*[+-]?\d+),(\d+(?:[eE][+-]?\d+)?\s*)$"
    return frame.assign(
        **{str(c): frame[c].str.replace(pattern, r"\1.\2", regex=True) for c in columns}
    )


def csv_options(dialect):
    return {"sep": dialect.sep, "decimal": dialect.decimal}
