"""skae: scikit-learn estimators that wrap PyTorch autoencoders.

The estimators are exposed lazily (PEP 562), so ``import skae.onnx`` and production
scoring never import torch.
"""

from ._version import __version__

__all__ = ["AutoencoderTransformer", "VAETransformer", "ReconstructionAnomalyDetector",
           "TrainingDivergedError", "TrainingOutOfMemoryError", "__version__"]

_LAZY = {
    "AutoencoderTransformer": "autoencoder",
    "VAETransformer": "vae",
    "ReconstructionAnomalyDetector": "detector",
    "TrainingDivergedError": "_engine",
    "TrainingOutOfMemoryError": "_engine",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
