"""skae._train.devices: device names checked, with the fix named."""

import pytest
import torch

from skae._train.devices import resolve_device

from ._engine_helpers import CPU


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == CPU
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_cuda_names_the_fix():
    with pytest.raises(ValueError, match="device='auto'"):
        resolve_device("cuda")
