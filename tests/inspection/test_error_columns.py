"""Explanations in input columns: skae.inspection (its _error_columns), and the ONNX output."""

import json

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.inspection import feature_errors
from skae.inspection._error_columns import error_columns
from skae.onnx import load_onnx, to_onnx

CHEAP = dict(hidden_layer_sizes=(8,), n_components=2, max_iter=5, random_state=0, device="cpu")


def _detector():
    return ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP), random_state=0)


def _table(n=200, seed=0):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.lognormal(3, 0.5, n),
            "items": rng.poisson(2, n),
            "shop": rng.choice(["a", "b", "c"], n),
            "country": rng.choice(["FR", "DE"], n),
            "empty": np.nan,
        }
    )
    df.loc[::9, "amount"] = np.nan
    return df


def _raw_errors(pipe, X):
    """The detector's own errors, per feature it sees."""
    return pipe[-1].feature_errors(pipe[:-1].transform(X))


def _pipe(*steps):
    return make_pipeline(*steps, _detector()).fit(_table())


def test_one_hot_block_errors_are_averaged_onto_the_source_column():
    ct = ColumnTransformer(
        [("num", StandardScaler(), ["items"]), ("cat", OneHotEncoder(), ["shop", "country"])]
    )
    pipe, X = _pipe(ct), _table(20, seed=1)
    errors, raw = feature_errors(pipe, X), np.asarray(_raw_errors(pipe, X))
    assert list(errors.columns) == list(X.columns)
    assert errors.attrs["feature_errors_space"] == "input"
    assert errors.index.equals(X.index)
    np.testing.assert_allclose(errors["items"], raw[:, 0])
    np.testing.assert_allclose(errors["shop"], raw[:, 1:4].mean(axis=1))
    np.testing.assert_allclose(errors["country"], raw[:, 4:6].mean(axis=1))
    # columns the model does not read explain nothing
    assert (errors[["id", "amount", "empty"]] == 0).all().all()


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_scalers_imputers_encoders_and_selectors_map_one_to_one():
    ct = ColumnTransformer(
        [
            # the all-NaN column is dropped by the imputer; the indicator flags amount
            (
                "num",
                make_pipeline(SimpleImputer(add_indicator=True), MinMaxScaler()),
                ["amount", "items", "empty"],
            ),
            ("cat", OrdinalEncoder(), ["shop"]),
        ]
    )
    pipe, X = _pipe(ct, VarianceThreshold()), _table(15, seed=2)
    columns = error_columns(pipe)
    assert columns.space == "input"
    raw = np.asarray(_raw_errors(pipe, X))
    # transformed: amount, items, indicator(amount), shop
    np.testing.assert_array_equal(columns.sources, [1, 2, 1, 3])
    errors = feature_errors(pipe, X)
    np.testing.assert_allclose(errors["amount"], (raw[:, 0] + raw[:, 2]) / 2)
    np.testing.assert_allclose(errors["shop"], raw[:, 3])


def test_one_hot_dropped_and_infrequent_categories():
    X = _table(300)
    X.loc[:2, "shop"] = "rare"
    ct = ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(
                    drop="first",
                    min_frequency=5,
                    handle_unknown="infrequent_if_exist",
                    sparse_output=False,
                ),
                ["shop", "country"],
            )
        ]
    )
    pipe = make_pipeline(ct, _detector()).fit(X)
    # shop: a, b, c, infrequent minus the dropped first; country: FR, DE minus one
    np.testing.assert_array_equal(error_columns(pipe).sources, [3, 3, 3, 4])


@pytest.mark.parametrize(
    "mixer", [PCA(2), PolynomialFeatures(2)], ids=["PCA", "PolynomialFeatures"]
)
def test_a_step_that_mixes_columns_reports_transformed_features(mixer):
    ct = ColumnTransformer(
        [("num", make_pipeline(SimpleImputer(), StandardScaler()), ["amount", "items"])]
    )
    pipe, X = _pipe(ct, mixer), _table(10, seed=3)
    errors = feature_errors(pipe, X)
    assert errors.attrs["feature_errors_space"] == "transformed"
    expected = [str(n) for n in pipe[:-1].get_feature_names_out()]
    assert list(errors.columns) == expected
    np.testing.assert_allclose(errors, _raw_errors(pipe, X))


def test_space_transformed_keeps_the_features_the_detector_sees():
    ct = ColumnTransformer([("cat", OneHotEncoder(), ["shop"])])
    pipe, X = _pipe(ct), _table(10, seed=4)
    errors = feature_errors(pipe, X, space="transformed")
    assert list(errors.columns) == ["cat__shop_a", "cat__shop_b", "cat__shop_c"]
    np.testing.assert_allclose(errors, _raw_errors(pipe, X))


