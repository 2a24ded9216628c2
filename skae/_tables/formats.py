"""Table files by name: their format and compression, opening them as text, and the one
error every reader raises for a file it cannot read.

Nothing here imports torch or scikit-learn (``skae score`` runs on numpy, pandas and
onnxruntime alone)."""

from __future__ import annotations

import contextlib
import io
import os

_PARQUET = (".parquet", ".pq", ".parq")
_CSV_BASES = (".csv", ".tsv", ".txt")
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}


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


def require_pyarrow():
    """pyarrow (and pyarrow.parquet), or ValueError naming the ``parquet`` extra."""
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
def reading_errors(path, fmt):
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
