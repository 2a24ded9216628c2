"""Files out: checked before any work, written atomically.

A written file appears whole or not at all: the data goes to a temporary file next to the
output (created with the user's umask), which is flushed to disk and renamed over the
output only when complete; an existing output keeps its permissions, and a failure or
Ctrl-C removes the temporary file and leaves the existing output untouched. Nothing here
imports torch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys

from .dialects import Dialect
from .formats import open_text, require_pyarrow, split_name


class OutputError(ValueError):
    """An output that must not or cannot be written; the message names the fix."""


# The output name that means standard output (CSV), as Unix tools take it.
STDOUT = "-"


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path, *, inputs=(), suffixes=None):
    """Fail before any work when ``path`` could not, or must not, be written.

    Parameters
    ----------
    path : str
        The output file.
    inputs : sequence of str
        Files (or folders) the command reads: the output may be none of them, whatever
        the links (hard or symbolic) between them, nor a table inside an input folder.
    suffixes : tuple of str, default=None
        Accepted name endings (e.g. ``(".onnx",)``); None accepts any table format.
    """
    path = os.fspath(path)
    if suffixes is None:
        split_name(path)
    elif not path.lower().endswith(suffixes):
        raise OutputError(f"{path}: the output must be a {' or '.join(suffixes)} file.")
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder; give a file name.")
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise OutputError(
            f"{path}: the folder {os.path.dirname(os.path.abspath(path))} does not exist."
        )
    if os.path.exists(target):
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise OutputError(f"{path} exists and is not a regular file; give a file name.")
        if not os.access(target, os.W_OK):
            raise OutputError(f"{path} is read-only; remove it or give another name.")
    try:  # a table written into an input folder would be read as input next time
        readable = split_name(path) is not None
    except ValueError:
        readable = False
    for source in inputs:
        source = os.fspath(source)
        inside = (
            readable
            and os.path.isdir(source)
            and os.path.commonpath([os.path.realpath(source), target]) == os.path.realpath(source)
        )
        if _same_file(path, source) or inside:
            raise OutputError(
                f"{path} is the input {source}; writing it would destroy the "
                "data. Give another output name."
            )


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place only on success.

    A symbolic link as ``path`` is followed (its target is replaced, the link kept). The
    temporary file is created with mode 0666 less the umask, as a new file would be; an
    existing file's mode is kept. On any error (or Ctrl-C) the temporary file is removed
    and ``path`` is untouched: no partial output, and an existing file is never
    half-overwritten.
    """
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist.")
    tmp = os.path.join(folder, f".{name}.skae-{secrets.token_hex(4)}.part")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)  # on disk before the rename makes it the output
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if os.path.exists(target):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


class _Unclosed:
    """Standard output as a table writer's handle: flushed, never closed."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text)

    def close(self):
        self.stream.flush()


class TableWriter:
    """Append DataFrame chunks to a table file.

    Parameters
    ----------
    path : str
        Where to write (usually a temporary path from :func:`atomic_path`).
    name : str
        The output's real name: its suffix sets the format and compression (``.csv.gz``
        is gzip-compressed CSV, ``.tsv`` tab-separated, ``.parquet`` Parquet); ``"-"``
        (with ``path`` ``"-"`` too) writes CSV to standard output.
    dialect : Dialect, default=None
        Separator and decimal mark of CSV output; None: "," (a tab for ``.tsv``) and ".".

    The Parquet schema is the first chunk's; later chunks are converted to it, and a
    value that does not fit raises ValueError naming the column.
    """

    def __init__(self, path, name, *, dialect=None):
        self.path = path
        self.fmt, base, self.compression = (
            ("csv", ".csv", None) if name == STDOUT else split_name(name)
        )
        if dialect is None or base == ".tsv":
            dialect = Dialect(
                "\t" if base == ".tsv" else ",", "." if dialect is None else dialect.decimal
            )
        self.dialect = dialect
        self.archive_name = (
            os.path.basename(name)[: -len(".zip")] if self.compression == "zip" else None
        )
        self._handle = self._parquet = self._schema = None

    def write(self, df):
        if self.fmt == "parquet":
            self._write_parquet(df)
            return
        first = self._handle is None
        if first and self.path == STDOUT:
            self._handle = _Unclosed(sys.stdout)
        elif first:
            self._handle = open_text(self.path, self.compression, "w", member=self.archive_name)
        df.to_csv(
            self._handle,
            header=first,
            index=False,
            sep=self.dialect.sep,
            decimal=self.dialect.decimal,
        )

    def _write_parquet(self, df):
        pa = require_pyarrow()
        if self._parquet is None:
            table = pa.Table.from_pandas(df, preserve_index=False)
            # a text column with no value yet reads as Arrow's null type: make it text
            # (pandas 2 keeps a text column's missing values as object None)
            fields = [
                f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema
            ]
            if any(pa.types.is_null(f.type) for f in table.schema):
                table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
            self._schema = table.schema  # (with pandas' metadata: dtypes read back as such)
            self._parquet = pa.parquet.ParquetWriter(self.path, self._schema)
        else:
            try:
                table = pa.Table.from_pandas(df, schema=self._schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                raise ValueError(self._mismatch(pa, df)) from None
        self._parquet.write_table(table.replace_schema_metadata(self._schema.metadata))

    def _mismatch(self, pa, df):
        for field in self._schema:
            try:
                pa.array(df[field.name], type=field.type, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, KeyError):
                return (
                    f"column {field.name!r} holds values that do not fit the type "
                    f"{field.type} its first rows had; write CSV output instead."
                )
        return "a chunk does not fit the Parquet schema of the first rows."

    def close(self):
        """Finish the file (idempotent)."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
