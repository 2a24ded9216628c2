import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.cli import build_parser, main

COMMANDS = ["demo", "fit", "score", "export", "info"]
FAST = ["--max-iter", "15", "--device", "cpu"]


@pytest.fixture(scope="module")
def table():
    """600 rows on a 2-D plane in 5-D, 20 planted outliers, plus an id and a text column."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 2)) @ rng.normal(size=(2, 5)) + 0.05 * rng.normal(size=(600, 5))
    y = np.zeros(600, dtype=int)
    y[:20] = 1
    X[:20] += rng.choice([-4.0, 4.0], size=(20, 5))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df.insert(0, "city", rng.choice(["Oslo", "Lima"], size=600))
    df["id"] = np.arange(600)
    return df, y


@pytest.fixture(scope="module")
def fitted_onnx(table, tmp_path_factory):
    df, _ = table
    folder = tmp_path_factory.mktemp("cli")
    df.to_csv(folder / "train.csv", index=False)
    assert main(["fit", str(folder / "train.csv"), "-o", str(folder / "model.onnx"),
                 "--columns", "x0", "x1", "x2", "x3", "x4", *FAST]) == 0
    return folder


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_python_dash_m_skae():
    proc = subprocess.run([sys.executable, "-m", "skae", "--help"], capture_output=True,
                          text=True, check=True)
    assert all(c in proc.stdout for c in COMMANDS)
    assert build_parser().prog == "skae"


def test_demo_prints_its_findings_and_writes_its_outputs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--quick", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ReconstructionAnomalyDetector" in out and "IsolationForest" in out
    assert out.count("   ROC-AUC 0.") == 2 and out.count("   ARI ") == 3
    assert "labels 100.0% identical" in out
    assert (tmp_path / "out" / "detector.onnx").stat().st_size > 0
    assert (tmp_path / "out" / "report.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_then_score_flags_the_planted_outliers(table, tmp_path, capsys, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    df, y = table
    train, test = tmp_path / f"train.{fmt}", tmp_path / f"test.{fmt}"
    write = {"csv": lambda d, p: d.to_csv(p, index=False),
             "parquet": lambda d, p: d.to_parquet(p, index=False)}[fmt]
    write(df, train)
    write(df.sample(frac=1.0, random_state=0), test)  # rows shuffled
    assert main(["fit", str(train), "-o", str(tmp_path / "m.onnx"), "--contamination",
                 "0.05", *FAST]) == 0
    err = capsys.readouterr().err
    assert "leaving out non-numeric columns ['city']" in err
    out_path = tmp_path / f"scored.{fmt}"
    assert main(["score", str(tmp_path / "m.onnx"), str(test), "-o", str(out_path), "-q",
                 "--chunk-size", "128"]) == 0
    scored = pd.read_csv(out_path) if fmt == "csv" else pd.read_parquet(out_path)
    assert list(scored.columns) == [*df.columns, "score", "label", "top_feature"]
    pd.testing.assert_frame_equal(scored[df.columns].reset_index(drop=True),
                                  df.sample(frac=1.0, random_state=0).reset_index(drop=True),
                                  check_dtype=False)
    truth = y[scored["id"].to_numpy()]
    assert roc_auc_score(truth, -scored["score"]) > 0.95
    flagged = scored["label"] == -1
    assert truth[flagged].mean() > 0.5 and flagged[truth == 1].mean() > 0.6
    assert set(scored["top_feature"]) <= {"x0", "x1", "x2", "x3", "x4", "id"}


def test_score_threshold_overrides_the_labels(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["score", str(fitted_onnx / "model.onnx"), str(tmp_path / "d.csv"), "-o",
                 str(tmp_path / "o.csv"), "-q", "--threshold=-1e9"]) == 0
    assert (pd.read_csv(tmp_path / "o.csv")["label"] == 1).all()


def test_score_selects_columns_by_name(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "a.csv", index=False)
    df[df.columns[::-1]].to_csv(tmp_path / "b.csv", index=False)
    for name in "ab":
        assert main(["score", str(fitted_onnx / "model.onnx"), str(tmp_path / f"{name}.csv"),
                     "-o", str(tmp_path / f"{name}_out.csv"), "-q"]) == 0
    a, b = pd.read_csv(tmp_path / "a_out.csv"), pd.read_csv(tmp_path / "b_out.csv")
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)


def test_score_does_not_import_torch(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    code = ("import sys; sys.modules['torch'] = None; from skae.cli import main; "
            f"rc = main(['score', {str(fitted_onnx / 'model.onnx')!r}, "
            f"{str(tmp_path / 'd.csv')!r}, '-o', {str(tmp_path / 'o.csv')!r}, '-q']); "
            "assert 'torch' not in {k for k, v in sys.modules.items() if v is not None}; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) == len(df)


def test_info_prints_the_metadata(fitted_onnx, capsys):
    assert main(["info", str(fitted_onnx / "model.onnx"), "--params"]) == 0
    out = capsys.readouterr().out
    assert "5 features" in out and "x0, x1, x2, x3, x4" in out
    assert "feature_names_in" not in out  # shown once, as "feature names"
    assert "contamination: 0.1" in out and "skae_version" in out
    assert "label, scores, feature_errors" in out and "estimator_params" in out


def test_export_a_joblib_pipeline(table, tmp_path, capsys):
    from skae.onnx import load_onnx

    df, _ = table
    X = df[["x0", "x1", "x2", "x3", "x4"]]
    pipe = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
        AutoencoderTransformer(max_iter=15, device="cpu"), random_state=0)).fit(X)
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert main(["export", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.onnx")]) == 0
    model = load_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
    assert model.feature_names_in_ == list(X.columns)
    assert "feature_errors" in model.output_names


# ----------------------------------------------------------------- errors
def _fails(argv, capsys, match, code=1):
    rc = main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert rc == code
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err
    assert match in errors[0], errors[0]


def test_errors_are_one_line_without_partial_output(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    model = str(fitted_onnx / "model.onnx")
    out = tmp_path / "out.csv"
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n3,"4\n5,6\n')
    (tmp_path / "text.csv").write_text("a,b\nx,y\nz,w\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    df.drop(columns=["x3"]).to_csv(tmp_path / "missing.csv", index=False)
    df.assign(x2=df["x2"].astype(str) + "m").to_csv(tmp_path / "nonnum.csv", index=False)
    with_nan = df.copy()
    with_nan.loc[7, "x1"] = np.nan
    with_nan.to_csv(tmp_path / "nan.csv", index=False)
    df.rename(columns={"id": "score"}).to_csv(tmp_path / "taken.csv", index=False)
    cases = [
        (["fit", str(tmp_path / "nope.csv"), "-o", str(out)], "nope.csv: no such file"),
        (["fit", str(tmp_path / "bad.csv"), "-o", str(out)], "could not read it as CSV"),
        (["fit", str(tmp_path / "empty.csv"), "-o", str(out)], "could not read it as CSV"),
        (["fit", str(tmp_path / "text.csv"), "-o", str(out)], "no numeric columns"),
        (["fit", str(tmp_path / "nan.csv"), "-o", str(out)], "missing or infinite"),
        (["fit", str(tmp_path / "missing.csv"), "-o", str(out), "--columns", "x3"],
         "not in the data"),
        (["fit", str(tmp_path / "missing.csv"), "-o", str(out), "--columns", "city"],
         "not numeric"),
        (["fit", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "no" / "m.onnx")],
         "does not exist"),
        (["fit", str(tmp_path / "data.xlsx"), "-o", str(out)], "unknown table format"),
        (["score", str(tmp_path / "nope.onnx"), str(tmp_path / "bad.csv"), "-o", str(out)],
         "no such file"),
        (["score", str(tmp_path / "junk.onnx"), str(tmp_path / "bad.csv"), "-o", str(out)],
         "not a model skae can load"),
        (["score", model, str(tmp_path / "missing.csv"), "-o", str(out)],
         "lacks the columns the model was fitted on: ['x3']"),
        (["score", model, str(tmp_path / "nonnum.csv"), "-o", str(out)], "not numeric"),
        (["score", model, str(tmp_path / "nan.csv"), "-o", str(out)], "data row 8"),
        (["score", model, str(tmp_path / "taken.csv"), "-o", str(out)], "already has columns"),
        (["score", model, str(tmp_path / "bad.csv"), "-o", str(out)], "could not read"),
        (["export", str(tmp_path / "bad.csv"), "-o", str(out)], "could not be loaded"),
        (["info", str(tmp_path / "junk.onnx")], "not a model skae can load"),
    ]
    for argv, match in cases:
        _fails(argv, capsys, match)
        assert not out.exists(), argv
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_unknown_options_are_one_line_usage_errors(capsys):
    for argv, match in [(["fit", "a.csv", "-o", "m.onnx", "--bogus"], "unrecognized"),
                        (["frobnicate"], "invalid choice"),
                        (["fit", "a.csv"], "required"),
                        (["fit", "a.csv", "-o", "m", "--contamination", "0.9"], "(0, 0.5]")]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0]


def test_a_failed_score_keeps_the_existing_output(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    bad = df.copy()
    bad.loc[550, "x0"] = np.inf  # in the last chunk: earlier chunks were already written
    bad.to_csv(tmp_path / "late.csv", index=False)
    _fails(["score", str(fitted_onnx / "model.onnx"), str(tmp_path / "late.csv"), "-o",
            str(out), "-q", "--chunk-size", "100"], capsys, "data row 551")
    assert out.read_text() == "precious\n"
