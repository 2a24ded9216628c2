import json
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import OPSET, load_onnx, register_converters, to_onnx

N_FEATURES = 8
CHEAP = dict(hidden_layer_sizes=(16,), n_components=3, max_iter=20, random_state=0, device="cpu")


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
        "scaler_det": make_pipeline(
            StandardScaler(),
            ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP), contamination=0.05),
        ).fit(X_train),
        "scaler_ae_kmeans": make_pipeline(
            StandardScaler(), AutoencoderTransformer(**CHEAP), KMeans(4, n_init=3, random_state=0)
        ).fit(X_train),
    }


@pytest.fixture(scope="module")
def exported(fitted, X_train):
    return {k: load_onnx(to_onnx(est, X_train[:1])) for k, est in fitted.items()}


def _scaled_if_needed(key, X):
    return X if key.startswith(("scaler",)) else StandardScaler().fit(_data(500)).transform(X)


@pytest.mark.parametrize("n_rows", [1, 7, 1000, 100_000])
@pytest.mark.parametrize(
    "key", ["ae", "vae", "det_ae", "det_vae", "det_default", "scaler_det", "scaler_ae_kmeans"]
)
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
    np.testing.assert_allclose(model.feature_errors(X), det.feature_errors(X), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.score_samples(X), det.score_samples(X), rtol=1e-4, atol=1e-4)
    plain = load_onnx(to_onnx(det, X[:1]))
    with pytest.raises(AttributeError, match="feature_errors=True"):
        plain.feature_errors(X)
    with pytest.raises(AttributeError, match="no predict"):
        load_onnx(to_onnx(fitted["ae"], X[:1])).predict(X)


def test_register_converters_for_skl2onnx_users(fitted, X_train):
    from skl2onnx import to_onnx as skl_to_onnx

    register_converters()
    onx = skl_to_onnx(
        fitted["scaler_det"],
        X_train[:1].astype(np.float32),
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    model = load_onnx(onx)
    np.testing.assert_array_equal(model.predict(X_train), fitted["scaler_det"].predict(X_train))


def test_column_transformer_with_skae_step(X_train):
    ct = ColumnTransformer(
        [
            ("ae", make_pipeline(StandardScaler(), AutoencoderTransformer(**CHEAP)), [0, 1, 2, 3]),
            ("scale", StandardScaler(), [4, 5, 6, 7]),
        ]
    )
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
    # float32 matrix products may round differently for other batch sizes (one ulp); a
    # chunk scored out of place would be off by the scores' spread
    np.testing.assert_allclose(one, chunked, rtol=1e-6, atol=1e-6)


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


def test_importing_skae_registers_nothing():
    script = (
        "import skae, skae.onnx, sys; "
        "from skl2onnx._supported_operators import sklearn_operator_name_map as m; "
        "print(any('Skae' in v for v in m.values()))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


# ------------------------------------------------------------- mixed-type tables
def _table(n, seed=0):
    """A payments-like table: an ID, float with missing values, int, bool, text."""
    rng = np.random.RandomState(seed)
    shop = rng.choice(["grocery", "fuel", "online"], n, p=[0.5, 0.3, 0.2])
    df = pd.DataFrame(
        {
            "id": 10_000_000 + rng.permutation(n),
            "amount": np.round(rng.lognormal(3, 0.5, n) * np.where(shop == "fuel", 2, 1), 2),
            "items": 1 + rng.poisson(2, n),
            "card present": (shop != "online") & (rng.rand(n) > 0.1),
            "shop": shop,
        }
    )
    df.loc[rng.rand(n) < 0.05, "amount"] = np.nan
    df.loc[rng.rand(n) < 0.05, "shop"] = None
    return df


NUMBERS, CATEGORIES = ["amount", "items", "card present"], ["shop"]


def _mixed_pipeline(encoder=None, detector=None):
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMBERS),
            ("cat", encoder or OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        ]
    )  # remainder="drop": the ID column is left out
    return make_pipeline(
        ct,
        detector or ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP), random_state=0),
    )


