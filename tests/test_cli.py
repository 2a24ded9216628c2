import os
import stat
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, TrainingInterruptedWarning
from skae.cli import build_parser, main
from skae.onnx import load_onnx

COMMANDS = ["demo", "fit", "score", "export", "info"]
FAST = ["--max-iter", "15", "--device", "cpu", "-q"]
QUICK = ["--max-iter", "3", "--device", "cpu", "-q"]
X_COLUMNS = ["x0", "x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def table():
    """600 rows on a 2-D plane in 5-D, 20 planted outliers, plus an id and a text column."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 2)) @ rng.normal(size=(2, 5)) + 0.05 * rng.normal(size=(600, 5))
    y = np.zeros(600, dtype=int)
    y[:20] = 1
    X[:20] += rng.choice([-4.0, 4.0], size=(20, 5))
    df = pd.DataFrame(X, columns=X_COLUMNS)
    df.insert(0, "city", rng.choice(["Oslo", "Lima"], size=600))
    df["id"] = np.arange(600)
    return df, y


@pytest.fixture(scope="module")
def fitted_onnx(table, tmp_path_factory):
    df, _ = table
    folder = tmp_path_factory.mktemp("cli")
    df.to_csv(folder / "train.csv", index=False)
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(folder / "model.onnx"),
                "--columns",
                *X_COLUMNS,
                *FAST,
            ]
        )
        == 0
    )
    return folder


def _fails(argv, capsys, match, code=1):
    rc = main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert rc == code
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err
    assert match in errors[0], errors[0]
    return errors[0]


def _score(model, data, out, *extra):
    assert main(["score", str(model), str(data), "-o", str(out), "-q", *extra]) == 0


def _fit_quietly(data, model, *extra, epochs=1):
    argv = ["fit", str(data), "-o", str(model), "--epochs", str(epochs), "--device", "cpu"]
    assert main([*argv, "-q", *extra]) == 0


# ------------------------------------------------------------------ the basics
def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_python_dash_m_skae():
    proc = subprocess.run(
        [sys.executable, "-m", "skae", "--help"], capture_output=True, text=True, check=True
    )
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


def test_demo_refuses_a_file_as_its_output_folder(tmp_path, capsys):
    (tmp_path / "taken").write_text("precious")
    _fails(["demo", "--quick", "-o", str(tmp_path / "taken")], capsys, "is a file")
    assert (tmp_path / "taken").read_text() == "precious"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_then_score_flags_the_planted_outliers(table, tmp_path, capsys, fmt):
    df, y = table
    train, test = tmp_path / f"train.{fmt}", tmp_path / f"test.{fmt}"
    write = {
        "csv": lambda d, p: d.to_csv(p, index=False),
        "parquet": lambda d, p: d.to_parquet(p, index=False),
    }[fmt]
    write(df, train)
    write(df.sample(frac=1.0, random_state=0), test)  # rows shuffled
    assert (
        main(["fit", str(train), "-o", str(tmp_path / "m.onnx"), "--contamination", "0.05", *FAST])
        == 0
    )
    out = capsys.readouterr().out
    assert "7 columns used (6 numeric, 1 categorical)" in out  # city one-hot encoded
    out_path = tmp_path / f"scored.{fmt}"
    _score(tmp_path / "m.onnx", test, out_path, "--chunk-size", "128")
    scored = pd.read_csv(out_path) if fmt == "csv" else pd.read_parquet(out_path)
    assert list(scored.columns) == [*df.columns, "score", "label", "top_feature"]
    pd.testing.assert_frame_equal(
        scored[df.columns].reset_index(drop=True),
        df.sample(frac=1.0, random_state=0).reset_index(drop=True),
        check_dtype=False,
    )
    truth = y[scored["id"].to_numpy()]
    assert roc_auc_score(truth, -scored["score"]) > 0.95
    flagged = scored["label"] == -1
    assert truth[flagged].mean() > 0.5 and flagged[truth == 1].mean() > 0.6
    assert set(scored["top_feature"]) <= {*X_COLUMNS, "id", "city"}
    assert scored.loc[truth == 1, "top_feature"].isin(X_COLUMNS).mean() >= 0.8


def test_score_threshold_overrides_the_labels(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "o.csv", "--threshold=-1e9")
    assert (pd.read_csv(tmp_path / "o.csv")["label"] == 1).all()


def test_score_selects_columns_by_name(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "a.csv", index=False)
    df[df.columns[::-1]].to_csv(tmp_path / "b.csv", index=False)
    for name in "ab":
        _score(fitted_onnx / "model.onnx", tmp_path / f"{name}.csv", tmp_path / f"{name}_out.csv")
    a, b = pd.read_csv(tmp_path / "a_out.csv"), pd.read_csv(tmp_path / "b_out.csv")
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)


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


def test_info_prints_the_metadata(fitted_onnx, capsys):
    assert main(["info", str(fitted_onnx / "model.onnx"), "--params"]) == 0
    out = capsys.readouterr().out
    assert "5 features" in out or "5 columns" in out
    assert "x0, x1, x2, x3, x4" in out
    assert "feature_names_in" not in out  # shown once, as "feature names"
    assert "contamination: 0.1" in out and "skae_version" in out
    assert "label, scores, feature_errors" in out and "estimator_params" in out
    assert "numeric columns (standardised): x0, x1, x2, x3, x4" in out
    assert "feature errors: per input column" in out


def test_export_a_joblib_pipeline(table, tmp_path, capsys):
    df, _ = table
    X = df[X_COLUMNS]
    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(max_iter=15, device="cpu"), random_state=0
        ),
    ).fit(X)
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert main(["export", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.onnx")]) == 0
    model = load_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
    assert model.feature_names_in_ == list(X.columns)
    assert "feature_errors" in model.output_names


def test_export_sample_types_text_columns(tmp_path, capsys):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=200),
            "b": rng.normal(size=200),
            "kind": rng.choice(["u", "v"], size=200),
        }
    )
    pipe = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["a", "b"]),
            (OneHotEncoder(handle_unknown="ignore"), ["kind"]),
            sparse_threshold=0,
        ),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0
        ),
    ).fit(df)
    joblib.dump(pipe, tmp_path / "m.joblib")
    df.to_csv(tmp_path / "d.csv", index=False)
    assert (
        main(
            [
                "export",
                str(tmp_path / "m.joblib"),
                "-o",
                str(tmp_path / "m.onnx"),
                "--sample",
                str(tmp_path / "d.csv"),
            ]
        )
        == 0
    )
    model = load_onnx(tmp_path / "m.onnx")
    assert model.input_types_ == {"a": "number", "b": "number", "kind": "text"}
    np.testing.assert_allclose(
        model.decision_function(df), pipe.decision_function(df), rtol=1e-4, atol=1e-4
    )
    _score(tmp_path / "m.onnx", tmp_path / "d.csv", tmp_path / "o.csv")
    assert len(pd.read_csv(tmp_path / "o.csv")) == 200


def test_a_model_without_column_names_reads_columns_by_position(table, tmp_path, capsys):
    df, _ = table
    X = df[X_COLUMNS].to_numpy()
    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0
        ),
    ).fit(X)
    joblib.dump(pipe, tmp_path / "m.joblib")
    assert main(["export", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.onnx")]) == 0
    df[X_COLUMNS].to_csv(tmp_path / "d.csv", index=False)
    _score(tmp_path / "m.onnx", tmp_path / "d.csv", tmp_path / "o.csv")
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "o.csv")["score"], pipe.decision_function(X), rtol=1e-4, atol=1e-4
    )
    df.to_csv(tmp_path / "wide.csv", index=False)
    _fails(
        [
            "score",
            str(tmp_path / "m.onnx"),
            str(tmp_path / "wide.csv"),
            "-o",
            str(tmp_path / "o2.csv"),
        ],
        capsys,
        "fitted without column names",
    )


# ----------------------------------------------------------------- errors
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
        (["score", model, str(tmp_path / "nan.csv"), "-o", str(out)], "data row 8"),
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
        _fails(argv, capsys, match)
        assert not out.exists() and not onnx_out.exists(), argv
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.xz"])
def test_a_corrupt_compressed_table_is_one_could_not_read_error(tmp_path, capsys, suffix):
    data = tmp_path / f"bad{suffix}"
    data.write_bytes(b"a,b\n1,2\n")  # not compressed at all
    line = _fails(
        ["fit", str(data), "-o", str(tmp_path / "m.onnx")], capsys, "could not read it as CSV"
    )
    assert line.count("could not read it") == 1 and "unexpected" not in line, line
    assert "Error:" not in line  # not an unexpected error's type name


def test_unknown_options_are_one_line_usage_errors(capsys):
    for argv, match in [
        (["fit", "a.csv", "-o", "m.onnx", "--bogus"], "unrecognized"),
        (["frobnicate"], "invalid choice"),
        (["fit", "a.csv"], "required"),
        (["fit", "a.csv", "-o", "m", "--contamination", "0.9"], "(0, 0.5]"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=nan"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=inf"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=-inf"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--chunk-size", "0"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--chunk-size", "1.5"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--sep", "ab"],
        ["fit", "d.csv", "-o", "m.onnx", "--contamination", "nan"],
        ["fit", "d.csv", "-o", "m.onnx", "--contamination", "inf"],
        ["fit", "d.csv", "-o", "m.onnx", "--max-iter", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--seed", "-1"],
        ["fit", "d.csv", "-o", "m.onnx", "--seed", "nan"],
        ["fit", "d.csv", "-o", "m.onnx", "--n-jobs", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--chunk-rows", "-5"],
        ["fit", "d.csv", "-o", "m.onnx", "--epochs", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--max-categories", "0"],
        ["demo", "--seed", "1e3"],
    ],
)
def test_numeric_options_reject_nan_infinity_and_out_of_range(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]


def test_a_failed_score_keeps_the_existing_output(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    bad = df.copy()
    bad.loc[550, "x0"] = np.inf  # in the last chunk: earlier chunks were already written
    bad.to_csv(tmp_path / "late.csv", index=False)
    _fails(
        [
            "score",
            str(fitted_onnx / "model.onnx"),
            str(tmp_path / "late.csv"),
            "-o",
            str(out),
            "-q",
            "--chunk-size",
            "100",
        ],
        capsys,
        "data row 551",
    )
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_full_disk_or_ctrl_c_mid_write_keeps_the_existing_output(
    fitted_onnx, table, tmp_path, capsys, monkeypatch, error
):
    from skae._tables import writing as _output

    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    calls = []
    write = _output.TableWriter.write

    def failing(self, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise error
        write(self, chunk)

    monkeypatch.setattr(_output.TableWriter, "write", failing)
    rc = main(
        [
            "score",
            str(fitted_onnx / "model.onnx"),
            str(tmp_path / "d.csv"),
            "-o",
            str(out),
            "-q",
            "--chunk-size",
            "100",
        ]
    )
    err = capsys.readouterr().err
    assert rc == (130 if isinstance(error, KeyboardInterrupt) else 1)
    assert ("No space left" in err) or ("interrupted" in err)
    assert out.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "o.csv"]


def test_ctrl_c_during_fit_writes_no_model(table, tmp_path, capsys, monkeypatch):
    import warnings

    from skae import _fit_table

    class Interrupted(ReconstructionAnomalyDetector):
        def fit(self, X, y=None):  # what the engine does on Ctrl-C
            warnings.warn(
                "Training interrupted by the user at epoch 3; the estimator "
                "keeps the best weights found so far.",
                TrainingInterruptedWarning,
                stacklevel=2,
            )
            return super().fit(X)

    monkeypatch.setattr(
        _fit_table,
        "_detector",
        lambda args: Interrupted(AutoencoderTransformer(max_iter=2, device="cpu")),
    )
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.onnx").write_bytes(b"the previous model")
    assert main(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")]) == 130
    assert "interrupted; no output written" in capsys.readouterr().err
    assert (tmp_path / "m.onnx").read_bytes() == b"the previous model"


# ------------------------------------------------------- never overwrite the input
def test_fit_refuses_to_overwrite_its_input_through_any_link(table, tmp_path, capsys):
    df, _ = table
    data = tmp_path / "data.csv"
    df.to_csv(data, index=False)
    before = data.read_bytes()
    os.link(data, tmp_path / "hard.onnx")
    (tmp_path / "soft.onnx").symlink_to(data)
    _fails(["fit", str(data), "-o", str(data)], capsys, "must be a .onnx file")
    for out in ("hard.onnx", "soft.onnx"):
        _fails(["fit", str(data), "-o", str(tmp_path / out)], capsys, "is the input")
    assert data.read_bytes() == before


def test_score_refuses_to_overwrite_its_input_or_its_model(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    data = tmp_path / "new.csv"
    df.to_csv(data, index=False)
    before = data.read_bytes()
    model_before = (fitted_onnx / "model.onnx").read_bytes()
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(data)
    (tmp_path / "model_link.csv").symlink_to(fitted_onnx / "model.onnx")
    model = str(fitted_onnx / "model.onnx")
    for out in (data, tmp_path / "hard.csv", tmp_path / "soft.csv", tmp_path / "model_link.csv"):
        _fails(["score", model, str(data), "-o", str(out), "-q"], capsys, "is the input")
    assert data.read_bytes() == before
    assert (fitted_onnx / "model.onnx").read_bytes() == model_before


def test_export_refuses_to_overwrite_its_input(tmp_path, capsys):
    (tmp_path / "m.joblib").write_bytes(b"x")
    (tmp_path / "m.onnx").symlink_to(tmp_path / "m.joblib")
    _fails(
        ["export", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.onnx")],
        capsys,
        "is the input",
    )
    assert (tmp_path / "m.joblib").read_bytes() == b"x"


# ------------------------------------------------------------ output formats
@pytest.mark.parametrize(
    "suffix",
    [f"{b}{c}" for b in (".csv", ".tsv", ".txt") for c in ("", ".gz", ".bz2", ".zip", ".xz")]
    + [".parquet"],
)
def test_score_writes_every_accepted_suffix_in_its_format(fitted_onnx, table, tmp_path, suffix):
    from skae._tables.reading import read_table

    df, _ = table
    df.iloc[:150].to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / f"scored{suffix}"
    _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", out, "--chunk-size", "40")
    magic = {
        ".gz": b"\x1f\x8b",
        ".bz2": b"BZh",
        ".zip": b"PK",
        ".xz": b"\xfd7zXZ",
        ".parquet": b"PAR1",
    }
    raw = out.read_bytes()
    for ending, start in magic.items():
        if suffix.endswith(ending):
            assert raw.startswith(start)
    if suffix == ".tsv":
        assert raw.decode().splitlines()[0].split("\t")[-3:] == ["score", "label", "top_feature"]
    back = read_table(str(out))  # skae reads its own output
    assert len(back) == 150 and list(back.columns[-3:]) == ["score", "label", "top_feature"]
    np.testing.assert_allclose(back["x0"], df["x0"].iloc[:150])
    # and can score it again once the score columns are renamed
    back.drop(columns=["score", "label", "top_feature"]).to_csv(tmp_path / "again.csv", index=False)
    _score(fitted_onnx / "model.onnx", tmp_path / "again.csv", tmp_path / "again_out.csv")


def test_csv_to_parquet_keeps_every_value_whatever_the_chunking(fitted_onnx, table, tmp_path):
    df, _ = table
    df = df.iloc[:200].copy()
    extra = pd.DataFrame(
        {
            "count": np.arange(200).astype(object),
            "note": [None] * 200,
            "ref": np.arange(200).astype(object),
        }
    )
    extra.loc[150, "count"] = 1.5  # an integer column that later holds 1.5
    extra.loc[170, "note"] = "late"  # a text column empty in the first chunks
    extra.loc[190, "ref"] = "A99"  # numeric IDs, then text
    data = pd.concat([df, extra], axis=1)
    data.to_csv(tmp_path / "d.csv", index=False)
    for chunk in ("50", "7", "1000"):
        out = tmp_path / f"o{chunk}.parquet"
        _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", out, "--chunk-size", chunk)
        scored = pd.read_parquet(out)
        assert scored.loc[150, "count"] == 1.5 and scored.loc[3, "count"] == 3
        assert scored.loc[170, "note"] == "late" and pd.isna(scored.loc[0, "note"])
        assert scored.loc[190, "ref"] == "A99" and scored.loc[3, "ref"] == "3"
        np.testing.assert_allclose(scored["x0"], df["x0"])


def test_csv_to_csv_copies_fields_as_their_exact_text(fitted_onnx, table, tmp_path):
    df, _ = table
    data = df.iloc[:30][X_COLUMNS].round(3).astype(str)
    data.insert(0, "code", ["007"] * 30)
    data.insert(1, "region", ["NA"] * 15 + ["EU"] * 15)
    data.loc[0, "x0"] = data.loc[0, "x0"] + "0"  # "1.5" written as "1.50"
    data.to_csv(tmp_path / "d.csv", index=False)
    _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "o.csv", "--chunk-size", "7")
    back = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back[data.columns], data)


def test_semicolon_csv_with_decimal_commas_is_read_as_its_columns(table, tmp_path, capsys):
    df, _ = table
    small = df.iloc[:300]
    small.to_csv(tmp_path / "eu.csv", sep=";", decimal=",", index=False)
    assert main(["fit", str(tmp_path / "eu.csv"), "-o", str(tmp_path / "m.onnx"), *QUICK]) == 0
    assert "7 columns used" in capsys.readouterr().out
    from skae.scoring import model_inputs

    assert sorted(n for n, _ in model_inputs(load_onnx(tmp_path / "m.onnx"))) == sorted(
        [*X_COLUMNS, "id", "city"]
    )
    _score(tmp_path / "m.onnx", tmp_path / "eu.csv", tmp_path / "o.csv")
    text = (tmp_path / "o.csv").read_text()
    assert text.splitlines()[0] == "city;x0;x1;x2;x3;x4;id;score;label;top_feature"
    scored = pd.read_csv(tmp_path / "o.csv", sep=";", decimal=",")
    np.testing.assert_allclose(scored["x0"], small["x0"])
    assert np.isfinite(scored["score"]).all()


def test_a_one_column_file_with_semicolons_asks_for_sep(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a;b;c\n1;2\n3;4;5;6\n")
    _fails(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")], capsys, "--sep")


def test_score_keeps_a_parquet_named_index_as_a_column(fitted_onnx, table, tmp_path):
    df, _ = table
    indexed = df.assign(id=df["id"] * 7 + 3).set_index("id")
    indexed.to_parquet(tmp_path / "d.parquet")
    for out in ("o.parquet", "o.csv"):
        _score(
            fitted_onnx / "model.onnx", tmp_path / "d.parquet", tmp_path / out, "--chunk-size", "64"
        )
        scored = (pd.read_parquet if out.endswith("parquet") else pd.read_csv)(tmp_path / out)
        assert list(scored.columns[:2]) == ["id", "city"]
        np.testing.assert_array_equal(scored["id"], df["id"] * 7 + 3)
    ranged = df[X_COLUMNS].set_index(pd.RangeIndex(100, 700, name="row"))
    ranged.to_parquet(tmp_path / "r.parquet")
    _score(
        fitted_onnx / "model.onnx", tmp_path / "r.parquet", tmp_path / "r.csv", "--chunk-size", "64"
    )
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "r.csv")["row"], np.arange(100, 700))


def test_outputs_honour_the_umask_and_keep_an_existing_mode(fitted_onnx, table, tmp_path):
    df, _ = table
    df.iloc[:20].to_csv(tmp_path / "d.csv", index=False)
    old = os.umask(0o022)
    try:
        _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "new.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o644
    (tmp_path / "shared.csv").write_text("old")
    (tmp_path / "shared.csv").chmod(0o660)
    _score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "shared.csv")
    assert stat.S_IMODE((tmp_path / "shared.csv").stat().st_mode) == 0o660


# ---------------------------------------------------------- untrusted text
def test_info_escapes_control_characters_in_metadata(fitted_onnx, tmp_path, capsys):
    import onnx

    model = onnx.load(str(fitted_onnx / "model.onnx"))
    entry = model.metadata_props.add()
    entry.key, entry.value = "note\x1b[2J", "evil\x1b]0;title\x07\u202eend\nnext"
    onnx.save(model, str(tmp_path / "evil.onnx"))
    assert main(["info", str(tmp_path / "evil.onnx")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "note\\x1b[2J: evil\\x1b]0;title\\x07\\u202eend\\nnext" in out


def test_errors_escape_control_characters_in_names(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    evil = tmp_path / "evil\x1b[31m.csv"
    df.drop(columns=["x3"]).rename(columns={"city": "c\x1b[2Jity"}).to_csv(evil, index=False)
    line = _fails(
        ["score", str(fitted_onnx / "model.onnx"), str(evil), "-o", str(tmp_path / "o.csv")],
        capsys,
        "lacks the columns",
    )
    assert "\x1b" not in line and "evil\\x1b[31m.csv" in line
    (tmp_path / "text.csv").write_text("n\x1bame,x\n" + "".join(f"v{i},{i}\n" for i in range(40)))
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


# -------------------------------------------------------------- top_feature
def _export_pipeline(tmp_path, name, steps, X):
    pipe = make_pipeline(
        *steps,
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(max_iter=5, device="cpu"), random_state=0
        ),
    ).fit(X)
    joblib.dump(pipe, tmp_path / f"{name}.joblib")
    assert (
        main(["export", str(tmp_path / f"{name}.joblib"), "-o", str(tmp_path / f"{name}.onnx")])
        == 0
    )
    return tmp_path / f"{name}.onnx"


def test_top_feature_after_transforming_pipelines(table, tmp_path, capsys):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import PolynomialFeatures

    df, _ = table
    X = df[X_COLUMNS]
    X.to_csv(tmp_path / "d.csv", index=False)
    pca = _export_pipeline(tmp_path, "pca", [StandardScaler(), PCA(3)], X)
    poly = _export_pipeline(tmp_path, "poly", [PolynomialFeatures(2), StandardScaler()], X)
    capsys.readouterr()
    for model in (pca, poly):
        _score(model, tmp_path / "d.csv", tmp_path / "o.csv")
        scored = pd.read_csv(tmp_path / "o.csv")
        names = load_onnx(model).feature_error_names_
        assert len(scored) == len(X)
        if names is None:
            assert "top_feature" not in scored
        else:
            assert set(scored["top_feature"]) <= set(names)
            if model == pca and len(names) == 3:  # errors of the 3 PCA components
                assert not set(scored["top_feature"]) & set(X_COLUMNS)
        assert main(["info", str(model)]) == 0
        assert "feature errors: per" in capsys.readouterr().out


# ---------------------------------------------------------- progress and jobs
def test_fit_shows_progress_unless_quiet_and_passes_n_jobs(table, tmp_path, capsys, monkeypatch):
    from skae import _fit_table

    seen = []
    build = _fit_table._detector

    def spy(args):
        detector = build(args)
        seen.append(detector.get_params())
        return detector

    monkeypatch.setattr(_fit_table, "_detector", spy)
    df, _ = table
    df.iloc[:200].to_csv(tmp_path / "d.csv", index=False)
    base = [
        "fit",
        str(tmp_path / "d.csv"),
        "-o",
        str(tmp_path / "m.onnx"),
        "--max-iter",
        "2",
        "--device",
        "cpu",
    ]
    assert main([*base, "--n-jobs", "1"]) == 0
    noisy = capsys.readouterr().err
    assert main([*base, "-q"]) == 0
    quiet = capsys.readouterr().err
    assert seen[0]["n_jobs"] == 1 and seen[0]["verbose"] == 1 and seen[1]["verbose"] == 0
    assert "%" in noisy and quiet == ""


# --------------------------------------------------------- columns and types
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Numbers, a boolean, an integer, a low-cardinality text column and an ID; rows
    30-39 carry a rare category, rows 40-49 a numeric outlier; some numbers missing."""
    rng = np.random.RandomState(1)
    n = 800
    base = rng.normal(size=(n, 2))
    df = pd.DataFrame(
        {
            "a": base[:, 0],
            "b": base[:, 0] + 0.1 * rng.normal(size=n),
            "c": base[:, 1],
            "d": base[:, 1] * 2 + 0.1 * rng.normal(size=n),
        }
    )
    df["flag"] = base[:, 1] > 0
    df["count"] = np.round(base[:, 0] * 3 + 10).astype(int)
    df["kind"] = rng.choice(["red", "green", "blue"], size=n)
    df["user"] = [f"user{i:04d}" for i in range(n)]
    df.loc[30:39, "kind"] = "violet"
    df.loc[40:49, "b"] += 8
    missing = rng.choice(np.arange(60, n), size=25, replace=False)
    df.loc[missing, "c"] = np.nan
    folder = tmp_path_factory.mktemp("mixed")
    df.to_csv(folder / "train.csv", index=False)
    return folder, df, missing


def test_fit_uses_text_booleans_and_integers_and_imputes(mixed, capsys):
    folder, _, _ = mixed
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(folder / "m.onnx"),
                "--contamination",
                "0.05",
                *FAST,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert (
        "7 columns used (6 numeric, 1 categorical, 25 missing values filled in 1 "
        "columns)" in captured.out
    )
    assert main(["info", str(folder / "m.onnx")]) == 0
    info = capsys.readouterr().out
    assert "    kind: 4 categories" in info
    assert "    user: text with more than 20 distinct values" in info
    assert "    c: 25 at fit, filled with the training median" in info
    _score(folder / "m.onnx", folder / "train.csv", folder / "o.csv")
    scored = pd.read_csv(folder / "o.csv")
    assert scored["score"].notna().all()
    assert (scored.loc[30:39, "top_feature"] == "kind").mean() >= 0.8
    assert (scored.loc[40:49, "top_feature"] == "b").mean() >= 0.8
    assert (scored.loc[30:49, "label"] == -1).mean() >= 0.8


def test_missing_values_are_not_anomalies_unless_indicated(mixed, capsys):
    folder, df, missing = mixed
    ranks = {}
    for flag in ([], ["--missing-indicator"]):
        out = folder / f"m{len(flag)}.onnx"
        assert main(["fit", str(folder / "train.csv"), "-o", str(out), *FAST, *flag]) == 0
        scores = load_onnx(out).decision_function(df.drop(columns="user"))
        ranks[bool(flag)] = pd.Series(scores).rank().to_numpy()[missing].mean()
    # imputed rows rank like any others; with the indicator, missing values stand out
    assert ranks[False] > 0.25 * len(df) and ranks[True] < ranks[False]
    assert main(["info", str(folder / "m1.onnx")]) == 0
    assert "flagged in an indicator column" in capsys.readouterr().out


def test_fit_column_options_override_the_choice(mixed, capsys):
    folder, _, _ = mixed
    out = folder / "opts.onnx"
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(out),
                "--categorical",
                "count",
                "--ignore",
                "kind",
                "flag",
                "--max-categories",
                "30",
                "--contamination",
                "auto",
                *QUICK,
            ]
        )
        == 0
    )
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    categorical, left_out = info.split("categorical columns")[1].split("left out at fit")
    assert "    count: " in categorical
    assert "    kind: --ignore" in left_out and "    flag: --ignore" in left_out


