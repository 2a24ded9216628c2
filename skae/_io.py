"""Tables in for the command line: CSV (any separator, compressed) and Parquet, whole or in
chunks of bounded size, from a file or a folder of files.

Nothing here imports torch: ``skae score`` runs on numpy, pandas and onnxruntime alone.
Writing (atomic, compressed, permission-preserving) lives in :mod:`skae._output`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import re

_PARQUET = (".parquet", ".pq", ".parq")
_CSV_BASES = (".csv", ".tsv", ".txt")
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}
_SEPARATORS = (",", ";", "\t", "|")


def split_name(path):
    """``(format, base suffix, compression)`` of a table's file name.

    ``format`` is "csv" or "parquet"; ``compression`` is None or a pandas compression
    name ("gzip", "bz2", "zip", "xz"). Raises ValueError for any other name.
    """
    name = os.fspath(path).lower()
    if name.endswith(_PARQUET):
        return "parquet", os.path.splitext(name)[1], None
    stem, last = os.path.splitext(name)
    compression = COMPRESSIONS.get(last)
    base = os.path.splitext(stem)[1] if compression else last
    if base in _CSV_BASES:
        return "csv", base, compression
    raise ValueError(
        f"{path}: unknown table format; use .csv, .tsv or .txt (optionally "
        "compressed: .gz, .bz2, .zip, .xz) or .parquet."
    )


def table_format(path):
    """``"csv"`` or ``"parquet"`` from a file name's suffix; ValueError for anything else."""
    return split_name(path)[0]


def first_line(exc):
    """The first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TableError(ValueError):
    """A table that cannot be read as it is; the message names the file and the fix."""


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ValueError("Parquet files need pyarrow: pip install 'skae[parquet]'.") from None
    return pyarrow


def _malformed(path, fmt, exc):
    # a TableError: an enclosing ``_reading`` passes it on as it is, not wrapped again
    return TableError(f"{path}: could not read it as {fmt.upper()} ({first_line(exc)}).")


# Modules whose exceptions are not ValueErrors but mean a file that cannot be read:
# pyarrow's, pandas', a bad zip archive, corrupt gzip data (zlib) and corrupt xz data.
_READ_ERROR_MODULES = ("pyarrow", "pandas", "zipfile", "zlib", "_lzma")


@contextlib.contextmanager
def _reading(path, fmt):
    """Parser errors (pandas', pyarrow's, decompression, decoding) as one TableError
    naming the file."""
    try:
        yield
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        if type(exc).__module__.startswith("skae"):
            raise
        raise _malformed(path, fmt, exc) from None
    except Exception as exc:
        if type(exc).__module__.startswith(_READ_ERROR_MODULES):
            raise _malformed(path, fmt, exc) from None
        raise


# ---------------------------------------------------------------------- sources
def table_files(path):
    """The table files to read: ``[path]`` for a file, the table files under a folder.

    A folder is searched recursively in name order; names starting with "." or "_"
    (Spark's ``_SUCCESS``, partial files) are skipped, and so are files whose suffix is
    not a table format. Raises FileNotFoundError / ValueError naming the path.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if not os.path.isdir(path):
        table_format(path)
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.startswith((".", "_")):
                continue
            with contextlib.suppress(ValueError):
                table_format(name)
                found.append(os.path.join(root, name))
    if not found:
        raise ValueError(f"{path} is a folder with no .csv or .parquet files in it.")
    return found


# ----------------------------------------------------------------- CSV dialects
@dataclasses.dataclass(frozen=True)
class Dialect:
    """How a CSV file separates fields and writes decimal numbers."""

    sep: str = ","
    decimal: str = "."


_OPENERS = {"gzip": "gzip", "bz2": "bz2", "xz": "lzma"}  # compression -> module


def open_text(path, compression, mode="r", *, member=None, errors="strict"):
    """A UTF-8 text handle on a (compressed) file, line endings kept as they are.

    Parameters
    ----------
    path : str
        The file.
    compression : {None, "gzip", "bz2", "zip", "xz"}
        As :func:`split_name` gives it.
    mode : {"r", "w"}, default="r"
        Read, or write a new file.
    member : str, default=None
        Writing a zip archive: the name of the one file written in it. Reading one opens
        the one file it holds (TableError when it holds another number of files).
    errors : str, default="strict"
        How undecodable bytes are read (see :func:`open`).

    Closing the handle closes the file (and the zip archive around it).
    """
    if compression is None:
        return open(path, mode, encoding="utf-8", errors=errors, newline="")
    if compression != "zip":
        import importlib

        module = importlib.import_module(_OPENERS[compression])
        return module.open(path, f"{mode}t", encoding="utf-8", errors=errors, newline="")
    import zipfile

    archive = zipfile.ZipFile(path, mode, compression=zipfile.ZIP_DEFLATED)
    try:
        if mode == "w":
            raw = archive.open(member, "w", force_zip64=True)
        else:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise TableError(
                    f"{path}: the zip archive holds {len(members)} files; it must hold "
                    "exactly one table."
                )
            raw = archive.open(members[0])
    except BaseException:
        archive.close()
        raise
    handle = io.TextIOWrapper(raw, encoding="utf-8", errors=errors, newline="")
    close = handle.close

    def close_both():
        try:
            close()
        finally:
            archive.close()

    handle.close = close_both
    return handle


# Characters read from the start of a CSV file to detect its dialect.
_SAMPLE_CHARS = 1 << 16


def _sample_text(path, compression):
    """The first ``_SAMPLE_CHARS`` characters of a (compressed) text file."""
    with _reading(path, "csv"), open_text(path, compression, errors="replace") as fh:
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


def _csv_options(dialect):
    return {"sep": dialect.sep, "decimal": dialect.decimal}


# ---------------------------------------------------------------------- reading
def read_table(path, *, dialect=None):
    """Read a whole CSV or Parquet file (or a folder of them) into a DataFrame.

    A Parquet file's index is left out (an index is not a feature).
    """
    import pandas as pd

    frames = []
    for name in table_files(path):
        fmt = table_format(name)
        with _reading(name, fmt):
            if fmt == "parquet":
                _pyarrow()
                frames.append(pd.read_parquet(name).reset_index(drop=True))
            else:
                frames.append(
                    pd.read_csv(
                        name,
                        low_memory=False,
                        **_csv_options(dialect or detect_dialect(name)),
                    )
                )
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if df.shape[0] == 0:
        raise ValueError(f"{path} has no data rows.")
    return df


def _nullable(pa):
    """Arrow -> pandas types that do not change from batch to batch when nulls appear."""
    import pandas as pd

    mapping = {pa.bool_(): pd.BooleanDtype()}
    for bits in (8, 16, 32, 64):
        mapping[getattr(pa, f"int{bits}")()] = getattr(pd, f"Int{bits}Dtype")()
        mapping[getattr(pa, f"uint{bits}")()] = getattr(pd, f"UInt{bits}Dtype")()
    return mapping.get


def _range_index(schema):
    """A Parquet file's named RangeIndex (kept in metadata only): (name, start, step)."""
    meta = schema.pandas_metadata or {}
    for entry in meta.get("index_columns", []):
        if isinstance(entry, dict) and entry.get("kind") == "range" and entry.get("name"):
            return entry["name"], entry["start"], entry["step"]
    return None


def parquet_rows(path):
    """Rows in a Parquet file, from its footer."""
    return _pyarrow().parquet.ParquetFile(path).metadata.num_rows


def _iter_parquet(path, chunk_size, columns):
    import pandas as pd

    pa = _pyarrow()
    # No pre-buffering and a small read buffer: memory stays bounded by the batch (and
    # the file's page size), not by the row group.
    pq = pa.parquet.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16)
    ranged = _range_index(pq.schema_arrow) if columns is None else None
    types = _nullable(pa)
    offset = 0
    for batch in pq.iter_batches(batch_size=chunk_size, columns=columns, use_threads=False):
        frame = batch.to_pandas(types_mapper=types)
        if ranged is not None:
            name, start, step = ranged
            frame.index = pd.RangeIndex(
                start + step * offset, start + step * (offset + len(frame)), step, name=name
            )
        elif columns is not None:
            frame = frame.reset_index(drop=True)
        offset += len(frame)
        yield frame


