"""The ``skae`` command line: ``main(argv=None) -> int``, subcommands via argparse.

Heavy imports happen inside the handlers, so ``skae --help`` is instant, and
``skae score`` and ``skae info`` never import torch (numpy, pandas and onnxruntime only).
Errors print one line on stderr and return a non-zero exit code; set ``SKAE_DEBUG=1``
for the full traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

SCORE_COLUMNS = ("score", "label", "top_feature")


class CommandError(Exception):
    """An error the user can fix, reported as one line without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _contamination(text):
    value = float(text)
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5], got {text}")
    return value


def _say(*args):
    print(*args, file=sys.stderr)


def _check_output(path):
    """Fail before any work when the output could not be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"{path}: the folder {folder} does not exist.")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a folder; give a file name.")


# --------------------------------------------------------------------------- fit
def _build_detector(args, n_features):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ReconstructionAnomalyDetector, VAETransformer
    from .detector import default_estimators

    common = {"device": args.device}
    if args.max_iter is not None:
        common["max_iter"] = args.max_iter
    if args.model == "vae":
        members = [VAETransformer(**common)]
    else:
        members = [m.set_params(**common) for m in default_estimators(n_features)]
    return make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
        members, contamination=args.contamination, random_state=args.seed))


def _fit(args) -> int:
    """Fit StandardScaler -> ReconstructionAnomalyDetector on a table; write ONNX."""
    import time
    import warnings

    from ._io import atomic_path, numeric_columns, read_table
    from .onnx import to_onnx

    _check_output(args.output)
    df = read_table(args.data)
    X, dropped = numeric_columns(df, args.columns)
    if dropped:
        _say(f"skae fit: leaving out non-numeric columns {dropped}")
    if len(X) < 2:
        raise CommandError(f"{args.data} has {len(X)} row; fitting needs at least 2.")
    pipeline = _build_detector(args, X.shape[1])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning and friends
        pipeline.fit(X)
    seconds = time.perf_counter() - start
    with atomic_path(args.output) as tmp:
        onx = to_onnx(pipeline, X.iloc[:1], feature_errors=True)
        with open(tmp, "wb") as fh:
            fh.write(onx.SerializeToString())
    flagged = (pipeline.predict(X) == -1).mean()
    print(f"skae fit: {len(X)} rows x {X.shape[1]} columns, {args.model} in {seconds:.1f} s; "
          f"{flagged:.1%} of training rows flagged; wrote {args.output}")
    return 0


# ------------------------------------------------------------------------- score
def _load_model(path):
    from ._io import first_line
    from .onnx import load_onnx

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file.")
    try:
        return load_onnx(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CommandError(f"{path} is not a model skae can load ({first_line(exc)}).") \
            from None
    except Exception as exc:  # onnxruntime's own exception types
        if type(exc).__module__.startswith("onnxruntime"):
            raise CommandError(f"{path} is not a model skae can load (not a valid ONNX "
                               "file).") from None
        raise


def _score(args) -> int:
    """Score a table with an exported model (torch-free); write it with score and label."""
    import numpy as np
    from tqdm.auto import tqdm

    from ._io import TableWriter, atomic_path, iter_table, table_format

    out_format = table_format(args.output)
    _check_output(args.output)
    model = _load_model(args.model)
    if "label" not in model.output_names or "scores" not in model.output_names:
        raise CommandError(f"{args.model} is not an outlier detector (its outputs are "
                           f"{model.output_names}); export a ReconstructionAnomalyDetector.")
    names = model.feature_names_in_
    explain = "feature_errors" in model.output_names
    outputs = ["label", "scores"] + (["feature_errors"] if explain else [])
    rows = flagged = 0
    with atomic_path(args.output) as tmp, tqdm(unit="rows", desc="skae score",
                                               disable=args.quiet or None) as bar:
        writer = TableWriter(tmp, out_format, tsv=args.output.lower().endswith(".tsv"))
        try:
            for i, (chunk, total) in enumerate(iter_table(args.data, args.chunk_size)):
                if total is not None:
                    bar.total = total
                if i == 0:
                    taken = [c for c in SCORE_COLUMNS if c in chunk.columns]
                    if taken:
                        raise CommandError(f"{args.data} already has columns {taken}; rename "
                                           "them so the scores do not overwrite them.")
                    if names is None and chunk.shape[1] != model.n_features_in_:
                        raise CommandError(
                            f"{args.data} has {chunk.shape[1]} columns but the model expects "
                            f"{model.n_features_in_} (it was fitted without column names).")
                if len(chunk) == 0:
                    continue
                result = model.run(_model_input(chunk, names, args.data, rows), outputs)
                scores = result["scores"].reshape(-1)
                labels = result["label"].reshape(-1)
                if args.threshold is not None:
                    labels = np.where(scores < args.threshold, -1, 1)
                chunk = chunk.assign(score=scores, label=labels.astype(np.int64))
                if explain:
                    columns = np.asarray(names if names is not None
                                         else [str(k) for k in range(model.n_features_in_)])
                    chunk["top_feature"] = columns[result["feature_errors"].argmax(axis=1)]
                writer.write(chunk)
                rows += len(chunk)
                flagged += int((labels == -1).sum())
                bar.update(len(chunk))
            if rows == 0:  # inside: no output file either
                raise CommandError(f"{args.data} has no data rows.")
        finally:
            writer.close()
    print(f"skae score: {rows} rows, {flagged} flagged as outliers ({flagged / rows:.1%}); "
          f"wrote {args.output}")
    return 0


def _model_input(chunk, names, source, first_row):
    """The model's columns from a chunk, with errors that name the columns at fault."""
    import numpy as np

    from ._io import is_numeric_column

    if names is not None:
        missing = [n for n in names if n not in set(map(str, chunk.columns))]
        if missing:
            raise CommandError(f"{source} lacks the columns the model was fitted on: "
                               f"{missing}.")
        chunk = chunk.rename(columns=str)[names]
    bad = [str(c) for c in chunk.columns if not is_numeric_column(chunk[c])]
    if bad:
        raise CommandError(f"{source}: columns {bad} are not numeric; the model needs numbers.")
    X = chunk.to_numpy(dtype=np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad_rows):
        raise CommandError(
            f"{source}: {len(bad_rows)} rows have missing or infinite values (first: data "
            f"row {first_row + int(bad_rows[0]) + 1}); fill or drop them before scoring.")
    return X


