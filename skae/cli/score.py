"""``skae score``: a table (or a folder of them) scored chunk by chunk with an exported
model and written with ``score``, ``label``, ``p_value`` and ``top_feature``; torch-free.
``-o -`` writes CSV to standard output (the progress bar and notes go to stderr).

CSV to CSV copies every field as the exact text it holds; CSV to Parquet first reads the
input once to give each column one type that holds every chunk; a Parquet file's named
index becomes a column. The output is written atomically (:mod:`skae._tables.writing`).
"""

from __future__ import annotations

from contextlib import nullcontext

import pandas as pd
from tqdm.auto import tqdm

from .._tables.dialects import decimal_points
from .._tables.formats import table_format
from .._tables.reading import (
    conform,
    index_as_columns,
    infer_dtypes,
    iter_table,
    table_files,
    total_rows,
)
from .._tables.values import RowsError
from .._tables.writing import STDOUT, TableWriter, atomic_path, check_output
from ..drift import DriftCheck
from ..scoring import check_detector, check_free_columns, model_columns, score_columns
from .common import load_model, say


class ScoreError(ValueError):
    """A table that cannot be scored; the message names the file, column and row."""


def run(options):
    """Run ``skae score``; return the exit code."""
    if options.output != STDOUT:
        check_output(options.output, inputs=[options.data, options.model])
    model = load_model(options.model)
    check_detector(model, options.model)
    return score_table(options, model)


def score_table(options, model):
    """Score ``options.data`` with ``model`` into ``options.output``; return 0."""
    files = table_files(options.data)
    out_format = "csv" if options.output == STDOUT else table_format(options.output)
    csv_in = all(table_format(f) == "csv" for f in files)
    # The output takes the first file's CSV dialect; each input file is read with its own
    # unless --sep / --decimal say otherwise.
    dialect = options.dialect(files[0])
    text = csv_in and out_format == "csv"  # fields copied as their exact text
    total = total_rows(files)  # (Parquet only: from the files' footers)
    dialects = {path: dialect if i == 0 else options.dialect(path) for i, path in enumerate(files)}
    dtypes = _one_schema(options, files, dialects, text, out_format)
    rows = 0
    drift = DriftCheck(model)
    with (
        nullcontext(STDOUT) if options.output == STDOUT else atomic_path(options.output) as tmp,
        tqdm(total=total, unit="rows", desc="skae score", disable=options.quiet or None) as bar,
    ):
        writer = TableWriter(tmp, options.output, dialect=dialect)
        try:
            for path, read in dialects.items():
                done = 0
                for chunk in iter_table(
                    path, options.chunk_size, dialect=read, dtypes=dtypes, text=text
                ):
                    scored = _score_chunk(model, chunk, options.threshold, path, done, read, text)
                    writer.write(scored if dtypes is None else conform(scored, dtypes))
                    drift.update(scored)
                    done += len(chunk)
                    bar.update(len(chunk))
                rows += done
            if rows == 0:  # inside: no output file either
                raise ScoreError(f"{options.data} has no data rows.")
        finally:
            writer.close()
    report = drift.report()
    wrote = (
        "wrote CSV to standard output" if options.output == STDOUT else f"wrote {options.output}"
    )
    say(f"skae score: {report.summary()}; {wrote}")
    if report.drift:
        say(
            "skae score: warning: drift: this table's scores differ from the calibration "
            "rows' (see above); the model may no longer describe the data."
        )
    return 0


def _one_schema(options, files, dialects, text, out_format):
    """The columns (and types) every written row takes, or None to keep each chunk's.

    A folder is one table: its files' columns united, each column of one type that holds
    every file's values (integers and floats give float, any text gives text). CSV to
    Parquet needs it for one file too (pandas types each chunk alone). CSV to CSV copies
    fields as their exact text, so there only the columns are united.
    """
    if len(files) == 1 and (text or out_format != "parquet" or dialects[files[0]] is None):
        return None
    if text:
        names = {}
        for path, read in dialects.items():
            first = next(iter(iter_table(path, 1, dialect=read, text=True)), None)
            names.update(
                dict.fromkeys(index_as_columns(first).columns if first is not None else ())
            )
        return dict.fromkeys(names, "str")
    return infer_dtypes(files, options.chunk_size, dialects=dialects)[0]


def _score_chunk(model, chunk, threshold, path, first_row, dialect, text):
    """One chunk with its score columns; errors name the file and the data row."""
    chunk = index_as_columns(chunk)
    check_free_columns(chunk.columns, path)
    view = chunk
    if text and dialect is not None and dialect.decimal != ".":
        needed = set(model_columns(model) or ())
        view = decimal_points(chunk, [c for c in chunk.columns if c in needed])
    try:
        scored = score_columns(model, view, threshold=threshold)
    except RowsError as exc:
        raise ScoreError(
            f"{path}: {exc} (first: data row {first_row + exc.position + 1})"
        ) from None
    except ValueError as exc:
        raise ScoreError(f"{path}: {exc}") from None
    return pd.concat([chunk, scored], axis=1)