@pytest.fixture(scope="module")
def mixed():
    train = _table(400)
    pipe = _mixed_pipeline().fit(train)
    onx = to_onnx(pipe, train.iloc[:1], feature_errors=True, score_samples=True)
    return train, pipe, onx


def _new_rows():
    """Rows to score: fresh ones, an unseen category, a missing one, and a row whose
    numbers are all missing (numeric columns then arrive as float)."""
    df = _table(60, seed=1)
    df.loc[0, "shop"] = "casino"  # unseen at fit time
    df.loc[1, "shop"] = None
    df = df.astype({"items": float, "card present": float})
    df.loc[2, NUMBERS] = np.nan
    return df


def _assert_parity(onnx_scores, python_scores):
    """ONNX and Python agree within 1e-4 of |score| + 1: the scores are standardised
    (one unit is an interquartile range of the training scores) and cross zero at the
    threshold, where float32 arithmetic leaves an absolute error of about 1e-6, which a
    relative bound would blow up."""
    err = np.abs(np.asarray(onnx_scores, float) - python_scores)
    assert np.all(err <= 1e-4 * (np.abs(python_scores) + 1)), err.max()


def test_dataframe_sample_gives_one_typed_input_per_column(mixed):
    train, _, onx = mixed
    inputs = {i.name: i.type.tensor_type.elem_type for i in onx.graph.input}
    # numbers (int and bool too) as float32, text as strings; names made valid by skl2onnx
    assert inputs == {
        "id": onnx.TensorProto.FLOAT,
        "amount": onnx.TensorProto.FLOAT,
        "items": onnx.TensorProto.FLOAT,
        "card_present": onnx.TensorProto.FLOAT,
        "shop": onnx.TensorProto.STRING,
    }
    meta = {p.key: p.value for p in onx.metadata_props}
    assert meta["inputs"] == "columns"
    assert json.loads(meta["input_columns"]) == list(train.columns)
    model = load_onnx(onx)
    assert model.input_columns_ == list(train.columns)
    assert model.input_types_["shop"] == "text" and model.input_types_["items"] == "number"
    onnx.checker.check_model(onx)


def test_mixed_table_parity_with_unseen_and_missing_values(mixed):
    _, pipe, onx = mixed
    model, new = load_onnx(onx), _new_rows()
    np.testing.assert_array_equal(model.predict(new), pipe.predict(new))
    _assert_parity(model.decision_function(new), pipe.decision_function(new))
    _assert_parity(model.score_samples(new), pipe.score_samples(new))
    # columns in another order, and extra ones, are selected by name
    shuffled = new.iloc[:, ::-1].assign(note="x")
    np.testing.assert_array_equal(model.predict(shuffled), pipe.predict(new))


def test_mixed_table_parity_with_an_ordinal_encoder(capfd):
    train = _table(400)
    pipe = _mixed_pipeline(
        OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        )
    ).fit(train)
    model, new = _export_quietly(capfd, pipe, train), _new_rows()
    np.testing.assert_array_equal(model.predict(new), pipe.predict(new))
    _assert_parity(model.decision_function(new), pipe.decision_function(new))


def test_unknown_category_handled_as_the_encoder_was_told():
    train = _table(300)
    strict = _mixed_pipeline(OneHotEncoder(handle_unknown="error")).fit(train)
    model = load_onnx(to_onnx(strict, train.iloc[:1]))
    seen = train.iloc[:5]
    np.testing.assert_array_equal(model.predict(seen), strict.predict(seen))
    unseen = seen.assign(shop="casino")
    with pytest.raises(ValueError, match="Found unknown categories"):
        strict.predict(unseen)
    with pytest.raises(ValueError, match="handle_unknown='error'.*handle_unknown='ignore'"):
        model.predict(unseen)