def _iter_csv(path, chunk_size, dialect, columns, dtypes, text):
    import pandas as pd

    options = _csv_options(dialect or detect_dialect(path))
    if text:  # every field as the exact text it holds (nothing parsed, nothing lost)
        options.update(dtype=str, keep_default_na=False, na_filter=False)
    elif dtypes is not None:
        options["dtype"] = dtypes
    with pd.read_csv(path, chunksize=chunk_size, usecols=columns, **options) as reader:
        yield from reader


def iter_table(path, chunk_size, *, dialect=None, columns=None, dtypes=None, text=False):
    """Yield DataFrame chunks of at most ``chunk_size`` rows, never the whole table.

    Parameters
    ----------
    path : str
        A CSV or Parquet file, or a folder of them (see :func:`table_files`).
    chunk_size : int
        Rows per chunk.
    dialect : Dialect, default=None
        CSV separator and decimal mark; None detects them per file.
    columns : list of str, default=None
        Read only these columns (a Parquet file's index is then left out).
    dtypes : dict, default=None
        CSV column types (see :func:`infer_csv_dtypes`), so that every chunk has the same
        types whatever the chunking.
    text : bool, default=False
        Read CSV fields as their exact text (no parsing, no missing values).

    A Parquet file's index is restored in every chunk (its named RangeIndex too); integer
    and boolean columns use pandas' nullable types, so a column's type does not change
    between chunks when nulls appear.
    """
    for name in table_files(path):
        fmt = table_format(name)
        with _reading(name, fmt):
            if fmt == "parquet":
                chunks = _iter_parquet(name, chunk_size, columns)
            else:
                chunks = _iter_csv(name, chunk_size, dialect, columns, dtypes, text)
            yield from chunks


def total_rows(files):
    """Rows in table files (as :func:`table_files` lists them) when known without
    reading them (all Parquet), else None."""
    if not all(table_format(n) == "parquet" for n in files):
        return None
    total = 0
    for name in files:
        with _reading(name, "parquet"):
            total += parquet_rows(name)
    return total


# --------------------------------------------------------------- type inference
def _chunk_kind(column):
    """One chunk's column kind: None (all missing), "bool", "int", "float" or "str"."""
    import pandas as pd

    if column.isna().all():
        return None
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.infer_dtype(column, skipna=True) == "boolean":
        return "bool"
    return "str"


_KIND_DTYPE = {"bool": "boolean", "int": "int64", "float": "float64", "str": "str", None: "float64"}


def infer_csv_dtypes(path, chunk_size, *, dialect=None):
    """Column types of a CSV file that hold every chunk's values: one pass, in chunks.

    Integers and floats give float; booleans stay booleans (nullable); a column with text
    anywhere is text (read as the exact text, so ``007`` and ``A99`` both survive);
    chunks where a column is empty constrain nothing. Returns ``(dtypes, rows)``.
    """
    kinds, rows = {}, 0
    for chunk in iter_table(path, chunk_size, dialect=dialect):
        rows += len(chunk)
        for name in chunk.columns:
            seen, kind = kinds.get(name, set()), _chunk_kind(chunk[name])
            if kind is not None:
                seen.add(kind)
            kinds[name] = seen
    dtypes = {}
    for name, seen in kinds.items():
        if len(seen) > 1:
            seen = {"float"} if seen <= {"int", "float"} else {"str"}
        dtypes[name] = _KIND_DTYPE[next(iter(seen), None)]
    return dtypes, rows
