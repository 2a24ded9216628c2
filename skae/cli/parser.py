"""The ``skae`` command's argparse parser: one small builder per command, and the option
types that check numbers before any work. Standard library only."""

from __future__ import annotations

import argparse
import math

from .._version import __version__
from .common import printable
from .options import DEFAULT_CHUNK_ROWS, MAX_CATEGORIES, SCORE_CHUNK_ROWS, STREAM_FILE_BYTES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


# ---------------------------------------------------------------- option types
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


def _rate(text):
    value = _finite_float(text)
    if not 0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5), got {text}")
    return value


def _separator(text):
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1 or text in '"\r\n' or text.isalnum():
        raise argparse.ArgumentTypeError(
            f"must be one character such as ',' ';' '|' or 'tab', got {text!r}"
        )
    return text


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


# ------------------------------------------------------------------- commands
def _demo(sub):
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
    demo.add_argument(
        "--quick", action="store_true", help="cluster a sample of 600 digits: a few seconds"
    )
    demo.add_argument(
        "--rare",
        type=int,
        default=7,
        choices=range(10),
        metavar="DIGIT",
        help="digit used as the rare class (default: 7)",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")


def _fit(sub):
    fit = sub.add_parser(
        "fit",
        help="fit a detector on a CSV/Parquet table, write ONNX",
        description="Fit a ReconstructionAnomalyDetector on a table's columns; write it "
        "as ONNX. Numeric (and boolean) columns are standardised, missing numbers "
        "imputed, and low-cardinality text columns one-hot encoded, all inside the "
        "exported pipeline. A file is read whole; --chunk-rows, a folder, or a large "
        "file streams the data in chunks (bounded memory, --epochs passes).",
    )
    fit.add_argument(
        "data",
        help="training table (.csv, .tsv, .txt, optionally .gz/.bz2/"
        ".zip/.xz; .parquet), or a folder of them",
    )
    fit.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    _fit_model_options(fit)
    _fit_column_options(fit)
    _fit_training_options(fit)
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes")
    _table_options(fit)


def _fit_model_options(fit):
    fit.add_argument(
        "--contamination",
        type=_contamination,
        metavar="SHARE",
        help="expected share of outliers in the training rows, in (0, 0.5], or auto (default: 0.1)",
    )
    fit.add_argument(
        "--false-alarm-rate",
        type=_rate,
        metavar="RATE",
        help="the training rows are normal: flag a new normal row with probability at "
        "most RATE, in (0, 0.5), calibrated on 20%% of the rows held out (instead of "
        "--contamination)",
    )
    fit.add_argument(
        "--novelty",
        choices=["auto", "yes", "no"],
        default="auto",
        help="are the training rows known to be normal? yes: score by the nearest 2 "
        "training rows and train on every row; no: they may hold anomalies (a wider "
        "neighbourhood, a trimmed loss); auto: yes with --false-alarm-rate, else no",
    )
    fit.add_argument(
        "--no-training-rows",
        action="store_true",
        help="keep no training row in the model file: the neighbour term measures "
        "distances to k-means centroids (each the mean of at least 5 rows) instead of "
        "to up to 512 training rows (2,048 with --novelty yes), which the file otherwise "
        "holds as they are "
        "(readable by anyone with the file; skae info says how many)",
    )
    fit.add_argument(
        "--model",
        choices=["ae", "vae"],
        default="ae",
        help="ae: the default ensemble of autoencoders; vae: one VAE",
    )


def _fit_column_options(fit):
    fit.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="use only these columns (default: every numeric, boolean and "
        "low-cardinality text column, less ID-like ones)",
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
        "--numeric",
        nargs="+",
        metavar="COLUMN",
        default=[],
        help="use these number columns as numbers even where they look like IDs (whole "
        "numbers, nearly one row each, named like customer_id or in row order), which "
        "are otherwise left out",
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


def _fit_training_options(fit):
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
        f"a folder or a file over {STREAM_FILE_BYTES // 2**20} MiB streams in chunks "
        f"of {DEFAULT_CHUNK_ROWS} rows",
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


def _score(sub):
    score = sub.add_parser(
        "score",
        help="score a table with an ONNX model (no torch)",
        description="Score a table with an exported model (torch-free); write its rows "
        "with score, label, p_value and top_feature. With -o -, CSV goes to standard "
        "output and the progress bar and notes to standard error.",
    )
    score.add_argument("model", help="an ONNX file written by skae fit or skae export")
    score.add_argument("data", help="table to score (as for fit), or a folder of them")
    score.add_argument(
        "-o",
        "--output",
        required=True,
        help="table to write (.csv, .tsv, .txt, optionally .gz/.bz2/.zip/.xz; "
        ".parquet), or - for CSV on standard output: the input's rows with score "
        "(negative = outlier), label (-1 outlier, +1 inlier), p_value (the share of "
        "calibration rows that scored as unusual or more; small = unusual) and "
        "top_feature (the column reconstructed worst)",
    )
    score.add_argument(
        "--threshold",
        type=_finite_float,
        metavar="SCORE",
        help="flag rows whose score is below this (default: 0, the model's own cut: the "
        "contamination threshold, or for a model fitted with --false-alarm-rate the "
        "threshold calibrated on held-out rows; write negative values as "
        "--threshold=-2)",
    )
    score.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=SCORE_CHUNK_ROWS,
        metavar="N",
        help=f"rows read and scored at a time (default: {SCORE_CHUNK_ROWS})",
    )
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _table_options(score)


def _export(sub):
    export = sub.add_parser(
        "export",
        help="convert a joblib-saved estimator to ONNX",
        description="Convert a fitted estimator or Pipeline saved with joblib to ONNX.",
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


def _info(sub):
    info = sub.add_parser(
        "info",
        help="print an ONNX model's metadata",
        description="Print an exported model's metadata, inputs and outputs.",
    )
    info.add_argument("model", help="an ONNX file written by skae")
    info.add_argument("--params", action="store_true", help="also list estimator parameters")


COMMANDS = {"demo": _demo, "fit": _fit, "score": _score, "export": _export, "info": _info}


def build_parser() -> argparse.ArgumentParser:
    """The ``skae`` parser: a subcommand per entry of :data:`COMMANDS`."""
    parser = _Parser(
        prog="skae",
        description="scikit-learn autoencoders: fit outlier detectors, export them to ONNX "
        "and score tables without torch.",
    )
    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in COMMANDS.values():
        add(sub)
    return parser
