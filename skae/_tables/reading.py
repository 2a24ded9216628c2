"""Tables in: CSV (any dialect, compressed) and Parquet, whole or in chunks of bounded size,
from a file or a folder of files, with one type per column across chunks.

Nothing here imports torch or scikit-learn. Writing is :mod:`skae._tables.writing`."""

from __future__ import annotations

import contextlib
import os

from .._schema import repeated_names
from .dialects import csv_options, detect_dialect
from .formats import TableError, reading_errors, require_pyarrow, table_format


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


# ---------------------------------------------------------------------- reading
def read_table(path, *, dialect=None):
    """Read a whole CSV or Parquet file (or a folder of them) into a DataFrame.

    A Parquet file's index is left out (an index is not a feature).
    """
    import pandas as pd

    frames = []
    for name in table_files(path):
        fmt = table_format(name)
        with reading_errors(name, fmt):
            if fmt == "parquet":
                pa = require_pyarrow()
                _check_unique_names(name, pa.parquet.read_schema(name).names, "schema")
                frames.append(pd.read_parquet(name).reset_index(drop=True))
            else:
                options = csv_options(dialect or detect_dialect(name))
                _check_header(name, options)
                frame = pd.read_csv(name, low_memory=False, **options)
                frames.append(_fields_match_header(frame, name, 0))
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


def _without_nulls(pq):
    """The columns of a Parquet file that hold no null anywhere, by its footer's
    statistics: they are read as plain bool and int columns, as the file wrote them
    (nullable types are for the columns that need them, so chunks agree on a type)."""
    meta = pq.metadata
    counts = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for j in range(group.num_columns):
            column = group.column(j)
            stats = column.statistics
            known = stats is not None and stats.has_null_count
            name = column.path_in_schema
            counts[name] = counts.get(name, 0) + (stats.null_count if known else 1)
    return {name for name, n in counts.items() if n == 0}


def parquet_rows(path):
    """Rows in a Parquet file, from its footer."""
    return require_pyarrow().parquet.ParquetFile(path).metadata.num_rows


def _iter_parquet(path, chunk_size, columns):
    import pandas as pd

    pa = require_pyarrow()
    # No pre-buffering and a small read buffer: memory stays bounded by the batch (and
    # the file's page size), not by the row group.
    pq = pa.parquet.ParquetFile(path, pre_buffer=False, buffer_size=1 << 16)
    _check_unique_names(path, pq.schema_arrow.names, "schema")
    ranged = _range_index(pq.schema_arrow) if columns is None else None
    types = _nullable(pa)
    complete = _without_nulls(pq)
    offset = 0
    for batch in pq.iter_batches(batch_size=chunk_size, columns=columns, use_threads=False):
        frame = batch.to_pandas(types_mapper=types)
        for name in complete.intersection(frame.columns):  # as the file's own type
            dtype = frame[name].dtype
            if hasattr(dtype, "numpy_dtype") and dtype.kind in "biu":
                frame[name] = frame[name].to_numpy(dtype=dtype.numpy_dtype)
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

    options = csv_options(dialect or detect_dialect(path))
    _check_header(path, options)
    if text:  # every field as the exact text it holds (nothing parsed, nothing lost)
        options.update(dtype=str, keep_default_na=False, na_filter=False)
    elif dtypes is not None:
        options["dtype"] = dtypes
    with pd.read_csv(path, chunksize=chunk_size, usecols=columns, **options) as reader:
        done = 0
        for chunk in reader:
            yield _fields_match_header(chunk, path, done)
            done += len(chunk)


def _check_header(path, options):
    """TableError naming a column the CSV header names twice: pandas would rename the
    second copy ("a.1"), and a model reading "a" would silently take the first."""
    import pandas as pd

    try:
        header = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False, **options
        )
    except pd.errors.EmptyDataError:
        return  # no header: reading the table says so
    _check_unique_names(path, list(header.iloc[0]) if len(header) else [])


def _check_unique_names(path, names, where="header"):
    twice = sorted(str(n) for n in repeated_names(names))
    if twice:
        raise TableError(
            f"{path}: the {where} names the column {twice[0]!r} more than once"
            + (f" (and {twice[1:5]})" if len(twice) > 1 else "")
            + "; give each column its own name."
        )


