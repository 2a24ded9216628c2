"""Where training runs: device names checked and parsed, and out-of-memory recognised."""

from __future__ import annotations

import torch


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; anything else is checked and parsed."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' (CUDA when present, else CPU) or device='cpu'."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: only CPU and CUDA devices are supported.")
    return dev


def is_out_of_memory(exc):
    """Whether ``exc`` says the device (or the CPU allocator) ran out of memory."""
    # torch.OutOfMemoryError is torch.cuda.OutOfMemoryError (the newer name)
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    # the CPU allocator raises a plain RuntimeError
    return isinstance(exc, RuntimeError) and (
        "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc)
    )
