"""``skae score``: a table (or a folder of them) scored chunk by chunk with an exported
model and written with ``score``, ``label`` and ``top_feature``; torch-free.

CSV to CSV copies every field as the exact text it holds; CSV to Parquet first reads the
input once to give each column one type that holds every chunk; a Parquet file's named
index becomes a column. The output is written atomically (:mod:`skae._output`).
"""

from __future__ import annotations

import pandas as pd

from ._io import (
    decimal_points,
    dialect_for,
    infer_csv_dtypes,
    iter_table,
    table_files,
    table_format,
    total_rows,
)
from ._output import TableWriter, atomic_path
from ._scoring import SCORE_COLUMNS, RowsError, index_as_columns, model_columns, score_columns


class ScoreError(ValueError):
    """A table that cannot be scored; the message names the file, column and row."""


def score_table(args, model, *, out):
    """Run ``skae score`` (output checked and model loaded by the caller); return 0."""
    from tqdm.auto import tqdm

    files = table_files(args.data)
    out_format = table_format(args.output)
    csv_in = all(table_format(f) == "csv" for f in files)
    # The output takes the first file's CSV dialect; each input file is read with its own
    # unless --sep / --decimal say otherwise.
    explicit = args.sep is not None or args.decimal is not None
    dialect = dialect_for(files[0], sep=args.sep, decimal=args.decimal)
    text = csv_in and out_format == "csv"  # fields copied as their exact text
    total = None if csv_in else total_rows(args.data)
    rows = flagged = 0
    with (
        atomic_path(args.output) as tmp,
        tqdm(total=total, unit="rows", desc="skae score", disable=args.quiet or None) as bar,
    ):
        writer = TableWriter(tmp, args.output, dialect=dialect)
        try:
            for path in files:
                read = (
                    dialect_for(path, sep=args.sep, decimal=args.decimal)
                    if explicit or path != files[0]
                    else dialect
                )
                dtypes = None
                if read is not None and out_format == "parquet":
                    # one type per column over the whole file, so no chunk disagrees
                    dtypes, _ = infer_csv_dtypes(path, args.chunk_size, dialect=read)
                done = 0
                for chunk in iter_table(
                    path, args.chunk_size, dialect=read, dtypes=dtypes, text=text
                ):
                    scored = _score_chunk(model, chunk, args, path, done, read, text)
                    writer.write(scored)
                    done += len(chunk)
                    flagged += int((scored["label"] == -1).sum())
                    bar.update(len(chunk))
                rows += done
            if rows == 0:  # inside: no output file either
                raise ScoreError(f"{args.data} has no data rows.")
        finally:
            writer.close()
    out(
        f"skae score: {rows} rows, {flagged} flagged as outliers ({flagged / rows:.1%}); "
        f"wrote {args.output}"
    )
    return 0


def _score_chunk(model, chunk, args, path, first_row, dialect, text):
    """One chunk with its score columns; errors name the file and the data row."""
    chunk = index_as_columns(chunk)
    taken = [c for c in SCORE_COLUMNS if c in chunk.columns]
    if taken:
        raise ScoreError(
            f"{path} already has columns {taken}; rename them so the scores do not overwrite them."
        )
    view = chunk
    if text and dialect is not None and dialect.decimal != ".":
        needed = set(model_columns(model) or ())
        view = decimal_points(chunk, [c for c in chunk.columns if c in needed])
    try:
        scored = score_columns(model, view, threshold=args.threshold)
    except RowsError as exc:
        raise ScoreError(
            f"{path}: {exc} (first: data row {first_row + exc.position + 1})"
        ) from None
    except ValueError as exc:
        raise ScoreError(f"{path}: {exc}") from None
    return pd.concat([chunk, scored], axis=1)
