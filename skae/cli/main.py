"""``main(argv=None) -> int``: parse, build the command's options, run it, and turn every
error into one line on stderr with a non-zero exit code (``SKAE_DEBUG=1`` shows the
traceback).

Each command lives in its own module, imported only when that command runs: ``skae
--help`` imports nothing heavy, and ``skae score`` and ``skae info`` never import torch or
scikit-learn (numpy, pandas and onnxruntime only). Text from files (column names, model
metadata, file names) is printed with control characters escaped.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading

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


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (temporary files are removed on the way) and
    exit with ``128 + signal``, as a process killed by it would.

    A BaseException, like KeyboardInterrupt: ``except Exception`` does not swallow it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# What stops a command: SIGINT (Ctrl-C, Python's KeyboardInterrupt), SIGTERM (kill,
# timeout, docker stop, systemd) and SIGHUP (a closed terminal).
_STOPPING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _terminate_on_signals():
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread while a command
    runs, so every ``finally`` (an atomic write's clean-up) runs. A signal the process
    ignores (``nohup`` ignores SIGHUP) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for signum in _STOPPING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


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
        with _terminate_on_signals():
            return run(command, options.from_namespace(COMMANDS[command][1], args))
    except KeyboardInterrupt:
        say(f"skae {command}: interrupted; no output written.")
        return 128 + signal.SIGINT
    except Terminated as stop:
        say(f"skae {command}: stopped by {signal.Signals(stop.signum).name}; no output written.")
        return 128 + stop.signum
    except BrokenPipeError:  # the reader of stdout went away (skae info | head)
        _quiet_stdout()
        return 128 + getattr(signal, "SIGPIPE", 13)
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


def _quiet_stdout():
    """Point stdout at /dev/null: flushing it at exit would fail on the broken pipe."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _one_line(exc):
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