# ------------------------------------------------------------------ streaming
def test_streaming_fit_never_holds_more_than_chunk_rows(mixed, tmp_path, capsys, monkeypatch):
    from skae import _fit_table

    _, df, _ = mixed
    sizes, held = [], []
    read = _fit_table.iter_table

    def spy_read(*args, **kwargs):
        for chunk in read(*args, **kwargs):
            sizes.append(len(chunk))
            yield chunk

    fit_pre = _fit_table.fit_streamed_preprocessor

    def spy_pre(roles, stats, **kwargs):
        held.append(len(stats.sample))
        return fit_pre(roles, stats, **kwargs)

    monkeypatch.setattr(_fit_table, "iter_table", spy_read)
    monkeypatch.setattr(_fit_table, "fit_streamed_preprocessor", spy_pre)
    df.to_parquet(tmp_path / "train.parquet", row_group_size=300)
    _fit_quietly(tmp_path / "train.parquet", tmp_path / "m.onnx", "--chunk-rows", "64", epochs=2)
    out = capsys.readouterr().out
    assert "streamed in chunks of 64 rows, 2 epochs" in out
    assert max(sizes) <= 64 and sum(sizes) == 3 * len(df)  # statistics + 2 epochs
    assert held == [64]
    _score(tmp_path / "m.onnx", tmp_path / "train.parquet", tmp_path / "o.parquet")
    assert pd.read_parquet(tmp_path / "o.parquet")["score"].notna().all()


