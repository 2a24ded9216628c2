"""skae._detection.calibration: the documented robust combination of the members' terms, and
the threshold."""

import numpy as np
import pytest

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer

AE = AutoencoderTransformer(hidden_layer_sizes=(16,), n_components=2, max_iter=50, device="cpu")


def _robust_z(train, rows):
    q1, median, q3 = np.percentile(train, [25, 50, 75])
    return (rows - median) / (q3 - q1)


def _mahalanobis(member, X, rows):
    codes, new = member.transform(X).astype(float), member.transform(rows).astype(float)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    d = new - codes.mean(0)
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) / codes.shape[1]


@pytest.mark.parametrize("latent_weight", [0.0, 0.5, 2.0])
def test_ensemble_score_is_the_documented_robust_combination(blobs_with_outliers, latent_weight):
    X, _ = blobs_with_outliers
    vae = VAETransformer(hidden_layer_sizes=(16,), max_iter=30, device="cpu")
    det = ReconstructionAnomalyDetector(
        [AE, vae], latent_weight=latent_weight, neighbor_weight=0, random_state=0
    ).fit(X)
    assert len(det.estimators_) == 2 and det.estimator_ is det.estimators_[0]
    errors, distances = [], []
    for m, scale in zip(det.estimators_, det.feature_scales_, strict=True):
        errors.append(
            _robust_z(
                (m._feature_errors(X) / scale).mean(1), (m._feature_errors(X[:10]) / scale).mean(1)
            )
        )
        distances.append(_robust_z(_mahalanobis(m, X, X), _mahalanobis(m, X, X[:10])))
    expected = -(np.mean(errors, axis=0) + latent_weight * np.mean(distances, axis=0))
    # float32 codes in the reference against float64 ones inside: close, not equal
    np.testing.assert_allclose(det.score_samples(X[:10]), expected, rtol=1e-3, atol=1e-4)
    assert (det.latent_means_ is None) == (latent_weight == 0)
    np.testing.assert_allclose(det.feature_errors(X[:3]).shape, (3, 8))


def test_normalize_errors_divides_by_the_median_training_error(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, neighbor_weight=0, random_state=0).fit(X)
    raw = det.estimator_._feature_errors(X)
    # (the errors are held in float32 while their medians are taken)
    np.testing.assert_allclose(det.feature_scales_[0], np.median(raw, 0), rtol=1e-5)
    np.testing.assert_allclose(det.feature_errors(X), raw / np.median(raw, 0), rtol=1e-5)
    # one member, no code term: the score is minus the mean normalised error
    np.testing.assert_allclose(det.score_samples(X), -(raw / np.median(raw, 0)).mean(1), rtol=1e-5)


def test_code_distance_flags_rows_far_along_the_learned_directions():
    # Rows on a 2-D plane in 6-D: a point far out *on* the plane reconstructs well,
    # so only the code-space term can tell it from the training rows.
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(2, 6))
    X = rng.normal(size=(800, 2)) @ basis + 0.1 * rng.normal(size=(800, 6))
    far = np.array([[4.0, -4.0]]) @ basis
    ae = AutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(),
        activation="identity",
        learning_rate_init=1e-2,
        device="cpu",
    )
    errors_only = ReconstructionAnomalyDetector(ae, neighbor_weight=0, random_state=0).fit(X)
    with_codes = ReconstructionAnomalyDetector(
        ae, latent_weight=0.5, neighbor_weight=0, random_state=0
    ).fit(X)
    with_neighbors = ReconstructionAnomalyDetector(ae, random_state=0).fit(X)  # the default
    assert errors_only.predict(far)[0] == 1
    assert with_codes.predict(far)[0] == -1
    assert with_neighbors.predict(far)[0] == -1


def test_contamination_auto_is_tukeys_lower_fence(blobs_with_outliers):
    X, y = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, contamination="auto", random_state=0).fit(X)
    s = det.score_samples(X)
    q1, q3 = np.percentile(s, [25, 75])
    assert det.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    flagged = det.predict(X) == -1
    assert 0 < flagged.mean() < 0.2 and flagged[y == 1].mean() > 0.8


def test_a_constant_feature_is_never_the_explanation(blobs_with_outliers):
    """A column constant in training has no information: its float-noise errors are
    scaled like the other features', so it explains no ordinary row, while a real
    departure from its constant still flags the row."""
    X, _ = blobs_with_outliers
    X = np.column_stack([X, np.zeros(len(X))])  # 7.0 in every row, after StandardScaler
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    assert (det.feature_errors(X).argmax(axis=1) != X.shape[1] - 1).all()
    moved = X[:20].copy()  # inliers, whose constant column now departs from it
    moved[:, -1] = 3.0
    assert (det.predict(X[:20]) == 1).mean() > 0.8 and (det.predict(moved) == -1).all()


def _planted(seed):
    """Rows on a 3-D plane in 8-D, and 5% of them with one column moved by 1.8 sd."""
    rng = np.random.RandomState(seed)
    basis = rng.normal(size=(3, 8))
    X = rng.normal(size=(1000, 3)) @ basis + 0.3 * rng.normal(size=(1000, 8))
    planted = rng.choice(1000, 50, replace=False)
    column = rng.randint(8, size=50)
    X[planted, column] += rng.choice([-1, 1], 50) * 1.8 * X[:, column].std(axis=0)
    y = np.zeros(1000, bool)
    y[planted] = True
    return X, y


def test_a_constant_column_costs_the_planted_anomalies_at_most_five_points():
    """The default detector behind a StandardScaler (the documented use), with and
    without a column that is 7.0 in every row: the share of planted anomalies flagged
    drops by at most 5 points."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    caught = {False: [], True: []}
    for seed in (0, 1):
        X, y = _planted(seed)
        for constant in caught:
            Z = np.column_stack([X, np.full(len(X), 7.0)]) if constant else X
            pipe = make_pipeline(
                StandardScaler(), ReconstructionAnomalyDetector(random_state=seed)
            ).fit(Z)
            caught[constant].append((pipe.predict(Z)[y] == -1).mean())
    assert np.mean(caught[False]) > 0.5  # the anomalies are there to be caught
    assert np.mean(caught[True]) >= np.mean(caught[False]) - 0.05