def test_typed_model_takes_any_pandas_dtype_of_a_column(mixed):
    _, _, onx = mixed
    model, new = load_onnx(onx), _table(30, seed=4)
    new.loc[3, "items"] = np.nan
    reference = model.decision_function(new)  # items float64 with NaN, shop "str"
    variants = {
        "nullable ints and booleans": new.astype({"items": "Int64", "card present": "boolean"}),
        "categorical text": new.astype({"shop": "category"}),
        "object text": new.astype({"shop": object}),
        "arrow text": new.astype({"shop": "string[pyarrow]"}),
        "float32 numbers": new.astype({"amount": np.float32}),
    }
    for name, frame in variants.items():
        np.testing.assert_allclose(
            model.decision_function(frame), reference, rtol=1e-6, atol=1e-6, err_msg=name
        )


def test_typed_model_errors_name_the_columns(mixed):
    _, _, onx = mixed
    model, new = load_onnx(onx), _table(5, seed=2)
    with pytest.raises(ValueError, match=r"missing the columns.*\['items'\]"):
        model.predict(new.drop(columns="items"))
    with pytest.raises(ValueError, match="column 'amount' is not numeric.*'twelve'"):
        model.predict(new.astype({"amount": object}).assign(amount="twelve"))
    with pytest.raises(ValueError, match="column 'shop' holds numbers.*takes text"):
        model.predict(new.assign(shop=3))
    with pytest.raises(ValueError, match="0 rows"):
        model.predict(new.iloc[:0])
    with pytest.raises(TypeError, match="DataFrame.*'shop'"):
        model.predict(new.to_numpy())


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


def test_nan_is_scored_when_the_pipeline_imputes_it(X_train):
    """Issue 13: a Pipeline starting with a SimpleImputer scores rows with NaN, in
    sklearn and through load_onnx alike (the single-tensor graph too)."""
    X = X_train.copy()
    X[::7, 2] = np.nan
    pipe = make_pipeline(
        SimpleImputer(),
        StandardScaler(),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    ).fit(X)
    model = load_onnx(to_onnx(pipe, X[:1]))
    rows = X[:30].copy()
    rows[3] = np.nan  # a row with nothing but missing values
    np.testing.assert_array_equal(model.predict(rows), pipe.predict(rows))
    _assert_parity(model.decision_function(rows), pipe.decision_function(rows))
    rows[4, 1] = np.inf  # not a missing value: the imputer leaves it, the score overflows
    with pytest.raises(ValueError, match=r"infinity.*columns \[1\]"):
        model.predict(rows)


def test_skae_score_reads_a_mixed_table(mixed, tmp_path):
    from skae.cli import main

    _, pipe, onx = mixed
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    new = _table(80, seed=3)
    new.loc[0, "shop"] = "casino"
    new.to_csv(tmp_path / "new.csv", index=False)
    assert (
        main(
            [
                "score",
                str(tmp_path / "m.onnx"),
                str(tmp_path / "new.csv"),
                "-o",
                str(tmp_path / "out.csv"),
                "-q",
            ]
        )
        == 0
    )
    out = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(out["label"], pipe.predict(new))
    _assert_parity(out["score"], pipe.decision_function(new))
    assert set(out["top_feature"]) <= set(NUMBERS + CATEGORIES)  # input columns, not one-hot


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


# ------------------------------------------------- every option that changes the graph
def _unit(n, seed=0):
    return 1 / (1 + np.exp(-_data(n, seed) + 3))  # in (0, 1), for bce / sigmoid / bernoulli