def _fields_match_header(frame, path, first_row):
    """The frame, or TableError when its rows hold more fields than the header names.

    pandas then makes the leading fields an unnamed index, which would be dropped (an
    ID column lost from every written row) or shift every column against its name.
    """
    import pandas as pd

    if isinstance(frame.index, pd.RangeIndex) or all(n is not None for n in frame.index.names):
        return frame
    extra = frame.index.nlevels
    unnamed = "the first field has" if extra == 1 else f"the first {extra} fields have"
    raise TableError(
        f"{path}: data row {first_row + 1} has {frame.shape[1] + extra} fields but the "
        f"header names {frame.shape[1]} columns ({unnamed} no name); name every column "
        "in the header."
    )


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
        CSV column types (see :func:`infer_dtypes`), so that every chunk has the same
        types whatever the chunking.
    text : bool, default=False
        Read CSV fields as their exact text (no parsing, no missing values).

    A Parquet file's index is restored in every chunk (its named RangeIndex too); integer
    and boolean columns use pandas' nullable types, so a column's type does not change
    between chunks when nulls appear.
    """
    for name in table_files(path):
        fmt = table_format(name)
        with reading_errors(name, fmt):
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
        with reading_errors(name, "parquet"):
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


def infer_dtypes(files, chunk_size, *, dialects=None):
    """Column types that hold every value of every file (a folder is one table): one
    pass over them in chunks, as ``skae score`` then writes them.

    Integers and floats give float; a column with text anywhere is text (CSV fields read
    as their exact text, so ``007`` and ``A99`` both survive); booleans and integers stay
    so, nullable where a value is missing somewhere (or some file may lack the column);
    a file or chunk where a column is empty constrains nothing. A Parquet file's named
    index counts as a column (as ``skae score`` keeps it).

    Parameters
    ----------
    files : list of str
        Table files (:func:`table_files`).
    chunk_size : int
        Rows read at a time.
    dialects : dict, default=None
        ``{file: CSV dialect}``; None detects each file's.

    Returns
    -------
    dtypes : dict
        Column name -> pandas dtype, in the order the columns first appear.
    rows : int
        Rows read.
    """
    kinds, missing, present, rows = {}, set(), {}, 0
    for path in files:
        dialect = (dialects or {}).get(path)
        for chunk in iter_table(path, chunk_size, dialect=dialect):
            chunk = index_as_columns(chunk)
            rows += len(chunk)
            for name in chunk.columns:
                column = chunk[name]
                seen, kind = kinds.setdefault(name, set()), _chunk_kind(column)
                present.setdefault(name, set()).add(path)
                if kind is not None:
                    seen.add(kind)
                if column.isna().any():
                    missing.add(name)
    dtypes = {}
    for name, seen in kinds.items():
        if len(seen) > 1:
            seen = {"float"} if seen <= {"int", "float"} else {"str"}
        gaps = name in missing or len(present[name]) < len(files)
        dtypes[name] = _KIND_DTYPE[next(iter(seen), None), gaps]
    return dtypes, rows


# (kind, whether a value may be missing) -> the pandas dtype that holds every chunk
_KIND_DTYPE = {
    ("bool", False): "bool",
    ("bool", True): "boolean",
    ("int", False): "int64",
    ("int", True): "Int64",
    ("float", False): "float64",
    ("float", True): "float64",
    ("str", False): "str",
    ("str", True): "str",
    (None, False): "float64",
    (None, True): "float64",
}


def conform(frame, dtypes):
    """The frame with the columns and types of ``dtypes`` (one schema for a folder): a
    column it lacks is missing in its rows; its other columns follow, as they are."""
    import pandas as pd

    columns = {}
    for name, dtype in dtypes.items():
        if name in frame.columns:
            column = frame[name]
            if str(column.dtype) == dtype:
                columns[name] = column
            elif dtype == "str":
                columns[name] = _text(column)
            else:
                columns[name] = column.astype(dtype)
        else:
            columns[name] = pd.Series(None, index=frame.index, dtype=dtype)
    extra = [c for c in frame.columns if c not in dtypes]
    out = pd.DataFrame(columns, index=frame.index)
    return pd.concat([out, frame[extra]], axis=1) if extra else out


def _text(column):
    """A column as text, missing values kept missing (pandas 2's ``astype(str)`` would
    write them as "nan")."""
    import pandas as pd

    values = [v if isinstance(v, str) or pd.isna(v) else str(v) for v in column.to_numpy(object)]
    text = pd.Series(values, index=column.index, dtype=object, name=column.name)
    return text.astype("str") if int(pd.__version__.split(".")[0]) >= 3 else text


def index_as_columns(frame):
    """The frame with its named index levels as leading columns and a fresh RangeIndex.

    Unnamed levels are dropped (a positional index carries no data). Raises ValueError
    when a level's name is also a column's.
    """
    names = [n for n in frame.index.names if n is not None]
    if not names:
        return frame.reset_index(drop=True)
    clash = [str(n) for n in names if n in frame.columns]
    if clash:
        raise ValueError(
            f"the index {clash} has the same name as a column; rename one of "
            "them so both can be kept."
        )
    unnamed = [i for i, n in enumerate(frame.index.names) if n is None]
    if unnamed:
        frame = frame.reset_index(level=unnamed, drop=True)
    return frame.reset_index()
