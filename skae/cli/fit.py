"""``skae fit``: a table's columns -> ColumnTransformer -> ReconstructionAnomalyDetector,
fitted in memory or streamed in chunks, and written as one ONNX graph.

In memory (a file below ``FitOptions.stream_file_bytes``): the table is read whole and
the detector trains with ``fit`` (early stopping, its own epochs). Streaming
(``--chunk-rows``, a folder, or a larger file): a first pass over the data in chunks
gathers each column's statistics (types, categories up to ``--max-categories``, missing
counts, the scaler's means and variances by ``StandardScaler.partial_fit``, and a random
sample of at most ``--chunk-rows`` rows for the medians); then ``--epochs`` passes train
the detector with ``partial_fit`` on one chunk at a time. No more than one chunk and the
sample are held.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings

import sklearn
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from .._schema import META_COLUMNS
from .._tables.columns import ColumnStats, choose_roles, model_frame
from .._tables.dialects import decimal_points
from .._tables.formats import split_name
from .._tables.preprocessing import build_preprocessor, fit_streamed_preprocessor
from .._tables.reading import iter_table, read_table, table_files
from .._tables.writing import check_output, write_bytes
from ..detector import MIN_CALIBRATION_ROWS, ReconstructionAnomalyDetector, default_epochs
from ..exceptions import TrainingInterruptedWarning
from ..onnx import to_onnx
from ..vae import VAETransformer
from .common import out, quiet, say


@dataclasses.dataclass
class FittedTable:
    """What a fit produced: the preprocessing, the detector, the columns' roles and
    statistics, the rows the model's inputs are typed from, and the passes it took."""

    preprocessor: object
    detector: ReconstructionAnomalyDetector
    roles: object
    stats: ColumnStats
    sample: object
    epochs: int | None = None  # streamed fits only


def run(options):
    """Run ``skae fit``; return the exit code."""
    if options.false_alarm_rate is not None and options.contamination is not None:
        raise ValueError(
            "--contamination and --false-alarm-rate were both given: with "
            "--false-alarm-rate the training rows are taken as normal and the threshold "
            "comes from rows held out of them, so --contamination does not apply. Give one."
        )
    check_output(options.output, inputs=[options.data], suffixes=(".onnx",))
    return fit_table(options, say=quiet if options.quiet else say)


def streams(options):
    """Whether the fit streams: --chunk-rows given, a folder, or a large file."""
    if options.chunk_rows is not None or os.path.isdir(options.data):
        return True
    size = os.path.getsize(options.data) if os.path.exists(options.data) else 0
    if split_name(options.data)[2] is not None:
        size *= 5  # compressed text: several times larger once read
    return size > options.stream_file_bytes


def fit_table(options, *, say=say):
    """Fit, export and write the model (the output was checked); return the exit code."""
    files = table_files(options.data)
    streamed = streams(options)
    _say_ignored_options(options, streamed, say)
    start = time.perf_counter()
    memory = _working_memory(options) if streamed else sklearn.get_config()["working_memory"]
    with warnings.catch_warnings(), sklearn.config_context(working_memory=memory):
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning and friends
        # Ctrl-C: the estimators stop training and warn; the command writes nothing
        warnings.simplefilter("error", TrainingInterruptedWarning)
        try:
            if streamed:
                fitted = _fit_streamed(options, files, say)
            else:
                fitted = _fit_in_memory(options, files[0], say)
        except TrainingInterruptedWarning:
            raise KeyboardInterrupt from None
    seconds = time.perf_counter() - start
    pipeline = Pipeline([("columns", fitted.preprocessor), ("detector", fitted.detector)])
    with sklearn.config_context(working_memory=memory):
        onx = _export(pipeline, fitted, options)
        write_bytes(options.output, onx.SerializeToString())
        flagged = (pipeline.predict(fitted.sample) == -1).mean()
    out(_summary(options, fitted, streamed, seconds, flagged))
    return 0


def _say_ignored_options(options, streamed, say):
    if streamed and options.max_iter is not None:
        say("skae fit: --max-iter applies to in-memory fits; streaming trains for --epochs")
    if not streamed and options.epochs is not None:
        say(
            "skae fit: --epochs applies when streaming (--chunk-rows); this fit is in "
            "memory and stops by itself (--max-iter caps it)"
        )


def _names(names, limit=8):
    names = list(names)
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _summary(options, fitted, streamed, seconds, flagged):
    roles = fitted.roles
    filled = sum(roles.missing.values())
    notes = [
        f"{len(names)} {kind}" + (f": {_names(names)}" if names else "")
        for kind, names in (("numeric", roles.numeric), ("categorical", roles.categorical))
    ]
    if filled:
        notes.append(f"{filled} missing values filled in {len(roles.missing)} columns")
    mode = (
        f"streamed in chunks of {options.rows_per_chunk} rows, "
        f"{fitted.epochs} epoch{'s' * (fitted.epochs != 1)}"
        if streamed
        else "in memory"
    )
    share = f"a {len(fitted.sample)}-row sample" if streamed else "training rows"
    return (
        f"skae fit: {fitted.stats.rows} rows, {len(roles.inputs)} columns used "
        f"({'; '.join(notes)}), {options.model} {mode}, {seconds:.1f} s; {flagged:.1%} of "
        f"{share} flagged; wrote {options.output}"
    )


