"""skae.onnx._runtime: load_onnx and OnnxModel, torch-free, with their input checks."""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx

from .conftest import CATEGORIES, CHEAP, N_FEATURES, NUMBERS, _data, _new_rows, _table


def test_load_from_path_bytes_and_proto(fitted, X_train, tmp_path):
    onx = to_onnx(fitted["det_ae"], X_train[:1])
    path = tmp_path / "m.onnx"
    path.write_bytes(onx.SerializeToString())
    X = StandardScaler().fit_transform(X_train)[:20]
    ref = fitted["det_ae"].predict(X)
    for source in (str(path), path, onx.SerializeToString(), onx):
        np.testing.assert_array_equal(load_onnx(source).predict(X), ref)
    with pytest.raises(TypeError, match="path, bytes"):
        load_onnx(12)


def test_input_checks(fitted, X_train):
    names = [f"f{i}" for i in range(N_FEATURES)]
    df = pd.DataFrame(X_train, columns=names)
    pipe = make_pipeline(
        StandardScaler(), ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP))
    ).fit(df)
    model = load_onnx(to_onnx(pipe, df.iloc[:1]))
    assert model.feature_names_in_ == names
    expected = pipe.predict(df)
    np.testing.assert_array_equal(model.predict(df), expected)
    np.testing.assert_array_equal(model.predict(df[names[::-1]]), expected)  # by name
    with pytest.raises(ValueError, match=r"missing the columns.*'f0'"):
        model.predict(df.drop(columns="f0"))
    with pytest.raises(ValueError, match="X has 7 features, but this model is expecting 8"):
        model.predict(X_train[:, :7])
    bad = X_train[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match="2-D"):
        model.predict(X_train[0])
    with pytest.raises(ValueError, match="numeric"):
        model.predict([["a"] * N_FEATURES])
    with pytest.raises(ValueError, match="0 rows"):
        model.predict(np.zeros((0, N_FEATURES)))


def test_chunked_scoring_matches_one_call(fitted, X_train):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    X = _data(10_000, seed=5)
    one = load_onnx(onx, chunk_size=100_000).decision_function(X)
    chunked = load_onnx(onx, chunk_size=333).decision_function(X)
    # float32 matrix products may round differently for other batch sizes (one ulp), and
    # the neighbour term's TopK may then swap two references at a near tie (a change of
    # the size of that rounding, a few 1e-6); a chunk scored out of place would be off by
    # the scores' spread
    np.testing.assert_allclose(one, chunked, rtol=1e-5, atol=1e-5)


def test_concurrent_scoring_matches_serial(fitted, X_train):
    model = load_onnx(to_onnx(fitted["scaler_det"], X_train[:1]))
    batches = [_data(200, seed=s) for s in range(16)]
    serial = [model.decision_function(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(model.decision_function, batches))
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_scoring_works_without_torch(fitted, X_train, tmp_path):
    path = tmp_path / "det.onnx"
    path.write_bytes(to_onnx(fitted["scaler_det"], X_train[:1]).SerializeToString())
    X = _data(30, seed=9)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", fitted["scaler_det"].predict(X))
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None          # any 'import torch' now raises ImportError
        import numpy as np
        import skae.onnx
        model = skae.onnx.load_onnx({str(path)!r})
        labels = model.predict(np.load({str(tmp_path / "X.npy")!r}))
        assert (labels == np.load({str(tmp_path / "expected.npy")!r})).all()
        try:
            import torch
        except ImportError:
            print("torch-free OK")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "torch-free OK" in proc.stdout


def test_nan_in_a_column_the_graph_does_not_impute_names_it():
    train = _table(300).dropna(subset=["amount"])
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMBERS),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        ]
    )
    pipe = make_pipeline(ct, ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)))
    model = load_onnx(to_onnx(pipe.fit(train), train.iloc[:1]))
    rows = train.iloc[:4].copy()
    rows.loc[rows.index[2], "amount"] = np.nan
    with pytest.raises(
        ValueError,
        match=r"NaN.*\['amount'\].*the first at position 2.*"
        "impute or drop",
    ):
        model.predict(rows)
    rows["id"] = np.nan  # a column the model does not read may hold anything
    with pytest.raises(ValueError, match=r"\['amount'\]"):
        model.predict(rows)
    np.testing.assert_array_equal(
        model.predict(rows.drop(index=rows.index[2])), pipe.predict(train.iloc[[0, 1, 3]])
    )


def test_scoring_a_typed_model_works_without_torch_or_sklearn(mixed, tmp_path):
    _, pipe, onx = mixed
    path = tmp_path / "mixed.onnx"
    path.write_bytes(onx.SerializeToString())
    new = _new_rows()
    new.to_pickle(tmp_path / "new.pkl")
    np.save(tmp_path / "expected.npy", pipe.predict(new))
    script = textwrap.dedent(f"""
        import sys
        for name in ("torch", "sklearn", "skl2onnx"):
            sys.modules[name] = None     # any import of them now raises ImportError
        import numpy as np, pandas as pd
        import skae.onnx
        model = skae.onnx.load_onnx({str(path)!r})
        labels = model.predict(pd.read_pickle({str(tmp_path / "new.pkl")!r}))
        assert (labels == np.load({str(tmp_path / "expected.npy")!r})).all()
        print("torch-free OK", model.feature_error_names_)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "torch-free OK" in proc.stdout


def test_load_onnx_runs_the_model_file_it_checked(fitted, X_train, tmp_path, monkeypatch):
    """The model file is read once: one replaced after its check is not what runs."""
    import skae.onnx._runtime as runtime

    path = tmp_path / "m.onnx"
    path.write_bytes(to_onnx(fitted["det_ae"], X_train[:1]).SerializeToString())
    check = runtime.check_external_data

    def check_then_replace(data, folder):
        locations = check(data, folder)
        path.write_bytes(to_onnx(fitted["ae"], X_train[:1]).SerializeToString())
        return locations

    monkeypatch.setattr(runtime, "check_external_data", check_then_replace)
    assert load_onnx(path).output_names == ["label", "scores", "p_value"]
