"""Tables in and out for the command line: CSV / Parquet, in chunks, written atomically.

Nothing here imports torch: ``skae score`` runs on numpy, pandas and onnxruntime alone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

_CSV = (".csv", ".txt", ".tsv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".tsv.gz")
_PARQUET = (".parquet", ".pq", ".parq")


def table_format(path):
    """``"csv"`` or ``"parquet"`` from a file name's suffix; ValueError for anything else."""
    name = os.fspath(path).lower()
    if name.endswith(_PARQUET):
        return "parquet"
    if name.endswith(_CSV):
        return "csv"
    raise ValueError(f"{path}: unknown table format; use a .csv (.tsv, .csv.gz) or "
                     ".parquet file.")


def _csv_options(path):
    return {"sep": "\t"} if os.fspath(path).lower().endswith((".tsv", ".tsv.gz")) else {}


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ValueError("Parquet files need pyarrow: pip install 'skae[parquet]'.") from None
    return pyarrow


def _check_exists(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; give a .csv or .parquet file.")


def first_line(exc):
    """The first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_numeric_column(column):
    """Numbers a model can take: numeric dtypes, booleans excluded."""
    import pandas as pd

    return (pd.api.types.is_numeric_dtype(column.dtype)
            and not pd.api.types.is_bool_dtype(column.dtype))


def _malformed(path, fmt, exc):
    return ValueError(f"{path}: could not read it as {fmt.upper()} ({first_line(exc)}).")


@contextlib.contextmanager
def _reading(path, fmt):
    """Parser errors (pandas', pyarrow's, decoding) as one ValueError naming the file."""
    try:
        yield
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise _malformed(path, fmt, exc) from None
    except Exception as exc:  # pyarrow's own errors are not ValueErrors
        if type(exc).__module__.startswith(("pyarrow", "pandas")):
            raise _malformed(path, fmt, exc) from None
        raise


def read_table(path):
    """Read a whole CSV or Parquet file into a DataFrame."""
    import pandas as pd

    fmt = table_format(path)
    _check_exists(path)
    with _reading(path, fmt):
        if fmt == "parquet":
            _pyarrow()
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, **_csv_options(path))
    if df.shape[0] == 0:
        raise ValueError(f"{path} has no data rows.")
    return df


def iter_table(path, chunk_size):
    """Yield ``(DataFrame chunk, total rows or None)`` without reading the whole file."""
    import pandas as pd

    fmt = table_format(path)
    _check_exists(path)
    with _reading(path, fmt):
        if fmt == "parquet":
            pq = _pyarrow().parquet.ParquetFile(path)
            total = pq.metadata.num_rows
            for batch in pq.iter_batches(batch_size=chunk_size):
                yield batch.to_pandas(), total
            return
        with pd.read_csv(path, chunksize=chunk_size, **_csv_options(path)) as reader:
            for chunk in reader:
                yield chunk, None


def numeric_columns(df, columns=None):
    """The columns to model: ``columns`` (checked) or every numeric one.

    Returns ``(selected DataFrame as float64, names of non-numeric columns left out)``.
    Raises ValueError naming the columns when some are missing, non-numeric, hold NaN or
    infinity, or when none remain.
    """
    if df.columns.duplicated().any():
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"the data has duplicated column names {dupes}; rename them.")
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"--columns names columns that are not in the data: {missing}; "
                             f"the data has {[str(c) for c in df.columns]}.")
        bad = [c for c in columns if not is_numeric_column(df[c])]
        if bad:
            raise ValueError(f"columns {bad} are not numeric; encode them as numbers or leave "
                             "them out of --columns.")
        chosen, dropped = list(columns), []
    else:
        chosen = [c for c in df.columns if is_numeric_column(df[c])]
        dropped = [str(c) for c in df.columns if c not in set(chosen)]
        if not chosen:
            raise ValueError(f"the data has no numeric columns (it has {dropped[:10]}); "
                             "encode them as numbers first.")
    X = df[chosen].astype(np.float64)
    bad = X.columns[~np.isfinite(X.to_numpy()).all(axis=0)]
    if len(bad):
        counts = {str(c): int((~np.isfinite(X[c].to_numpy())).sum()) for c in bad[:5]}
        raise ValueError(f"columns with missing or infinite values (count per column): "
                         f"{counts}; fill or drop those rows, or leave the columns out with "
                         "--columns.")
    with np.errstate(over="ignore", invalid="ignore"):
        huge = X.columns[~np.isfinite(X.to_numpy().std(axis=0))]
    if len(huge):
        raise ValueError(f"columns {[str(c) for c in huge[:5]]} hold values too large to "
                         "standardise (their variance overflows); rescale them first (e.g. "
                         "divide by a power of ten).")
    return X, dropped


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place only on success.

    On any error (or Ctrl-C) the temporary file is removed and ``path`` is untouched: no
    partial output, and an existing file is never half-overwritten.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".skae-", suffix=".part", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class TableWriter:
    """Append DataFrame chunks to a CSV or Parquet file at ``path`` (a temporary path)."""

    def __init__(self, path, fmt, *, tsv=False):
        self.path, self.fmt, self.tsv = path, fmt, tsv
        self._parquet = None
        self._wrote_header = False

    def write(self, df):
        if self.fmt == "parquet":
            pa = _pyarrow()
            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._parquet is None:
                self._parquet = pa.parquet.ParquetWriter(self.path, table.schema)
            elif not table.schema.equals(self._parquet.schema):
                # CSV chunks can infer another dtype (int in one chunk, float in the next)
                table = table.cast(self._parquet.schema)
            self._parquet.write_table(table)
        else:
            df.to_csv(self.path, mode="a" if self._wrote_header else "w",
                      header=not self._wrote_header, index=False,
                      sep="\t" if self.tsv else ",")
            self._wrote_header = True

    def close(self):
        if self._parquet is not None:
            self._parquet.close()
