"""Ctrl-C during training: a flag checked between optimiser steps, not an exception."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def defer_keyboard_interrupt():
    """Turn Ctrl-C into a flag checked between optimiser steps (main thread only).

    Yields a dict whose ``"set"`` entry becomes True at the first Ctrl-C; a second
    Ctrl-C raises KeyboardInterrupt at once. A process that ignores SIGINT (started with
    ``nohup`` or as a background job of a script, or a service that set ``SIG_IGN``)
    keeps ignoring it: training is then not interruptible by SIGINT, as the process asked.
    """
    flag = {"set": False}
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        yield flag
        return

    def handler(signum, frame):
        if flag["set"]:  # a second Ctrl-C interrupts at once
            raise KeyboardInterrupt
        flag["set"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