# ----------------------------------------------------------------- export, info
def _export(args) -> int:
    """Convert a fitted estimator or Pipeline saved with joblib to ONNX."""
    import joblib
    import numpy as np
    from sklearn.exceptions import NotFittedError

    from ._io import atomic_path
    from .onnx import to_onnx

    _check_output(args.output)
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"{args.model}: no such file.")
    try:
        estimator = joblib.load(args.model)
    except Exception as exc:
        raise CommandError(f"{args.model} could not be loaded with joblib "
                           f"({type(exc).__name__}: {exc}).") from None
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise CommandError(f"{args.model} holds a {type(estimator).__name__} that is not a "
                           "fitted estimator (no n_features_in_); fit it before saving.")
    try:
        with atomic_path(args.output) as tmp:
            onx = to_onnx(estimator, np.zeros((1, n_features), np.float32),
                          feature_errors=not args.no_feature_errors)
            with open(tmp, "wb") as fh:
                fh.write(onx.SerializeToString())
    except NotFittedError as exc:
        raise CommandError(f"{args.model}: {exc}") from None
    print(f"skae export: {type(estimator).__name__} -> {args.output}")
    return 0


def _info(args) -> int:
    """Print an exported model's metadata, inputs and outputs."""
    import json
    import re

    from .onnx._spec import META_FEATURE_NAMES, META_PARAMS

    model = _load_model(args.model)
    meta = dict(model.metadata)
    print(f"{args.model}: {os.path.getsize(args.model)} bytes")
    print(f"  inputs:  X, float32, {model.n_features_in_} features")
    print(f"  outputs: {', '.join(model.output_names)}")
    if model.feature_names_in_ is not None:
        shown = model.feature_names_in_[:20]
        more = len(model.feature_names_in_) - len(shown)
        print(f"  feature names: {', '.join(shown)}" + (f" ... (+{more})" if more else ""))
        meta.pop(META_FEATURE_NAMES, None)
    params = meta.pop(META_PARAMS, None)
    for key, value in sorted(meta.items()):
        print(f"  {key}: {value}")
    if params and args.params:
        print("  estimator_params:")
        breaks = re.compile(r"(?:\\n|\s)+")
        for key, value in json.loads(params).items():
            # reprs of nested estimators carry (escaped) line breaks: one line each
            print(f"    {key}: {breaks.sub(' ', str(value))}")
    return 0


