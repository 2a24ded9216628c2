"""skae.onnx._export: to_onnx, its inputs, outputs, metadata and checks of the sample."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.onnx import OPSET, load_onnx, to_onnx

from .conftest import (
    CHEAP,
    N_FEATURES,
    _data,
    _scaled_if_needed,
    to_onnx_meta,
)


def test_detector_graph_outputs_and_metadata(fitted, X_train):
    onx = to_onnx(fitted["scaler_det"], X_train[:1])
    assert [o.name for o in onx.graph.output] == ["label", "scores", "p_value"]
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


def test_extra_outputs(fitted):
    X = _scaled_if_needed("det_ae", _data(50, seed=2))
    det = fitted["det_ae"]
    model = load_onnx(to_onnx(det, X[:1], feature_errors=True, score_samples=True))
    assert model.output_names == ["label", "scores", "p_value", "score_samples", "feature_errors"]
    np.testing.assert_allclose(model.feature_errors(X), det.feature_errors(X), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.score_samples(X), det.score_samples(X), rtol=1e-4, atol=1e-4)
    plain = load_onnx(to_onnx(det, X[:1]))
    with pytest.raises(AttributeError, match="feature_errors=True"):
        plain.feature_errors(X)
    with pytest.raises(AttributeError, match="no predict"):
        load_onnx(to_onnx(fitted["ae"], X[:1])).predict(X)


def test_dataframe_sample_gives_one_typed_input_per_column(mixed):
    train, _, onx = mixed
    inputs = {i.name: i.type.tensor_type.elem_type for i in onx.graph.input}
    # numbers (int and bool too) as float32, text as strings; names made valid by skl2onnx
    assert inputs == {  # the id, which the ColumnTransformer drops, is no input
        "amount": onnx.TensorProto.FLOAT,
        "items": onnx.TensorProto.FLOAT,
        "card_present": onnx.TensorProto.FLOAT,
        "shop": onnx.TensorProto.STRING,
    }
    meta = {p.key: p.value for p in onx.metadata_props}
    assert meta["inputs"] == "columns"
    read = [c for c in train.columns if c != "id"]
    assert json.loads(meta["input_columns"]) == read
    model = load_onnx(onx)
    assert model.input_columns_ == read
    assert model.input_types_["shop"] == "text" and model.input_types_["items"] == "number"
    onnx.checker.check_model(onx)


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
    assert model.output_names == ["label", "scores", "p_value"]
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
        ReconstructionAnomalyDetector(AutoencoderTransformer(**{**CHEAP, "n_components": 2})),
    )
    model = load_onnx(to_onnx(by_name.fit(df), df.iloc[:1]))
    assert model.input_columns_ == ["f2", "f3"]  # the columns it reads
    np.testing.assert_array_equal(model.predict(df), by_name.predict(df))
    np.testing.assert_array_equal(model.predict(df.to_numpy()), by_name.predict(df))


def test_importing_skae_registers_nothing():
    script = (
        "import skae, skae.onnx, sys; "
        "from skl2onnx._supported_operators import sklearn_operator_name_map as m; "
        "print(any('Skae' in v for v in m.values()))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_columns_a_column_transformer_drops_are_not_inputs():
    """remainder='drop': an ID and a free-text column the model never reads are not
    graph inputs, so a table without them scores."""
    rng = np.random.RandomState(0)
    df = pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(200)],
            "a": rng.normal(size=200),
            "c": rng.choice(["x", "y"], 200),
            "notes": ["free text"] * 200,
        }
    )
    pipe = make_pipeline(
        ColumnTransformer(
            [("n", StandardScaler(), ["a"]), ("o", OneHotEncoder(handle_unknown="ignore"), ["c"])]
        ),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
    ).fit(df)
    model = load_onnx(to_onnx(pipe, df.iloc[:1], feature_errors=True))
    assert model.input_columns_ == ["a", "c"]
    np.testing.assert_array_equal(model.predict(df[["c", "a"]]), pipe.predict(df))


def test_the_metadata_describes_the_fit_not_set_params_after_it():
    """A contamination=0.1 fit, then set_params(false_alarm_rate=0.01, novelty=True):
    the model file still says contamination 0.1, no rate, not novelty, as the fit did."""
    X = _data(300)
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(**CHEAP), contamination=0.1, random_state=0
    ).fit(X)
    det.set_params(false_alarm_rate=0.01, novelty=True)
    model = load_onnx(to_onnx(det, X[:1]))
    meta = model.metadata
    assert meta["contamination"] == "0.1" and "false_alarm_rate" not in meta
    assert meta["novelty"] == "false" and meta["calibration"] == "training"
    params = json.loads(meta["estimator_params"])
    assert params["false_alarm_rate"] is None and params["contamination"] == 0.1
    assert params["novelty"] is False
    assert model.offset_ == det.offset_