def test_streaming_fit_reads_a_folder_of_csv_and_parquet(mixed, tmp_path, capsys):
    _, df, _ = mixed
    (tmp_path / "data").mkdir()
    df.iloc[:400].to_csv(tmp_path / "data" / "a.csv.gz", index=False)
    df.iloc[400:].to_parquet(tmp_path / "data" / "b.parquet")
    (tmp_path / "data" / "_SUCCESS").write_text("")
    _fit_quietly(tmp_path / "data", tmp_path / "m.onnx")
    out = capsys.readouterr().out
    assert f"skae fit: {len(df)} rows, 7 columns used" in out and "streamed" in out
    _score(tmp_path / "m.onnx", tmp_path / "data", tmp_path / "o.csv", "--chunk-size", "128")
    scored = pd.read_csv(tmp_path / "o.csv")
    assert len(scored) == len(df) and scored["score"].notna().all()


def test_fit_streams_a_file_larger_than_the_bound(mixed, tmp_path, capsys, monkeypatch):
    from skae import cli

    folder, _, _ = mixed
    monkeypatch.setattr(cli, "STREAM_FILE_BYTES", 1000)
    monkeypatch.setattr(cli, "DEFAULT_CHUNK_ROWS", 300)
    _fit_quietly(folder / "train.csv", tmp_path / "m.onnx")
    assert "streamed in chunks of 300 rows" in capsys.readouterr().out