AE_OPTIONS = {
    **{f"loss={loss}": dict(loss=loss) for loss in ("mse", "mae", "huber")},
    "loss=bce": dict(loss="bce", output_activation="sigmoid"),
    **{
        f"activation={a}": dict(activation=a)
        for a in ("relu", "leaky_relu", "prelu", "selu", "elu", "gelu", "tanh", "identity")
    },
    "latent_normalize": dict(latent_normalize=True),
    "output_activation=sigmoid": dict(output_activation="sigmoid"),
    "dropout": dict(dropout=0.2),
    "batch_norm": dict(batch_norm=True),
    "no hidden layers": dict(hidden_layer_sizes=()),
}
VAE_OPTIONS = {
    "vae gaussian": dict(),
    "vae bernoulli": dict(likelihood="bernoulli"),
    "vae batch_norm dropout": dict(batch_norm=True, dropout=0.2),
}
DETECTOR_OPTIONS = {
    "normalize_errors=False": dict(normalize_errors=False),
    "latent_weight=0": dict(latent_weight=0.0),
    "normalize_errors=False latent_weight=0": dict(normalize_errors=False, latent_weight=0.0),
    "ensemble": dict(
        estimator=[
            AutoencoderTransformer(**CHEAP),
            AutoencoderTransformer(**{**CHEAP, "n_components": 2, "hidden_layer_sizes": (12, 6)}),
        ]
    ),
    "ensemble of VAEs": dict(
        estimator=[VAETransformer(**CHEAP), VAETransformer(**{**CHEAP, "n_components": 2})]
    ),
    "mixed ensemble": dict(estimator=[AutoencoderTransformer(**CHEAP), VAETransformer(**CHEAP)]),
    "default members": dict(estimator=None, max_iter=3, random_state=0),
    "contamination=auto": dict(contamination="auto"),
}
_UNIT_DATA = ("bce", "sigmoid", "bernoulli")


def _export_quietly(capfd, est, X, **options):
    """to_onnx, asserting that it printed nothing and warned nothing (a warning reaches
    the user's stderr; pytest would otherwise swallow it)."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onx = to_onnx(est, X[:1], **options)
    out, err = capfd.readouterr()
    assert (out, err) == ("", ""), "to_onnx printed:\n" + out + err
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return load_onnx(onx)


@pytest.mark.parametrize("case", [*AE_OPTIONS, *VAE_OPTIONS])
def test_every_member_option_exports_and_matches_python(case, capfd):
    """Each loss, activation and architecture option: the transformer's codes and a
    detector's scores (which go through the loss) match the Python estimator."""
    params = {**AE_OPTIONS, **VAE_OPTIONS}[case]
    cls = VAETransformer if case in VAE_OPTIONS else AutoencoderTransformer
    unit = any(word in str(params) for word in _UNIT_DATA)
    X = _unit(300) if unit else StandardScaler().fit_transform(_data(300))
    Xnew = (
        _unit(50, seed=1) if unit else StandardScaler().fit(_data(300)).transform(_data(50, seed=1))
    )
    member = cls(**{**CHEAP, **params}).fit(X)
    model = _export_quietly(capfd, member, X)
    np.testing.assert_allclose(model.transform(Xnew), member.transform(Xnew), rtol=1e-4, atol=1e-5)
    det = ReconstructionAnomalyDetector(cls(**{**CHEAP, **params}), random_state=0).fit(X)
    model = _export_quietly(capfd, det, X, feature_errors=True, score_samples=True)
    np.testing.assert_array_equal(model.predict(Xnew), det.predict(Xnew))
    _assert_parity(model.decision_function(Xnew), det.decision_function(Xnew))
    _assert_parity(model.score_samples(Xnew), det.score_samples(Xnew))
    np.testing.assert_allclose(
        model.feature_errors(Xnew), det.feature_errors(Xnew), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("case", list(DETECTOR_OPTIONS))
def test_every_detector_option_exports_and_matches_python(case, capfd):
    params = dict(DETECTOR_OPTIONS[case])
    params.setdefault("estimator", AutoencoderTransformer(**CHEAP))
    X = StandardScaler().fit_transform(_data(300))
    Xnew = StandardScaler().fit(_data(300)).transform(_data(50, seed=1))
    det = ReconstructionAnomalyDetector(**params).fit(X)
    model = _export_quietly(capfd, det, X, feature_errors=True, score_samples=True)
    assert model.offset_ == det.offset_
    assert model.metadata["contamination"] == str(det.contamination)  # "auto" or a float
    np.testing.assert_array_equal(model.predict(Xnew), det.predict(Xnew))
    _assert_parity(model.decision_function(Xnew), det.decision_function(Xnew))
    _assert_parity(model.score_samples(Xnew), det.score_samples(Xnew))
    np.testing.assert_allclose(
        model.feature_errors(Xnew), det.feature_errors(Xnew), rtol=1e-4, atol=1e-5
    )


# ------------------------------------------------------------------ external data
def _save_with_external_data(onx, folder):
    folder.mkdir()
    path = folder / "model.onnx"
    onnx.save_model(
        onx,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.data",
        size_threshold=0,
    )
    return path


def test_external_data_resolves_next_to_the_model(fitted, X_train, tmp_path, monkeypatch):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    path = _save_with_external_data(onx, tmp_path / "models")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    X = _data(20, seed=4)
    np.testing.assert_array_equal(load_onnx(path).predict(X), fitted["scaler_det"].predict(X))
    with pytest.raises(ValueError, match="external data.*load it from its path"):
        load_onnx(path.read_bytes())


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
    assert load_onnx(path).output_names == ["label", "scores"]


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


# ------------------------------------------------------------ the sample, outputs
def test_to_onnx_checks_the_sample(fitted, X_train):
    det = fitted["det_ae"]
    with pytest.raises(ValueError, match="X_sample has 3 features.*fitted on 8"):
        to_onnx(det, X_train[:1, :3])
    with pytest.raises(ValueError, match="2-D.*reshape"):
        to_onnx(det, X_train[0])
    names = [f"f{i}" for i in range(N_FEATURES)]
    df = pd.DataFrame(StandardScaler().fit_transform(X_train), columns=names)
    named = ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)).fit(df)
    with pytest.raises(ValueError, match=r"lacks the columns.*\['f3'\]"):
        to_onnx(named, df.drop(columns="f3").iloc[:1])
    with pytest.raises(ValueError, match="X_sample has 5 columns.*fitted on 8"):
        to_onnx(det, df.iloc[:1, :5])
    with pytest.raises(ValueError, match="dtype datetime64.*convert it"):
        to_onnx(named, df.assign(f0=pd.Timestamp("2024-01-01")).iloc[:1])
    with pytest.raises(ValueError, match="feature_errors must be one of"):
        to_onnx(det, X_train[:1], feature_errors="yes")
    # zero rows carry the width (and a DataFrame's dtypes): enough to export
    model = load_onnx(to_onnx(named, df.iloc[:0]))
    np.testing.assert_array_equal(model.predict(df), named.predict(df))
    model = load_onnx(to_onnx(det, np.empty((0, N_FEATURES))))
    np.testing.assert_array_equal(model.predict(df.to_numpy()), det.predict(df.to_numpy()))


