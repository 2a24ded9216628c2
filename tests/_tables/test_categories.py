"""skae._tables.categories: categories for a detector: unseen ones stand out, missing
ones count as the most frequent, and the graph encodes exactly as Python."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae._tables.categories import CategoryEncoder
from skae.onnx import load_onnx, to_onnx


@pytest.fixture
def countries():
    rng = np.random.RandomState(0)
    values = rng.choice(["FR", "DE", "IT", "NL"], size=1000, p=[0.5, 0.3, 0.19, 0.01])
    return pd.DataFrame({"country": values})


def test_one_hot_columns_are_standardised_as_a_scaler_after_one_hot_would(countries):
    ours = CategoryEncoder().fit(countries)
    onehot = OneHotEncoder(sparse_output=False).fit_transform(countries)
    theirs = StandardScaler().fit_transform(onehot)
    np.testing.assert_allclose(ours.transform(countries)[:, :4], theirs, atol=1e-12)


def test_an_unseen_category_stands_out_at_least_as_much_as_the_rarest(countries):
    enc = CategoryEncoder().fit(countries)
    rarest = np.abs(enc.transform(pd.DataFrame({"country": ["NL"]}))).max()
    unseen = np.abs(enc.transform(pd.DataFrame({"country": ["PT"]}))).max()
    assert unseen >= rarest
    # the unseen output is constant in training, and not the all-zero row of 'ignore'
    assert np.all(enc.transform(countries)[:, 4] == 0)


def test_a_missing_value_is_the_most_frequent_category_unless_flagged(countries):
    with_gaps = countries.copy()
    with_gaps.loc[:29, "country"] = None
    enc = CategoryEncoder().fit(with_gaps)
    rows = enc.transform(pd.DataFrame({"country": [None, "nan", np.nan, "FR"]}))
    for gap in rows[:3]:
        np.testing.assert_array_equal(gap, rows[3])  # FR, the most frequent
    flagged = CategoryEncoder(missing="indicator").fit(with_gaps)
    out = flagged.transform(pd.DataFrame({"country": [None, "FR"]}))
    assert list(out[:, -1]) == [1.0, 0.0]
    assert list(flagged.get_feature_names_out())[-2:] == ["country_(unseen)", "country_(missing)"]


def test_the_graph_encodes_as_python(countries):
    table = countries.assign(amount=np.random.RandomState(1).normal(size=len(countries)))
    pipe = make_pipeline(
        ColumnTransformer(
            [("n", StandardScaler(), ["amount"]), ("c", CategoryEncoder(), ["country"])]
        ),
        ReconstructionAnomalyDetector(AutoencoderTransformer(max_iter=5, device="cpu")),
    ).fit(table)
    model = load_onnx(to_onnx(pipe, table.iloc[:1], feature_errors=True))
    new = table.iloc[:6].copy()
    new["country"] = ["PT", None, "NL", "FR", "", "DE"]
    np.testing.assert_allclose(
        model.decision_function(new), pipe.decision_function(new), rtol=1e-4, atol=1e-4
    )
    assert model.feature_error_names_ == ["country", "amount"]
    errors = model.feature_errors(new)
    # The unseen PT stands out in its own column, far above every seen country. (Which of
    # its two errors is larger depends on how far a 5-epoch network spills the surprise
    # into the numeric column, so that is not asserted.)
    assert errors[0, 0] > 10 * errors[[1, 3, 5], 0].max()
