"""Warnings that point at the user's own line, however deep in skae they are raised."""

from __future__ import annotations

import sys
import warnings

# Frames of these packages are skipped: the warning points at the code that called them
# (torch's: its decorators, such as ``torch.no_grad``, wrap skae functions).
_LIBRARIES = ("skae", "sklearn", "joblib", "torch")


def warn_at_caller(message, category=UserWarning):
    """Warn pointing at the first frame outside skae, scikit-learn, joblib and torch: the
    user's own call, whether it was ``fit`` itself, a Pipeline or a grid search."""
    frame, level = sys._getframe(1), 1
    while (
        frame.f_back is not None
        and frame.f_globals.get("__name__", "").partition(".")[0] in _LIBRARIES
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
