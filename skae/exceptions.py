"""The exceptions and warnings skae raises, importable without torch."""


class TrainingDivergedError(FloatingPointError, ValueError):
    """Raised when the training loss becomes NaN or infinite."""


class TrainingOutOfMemoryError(MemoryError):
    """The device ran out of memory during training."""


class TrainingInterruptedWarning(RuntimeWarning):
    """Ctrl-C stopped training early; the estimator keeps the best weights so far."""


__all__ = ["TrainingDivergedError", "TrainingInterruptedWarning", "TrainingOutOfMemoryError"]
