"""Fixtures and helpers shared by the command-line tests."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.cli import main

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


def fails(argv, capsys, match, code=1):
    rc = main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert rc == code
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err
    assert match in errors[0], errors[0]
    return errors[0]


def score(model, data, out, *extra):
    assert main(["score", str(model), str(data), "-o", str(out), "-q", *extra]) == 0


def fit_quietly(data, model, *extra, epochs=1):
    argv = ["fit", str(data), "-o", str(model), "--epochs", str(epochs), "--device", "cpu"]
    assert main([*argv, "-q", *extra]) == 0


def export_pipeline(tmp_path, name, steps, X):
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
