"""skae.cli.main: dispatch, one-line errors, exit codes, what each command imports."""

import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.cli import build_parser, main

from .conftest import COMMANDS, QUICK, X_COLUMNS, fails


def test_python_dash_m_skae():
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "--help"], capture_output=True, text=True, check=True
    )
    assert all(c in proc.stdout for c in COMMANDS)
    assert build_parser().prog == "skae"


def test_score_and_info_import_neither_torch_nor_sklearn(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    model = str(fitted_onnx / "model.onnx")
    code = (
        "import sys; sys.modules.update(torch=None, sklearn=None, skl2onnx=None); "
        "from skae.cli import main; "
        f"rc = main(['score', {model!r}, {str(tmp_path / 'd.csv')!r}, '-o', "
        f"{str(tmp_path / 'o.csv')!r}, '-q']) or main(['info', {model!r}]); "
        "loaded = {k for k, v in sys.modules.items() if v is not None}; "
        "assert not loaded & {'torch', 'sklearn', 'skl2onnx'}, loaded; "
        "sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) == len(df)


def test_fit_without_the_train_extra_names_it(table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    hook = (
        "import sys\n"
        "from importlib.abc import MetaPathFinder\n"
        "class NotInstalled(MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'sklearn':\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, NotInstalled())\n"
        "from skae.cli import main\n"
        f"sys.exit(main(['fit', {str(tmp_path / 'd.csv')!r}, '-o', "
        f"{str(tmp_path / 'm.onnx')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", hook], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("skae fit: error: skae fit needs scikit-learn")
    assert "skae[train]" in proc.stderr and not (tmp_path / "m.onnx").exists()


def test_errors_are_one_line_without_partial_output(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    model = str(fitted_onnx / "model.onnx")
    out = tmp_path / "out.csv"
    onnx_out = tmp_path / "out.onnx"
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n3,"4\n5,6\n')
    (tmp_path / "text.csv").write_text("a,b\nx,y\nz,w\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    df.drop(columns=["x3"]).to_csv(tmp_path / "missing.csv", index=False)
    df.assign(x2=df["x2"].astype(str) + "m").to_csv(tmp_path / "nonnum.csv", index=False)
    with_nan = df.copy()
    with_nan.loc[7, "x1"] = np.nan
    with_nan.to_csv(tmp_path / "nan.csv", index=False)
    with_inf = df.copy()
    with_inf.loc[9, "x4"] = np.inf
    with_inf.to_csv(tmp_path / "inf.csv", index=False)
    df.rename(columns={"id": "score"}).to_csv(tmp_path / "taken.csv", index=False)
    cases = [
        (["fit", str(tmp_path / "nope.csv"), "-o", str(onnx_out)], "nope.csv: no such file"),
        (["fit", str(tmp_path / "bad.csv"), "-o", str(onnx_out)], "could not read it as CSV"),
        (["fit", str(tmp_path / "empty.csv"), "-o", str(onnx_out)], "could not read it as CSV"),
        (["fit", str(tmp_path / "text.csv"), "-o", str(onnx_out)], "no column skae fit can use"),
        (
            ["fit", str(tmp_path / "nan.csv"), "-o", str(onnx_out), "--impute", "none"],
            "missing values",
        ),
        (["fit", str(tmp_path / "inf.csv"), "-o", str(onnx_out)], "data row 10"),
        (
            ["fit", str(tmp_path / "missing.csv"), "-o", str(onnx_out), "--columns", "x3"],
            "not in the data",
        ),
        (
            ["fit", str(tmp_path / "missing.csv"), "-o", str(onnx_out), "--ignore", "x3"],
            "not in the data",
        ),
        (
            [
                "fit",
                str(tmp_path / "missing.csv"),
                "-o",
                str(onnx_out),
                "--categorical",
                "x0",
                "--ignore",
                "x0",
            ],
            "both in --categorical and --ignore",
        ),
        (
            [
                "fit",
                str(tmp_path / "missing.csv"),
                "-o",
                str(onnx_out),
                "--columns",
                "id",
                "--categorical",
                "id",
            ],
            "raise --max-categories",
        ),
        (
            ["fit", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "no" / "m.onnx")],
            "does not exist",
        ),
        (["fit", str(tmp_path / "missing.csv"), "-o", str(out)], "must be a .onnx file"),
        (["fit", str(tmp_path / "data.xlsx"), "-o", str(onnx_out)], "no such file"),
        (
            [
                "fit",
                str(tmp_path / "missing.csv"),
                "-o",
                str(onnx_out),
                "--sep",
                ",",
                "--decimal",
                ",",
            ],
            "both ','",
        ),
        (
            ["score", str(tmp_path / "nope.onnx"), str(tmp_path / "bad.csv"), "-o", str(out)],
            "no such file",
        ),
        (
            ["score", str(tmp_path / "junk.onnx"), str(tmp_path / "bad.csv"), "-o", str(out)],
            "not a model skae can load",
        ),
        (
            ["score", model, str(tmp_path / "missing.csv"), "-o", str(out)],
            "lacks the columns the model was fitted on: ['x3']",
        ),
        (["score", model, str(tmp_path / "nonnum.csv"), "-o", str(out)], "not numeric"),
        (["score", model, str(tmp_path / "inf.csv"), "-o", str(out)], "data row 10"),
        (["score", model, str(tmp_path / "taken.csv"), "-o", str(out)], "already has columns"),
        (["score", model, str(tmp_path / "bad.csv"), "-o", str(out)], "could not read"),
        (
            ["score", model, str(tmp_path / "nan.csv"), "-o", str(tmp_path / "o.xlsx")],
            "unknown table format",
        ),
        (["export", str(tmp_path / "bad.csv"), "-o", str(onnx_out)], "could not be loaded"),
        (["export", str(tmp_path / "bad.csv"), "-o", str(out)], "must be a .onnx file"),
        (["info", str(tmp_path / "junk.onnx")], "not a model skae can load"),
        (["info", str(tmp_path)], "is a folder"),
    ]
    for argv, match in cases:
        fails(argv, capsys, match)
        assert not out.exists() and not onnx_out.exists(), argv
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_errors_escape_control_characters_in_names(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    evil = tmp_path / "evil\x1b[31m.csv"
    df.drop(columns=["x3"]).rename(columns={"city": "c\x1b[2Jity"}).to_csv(evil, index=False)
    line = fails(
        ["score", str(fitted_onnx / "model.onnx"), str(evil), "-o", str(tmp_path / "o.csv")],
        capsys,
        "lacks the columns",
    )
    assert "\x1b" not in line and "evil\\x1b[31m.csv" in line
    # (x: measurements, not whole numbers in row order, which would be left out as an ID)
    rows = "".join(f"v{i},{(i * 7) % 40 / 4}\n" for i in range(40))
    (tmp_path / "text.csv").write_text("n\x1bame,x\n" + rows)
    assert (
        main(
            [
                "fit",
                str(tmp_path / "text.csv"),
                "-o",
                str(tmp_path / "m.onnx"),
                "--max-iter",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "\x1b" not in err and "n\\x1bame" in err


def _send_during(monkeypatch, module, name, signum):
    """Patch ``module.name`` so that calling it sends this process ``signum`` first."""
    original = getattr(module, name)

    def sending(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, sending)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("command", ["fit", "score", "export", "demo"])
def test_sigterm_and_sighup_leave_no_partial_file_and_exit_conventionally(
    command, signum, fitted_onnx, table, tmp_path, capsys, monkeypatch
):
    """kill, timeout, docker stop and a closed terminal: the temporary file is removed,
    an existing output is untouched, the exit code is 128 + the signal."""
    from skae._tables import writing
    from skae.cli import demo, export, fit

    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / ("out" if command == "demo" else "o.onnx" if command != "score" else "o.csv")
    if command == "demo":
        out.mkdir()
        (out / "report.png").write_bytes(b"precious")
        _send_during(monkeypatch, demo, "write_bytes", signum)
        argv = ["demo", "--quick", "-o", str(out)]
    else:
        out.write_bytes(b"precious")
    if command == "fit":
        _send_during(monkeypatch, fit, "write_bytes", signum)
        argv = ["fit", str(tmp_path / "d.csv"), "-o", str(out), *QUICK]
    elif command == "score":
        _send_during(monkeypatch, writing.TableWriter, "close", signum)
        argv = ["score", str(fitted_onnx / "model.onnx"), str(tmp_path / "d.csv"), "-o", str(out)]
        argv += ["-q", "--chunk-size", "50"]
    elif command == "export":
        import joblib

        joblib.dump(
            ReconstructionAnomalyDetector(AutoencoderTransformer(max_iter=2)).fit(
                df[X_COLUMNS].to_numpy()
            ),
            tmp_path / "p.joblib",
        )
        _send_during(monkeypatch, export, "write_bytes", signum)
        argv = ["export", str(tmp_path / "p.joblib"), "-o", str(out)]
    # a process started under nohup ignores SIGHUP, and skae leaves an ignored signal
    # ignored (as it does SIGINT): this test needs the default disposition to begin with
    previous = signal.getsignal(signum)
    if previous is signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
    start = signal.getsignal(signum)
    try:
        assert main(argv) == 128 + signum
        assert signal.getsignal(signum) is start  # the caller's handler is back
    finally:
        signal.signal(signum, previous)
    assert f"stopped by {signal.Signals(signum).name}" in capsys.readouterr().err
    folder = out if command == "demo" else tmp_path
    assert not [f for f in os.listdir(folder) if f.endswith(".part")]
    precious = out / "report.png" if command == "demo" else out
    assert precious.read_bytes() == b"precious"


def test_a_killed_skae_score_process_leaves_no_temporary_file(fitted_onnx, tmp_path):
    """The real thing: SIGTERM to a running ``skae score`` from another process."""
    import time

    rng = np.random.RandomState(0)
    pd.DataFrame(rng.normal(size=(200_000, 5)), columns=X_COLUMNS).to_csv(
        tmp_path / "big.csv", index=False
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skae",
            "score",
            str(fitted_onnx / "model.onnx"),
            str(tmp_path / "big.csv"),
            "-o",
            str(tmp_path / "o.csv"),
            "-q",
            "--chunk-size",
            "500",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(f.endswith(".part") for f in os.listdir(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline, "never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert sorted(os.listdir(tmp_path)) == ["big.csv"]


def test_a_closed_pipe_ends_quietly(fitted_onnx):
    """``skae info model.onnx | head -1``: no traceback, no error line."""
    proc = subprocess.run(
        f"{sys.executable} -m skae info {fitted_onnx / 'model.onnx'} --params | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stderr == "", proc.stderr
