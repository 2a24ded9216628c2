import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import OPSET, load_onnx, register_converters, to_onnx

N_FEATURES = 8
CHEAP = dict(hidden_layer_sizes=(16,), n_components=3, max_iter=20, random_state=0,
             device="cpu")


def _data(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, N_FEATURES))
    return 3 + 2 * (X + 0.3 * rng.normal(size=(n, N_FEATURES)))  # unscaled on purpose


@pytest.fixture(scope="module")
def X_train():
    return _data(500)


@pytest.fixture(scope="module")
def fitted(X_train):
    Xs = StandardScaler().fit_transform(X_train)
    return {
        "ae": AutoencoderTransformer(**CHEAP).fit(Xs),
        "vae": VAETransformer(**CHEAP).fit(Xs),
        "det_ae": ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)).fit(Xs),
        "det_vae": ReconstructionAnomalyDetector(VAETransformer(**CHEAP)).fit(Xs),
        "det_default": ReconstructionAnomalyDetector(random_state=0).fit(Xs),
        "scaler_det": make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
            AutoencoderTransformer(**CHEAP), contamination=0.05)).fit(X_train),
        "scaler_ae_kmeans": make_pipeline(StandardScaler(), AutoencoderTransformer(**CHEAP),
                                          KMeans(4, n_init=3, random_state=0)).fit(X_train),
    }


@pytest.fixture(scope="module")
def exported(fitted, X_train):
    return {k: load_onnx(to_onnx(est, X_train[:1])) for k, est in fitted.items()}


def _scaled_if_needed(key, X):
    return X if key.startswith(("scaler", )) else StandardScaler().fit(_data(500)).transform(X)


@pytest.mark.parametrize("n_rows", [1, 7, 1000, 100_000])
@pytest.mark.parametrize("key", ["ae", "vae", "det_ae", "det_vae", "det_default", "scaler_det",
                                 "scaler_ae_kmeans"])
def test_parity(fitted, exported, key, n_rows):
    est, model = fitted[key], exported[key]
    X = _scaled_if_needed(key, _data(n_rows, seed=1))
    if key in ("ae", "vae"):
        np.testing.assert_allclose(model.transform(X), est.transform(X), rtol=1e-4, atol=1e-5)
        return
    if key == "scaler_ae_kmeans":
        np.testing.assert_array_equal(model.predict(X), est.predict(X))
        return
    score = est.score_samples(X)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    # The detectors' scores are standardised (unit: one interquartile range of the
    # training scores) and cross zero, so the tolerance is relative to |score| + 1.
    tol = 1e-4 * (np.abs(score) + 1)
    assert np.all(np.abs(model.decision_function(X) - est.decision_function(X)) <= tol)
    assert np.all(np.abs(model.score_samples(X) - score) <= tol)


def test_detector_graph_outputs_and_metadata(fitted, X_train):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    assert [o.name for o in onx.graph.output] == ["label", "scores"]
    assert onx.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [i.name for i in onx.graph.input] == ["X"]
    dim = onx.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim.HasField("dim_value")  # dynamic batch axis
    assert {op.domain: op.version for op in onx.opset_import}[""] == OPSET
    meta = {p.key: p.value for p in onx.metadata_props}
    det = fitted["scaler_det"][-1]
    assert meta["estimator_class"] == "sklearn.pipeline.Pipeline"
    assert float(meta["offset"]) == det.offset_
    assert float(meta["contamination"]) == 0.05
    assert meta["skae_version"]
    params = json.loads(to_onnx_meta(fitted["det_ae"], X_train)["estimator_params"])
    assert params["contamination"] == 0.1
    onnx.checker.check_model(onx)
    # One graph: no skae node survives, only standard ONNX operators.
    assert all(node.domain in ("", "ai.onnx.ml") for node in onx.graph.node)


def to_onnx_meta(est, X):
    return {p.key: p.value for p in to_onnx(est, X[:1]).metadata_props}


def test_extra_outputs(fitted):
    X = _scaled_if_needed("det_ae", _data(50, seed=2))
    det = fitted["det_ae"]
    model = load_onnx(to_onnx(det, X[:1], feature_errors=True, score_samples=True))
    assert model.output_names == ["label", "scores", "score_samples", "feature_errors"]
    np.testing.assert_allclose(model.feature_errors(X), det.feature_errors(X), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(model.score_samples(X), det.score_samples(X), rtol=1e-4,
                               atol=1e-4)
    plain = load_onnx(to_onnx(det, X[:1]))
    with pytest.raises(AttributeError, match="feature_errors=True"):
        plain.feature_errors(X)
    with pytest.raises(AttributeError, match="no predict"):
        load_onnx(to_onnx(fitted["ae"], X[:1])).predict(X)


def test_register_converters_for_skl2onnx_users(fitted, X_train):
    from skl2onnx import to_onnx as skl_to_onnx

    register_converters()
    onx = skl_to_onnx(fitted["scaler_det"], X_train[:1].astype(np.float32),
                      target_opset={"": OPSET, "ai.onnx.ml": 3})
    model = load_onnx(onx)
    np.testing.assert_array_equal(model.predict(X_train), fitted["scaler_det"].predict(X_train))


def test_column_transformer_with_skae_step(X_train):
    ct = ColumnTransformer([("ae", make_pipeline(StandardScaler(),
                                                 AutoencoderTransformer(**CHEAP)), [0, 1, 2, 3]),
                            ("scale", StandardScaler(), [4, 5, 6, 7])])
    pipe = make_pipeline(ct, ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)))
    pipe.fit(X_train)
    model = load_onnx(to_onnx(pipe, X_train[:1]))
    np.testing.assert_array_equal(model.predict(X_train), pipe.predict(X_train))


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
    pipe = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
        AutoencoderTransformer(**CHEAP))).fit(df)
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
    np.testing.assert_array_equal(one, chunked)


def test_concurrent_scoring_matches_serial(fitted, X_train):
    model = load_onnx(to_onnx(fitted["scaler_det"], X_train[:1]))
    batches = [_data(200, seed=s) for s in range(16)]
    serial = [model.decision_function(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(model.decision_function, batches))
    for a, b in zip(serial, parallel):
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
        labels = model.predict(np.load({str(tmp_path / 'X.npy')!r}))
        assert (labels == np.load({str(tmp_path / 'expected.npy')!r})).all()
        try:
            import torch
        except ImportError:
            print("torch-free OK")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "torch-free OK" in proc.stdout


def test_importing_skae_registers_nothing():
    script = ("import skae, skae.onnx, sys; "
              "from skl2onnx._supported_operators import sklearn_operator_name_map as m; "
              "print(any('Skae' in v for v in m.values()))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr
