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
    det = ReconstructionAnomalyDetector(AE, normalize_errors=False, random_state=0).fit(X)
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
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
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


def test_ensemble_scores_are_the_mean_of_standardised_member_scores(blobs_with_outliers):
    X, _ = blobs_with_outliers
    vae = VAETransformer(hidden_layer_sizes=(16,), max_iter=30, device="cpu")
    det = ReconstructionAnomalyDetector([AE, vae], random_state=0).fit(X)
    assert len(det.estimators_) == 2 and det.estimator_ is det.estimators_[0]
    member = []
    for m, scale in zip(det.estimators_, det.feature_scales_):
        train = -(m._feature_errors(X) / scale).mean(1)
        member.append((-(m._feature_errors(X[:10]) / scale).mean(1) - train.mean())
                      / (train.std() + 1e-12))
    np.testing.assert_allclose(det.score_samples(X[:10]), np.mean(member, axis=0), rtol=1e-6)
    np.testing.assert_allclose(det.feature_errors(X[:3]).shape, (3, 8))


def test_normalize_errors_divides_by_the_training_error(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    raw = det.estimator_._feature_errors(X)
    np.testing.assert_allclose(det.feature_scales_[0], raw.mean(0), rtol=1e-9)
    np.testing.assert_allclose(det.feature_errors(X), raw / raw.mean(0), rtol=1e-6)


def test_empty_ensemble_is_rejected(blobs_with_outliers):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match="non-empty list"):
        ReconstructionAnomalyDetector([]).fit(X)


@pytest.mark.parametrize("params, match", [
    (dict(contamination=0.6), "contamination"),
    (dict(contamination=0.0), "contamination"),
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
