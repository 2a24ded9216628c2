"""skae.preprocessing: the category encoder ``skae fit`` uses, public for Python users,
and the README's recipe for mixed tables built on it."""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx
from skae.preprocessing import CategoryEncoder

README = Path(__file__).parents[2] / "README.md"


def payments_table(n, seed):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.lognormal(3, 1, n),
            "hour": rng.randint(0, 24, n),
            "items": rng.randint(1, 6, n),
            "card_present": rng.rand(n) < 0.7,
            "merchant": rng.choice(
                ["grocer", "fuel", "online", "travel"], n, p=[0.4, 0.3, 0.2, 0.1]
            ),
            "country": rng.choice(["FR", "DE", "IT", "ES"], n).astype(object),
        }
    )
    df.loc[rng.rand(n) < 0.02, "amount"] = np.nan
    df.loc[rng.rand(n) < 0.02, "country"] = None
    return df


def _recipe():
    """The README's Python block under "Mixed-type tables"."""
    section = README.read_text().split("## Mixed-type tables", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _run(recipe, payments, new_payments):
    scope = {
        "payments": payments,
        "new_payments": new_payments,
        "make_pipeline": make_pipeline,
        "ReconstructionAnomalyDetector": ReconstructionAnomalyDetector,
        "to_onnx": to_onnx,
        "load_onnx": load_onnx,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(recipe, "README.md (mixed-type tables)", "exec"), scope)  # noqa: S102
    return scope["pipeline"], scope["model"]


def test_the_readmes_mixed_table_recipe_flags_rows_with_a_never_seen_country():
    payments = payments_table(2000, seed=0)
    unseen = payments_table(10, seed=1).assign(country="XX")
    recipe = _recipe()
    assert "CategoryEncoder()" in recipe
    pipeline, model = _run(recipe, payments, unseen)
    assert (pipeline.predict(unseen) == -1).all()
    assert (model.predict(unseen) == -1).all()  # the exported graph agrees
    np.testing.assert_allclose(
        model.decision_function(payments[:200]),
        pipeline.decision_function(payments[:200]),
        rtol=1e-4,
        atol=1e-4,
    )
    # scikit-learn's OneHotEncoder(handle_unknown="ignore") in its place: all zeros, which
    # looks like an ordinary row once standardised
    weaker = recipe.replace("CategoryEncoder()", 'OneHotEncoder(handle_unknown="ignore")')
    scope_pipeline, _ = _run(
        "from sklearn.preprocessing import OneHotEncoder\n" + weaker, payments, unseen
    )
    assert (scope_pipeline.predict(unseen) == -1).sum() <= 2


def test_the_encoder_is_a_scikit_learn_transformer_with_feature_names_and_set_output():
    payments = payments_table(200, seed=0)
    ct = ColumnTransformer([("c", CategoryEncoder(), ["merchant", "country"])])
    out = ct.set_output(transform="pandas").fit_transform(payments)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [
        f"c__{n}" for n in ct.named_transformers_["c"].get_feature_names_out()
    ]
    assert "c__country_(unseen)" in out.columns and out.index.equals(payments.index)
    with pytest.raises(ValueError, match="Complex data not supported"):
        CategoryEncoder().fit(np.array([[1 + 2j], [3j]]))


@parametrize_with_checks([CategoryEncoder(), CategoryEncoder(missing="indicator")])
def test_sklearn_compatible_encoder(estimator, check):
    check(estimator)
