"""What every command shares: the one-line error, printing untrusted text safely, and
loading a model file. Standard library and the torch-free runtime only."""

from __future__ import annotations

import os
import sys


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


def out(*parts):
    """Print to stdout, escaping control characters (text may come from files)."""
    print(" ".join(printable(p) for p in parts))


def say(*parts):
    """Print a note to stderr, escaping control characters."""
    print(" ".join(printable(p) for p in parts), file=sys.stderr)


def quiet(*parts):
    """A ``say`` that says nothing (``-q``)."""


def load_model(path):
    """An exported model loaded with the torch-free runtime; CommandError when the file
    is missing, a folder, or not a model onnxruntime can load."""
    from .._schema import ModelFileError
    from .._tables.formats import first_line
    from ..onnx._runtime import load_onnx

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a folder; give an .onnx file.")
    try:
        return load_onnx(path)
    except ModelFileError as exc:  # "not a model skae can load: its metadata ..."
        raise CommandError(f"{path} is {first_line(exc)}") from None
    except (OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CommandError(f"{path} is not a model skae can load ({first_line(exc)}).") from None
    except Exception as exc:  # onnxruntime's own exception types
        if type(exc).__module__.startswith("onnxruntime"):
            raise CommandError(
                f"{path} is not a model skae can load (not a valid ONNX file)."
            ) from None
        raise
