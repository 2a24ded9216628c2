"""The ``skae`` command line: ``main(argv=None) -> int``, subcommands via argparse (the
parser and its option types are in :mod:`skae._cli_parser`).

Heavy imports happen inside the handlers, so ``skae --help`` is instant, and
``skae score`` and ``skae info`` never import torch (numpy, pandas and onnxruntime only).
Errors print one line on stderr and return a non-zero exit code; set ``SKAE_DEBUG=1``
for the full traceback. Text from files (column names, model metadata, file names) is
printed with control characters escaped, so a crafted file cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._cli_parser import make_parser, printable, table_dialect

# Passes over the data when ``skae fit`` streams (--chunk-rows, a folder, a large file).
# ``skae fit`` reads a file whole below this size; larger files are streamed.
STREAM_FILE_BYTES = 512 * 2**20
# Rows per chunk when ``skae fit`` streams without --chunk-rows.
DEFAULT_CHUNK_ROWS = 50_000
# Text columns with at most this many distinct values are one-hot encoded by ``skae fit``.
MAX_CATEGORIES = 20


class CommandError(Exception):
    """An error the user can fix, reported as one line without a traceback."""


def _print(*parts):
    print(" ".join(printable(p) for p in parts))


def _say(*parts):
    print(" ".join(printable(p) for p in parts), file=sys.stderr)


# -------------------------------------------------------------------- helpers
def _load_model(path):
    from ._tables.formats import first_line
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
    from ._tables.writing import check_output

    check_output(args.output, inputs=[args.data], suffixes=(".onnx",))
    return fit_table(args, say=_say if not args.quiet else (lambda *a: None), out=_print)


# ------------------------------------------------------------------------- score
def _score(args) -> int:
    """Score a table with an exported model (torch-free); write it with score and label."""
    from ._score_table import score_table
    from ._tables.writing import check_output
    from .scoring import check_detector

    check_output(args.output, inputs=[args.data, args.model])
    model = _load_model(args.model)
    check_detector(model, args.model)
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

    from ._tables.reading import iter_table

    if args.sample is not None:
        chunk = next(
            iter(iter_table(args.sample, 1, dialect=table_dialect(args, args.sample))), None
        )
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

    from ._tables.writing import check_output, write_bytes
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

    from ._schema import (
        FEATURE_ERRORS_OUTPUT,
        META_COLUMNS,
        META_FEATURE_ERRORS_NAMES,
        META_FEATURE_NAMES,
        META_INPUT_COLUMNS,
        META_INPUTS,
        META_PARAMS,
    )
    from .scoring import feature_error_names, model_inputs

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
    for key in (META_INPUTS, META_INPUT_COLUMNS):  # shown above
        meta.pop(key, None)
    for line in _column_lines(meta.pop(META_COLUMNS, None), inputs):
        _print(line)
    if FEATURE_ERRORS_OUTPUT in model.output_names:
        _print("  " + _feature_errors_line(model, meta, feature_error_names(model)))
    meta.pop(META_FEATURE_ERRORS_NAMES, None)
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
    from ._schema import META_FEATURE_ERRORS_SPACE, SPACE_INPUT, SPACE_TRANSFORMED

    meta.pop(META_FEATURE_ERRORS_SPACE, None)
    space = getattr(model, "feature_errors_space_", None)
    if names is None:
        return "feature errors: per feature, names unknown (skae score writes no top_feature)"
    if space is None:
        space = SPACE_INPUT if names == model.feature_names_in_ else SPACE_TRANSFORMED
    where = (
        "per input column"
        if space == SPACE_INPUT
        else "per transformed feature (after the pipeline's preprocessing)"
    )
    return f"feature errors: {where}: top_feature names one of {len(names)}"


def _demo(args) -> int:
    from ._demo import run_demo  # (it checks the train extra and the output first)

    return run_demo(output=args.output, quick=args.quick, rare=args.rare, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    """The ``skae`` argument parser (see :mod:`skae._cli_parser`)."""
    return make_parser(
        {"demo": _demo, "fit": _fit, "score": _score, "export": _export, "info": _info},
        max_categories=MAX_CATEGORIES,
        stream_file_bytes=STREAM_FILE_BYTES,
        default_chunk_rows=DEFAULT_CHUNK_ROWS,
    )


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
