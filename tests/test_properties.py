"""Property-based tests (hypothesis): shapes, dtypes and value ranges for fit, transform
and scoring, and ONNX parity on arbitrary inputs. Kept small to run in CI in seconds."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import load_onnx, to_onnx

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def datasets(draw, min_rows=2, max_rows=40, max_cols=6):
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, max_cols))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    values = draw(arrays(dtype, (n, d), elements=st.floats(-1, 1, width=32)))
    return (values * dtype(scale)).astype(dtype)


@FAST
@given(X=datasets(), kind=st.sampled_from(["ae", "vae"]), k=st.integers(1, 3))
def test_transformers_give_finite_outputs_of_the_right_shape(X, kind, k):
    cls = AutoencoderTransformer if kind == "ae" else VAETransformer
    est = cls(n_components=k, hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    codes = est.transform(X)
    assert codes.shape == (len(X), k) and codes.dtype == np.float32
    recon = est.inverse_transform(codes)
    assert recon.shape == X.shape and recon.dtype == np.float32
    s = est.score_samples(X)
    assert s.shape == (len(X),) and s.dtype == np.float64
    for out in (codes, recon, s):
        assert np.isfinite(out).all()
    # scores depend on how the rows are batched only through float64 rounding
    np.testing.assert_allclose(est.score_samples(X[:1]), s[:1], rtol=1e-12, atol=1e-300)


@FAST
@given(
    X=datasets(min_rows=10),  # a detector calibrates on at least 10 rows
    contamination=st.sampled_from([0.05, 0.1, 0.5]),
    latent_weight=st.sampled_from([0.0, 0.5]),
    neighbor_weight=st.sampled_from([0.0, 4.0]),
    novelty=st.booleans(),
)
def test_detector_labels_and_scores(X, contamination, latent_weight, neighbor_weight, novelty):
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(hidden_layer_sizes=(8,), n_components=1, max_iter=2, device="cpu"),
        contamination=contamination,
        latent_weight=latent_weight,
        neighbor_weight=neighbor_weight,
        novelty=novelty,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(X)
    scores = det.decision_function(X)
    labels = det.predict(X)
    assert np.isfinite(scores).all() and set(np.unique(labels)) <= {-1, 1}
    np.testing.assert_array_equal(labels, np.where(scores < 0, -1, 1))
    # at most the contamination share (plus ties at the threshold) is flagged
    assert np.mean(labels == -1) <= contamination + 1.0 / len(X)
    assert det.feature_errors(X).shape == X.shape


@pytest.fixture(scope="module")
def exported():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=5, device="cpu"), random_state=0
    ).fit(X)
    return det, load_onnx(to_onnx(det, X[:1], score_samples=True))


@FAST
@given(
    rows=arrays(
        np.float64, st.tuples(st.integers(1, 50), st.just(4)), elements=st.floats(-100, 100)
    )
)
def test_onnx_parity_on_arbitrary_rows(exported, rows):
    det, model = exported
    python, onnx = det.decision_function(rows), model.decision_function(rows)
    tol = 1e-4 * (np.abs(python) + 1)
    assert np.all(np.abs(onnx - python) <= tol)
    # labels agree wherever the float32 graph cannot sit on the other side of 0
    clear = np.abs(python) > tol
    np.testing.assert_array_equal(model.predict(rows)[clear], det.predict(rows)[clear])
