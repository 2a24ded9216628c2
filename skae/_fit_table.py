"""``skae fit``: a table's columns -> ColumnTransformer -> ReconstructionAnomalyDetector,
fitted in memory or streamed in chunks, and written as one ONNX graph.

In memory (a file below ``STREAM_FILE_BYTES``): the table is read whole and the detector
trains with ``fit`` (early stopping, its own epochs). Streaming (``--chunk-rows``, a
folder, or a larger file): a first pass over the data in chunks gathers each column's
statistics (types, categories up to ``--max-categories``, missing counts, the scaler's
means and variances by ``StandardScaler.partial_fit``, and a random sample of at most
``--chunk-rows`` rows for the medians); then ``--epochs`` passes train the detector with
``partial_fit`` on one chunk at a time. No more than one chunk and the sample are held.
"""

from __future__ import annotations

import json
import os
import time
import warnings

from ._cli_parser import table_dialect
from ._schema import META_COLUMNS
from ._tables.columns import ColumnStats, choose_roles, model_frame
from ._tables.dialects import decimal_points
from ._tables.formats import split_name
from ._tables.preprocessing import build_preprocessor, fit_streamed_preprocessor
from ._tables.reading import iter_table, read_table, table_files
from ._tables.writing import write_bytes


def _settings():
    """The command line's module, where the streaming constants live (set by tests)."""
    from . import cli

    return cli


def _chunk_rows(args):
    """Rows per chunk when streaming: --chunk-rows, or the default."""
    return args.chunk_rows or _settings().DEFAULT_CHUNK_ROWS


def _detector(args):
    from . import ReconstructionAnomalyDetector, VAETransformer

    return ReconstructionAnomalyDetector(
        VAETransformer() if args.model == "vae" else None,
        contamination=args.contamination,
        max_iter=args.max_iter,
        device=args.device,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
        random_state=args.seed,
    )


def streams(args):
    """Whether the fit streams: --chunk-rows given, a folder, or a large file."""
    if args.chunk_rows is not None or os.path.isdir(args.data):
        return True
    size = os.path.getsize(args.data) if os.path.exists(args.data) else 0
    if split_name(args.data)[2] is not None:
        size *= 5  # compressed text: several times larger once read
    return size > _settings().STREAM_FILE_BYTES


def _roles(args, stats):
    return choose_roles(
        stats,
        columns=args.columns,
        categorical=args.categorical,
        ignore=args.ignore,
        max_categories=args.max_categories,
        impute=args.impute != "none",
    )


