"""The ``skae`` command line: ``main(argv=None) -> int``, subcommands via argparse.

Heavy imports happen inside the handlers, so ``skae --help`` is instant, and
``skae score`` and ``skae info`` never import torch (numpy, pandas and onnxruntime only).
Errors print one line on stderr and return a non-zero exit code; set ``SKAE_DEBUG=1``
for the full traceback. Text from files (column names, model metadata, file names) is
printed with control characters escaped, so a crafted file cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

# Passes over the data when ``skae fit`` streams (--chunk-rows, a folder, a large file).
# ``skae fit`` reads a file whole below this size; larger files are streamed.
STREAM_FILE_BYTES = 512 * 2**20
# Rows per chunk when ``skae fit`` streams without --chunk-rows.
DEFAULT_CHUNK_ROWS = 50_000
# Text columns with at most this many distinct values are one-hot encoded by ``skae fit``.
MAX_CATEGORIES = 20


class CommandError(Exception):
    """An error the user can fix, reported as one line without a traceback."""


def printable(text):
    """``text`` with control and format characters escaped (``\\x1b``, ``\\u202e``)."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _print(*parts):
    print(" ".join(printable(p) for p in parts))


def _say(*parts):
    print(" ".join(printable(p) for p in parts), file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


# ------------------------------------------------------------ option validation
def _integer(valid, expected):
    """An argparse type: an integer for which ``valid`` holds, else ``expected`` named."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
        return value

    return parse


_positive_int = _integer(lambda v: v >= 1, "a positive integer")
_seed = _integer(lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")
_n_jobs = _integer(lambda v: v >= 1 or v == -1, "a positive integer or -1 (all cores)")


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _contamination(text):
    if text == "auto":
        return text
    value = _finite_float(text)
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be 'auto' or in (0, 0.5], got {text}")
    return value


def _separator(text):
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1 or text in '"\r\n' or text.isalnum():
        raise argparse.ArgumentTypeError(
            f"must be one character such as ',' ';' '|' or 'tab', got {text!r}"
        )
    return text


# -------------------------------------------------------------------- helpers
def _dialect(args, path):
    """The CSV dialect of a file: --sep / --decimal, or detected (None for Parquet)."""
    from ._io import dialect_for

    return dialect_for(path, sep=args.sep, decimal=args.decimal)


def _load_model(path):
    from ._io import first_line
    from .onnx import load_onnx

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a folder; give an .onnx file.")
    try:
        return load_onnx(path)
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CommandError(f"{path} is not a model skae can load ({first_line(exc)}).") from None
    except Exception as exc:  # onnxruntime's own exception types
        if type(exc).__module__.startswith("onnxruntime"):
            raise CommandError(
                f"{path} is not a model skae can load (not a valid ONNX file)."
            ) from None
        raise


# --------------------------------------------------------------------------- fit
def _fit(args) -> int:
    """Fit a ReconstructionAnomalyDetector on a table's columns; write it as ONNX.

    Numeric (and boolean) columns are standardised, missing numbers imputed, and
    low-cardinality text columns one-hot encoded, all inside the exported pipeline. A
    file is read whole; --chunk-rows, a folder, or a large file streams the data in
    chunks (bounded memory, --epochs passes).
    """
    from . import _require_train

    _require_train("skae fit")
    from ._fit_table import fit_table
    from ._output import check_output

    check_output(args.output, inputs=[args.data], suffixes=(".onnx",))
    return fit_table(args, say=_say if not args.quiet else (lambda *a: None), out=_print)


# ------------------------------------------------------------------------- score
def _score(args) -> int:
    """Score a table with an exported model (torch-free); write it with score and label."""
    from ._output import check_output
    from ._score_table import score_table

    check_output(args.output, inputs=[args.data, args.model])
    model = _load_model(args.model)
    if "label" not in model.output_names or "scores" not in model.output_names:
        raise CommandError(
            f"{args.model} is not an outlier detector (its outputs are "
            f"{model.output_names}); export a ReconstructionAnomalyDetector."
        )
    return score_table(args, model, out=_print)


# ----------------------------------------------------------------- export, info
def _export_sample(args, estimator, n_features):
    """The sample that types the graph's inputs.

    --sample: the first row of a table (one typed input per column, text included). A
    Pipeline with a ColumnTransformer fitted on named columns: a float DataFrame (one input
    per column, selected by name). Otherwise one float32 tensor.
    """
    import numpy as np
    from sklearn.compose import ColumnTransformer

    from ._io import iter_table

    if args.sample is not None:
        chunk = next(iter(iter_table(args.sample, 1, dialect=_dialect(args, args.sample))), None)
        if chunk is None or len(chunk) == 0:
            raise CommandError(f"{args.sample} has no data rows.")
        return chunk.reset_index(drop=True)
    names = getattr(estimator, "feature_names_in_", None)
    steps = getattr(estimator, "steps", [(None, estimator)])
    if names is not None and any(isinstance(s, ColumnTransformer) for _, s in steps):
        import pandas as pd

        return pd.DataFrame({str(n): [0.0] for n in names})
    return np.zeros((1, n_features), np.float32)


def _export(args) -> int:
    """Convert a fitted estimator or Pipeline saved with joblib to ONNX."""
    from . import _require_train

    _require_train("skae export")
    import joblib
    from sklearn.exceptions import NotFittedError

    from ._output import check_output, write_bytes
    from .onnx import to_onnx

    check_output(
        args.output,
        inputs=[args.model] + ([args.sample] if args.sample else []),
        suffixes=(".onnx",),
    )
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"{args.model}: no such file.")
    try:
        estimator = joblib.load(args.model)
    except Exception as exc:
        raise CommandError(
            f"{args.model} could not be loaded with joblib ({type(exc).__name__}: {exc})."
        ) from None
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise CommandError(
            f"{args.model} holds a {type(estimator).__name__} that is not a "
            "fitted estimator (no n_features_in_); fit it before saving."
        )
    sample = _export_sample(args, estimator, n_features)
    try:
        onx = to_onnx(estimator, sample, feature_errors=not args.no_feature_errors)
    except NotFittedError as exc:
        raise CommandError(f"{args.model}: {exc}") from None
    write_bytes(args.output, onx.SerializeToString())
    _print(f"skae export: {type(estimator).__name__} -> {args.output}")
    return 0


def _info(args) -> int:
    """Print an exported model's metadata, inputs and outputs."""
    import json
    import re

    from ._scoring import META_COLUMNS, feature_error_names, model_inputs
    from .onnx._spec import META_FEATURE_NAMES, META_PARAMS

    model = _load_model(args.model)
    meta = dict(model.metadata)
    _print(f"{args.model}: {os.path.getsize(args.model)} bytes")
    inputs = model_inputs(model)
    if getattr(model, "input_columns_", None) is None:
        _print(f"  inputs:  X, float32, {model.n_features_in_} features")
    else:
        _print(f"  inputs:  {len(inputs)} columns, one input each")
    _print(f"  outputs: {', '.join(model.output_names)}")
    if model.feature_names_in_ is not None:
        shown = model.feature_names_in_[:20]
        more = len(model.feature_names_in_) - len(shown)
        _print(f"  feature names: {', '.join(shown)}" + (f" ... (+{more})" if more else ""))
        meta.pop(META_FEATURE_NAMES, None)
    for key in ("inputs", "input_columns"):  # shown above
        meta.pop(key, None)
    for line in _column_lines(meta.pop(META_COLUMNS, None), inputs):
        _print(line)
    if "feature_errors" in model.output_names:
        _print("  " + _feature_errors_line(model, meta, feature_error_names(model)))
    meta.pop("feature_errors_names", None)
    params = meta.pop(META_PARAMS, None)
    for key, value in sorted(meta.items()):
        _print(f"  {key}: {value}")
    if params and args.params:
        _print("  estimator_params:")
        breaks = re.compile(r"(?:\\n|\s)+")
        try:
            items = json.loads(params).items()
        except (ValueError, AttributeError):
            items = [("(unreadable)", params)]
        for key, value in items:
            # reprs of nested estimators carry (escaped) line breaks: one line each
            _print(f"    {key}: {breaks.sub(' ', str(value))}")
    return 0


def _column_lines(columns, inputs):
    """How the model uses each column, from the metadata ``skae fit`` writes."""
    import json

    if not columns:
        if len(inputs) > 1:
            yield "  columns: " + ", ".join(f"{n} ({k})" for n, k in inputs)
        return
    try:
        roles = json.loads(columns)
    except ValueError:
        return
    for heading, names in roles.items():
        if not names:
            continue
        if isinstance(names, dict):
            yield f"  {heading}:"
            for name, note in names.items():
                yield f"    {name}: {note}"
        else:
            shown = ", ".join(map(str, names[:30]))
            yield f"  {heading}: {shown}" + (
                f" ... (+{len(names) - 30})" if len(names) > 30 else ""
            )


def _feature_errors_line(model, meta, names):
    meta.pop("feature_errors_space", None)
    space = getattr(model, "feature_errors_space_", None)
    if names is None:
        return "feature errors: per feature, names unknown (skae score writes no top_feature)"
    if space is None:
        space = "input" if names == model.feature_names_in_ else "transformed"
    where = (
        "per input column"
        if space == "input"
        else "per transformed feature (after the pipeline's preprocessing)"
    )
    return f"feature errors: {where}: top_feature names one of {len(names)}"


def _demo(args) -> int:
    from . import _require_train

    _require_train("skae demo")
    from ._demo import run_demo

    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CommandError(f"{args.output} is a file; give a folder for the demo's outputs.")
    return run_demo(output=args.output, quick=args.quick, rare=args.rare, seed=args.seed)


# ------------------------------------------------------------------------ parser
def _table_options(parser):
    parser.add_argument(
        "--sep",
        type=_separator,
        metavar="CHAR",
        help="CSV field separator (default: detected among , ; tab |)",
    )
    parser.add_argument(
        "--decimal",
        choices=[".", ","],
        metavar="MARK",
        help="CSV decimal mark, . or , (default: detected; ',' only with another separator)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skae",
        description="scikit-learn autoencoders: fit outlier detectors, export them to ONNX "
        "and score tables without torch.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="the main job end to end on bundled digits",
        description="Outliers among scikit-learn's bundled digits (one digit "
        "held out as the rare class) next to IsolationForest, clustering on "
        "autoencoder codes vs PCA vs raw pixels, ONNX export and re-scoring, "
        "and a PNG report.",
    )
    demo.add_argument(
        "-o",
        "--output",
        default="skae-demo",
        help="folder for the report and the model (default: skae-demo)",
    )
    demo.add_argument("--quick", action="store_true", help="fewer epochs: a few seconds")
    demo.add_argument(
        "--rare",
        type=int,
        default=7,
        choices=range(10),
        metavar="DIGIT",
        help="digit used as the rare class (default: 7)",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit", help="fit a detector on a CSV/Parquet table, write ONNX", description=_fit.__doc__
    )
    fit.add_argument(
        "data",
        help="training table (.csv, .tsv, .txt, optionally .gz/.bz2/"
        ".zip/.xz; .parquet), or a folder of them",
    )
    fit.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    fit.add_argument(
        "--contamination",
        type=_contamination,
        default=0.1,
        metavar="SHARE",
        help="expected share of outliers, in (0, 0.5], or auto (default: 0.1)",
    )
    fit.add_argument(
        "--model",
        choices=["ae", "vae"],
        default="ae",
        help="ae: the default ensemble of autoencoders; vae: one VAE",
    )
    fit.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="use only these columns (default: every numeric, boolean and "
        "low-cardinality text column)",
    )
    fit.add_argument(
        "--categorical",
        nargs="+",
        metavar="COLUMN",
        default=[],
        help="one-hot encode these columns whatever their type",
    )
    fit.add_argument(
        "--ignore", nargs="+", metavar="COLUMN", default=[], help="leave these columns out"
    )
    fit.add_argument(
        "--max-categories",
        type=_positive_int,
        default=MAX_CATEGORIES,
        metavar="N",
        help="text columns with at most this many distinct values are "
        f"one-hot encoded, others left out (default: {MAX_CATEGORIES})",
    )
    fit.add_argument(
        "--impute",
        choices=["median", "mean", "none"],
        default="median",
        help="fill missing numbers inside the model with the training median "
        "or mean (default: median); none refuses missing values",
    )
    fit.add_argument(
        "--missing-indicator",
        action="store_true",
        help="also give the model a 0/1 column per column with missing "
        "values, so that a missing value itself counts as unusual",
    )
    fit.add_argument(
        "--max-iter",
        type=_positive_int,
        metavar="N",
        help="maximum epochs per network (in-memory fits)",
    )
    fit.add_argument(
        "--chunk-rows",
        type=_positive_int,
        metavar="N",
        help="stream the data in chunks of this many rows (bounds memory); "
        "a folder or a file over "
        f"{STREAM_FILE_BYTES // 2**20} MiB streams in chunks of "
        f"{DEFAULT_CHUNK_ROWS} rows",
    )
    fit.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="passes over the data when streaming (default: as the in-memory detector's "
        "step budget, about 300 optimiser steps: 10 passes or more)",
    )
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    fit.add_argument(
        "--n-jobs",
        type=_n_jobs,
        metavar="N",
        help="CPU threads for training, -1 for all (default: the detector's choice)",
    )
    fit.add_argument("--seed", type=_seed, default=0, metavar="N", help="random seed (default: 0)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes")
    _table_options(fit)
    fit.set_defaults(func=_fit)

    score = sub.add_parser(
        "score", help="score a table with an ONNX model (no torch)", description=_score.__doc__
    )
    score.add_argument("model", help="an ONNX file written by skae fit or skae export")
    score.add_argument("data", help="table to score (as for fit), or a folder of them")
    score.add_argument(
        "-o",
        "--output",
        required=True,
        help="table to write (.csv, .tsv, .txt, optionally .gz/.bz2/.zip/.xz; "
        ".parquet): the input's rows with score (negative = outlier), "
        "label (-1 outlier, +1 inlier) and top_feature",
    )
    score.add_argument(
        "--threshold",
        type=_finite_float,
        metavar="SCORE",
        help="flag rows whose score is below this (default: the model's "
        "contamination threshold, 0; write negative values as "
        "--threshold=-2)",
    )
    score.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="rows read and scored at a time (default: 100000)",
    )
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _table_options(score)
    score.set_defaults(func=_score)

    export = sub.add_parser(
        "export", help="convert a joblib-saved estimator to ONNX", description=_export.__doc__
    )
    export.add_argument("model", help="a fitted estimator or Pipeline saved with joblib.dump")
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument(
        "--no-feature-errors",
        action="store_true",
        help="leave the per-feature errors out of a detector's outputs",
    )
    export.add_argument(
        "--sample",
        metavar="TABLE",
        help="a table of the training data's columns: its first row types "
        "the model's inputs (one per column, text included)",
    )
    _table_options(export)
    export.set_defaults(func=_export)

    info = sub.add_parser("info", help="print an ONNX model's metadata", description=_info.__doc__)
    info.add_argument("model", help="an ONNX file written by skae")
    info.add_argument("--params", action="store_true", help="also list estimator parameters")
    info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    """Run the ``skae`` command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _say(f"skae {args.command}: interrupted; no output written.")
        return 130
    except (CommandError, ValueError, OSError, ImportError) as exc:
        if os.environ.get("SKAE_DEBUG"):
            raise
        _say(f"skae {args.command}: error: {_one_line(exc)}")
        return 1
    except Exception as exc:  # an unexpected failure still gets one line
        if os.environ.get("SKAE_DEBUG"):
            raise
        _say(
            f"skae {args.command}: error: {type(exc).__name__}: {_one_line(exc)} "
            "(set SKAE_DEBUG=1 for the traceback)"
        )
        return 1


def _one_line(exc):
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
