"""skae.onnx._converters: every estimator and option exported, scoring like Python."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import OPSET, load_onnx, register_converters, to_onnx

from .conftest import (
    CHEAP,
    _assert_parity,
    _data,
    _export_quietly,
    _mixed_pipeline,
    _new_rows,
    _scaled_if_needed,
    _table,
)


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
    "latent_weight=0.5": dict(latent_weight=0.5),
    "neighbor_weight=0": dict(neighbor_weight=0.0),
    "normalize_errors=False neighbor_weight=0": dict(normalize_errors=False, neighbor_weight=0.0),
    "novelty": dict(novelty=True),
    "false_alarm_rate": dict(false_alarm_rate=0.05),
    "latent_weight=0.5 small reference set": dict(latent_weight=0.5, reference_size=8),
    "n_neighbors above the reference set": dict(n_neighbors=50, reference_size=10),
    "centroid references": dict(references="centroids"),
    "centroid references novelty": dict(references="centroids", novelty=True),
    "centroid references n_neighbors=3": dict(references="centroids", n_neighbors=3),
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
    # The detectors' scores are standardised (unit: one interquartile range of the
    # training scores) and cross zero, so the tolerance is relative to |score| + 1.
    tol = 1e-4 * (np.abs(score) + 1)
    decision = est.decision_function(X)
    # labels identical, but for a row whose float64 score lies within float32 rounding of
    # the threshold (the graph computes in float32): at most one such row in 100,000
    differ = model.predict(X) != est.predict(X)
    assert np.all(np.abs(decision[differ]) <= 1e-5 * (np.abs(score[differ]) + 1))
    assert differ.sum() <= max(1, len(X) // 100_000)
    assert np.all(np.abs(model.decision_function(X) - decision) <= tol)
    assert np.all(np.abs(model.score_samples(X) - score) <= tol)


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
    if det.false_alarm_rate is None:
        assert model.metadata["contamination"] == str(det.contamination)  # "auto" or a float
    else:
        assert float(model.metadata["false_alarm_rate"]) == det.false_alarm_rate
    np.testing.assert_array_equal(model.predict(Xnew), det.predict(Xnew))
    _assert_parity(model.decision_function(Xnew), det.decision_function(Xnew))
    _assert_parity(model.score_samples(Xnew), det.score_samples(Xnew))
    np.testing.assert_allclose(
        model.feature_errors(Xnew), det.feature_errors(Xnew), rtol=1e-4, atol=1e-5
    )


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


@pytest.mark.parametrize("rate", [None, 0.05])
def test_p_values_in_the_graph_equal_pythons(X_train, rate):
    """Within 1e-5, except a row whose score lies within float32 rounding of a
    calibration score: its count may differ by one (1 / (n + 1))."""
    X = StandardScaler().fit(_data(2000)).transform(_data(3000, seed=3))
    det = ReconstructionAnomalyDetector(false_alarm_rate=rate, random_state=0).fit(X[:2000])
    model = load_onnx(to_onnx(det, X[:1]))
    new = X[2000:]
    ours, python = model.pvalues(new), det.pvalues(new)
    apart = np.abs(ours - python) > 1e-5
    assert apart.mean() < 0.01
    if apart.any():
        scores, calibration = det.score_samples(new[apart]), det.calibration_scores_
        nearest = np.abs(scores[:, None] - calibration[None, :]).min(axis=1)
        assert (nearest < 1e-5 * (np.abs(scores) + 1)).all()
        n = len(calibration)
        assert np.allclose(np.abs(ours - python)[apart], 1 / (n + 1), rtol=1e-3)
    np.testing.assert_array_equal(model.predict(new), det.predict(new))


# ------------------------------------------- the graph's p-value count, in sqrt(n) blocks
def _threshold_cases():
    rng = np.random.RandomState(0)
    ties = np.sort(rng.choice(rng.normal(size=30), 500)).astype(np.float32)
    return {
        "one": np.array([0.5], dtype=np.float32),
        "two": np.array([-1.0, 1.0], dtype=np.float32),
        "a whole block": np.sort(rng.normal(size=49)).astype(np.float32),
        "2000 random": np.sort(rng.gamma(2.0, size=2000)).astype(np.float32),
        "2001 random": np.sort(rng.normal(size=2001)).astype(np.float32),
        "500 in 30 tie groups": ties,
        "all equal": np.full(97, 0.25, dtype=np.float32),
        "unsorted, infinite and NaN": np.array(
            [3.0, np.nan, -np.inf, 1.0, np.inf, 1.0, -2.0, np.nan], dtype=np.float32
        ),
    }


def _scores_against(thresholds):
    """Random scores, each threshold itself and its float32 neighbours, beyond both
    ends, the infinities and NaN."""
    rng = np.random.RandomState(1)
    finite = thresholds[np.isfinite(thresholds)]
    low, high = (finite.min(), finite.max()) if len(finite) else (-1.0, 1.0)
    scores = np.concatenate(
        [
            rng.uniform(low - 1, high + 1, 300),
            thresholds,
            np.nextafter(thresholds, np.float32(np.inf)),
            np.nextafter(thresholds, np.float32(-np.inf)),
            [low - 10, high + 10, np.inf, -np.inf, np.nan, 0.0, -0.0],
        ]
    ).astype(np.float32)
    return scores[:, None]


@pytest.mark.parametrize("case", list(_threshold_cases()))
def test_calibration_count_equals_the_full_comparison(case):
    """Bit for bit the count ``(thresholds <= score).sum(1)`` gave, in torch and in the
    exported graph: ties, thresholds hit exactly, scores below and above all, the
    infinities, and NaN (counts 0)."""
    import io
    import warnings

    import onnxruntime as ort
    import torch

    from skae.onnx._converters import CalibrationCount

    thresholds = _threshold_cases()[case]
    scores = _scores_against(thresholds)
    expected = (torch.as_tensor(thresholds)[None] <= torch.as_tensor(scores)).sum(dim=1)
    module = CalibrationCount(thresholds).eval()
    with torch.no_grad():
        got = module(torch.as_tensor(scores))
    np.testing.assert_array_equal(got[:, 0].numpy(), expected.numpy().astype(np.float32))
    # a row is compared with each block's end, then with one block's thresholds
    assert module.block_ends.shape[1] + module.block <= 2 * np.sqrt(len(thresholds)) + 2
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's own two notices, as export_head
        warnings.filterwarnings("ignore", "You are using the legacy", DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.as_tensor(scores[:2]),),
            buffer,
            input_names=["score"],
            output_names=["count"],
            dynamic_axes={"score": {0: "N"}, "count": {0: "N"}},
            opset_version=OPSET,
            dynamo=False,
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (graph,) = session.run(None, {"score": scores})
    np.testing.assert_array_equal(graph[:, 0], expected.numpy().astype(np.float32))
