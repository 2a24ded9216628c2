"""skae.onnx._feeds: DataFrame columns fed to typed inputs by name and type."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx

from .conftest import CATEGORIES, CHEAP, N_FEATURES, NUMBERS, _assert_parity, _table


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


def test_bytes_in_a_text_column_are_refused_not_scored_as_their_repr(mixed):
    _, _, onx = mixed
    model, new = load_onnx(onx), _table(5, seed=2)
    with pytest.raises(ValueError, match="column 'shop' holds bytes.*decode"):
        model.predict(new.assign(shop=new["shop"].str.encode("utf-8")))
