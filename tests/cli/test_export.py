"""skae.cli.export: skae export of joblib-saved estimators."""

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.cli import main
from skae.onnx import load_onnx

from .conftest import X_COLUMNS, fails, score


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
    score(tmp_path / "m.onnx", tmp_path / "d.csv", tmp_path / "o.csv")
    assert len(pd.read_csv(tmp_path / "o.csv")) == 200


def test_export_refuses_to_overwrite_its_input(tmp_path, capsys):
    (tmp_path / "m.joblib").write_bytes(b"x")
    (tmp_path / "m.onnx").symlink_to(tmp_path / "m.joblib")
    fails(
        ["export", str(tmp_path / "m.joblib"), "-o", str(tmp_path / "m.onnx")],
        capsys,
        "is the input",
    )
    assert (tmp_path / "m.joblib").read_bytes() == b"x"


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
    score(tmp_path / "m.onnx", tmp_path / "d.csv", tmp_path / "o.csv")
    np.testing.assert_allclose(
        pd.read_csv(tmp_path / "o.csv")["score"], pipe.decision_function(X), rtol=1e-4, atol=1e-4
    )
    df.to_csv(tmp_path / "wide.csv", index=False)
    fails(
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
