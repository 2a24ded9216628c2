"""Fixtures and helpers shared by the ONNX tests (fitted once for the package)."""

import warnings

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import load_onnx, to_onnx

N_FEATURES = 8


CHEAP = dict(hidden_layer_sizes=(16,), n_components=3, max_iter=20, random_state=0, device="cpu")


def _data(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3)) @ rng.normal(size=(3, N_FEATURES))
    return 3 + 2 * (X + 0.3 * rng.normal(size=(n, N_FEATURES)))  # unscaled on purpose


@pytest.fixture(scope="package")
def X_train():
    return _data(500)


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
def exported(fitted, X_train):
    return {k: load_onnx(to_onnx(est, X_train[:1])) for k, est in fitted.items()}


def _scaled_if_needed(key, X):
    return X if key.startswith(("scaler",)) else StandardScaler().fit(_data(500)).transform(X)


def to_onnx_meta(est, X):
    return {p.key: p.value for p in to_onnx(est, X[:1]).metadata_props}


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


@pytest.fixture(scope="package")
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
