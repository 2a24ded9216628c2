"""skae._detection.neighbors: the neighbour term, its reference set and its place in the
score."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from skae import ReconstructionAnomalyDetector
from skae._detection.neighbors import NeighborBlock, NeighborPlan, auto_neighbors

from .test_calibration import AE, _robust_z


def _mean_knn(references, rows, k):
    d = np.sqrt(((rows[:, None, :] - references[None]) ** 2).sum(-1))
    d.sort(axis=1)
    # a row that is one of the references does not count itself
    own = d[:, 0] <= 1e-9
    return np.where(own, d[:, 1 : k + 1].mean(1), d[:, :k].mean(1))


@pytest.mark.parametrize("novelty", [False, True])
def test_neighbor_term_is_the_documented_robust_combination(blobs_with_outliers, novelty):
    X, _ = blobs_with_outliers
    X = StandardScaler().fit_transform(X)
    det = ReconstructionAnomalyDetector(
        AE, novelty=novelty, reference_size=200, random_state=0
    ).fit(X)
    refs, k = det.reference_, det.n_neighbors_
    assert refs.shape == (200, 8) and k == (2 if novelty else 16)  # 8% of 200
    # the references are training rows
    assert all(np.any(np.all(X == r, axis=1)) for r in refs)
    scale = det.feature_scales_[0]
    error = (det.estimator_._feature_errors(X) / scale).mean(1)
    new = X[:10] + 0.3
    rows = np.vstack([new, X[:10]])
    expected = -(
        _robust_z(error, (det.estimator_._feature_errors(rows) / scale).mean(1))
        + 4.0 * _robust_z(_mean_knn(refs, X, k), _mean_knn(refs, rows, k))
    )
    np.testing.assert_allclose(det.score_samples(rows), expected, rtol=1e-3, atol=1e-4)
    # the training rows score as the calibration saw them: offset_ flags 10% of them
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.1, abs=1.0 / len(X))


def test_partial_fit_keeps_the_reference_set_bounded(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, reference_size=50, reservoir_size=120, random_state=0)
    for chunk in np.array_split(X, 6):
        det.partial_fit(chunk)
    assert len(det._calibration_sample.rows) == 120 and det.reference_.shape == (50, 8)
    # drawn from the reservoir, a uniform sample of every row seen
    assert all(np.any(np.all(det._calibration_sample.rows == r, axis=1)) for r in det.reference_)


def test_auto_neighbors_novelty_two_else_eight_percent():
    assert auto_neighbors(1024, novelty=True) == 2
    assert auto_neighbors(1024, novelty=False) == 82
    assert auto_neighbors(5, novelty=False) == 1


def test_a_row_of_the_reference_set_is_not_its_own_neighbour():
    rng = np.random.RandomState(0)
    refs = rng.normal(size=(50, 4))
    block = NeighborBlock(NeighborPlan(refs, 3))
    import torch

    got = block.distance(torch.as_tensor(np.vstack([refs[:5], refs[:5] + 10.0]))).numpy()[:, 0]
    np.testing.assert_allclose(got, _mean_knn(refs, np.vstack([refs[:5], refs[:5] + 10.0]), 3))


def test_novelty_auto_follows_false_alarm_rate(blobs_with_outliers):
    X, _ = blobs_with_outliers
    assert not ReconstructionAnomalyDetector(AE).fit(X).novelty_
    det = ReconstructionAnomalyDetector(AE, false_alarm_rate=0.05, random_state=0).fit(X)
    assert det.novelty_ and det.n_neighbors_ == 2
    forced = ReconstructionAnomalyDetector(AE, false_alarm_rate=0.05, novelty=False).fit(X)
    assert not forced.novelty_ and forced.n_neighbors_ > 2


def test_novelty_trains_the_default_members_on_every_row(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(novelty=True, max_iter=2, random_state=0).fit(X)
    assert {m.loss_trim for m in det.estimators_} == {0.0}
    det = ReconstructionAnomalyDetector(max_iter=2, random_state=0).fit(X)
    assert {m.loss_trim for m in det.estimators_} == {0.1}