def _working_memory(args):
    """sklearn's working_memory (MiB) for a streamed fit: about one chunk of 64 float64
    columns, so the detector's inference chunks (its calibration, the sample's scores)
    stay within the memory the chunk size sets, not sklearn's default 1 GiB."""
    return max(16, -(-_chunk_rows(args) * 8 * 64 // 2**20))


def fit_table(args, *, say, out):
    """Run ``skae fit`` (the output was checked by the caller); return the exit code."""
    from sklearn.pipeline import Pipeline

    files = table_files(args.data)
    streamed = streams(args)
    if streamed and args.max_iter is not None:
        say("skae fit: --max-iter applies to in-memory fits; streaming trains for --epochs")
    if not streamed and args.epochs is not None:
        say(
            "skae fit: --epochs applies when streaming (--chunk-rows); this fit is in "
            "memory and stops by itself (--max-iter caps it)"
        )
    start = time.perf_counter()
    import sklearn

    from .exceptions import TrainingInterruptedWarning

    memory = _working_memory(args) if streamed else sklearn.get_config()["working_memory"]
    with warnings.catch_warnings(), sklearn.config_context(working_memory=memory):
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning and friends
        # Ctrl-C: the estimators stop training and warn; the command writes nothing
        warnings.simplefilter("error", TrainingInterruptedWarning)
        try:
            if streamed:
                pre, detector, roles, stats, sample = _fit_streamed(args, files, say)
            else:
                pre, detector, roles, stats, sample = _fit_in_memory(args, files[0], say)
        except TrainingInterruptedWarning:
            raise KeyboardInterrupt from None
    seconds = time.perf_counter() - start
    pipeline = Pipeline([("columns", pre), ("detector", detector)])
    with sklearn.config_context(working_memory=memory):
        onx = _export(pipeline, sample, roles, pre, args)
        write_bytes(args.output, onx.SerializeToString())
        flagged = (pipeline.predict(sample) == -1).mean()
    filled = sum(roles.missing.values())
    notes = [f"{len(roles.numeric)} numeric", f"{len(roles.categorical)} categorical"]
    if filled:
        notes.append(f"{filled} missing values filled in {len(roles.missing)} columns")
    mode = (
        f"streamed in chunks of {_chunk_rows(args)} rows, "
        f"{args.epochs} epoch{'s' * (args.epochs != 1)}"
        if streamed
        else "in memory"
    )
    share = f"a {len(sample)}-row sample" if streamed else "training rows"
    out(
        f"skae fit: {stats.rows} rows, {len(roles.inputs)} columns used "
        f"({', '.join(notes)}), {args.model} {mode}, {seconds:.1f} s; {flagged:.1%} of "
        f"{share} flagged; wrote {args.output}"
    )
    return 0


def _say_roles(args, roles, say):
    chosen = ("--ignore", "not in --columns")  # the user's choice: nothing to report
    shown = "; ".join(f"{name}: {why}" for name, why in roles.left_out.items() if why not in chosen)
    if shown:
        say(f"skae fit: leaving out columns: {shown}")
    if roles.missing:  # (only when imputing: choose_roles refuses them otherwise)
        counts = ", ".join(f"{n} ({c})" for n, c in roles.missing.items())
        say(f"skae fit: filling missing values with the training {args.impute}: {counts}")


def _fit_in_memory(args, path, say):
    df = read_table(path, dialect=table_dialect(args, path))
    stats = ColumnStats(count_limit=args.max_categories, sample_rows=0)
    stats.update(df)
    roles = _roles(args, stats)
    _say_roles(args, roles, say)
    X = model_frame(df, roles)
    del df
    if len(X) < 2:
        raise ValueError(f"{args.data} has {len(X)} row; fitting needs at least 2.")
    pre = build_preprocessor(roles, impute=args.impute, indicators=args.missing_indicator)
    Z = pre.fit_transform(X)
    detector = _detector(args).fit(Z)
    return pre, detector, roles, stats, X


def _chunks(args, dialects, columns=None):
    """The data in chunks, from ``dialects``: ``{file: its CSV dialect, None for Parquet}``."""
    rows = _chunk_rows(args)
    for path, dialect in dialects.items():
        # CSV fields as text: a column's type comes from the values of every chunk, not
        # from what pandas guesses in each
        for chunk in iter_table(
            path, rows, dialect=dialect, columns=columns, text=dialect is not None
        ):
            yield chunk if dialect is None or dialect.decimal == "." else decimal_points(chunk)


def _fit_streamed(args, files, say):
    from tqdm.auto import tqdm

    dialects = {path: table_dialect(args, path) for path in files}  # detected once
    stats = ColumnStats(
        count_limit=args.max_categories, sample_rows=_chunk_rows(args), random_state=args.seed
    )
    with tqdm(
        unit="rows", desc="skae fit: column statistics", disable=args.quiet or None, leave=False
    ) as bar:
        for chunk in _chunks(args, dialects):
            stats.update(chunk)
            bar.update(len(chunk))
    if stats.rows < 2:
        raise ValueError(f"{args.data} has {stats.rows} row; fitting needs at least 2.")
    roles = _roles(args, stats)
    _say_roles(args, roles, say)
    sample = model_frame(stats.sample_frame(), roles)
    pre = fit_streamed_preprocessor(
        roles, stats, sample=sample, impute=args.impute, indicators=args.missing_indicator
    )
    detector = _detector(args).set_params(verbose=0)
    if args.epochs is None:  # the in-memory default: about 300 optimiser steps
        from ._detection.default_members import default_epochs

        args.epochs = default_epochs(stats.rows)
    used = roles.inputs
    with tqdm(
        total=stats.rows * args.epochs,
        unit="rows",
        desc="skae fit: training",
        disable=args.quiet or None,
    ) as bar:
        for epoch in range(args.epochs):
            bar.set_postfix_str(f"epoch {epoch + 1}/{args.epochs}")
            for chunk in _chunks(args, dialects, columns=used):
                detector.partial_fit(pre.transform(model_frame(chunk, roles)))
                bar.update(len(chunk))
    return pre, detector, roles, stats, sample


def _export(pipeline, sample, roles, pre, args):
    from .onnx import to_onnx

    onx = to_onnx(pipeline, sample.iloc[:1], feature_errors=True)
    fills = None
    if roles.missing:  # imputed (choose_roles refuses missing values otherwise)
        imputer = pre.named_transformers_["numeric"].steps[0][1]
        fills = dict(zip(roles.numeric, imputer.statistics_, strict=True))
    entry = onx.metadata_props.add()
    entry.key = META_COLUMNS
    entry.value = json.dumps(
        roles.describe(fills, strategy=args.impute, indicators=args.missing_indicator)
    )
    return onx
