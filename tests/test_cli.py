import subprocess
import sys

import pytest

from skae.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ["demo"]:
        assert command in out


def test_demo_runs_and_prints_both_detectors(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "ReconstructionAnomalyDetector" in out and "IsolationForest" in out
    assert out.count("ROC-AUC") == 2


def test_python_dash_m_skae():
    proc = subprocess.run([sys.executable, "-m", "skae", "--help"], capture_output=True,
                          text=True, check=True)
    assert "demo" in proc.stdout
    assert build_parser().prog == "skae"
