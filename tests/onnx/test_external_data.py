"""skae.onnx._external_data: external data resolved next to the model, never outside."""

import numpy as np
import onnx
import pytest

from skae.onnx import load_onnx, to_onnx

from .conftest import _data, _save_with_external_data


def test_external_data_resolves_next_to_the_model(fitted, X_train, tmp_path, monkeypatch):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    path = _save_with_external_data(onx, tmp_path / "models")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    X = _data(20, seed=4)
    np.testing.assert_array_equal(load_onnx(path).predict(X), fitted["scaler_det"].predict(X))
    with pytest.raises(ValueError, match="external data.*load it from its path"):
        load_onnx(path.read_bytes())


@pytest.mark.parametrize("where", ["parent folder", "absolute path", "symlink out"])
def test_external_data_outside_the_model_folder_is_refused(
    fitted, X_train, tmp_path, monkeypatch, where
):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    path = _save_with_external_data(onx, tmp_path / "models")
    secret = tmp_path / "secret.data"
    secret.write_bytes((tmp_path / "models" / "model.data").read_bytes())
    location = {
        "parent folder": "../secret.data",
        "absolute path": str(secret),
        "symlink out": "link.data",
    }[where]
    if where == "symlink out":
        (tmp_path / "models" / "link.data").symlink_to(secret)
    crafted = onnx.load_model(str(path), load_external_data=False)
    for tensor in crafted.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(crafted, str(path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="outside the model's folder.*refusing"):
        load_onnx(path)
