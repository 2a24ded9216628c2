import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.detector import default_estimators

AE = AutoencoderTransformer(hidden_layer_sizes=(16,), n_components=2, max_iter=50,
                            device="cpu")


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25])
def test_predict_flags_the_contamination_fraction(blobs_with_outliers, contamination):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, contamination=contamination, random_state=0).fit(X)
    labels = det.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1.0 / len(X))
    np.testing.assert_array_equal(det.fit_predict(X), labels)


def test_isolation_forest_contract(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, normalize_errors=False, latent_weight=0,
                                        random_state=0).fit(X)
    s = det.score_samples(X)
    assert det.offset_ == pytest.approx(np.percentile(s, 10))
    np.testing.assert_allclose(det.decision_function(X), s - det.offset_)
    np.testing.assert_array_equal(det.predict(X), np.where(s - det.offset_ < 0, -1, 1))
    np.testing.assert_allclose(s, det.estimator_.score_samples(X))


@pytest.mark.parametrize("estimator", [None, AE,
                                       VAETransformer(hidden_layer_sizes=(16,), max_iter=50,
                                                      device="cpu")])
def test_detects_planted_outliers(blobs_with_outliers, estimator):
    X, y = blobs_with_outliers
    det = make_pipeline(StandardScaler(),
                        ReconstructionAnomalyDetector(estimator, contamination=0.05,
                                                      random_state=0)).fit(X)
    assert roc_auc_score(y, -det.decision_function(X)) > 0.95


def test_feature_errors_point_at_the_broken_column(blobs_with_outliers):
    X, _ = blobs_with_outliers
    X = StandardScaler().fit_transform(X[:570])
    det = ReconstructionAnomalyDetector(AE, latent_weight=0, random_state=0).fit(X)
    row = X[:1].copy()
    row[0, 5] += 8.0
    errors = det.feature_errors(row)
    assert errors.shape == (1, 8)
    assert int(np.argmax(errors)) == 5
    np.testing.assert_allclose(-errors.mean(axis=1), det.score_samples(row), rtol=1e-6)


def test_pandas_feature_names(blobs_with_outliers):
    X, _ = blobs_with_outliers
    df = pd.DataFrame(X, columns=list("abcdefgh"))
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(df)
    assert list(det.feature_names_in_) == list("abcdefgh")
    with pytest.raises(ValueError, match="feature names"):
        det.predict(df[list("hgfedcba")])


def test_random_state_seeds_the_inner_estimator(blobs_with_outliers):
    X, _ = blobs_with_outliers
    a = ReconstructionAnomalyDetector(AE, random_state=3).fit(X)
    b = ReconstructionAnomalyDetector(AE, random_state=3).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert AE.random_state is None  # the user's estimator is cloned, never modified


def test_default_ensemble_is_sized_from_the_features():
    small, wide = default_estimators(4), default_estimators(200)
    assert len(small) == len(wide) == 5
    for s, w in zip(small, wide):
        assert s.n_components < w.n_components
        assert s.hidden_layer_sizes[0] < w.hidden_layer_sizes[0]
        assert s.loss_trim == 0.1
    # members differ in shape: width, bottleneck and depth
    assert len({(m.n_components, m.hidden_layer_sizes) for m in wide}) == 5


def _robust_z(train, rows):
    q1, median, q3 = np.percentile(train, [25, 50, 75])
    return (rows - median) / (q3 - q1)


def _mahalanobis(member, X, rows):
    codes, new = member.transform(X).astype(float), member.transform(rows).astype(float)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    d = new - codes.mean(0)
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) / codes.shape[1]


@pytest.mark.parametrize("latent_weight", [0.0, 0.5, 2.0])
def test_ensemble_score_is_the_documented_robust_combination(blobs_with_outliers,
                                                              latent_weight):
    X, _ = blobs_with_outliers
    vae = VAETransformer(hidden_layer_sizes=(16,), max_iter=30, device="cpu")
    det = ReconstructionAnomalyDetector([AE, vae], latent_weight=latent_weight,
                                        random_state=0).fit(X)
    assert len(det.estimators_) == 2 and det.estimator_ is det.estimators_[0]
    errors, distances = [], []
    for m, scale in zip(det.estimators_, det.feature_scales_):
        errors.append(_robust_z((m._feature_errors(X) / scale).mean(1),
                                (m._feature_errors(X[:10]) / scale).mean(1)))
        distances.append(_robust_z(_mahalanobis(m, X, X), _mahalanobis(m, X, X[:10])))
    expected = -(np.mean(errors, axis=0) + latent_weight * np.mean(distances, axis=0))
    # float32 codes in the reference against float64 ones inside: close, not equal
    np.testing.assert_allclose(det.score_samples(X[:10]), expected, rtol=1e-3, atol=1e-4)
    assert (det.latent_means_ is None) == (latent_weight == 0)
    np.testing.assert_allclose(det.feature_errors(X[:3]).shape, (3, 8))


def test_normalize_errors_divides_by_the_median_training_error(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, latent_weight=0, random_state=0).fit(X)
    raw = det.estimator_._feature_errors(X)
    np.testing.assert_allclose(det.feature_scales_[0], np.median(raw, 0), rtol=1e-9)
    np.testing.assert_allclose(det.feature_errors(X), raw / np.median(raw, 0), rtol=1e-6)
    # one member, no code term: the score is minus the mean normalised error
    np.testing.assert_allclose(det.score_samples(X), -(raw / np.median(raw, 0)).mean(1),
                               rtol=1e-6)


def test_code_distance_flags_rows_far_along_the_learned_directions():
    # Rows on a 2-D plane in 6-D: a point far out *on* the plane reconstructs well,
    # so only the code-space term can tell it from the training rows.
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(2, 6))
    X = rng.normal(size=(800, 2)) @ basis + 0.1 * rng.normal(size=(800, 6))
    far = np.array([[4.0, -4.0]]) @ basis
    ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(), activation="identity",
                                learning_rate_init=1e-2, device="cpu")
    errors_only = ReconstructionAnomalyDetector(ae, latent_weight=0, random_state=0).fit(X)
    with_codes = ReconstructionAnomalyDetector(ae, random_state=0).fit(X)
    assert errors_only.predict(far)[0] == 1
    assert with_codes.predict(far)[0] == -1


def test_empty_ensemble_is_rejected(blobs_with_outliers):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match="non-empty list"):
        ReconstructionAnomalyDetector([]).fit(X)


@pytest.mark.parametrize("params, match", [
    (dict(contamination=0.6), "contamination"),
    (dict(contamination=0.0), "contamination"),
    (dict(latent_weight=-1.0), "latent_weight"),
    (dict(estimator=StandardScaler()), "estimator"),
])
def test_invalid_parameters(blobs_with_outliers, params, match):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match=match):
        ReconstructionAnomalyDetector(**params).fit(X)


def test_inner_estimator_parameters_are_validated(blobs_with_outliers):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match="activation"):
        ReconstructionAnomalyDetector(AutoencoderTransformer(activation="nope")).fit(X)
