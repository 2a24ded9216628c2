"""skae.cli.demo: skae demo."""

import sys

import pytest

from skae.cli import main

from .conftest import fails


def test_demo_prints_its_findings_and_writes_its_outputs(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setitem(sys.modules, "umap", None)  # the UMAP reference: not here (slow)
    assert main(["demo", "--quick", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ReconstructionAnomalyDetector" in out and "IsolationForest" in out
    assert out.count("   ROC-AUC 0.") == 2 and out.count("   ARI ") == 3
    ari = {
        line.split("KMeans on ")[1].split(" codes")[0]: float(line.split("ARI ")[1])
        for line in out.splitlines()
        if "codes (2-D)" in line
    }
    # --quick trains the autoencoder set for clustering (embedding="umap") as the full run
    # does, on 600 digits: its codes cluster far better than PCA's
    assert ari["autoencoder"] > ari["PCA"] + 0.2, ari
    assert "labels 100.0% identical" in out
    assert (tmp_path / "out" / "detector.onnx").stat().st_size > 0
    assert (tmp_path / "out" / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_refuses_a_file_as_its_output_folder(tmp_path, capsys):
    (tmp_path / "taken").write_text("precious")
    fails(["demo", "--quick", "-o", str(tmp_path / "taken")], capsys, "is a file")
    assert (tmp_path / "taken").read_text() == "precious"