def _detector(options):
    return ReconstructionAnomalyDetector(
        VAETransformer() if options.model == "vae" else None,
        contamination=0.1 if options.contamination is None else options.contamination,
        false_alarm_rate=options.false_alarm_rate,
        novelty={"auto": "auto", "yes": True, "no": False}[options.novelty],
        references="centroids" if options.no_training_rows else "rows",
        max_iter=options.max_iter,
        device=options.device,
        n_jobs=options.n_jobs,
        verbose=0 if options.quiet else 1,
        random_state=options.seed,
    )


def _roles(options, stats):
    return choose_roles(
        stats,
        columns=options.columns,
        categorical=options.categorical,
        ignore=options.ignore,
        numeric=options.numeric,
        max_categories=options.max_categories,
        impute=options.impute != "none",
    )


def _working_memory(options):
    """sklearn's working_memory (MiB) for a streamed fit: about one chunk of 64 float64
    columns, so the detector's inference chunks (its calibration, the sample's scores)
    stay within the memory the chunk size sets, not sklearn's default 1 GiB."""
    return max(16, -(-options.rows_per_chunk * 8 * 64 // 2**20))


def _say_roles(options, roles, say):
    chosen = ("--ignore", "not in --columns")  # the user's choice: nothing to report
    shown = "; ".join(f"{name}: {why}" for name, why in roles.left_out.items() if why not in chosen)
    if shown:
        say(f"skae fit: leaving out columns: {shown}")
    if roles.missing:  # (only when imputing: choose_roles refuses them otherwise)
        counts = ", ".join(f"{n} ({c})" for n, c in roles.missing.items())
        say(f"skae fit: filling missing values with the training {options.impute}: {counts}")


def _fit_in_memory(options, path, say):
    df = read_table(path, dialect=options.dialect(path))
    stats = ColumnStats(count_limit=options.max_categories, sample_rows=0)
    stats.update(df)
    roles = _roles(options, stats)
    _say_roles(options, roles, say)
    X = model_frame(df, roles)
    del df
    _check_rows(options, len(X))
    pre = build_preprocessor(roles, impute=options.impute, indicators=options.missing_indicator)
    Z = pre.fit_transform(X)
    detector = _detector(options).fit(Z)
    return FittedTable(pre, detector, roles, stats, X)


def _check_rows(options, n):
    if n < MIN_CALIBRATION_ROWS:
        raise ValueError(
            f"{options.data} has {n} row{'s' * (n != 1)}; fitting needs at least "
            f"{MIN_CALIBRATION_ROWS} (the detector calibrates its scores from them)."
        )


def _chunks(options, dialects, columns=None, present=None):
    """``(file, chunk)`` for the data in chunks, from ``dialects``: ``{file: its CSV
    dialect, None for Parquet}``. ``columns`` restricts the reading to those of each
    file's columns (``present``: ``{file: its columns}``) the model uses."""
    for path, dialect in dialects.items():
        read = columns
        if columns is not None and present is not None:
            read = [c for c in columns if c in present.get(path, ())]
        # CSV fields as text: a column's type comes from the values of every chunk, not
        # from what pandas guesses in each
        for chunk in iter_table(
            path, options.rows_per_chunk, dialect=dialect, columns=read, text=dialect is not None
        ):
            if len(chunk) == 0:  # a header-only file, an empty partition: no rows to add
                continue
            yield (
                path,
                (chunk if dialect is None or dialect.decimal == "." else decimal_points(chunk)),
            )


def _column_statistics(options, dialects):
    """The first pass: every column's statistics, a random sample of rows, and each
    file's columns (a folder's files may differ: a column a file lacks is missing there)."""
    present = {}
    stats = ColumnStats(
        count_limit=options.max_categories,
        sample_rows=options.rows_per_chunk,
        random_state=options.seed,
    )
    with tqdm(
        unit="rows", desc="skae fit: column statistics", disable=options.quiet or None, leave=False
    ) as bar:
        for path, chunk in _chunks(options, dialects):
            stats.update(chunk)
            present.setdefault(path, set()).update(map(str, chunk.columns))
            bar.update(len(chunk))
    _check_rows(options, stats.rows)
    return stats, present


def _fit_streamed(options, files, say):
    dialects = {path: options.dialect(path) for path in files}  # detected once
    stats, present = _column_statistics(options, dialects)
    roles = _roles(options, stats)
    _say_roles(options, roles, say)
    sample = model_frame(stats.sample_frame(), roles)
    pre = fit_streamed_preprocessor(
        roles, stats, sample=sample, impute=options.impute, indicators=options.missing_indicator
    )
    detector = _detector(options).set_params(verbose=0)
    # the in-memory default: about 300 optimiser steps
    epochs = options.epochs or default_epochs(stats.rows)
    with tqdm(
        total=stats.rows * epochs,
        unit="rows",
        desc="skae fit: training",
        disable=options.quiet or None,
    ) as bar:
        for epoch in range(epochs):
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}")
            for _, chunk in _chunks(options, dialects, columns=roles.inputs, present=present):
                detector.partial_fit(pre.transform(model_frame(chunk, roles)))
                bar.update(len(chunk))
    return FittedTable(pre, detector, roles, stats, sample, epochs)


def _export(pipeline, fitted, options):
    onx = to_onnx(pipeline, fitted.sample.iloc[:1], feature_errors=True)
    roles, fills = fitted.roles, None
    if roles.numeric and options.impute != "none":  # every numeric column is imputed
        imputer = fitted.preprocessor.named_transformers_["numeric"].steps[0][1]
        fills = dict(zip(roles.numeric, imputer.statistics_, strict=True))
    entry = onx.metadata_props.add()
    entry.key = META_COLUMNS
    entry.value = json.dumps(
        roles.describe(fills, strategy=options.impute, indicators=options.missing_indicator)
    )
    return onx