def _demo(args) -> int:
    from ._demo import run_demo

    return run_demo(output=args.output, quick=args.quick, rare=args.rare, seed=args.seed)


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skae",
        description="scikit-learn autoencoders: fit outlier detectors, export them to ONNX "
                    "and score tables without torch.")
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    demo = sub.add_parser("demo", help="the main job end to end on bundled digits",
                          description="Outliers among scikit-learn's bundled digits (one digit "
                          "held out as the rare class) next to IsolationForest, clustering on "
                          "autoencoder codes vs PCA vs raw pixels, ONNX export and re-scoring, "
                          "and a PNG report.")
    demo.add_argument("-o", "--output", default="skae-demo",
                      help="folder for the report and the model (default: skae-demo)")
    demo.add_argument("--quick", action="store_true", help="fewer epochs: a few seconds")
    demo.add_argument("--rare", type=int, default=7, choices=range(10), metavar="DIGIT",
                      help="digit used as the rare class (default: 7)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser("fit", help="fit a detector on a CSV/Parquet table, write ONNX",
                         description=_fit.__doc__)
    fit.add_argument("data", help="training table (.csv, .tsv, .csv.gz or .parquet)")
    fit.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    fit.add_argument("--contamination", type=_contamination, default=0.1,
                     help="expected share of outliers, in (0, 0.5] (default: 0.1)")
    fit.add_argument("--model", choices=["ae", "vae"], default="ae",
                     help="ae: the default ensemble of autoencoders; vae: one VAE")
    fit.add_argument("--columns", nargs="+", metavar="COLUMN",
                     help="columns to use (default: every numeric column)")
    fit.add_argument("--max-iter", type=_positive_int, help="maximum epochs per network")
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    fit.set_defaults(func=_fit)

    score = sub.add_parser("score", help="score a table with an ONNX model (no torch)",
                           description=_score.__doc__)
    score.add_argument("model", help="an ONNX file written by skae fit or skae export")
    score.add_argument("data", help="table to score (.csv, .tsv, .csv.gz or .parquet)")
    score.add_argument("-o", "--output", required=True,
                       help="table to write (.csv or .parquet): the input's rows with score "
                            "(negative = outlier), label (-1 outlier, +1 inlier) and "
                            "top_feature (the column that contributes most)")
    score.add_argument("--threshold", type=float,
                       help="flag rows whose score is below this (default: the model's "
                            "contamination threshold, 0; write negative values as "
                            "--threshold=-2)")
    score.add_argument("--chunk-size", type=_positive_int, default=100_000,
                       help="rows read and scored at a time (default: 100000)")
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=_score)

    export = sub.add_parser("export", help="convert a joblib-saved estimator to ONNX",
                            description=_export.__doc__)
    export.add_argument("model", help="a fitted estimator or Pipeline saved with joblib.dump")
    export.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    export.add_argument("--no-feature-errors", action="store_true",
                        help="leave the per-feature errors out of a detector's outputs")
    export.set_defaults(func=_export)

    info = sub.add_parser("info", help="print an ONNX model's metadata",
                          description=_info.__doc__)
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
    except (CommandError, ValueError, OSError) as exc:
        if os.environ.get("SKAE_DEBUG"):
            raise
        _say(f"skae {args.command}: error: {_one_line(exc)}")
        return 1
    except Exception as exc:  # an unexpected failure still gets one line
        if os.environ.get("SKAE_DEBUG"):
            raise
        _say(f"skae {args.command}: error: {type(exc).__name__}: {_one_line(exc)} "
             "(set SKAE_DEBUG=1 for the traceback)")
        return 1


def _one_line(exc):
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
