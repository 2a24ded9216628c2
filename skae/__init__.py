"""skae: scikit-learn estimators that wrap PyTorch autoencoders.

The core install (``pip install skae``) scores exported models with numpy, pandas and
onnxruntime alone: ``skae.onnx.load_onnx`` and ``skae score``. The estimators and
``skae.onnx.to_onnx`` need the ``train`` extra (torch, scikit-learn, skl2onnx). They are
exposed lazily (PEP 562), so ``import skae`` and ``import skae.onnx`` never import torch,
and using one without the extra raises an ImportError that names it.
"""

import importlib

from ._version import __version__
from .exceptions import (
    TrainingDivergedError,
    TrainingInterruptedWarning,
    TrainingOutOfMemoryError,
)

__all__ = [
    "AutoencoderTransformer",
    "ReconstructionAnomalyDetector",
    "TrainingDivergedError",
    "TrainingInterruptedWarning",
    "TrainingOutOfMemoryError",
    "VAETransformer",
    "__version__",
]

_LAZY = {
    "AutoencoderTransformer": "autoencoder",
    "VAETransformer": "vae",
    "ReconstructionAnomalyDetector": "detector",
}

# The top-level modules the ``train`` extra brings, with the names users know them by.
_TRAIN_DEPENDENCIES = {
    "torch": "PyTorch (torch)",
    "sklearn": "scikit-learn",
    "scipy": "SciPy",
    "joblib": "joblib",
    "onnx": "onnx",
    "skl2onnx": "skl2onnx",
}

_TRAIN_INSTALL = 'pip install "skae[train]"'


def _train_import_error(what, exc):
    """The ImportError for ``what`` when ``exc`` is a missing ``train`` dependency, else None.

    Parameters
    ----------
    what : str
        What the user asked for, e.g. ``"skae.AutoencoderTransformer"`` or ``"skae fit"``.
    exc : ImportError
        The error raised while importing it.

    Returns
    -------
    error : ImportError or None
        An error naming the missing package and the extra that brings it; None when
        ``exc`` is about something else (which should then propagate unchanged).
    """
    top = (getattr(exc, "name", None) or "").partition(".")[0]
    if not isinstance(exc, ModuleNotFoundError) or top not in _TRAIN_DEPENDENCIES:
        return None
    return _missing_train(what, top)


def _missing_train(what, module):
    """The ImportError for ``what`` when ``module``, a ``train`` dependency, is missing."""
    return ImportError(
        f"{what} needs {_TRAIN_DEPENDENCIES[module]}, which is not installed: training and "
        f"export come with the 'train' extra, {_TRAIN_INSTALL} (pin torch to pick its "
        'build, e.g. "torch==2.13.0"). The core install only scores exported ONNX '
        "models (skae.onnx.load_onnx, skae score).",
        name=module,
    )


def _require_train(what):
    """Raise the ImportError naming the ``train`` extra when one of its packages is missing.

    A cheap check (nothing is imported) for entry points that need the whole training
    stack, such as ``skae fit`` or ``skae.onnx.to_onnx``, before any work is done.
    """
    from importlib.util import find_spec

    for module in _TRAIN_DEPENDENCIES:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a broken install, or an import hook refusing it
            found = False
        if not found:
            raise _missing_train(what, module)


def _import_train(module, what):
    """Import ``skae.<module>``, which needs the ``train`` extra.

    Raises an ImportError naming the extra (``pip install "skae[train]"``) when torch,
    scikit-learn or the ONNX export stack is not installed.
    """
    try:
        return importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:
        error = _train_import_error(what, exc)
        if error is None:
            raise
        raise error from exc


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_import_train(_LAZY[name], f"skae.{name}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