def test_feature_union_and_nested_pipelines():
    numbers = ["amount", "items"]
    union = make_union(
        make_pipeline(SimpleImputer(), StandardScaler()),
        make_pipeline(SimpleImputer(), MinMaxScaler()),
    )
    ct = ColumnTransformer([("num", make_pipeline(union), numbers)])
    pipe = make_pipeline(make_pipeline(ct), _detector()).fit(_table())
    np.testing.assert_array_equal(error_columns(pipe).sources, [1, 2, 1, 2])


def test_a_detector_alone_and_numpy_input():
    X = np.random.RandomState(0).normal(size=(100, 4))
    det = _detector().fit(X)
    errors = feature_errors(det, X[:5])
    assert list(errors.columns) == [0, 1, 2, 3]  # positions: fitted without names
    np.testing.assert_allclose(errors, det.feature_errors(X[:5]))
    with pytest.raises(TypeError, match="ending in StandardScaler"):
        feature_errors(make_pipeline(StandardScaler()).fit(X), X)


def test_one_to_one_columns_pass_the_errors_through_without_a_product():
    X = _table()[["amount", "items"]].fillna(0)
    columns = error_columns(make_pipeline(StandardScaler(), _detector()).fit(X))
    assert columns.space == "input" and columns.one_to_one
    errors = np.random.RandomState(0).normal(size=(3, 2))
    assert columns.apply(errors) is errors
    ct = ColumnTransformer([("cat", OneHotEncoder(), ["shop"])])
    assert not error_columns(_pipe(ct)).one_to_one  # a one-hot block is averaged


# ------------------------------------------------------------------ in the graph
@pytest.fixture(scope="module")
def mixed():
    X = _table(300)
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["amount", "items"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["shop", "country"]),
        ]
    )
    return X, make_pipeline(ct, _detector()).fit(X)


def test_onnx_feature_errors_are_per_input_column(mixed):
    X, pipe = mixed
    onx = to_onnx(pipe, X.iloc[:1], feature_errors=True)
    meta = {p.key: p.value for p in onx.metadata_props}
    assert meta["feature_errors_space"] == "input"
    assert json.loads(meta["feature_errors_names"]) == list(X.columns)
    model = load_onnx(onx)
    assert model.feature_error_names_ == list(X.columns)
    assert model.feature_errors_space_ == "input"
    new = _table(30, seed=5)
    np.testing.assert_allclose(
        model.feature_errors(new), feature_errors(pipe, new), rtol=1e-4, atol=1e-5
    )
    out = next(o for o in onx.graph.output if o.name == "feature_errors")
    assert out.type.tensor_type.shape.dim[1].dim_value == X.shape[1]
    onnx.checker.check_model(onx)


def test_onnx_feature_errors_in_the_transformed_space(mixed):
    X, pipe = mixed
    model = load_onnx(to_onnx(pipe, X.iloc[:1], feature_errors="transformed"))
    assert model.feature_errors_space_ == "transformed"
    assert model.feature_error_names_ == [str(n) for n in pipe[0].get_feature_names_out()]
    new = _table(30, seed=6)
    np.testing.assert_allclose(
        model.feature_errors(new), _raw_errors(pipe, new), rtol=1e-4, atol=1e-5
    )


def test_onnx_feature_errors_after_a_mixing_step_say_so():
    X = _table(200).drop(columns="empty").fillna(0)
    pipe = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["amount", "items"])]), PCA(2), _detector()
    ).fit(X)
    model = load_onnx(to_onnx(pipe, X.iloc[:1], feature_errors=True))
    assert model.feature_errors_space_ == "transformed"
    assert model.feature_error_names_ == ["pca0", "pca1"]


def test_models_without_the_metadata_fall_back_on_input_names_only_when_as_wide(mixed):
    X, pipe = mixed

    def stripped(onx):
        keep = [
            (p.key, p.value) for p in onx.metadata_props if not p.key.startswith("feature_errors")
        ]
        del onx.metadata_props[:]
        for key, value in keep:
            entry = onx.metadata_props.add()
            entry.key, entry.value = key, value
        return load_onnx(onx)

    # as wide as the input: the input names are right
    assert stripped(to_onnx(pipe, X.iloc[:1], feature_errors=True)).feature_error_names_ == list(
        X.columns
    )
    # one-hot columns: wider than the input, names unknown rather than wrong
    assert (
        stripped(to_onnx(pipe, X.iloc[:1], feature_errors="transformed")).feature_error_names_
        is None
    )