@pytest.mark.parametrize("ending", ["FeatureUnion", "ColumnTransformer"])
def test_transform_of_pipelines_ending_in_a_union(X_train, ending):
    """Issue 14 of round two: transform works whatever the last step's output is called."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_union

    if ending == "FeatureUnion":
        pipe = make_pipeline(StandardScaler(), make_union(AutoencoderTransformer(**CHEAP), PCA(2)))
    else:  # (skl2onnx cannot place a ColumnTransformer after another step)
        pipe = make_pipeline(
            ColumnTransformer(
                [
                    (
                        "ae",
                        make_pipeline(StandardScaler(), AutoencoderTransformer(**CHEAP)),
                        [0, 1, 2],
                    ),
                    ("pca", make_pipeline(StandardScaler(), PCA(2)), [3, 4, 5, 6, 7]),
                ]
            )
        )
    pipe.fit(X_train)
    model = load_onnx(to_onnx(pipe, X_train[:1]))
    assert model.output_names == ["variable"]
    np.testing.assert_allclose(
        model.transform(X_train), pipe.transform(X_train), rtol=1e-4, atol=1e-4
    )


def test_input_column_named_like_an_output(X_train):
    df = pd.DataFrame(X_train[:, :3], columns=["label", "scores", "X"])
    pipe = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), list(df.columns))]),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    )
    model = load_onnx(to_onnx(pipe.fit(df), df.iloc[:1]))
    assert model.input_columns_ == ["label", "scores", "X"]
    assert model.output_names == ["label", "scores"]
    np.testing.assert_array_equal(model.predict(df), pipe.predict(df))


def test_an_all_number_table_keeps_the_single_tensor_input(X_train):
    """A DataFrame sample gives column inputs only where they are needed (text, or
    columns selected by name): an all-number table keeps the fastest input."""
    df = pd.DataFrame(X_train, columns=[f"f{i}" for i in range(N_FEATURES)]).astype(
        {"f0": int, "f1": bool}
    )
    pipe = make_pipeline(
        StandardScaler(), ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP))
    ).fit(df)
    onx = to_onnx(pipe, df.iloc[:1])
    assert [i.name for i in onx.graph.input] == ["X"]
    model = load_onnx(onx)
    assert model.input_columns_ is None and model.feature_names_in_ == list(df.columns)
    np.testing.assert_array_equal(model.predict(df.iloc[:, ::-1]), pipe.predict(df))
    by_name = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["f2", "f3"])]),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    )
    model = load_onnx(to_onnx(by_name.fit(df), df.iloc[:1]))
    assert model.input_columns_ == list(df.columns)
    np.testing.assert_array_equal(model.predict(df), by_name.predict(df))
    np.testing.assert_array_equal(model.predict(df.to_numpy()), by_name.predict(df))


def test_number_columns_are_read_by_name_in_any_order(X_train):
    """A model of number columns reads a DataFrame by name whichever order its columns
    come in, with or without extra ones, on every call; an error names the column."""
    names = [f"f{i}" for i in range(N_FEATURES)]
    df = pd.DataFrame(X_train, columns=names)
    pipe = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), names)]),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    ).fit(df)
    model = load_onnx(to_onnx(pipe, df.iloc[:1]))
    assert model.input_columns_ == names
    expected = pipe.predict(df)
    shuffled = names[3:] + names[:3]
    for frame in (df[shuffled], df[shuffled].assign(note="x"), df, df[shuffled]):
        np.testing.assert_array_equal(model.predict(frame), expected)
    with pytest.raises(ValueError, match="column 'f4' is not numeric.*'twelve'"):
        model.predict(df[shuffled].astype({"f4": object}).assign(f4="twelve"))


def test_column_lookup_does_not_depend_on_earlier_calls():
    """Columns are found by their text: a frame whose labels compare equal to the last
    frame's but read differently (0.0 and 0) is refused as it is on a first call."""
    rng = np.random.RandomState(0)
    df = pd.DataFrame({0: rng.choice(["a", "b"], 100), 1: rng.normal(size=100)})
    pipe = make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(), [0]), ("num", StandardScaler(), [1])]),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    ).fit(df)
    model = load_onnx(to_onnx(pipe, df.iloc[:1]))
    assert model.input_columns_ == ["0", "1"]
    np.testing.assert_array_equal(model.predict(df), pipe.predict(df))
    with pytest.raises(ValueError, match=r"missing the columns.*\['0', '1'\]"):
        model.predict(df.set_axis([0.0, 1.0], axis=1))


def test_skl2onnx_route_lacks_metadata_and_says_so(fitted, X_train):
    """Issue 16: skl2onnx.to_onnx writes no metadata, so the offset that turns scores
    into score_samples is unknown; the error says so and names both fixes."""
    from skl2onnx import to_onnx as skl_to_onnx

    register_converters()
    det = fitted["scaler_det"]
    X = X_train[:1].astype(np.float32)
    plain = load_onnx(skl_to_onnx(det, X, target_opset={"": OPSET, "ai.onnx.ml": 3}))
    np.testing.assert_array_equal(plain.predict(X_train), det.predict(X_train))
    with pytest.raises(
        AttributeError, match="metadata.*skl2onnx.to_onnx.*skae.onnx.to_onnx.*score_samples"
    ):
        plain.score_samples(X_train)
    with_option = load_onnx(
        skl_to_onnx(
            det,
            X,
            target_opset={"": OPSET, "ai.onnx.ml": 3},
            options={id(det[-1]): {"score_samples": True}},
        )
    )
    _assert_parity(with_option.score_samples(X_train), det.score_samples(X_train))
