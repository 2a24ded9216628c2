"""``main(argv=None) -> int``: parse, build the command's options, run it, and turn every
error into one line on stderr with a non-zero exit code (``SKAE_DEBUG=1`` shows the
traceback).

Each command lives in its own module, imported only when that command runs: ``skae
--help`` imports nothing heavy, and ``skae score`` and ``skae info`` never import torch or
scikit-learn (numpy, pandas and onnxruntime only). Text from files (column names, model
metadata, file names) is printed with control characters escaped.
"""

from __future__ import annotations

import importlib
import os
import sys

from . import options
from .common import CommandError, say
from .parser import build_parser

# command -> (its module in skae.cli, its options, whether it needs the train extra)
COMMANDS = {
    "demo": ("demo", options.DemoOptions, True),
    "fit": ("fit", options.FitOptions, True),
    "score": ("score", options.ScoreOptions, False),
    "export": ("export", options.ExportOptions, True),
    "info": ("info", options.InfoOptions, False),
}


def run(command, opts):
    """Run ``command`` (a key of :data:`COMMANDS`) with its options; return the exit code."""
    module, _, needs_train = COMMANDS[command]
    if needs_train:
        from .. import _require_train

        _require_train(f"skae {command}")  # before any work: names the missing extra
    return importlib.import_module(f"{__package__}.{module}").run(opts)


def main(argv=None) -> int:
    """Run the ``skae`` command; return the exit code."""
    args = build_parser().parse_args(argv)
    command = args.command
    try:
        return run(command, options.from_namespace(COMMANDS[command][1], args))
    except KeyboardInterrupt:
        say(f"skae {command}: interrupted; no output written.")
        return 130
    except (CommandError, ValueError, OSError, ImportError) as exc:
        if os.environ.get("SKAE_DEBUG"):
            raise
        say(f"skae {command}: error: {_one_line(exc)}")
        return 1
    except Exception as exc:  # an unexpected failure still gets one line
        if os.environ.get("SKAE_DEBUG"):
            raise
        say(
            f"skae {command}: error: {type(exc).__name__}: {_one_line(exc)} "
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
