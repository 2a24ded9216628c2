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
        + (16.0 if novelty else 4.0) * _robust_z(_mean_knn(refs, X, k), _mean_knn(refs, rows, k))
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


def test_auto_reference_size_and_weight_follow_novelty(blobs_with_outliers):
    X, _ = blobs_with_outliers
    X = np.vstack([X] * 12)  # enough rows for both sizes
    outlier = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    novelty = ReconstructionAnomalyDetector(AE, novelty=True, random_state=0).fit(X)
    assert len(outlier.reference_) == 512 and outlier._neighbor_weight() == 4.0
    assert len(novelty.reference_) == 2048 and novelty._neighbor_weight() == 16.0


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


def _far_clusters(n, seed):
    """Five sensors at +-100 with noise 0.1: tight clusters far from the origin."""
    rng = np.random.RandomState(seed)
    centres = np.random.RandomState(0).choice([-100.0, 100.0], size=(8, 5))
    return centres[rng.randint(0, 8, n)] + 0.1 * rng.normal(size=(n, 5))


def test_float32_neighbour_term_picks_the_same_neighbours_in_tight_far_clusters():
    import torch

    refs = StandardScaler().fit(_far_clusters(2000, 0)).transform(_far_clusters(300, 1))
    rows = StandardScaler().fit(_far_clusters(2000, 0)).transform(_far_clusters(200, 2))
    block64 = NeighborBlock(NeighborPlan(refs, 3))
    block32 = NeighborBlock(NeighborPlan(refs, 3)).to(torch.float32)
    x32 = torch.as_tensor(rows, dtype=torch.float32)
    got = block32.distance(x32).numpy()[:, 0]
    # the float32 module computes in float64 from the float32 rows: exactly the float64
    # term of those rows (the rounding of the product form once picked wrong neighbours)
    want = block64.distance(x32.to(torch.float64)).numpy()[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, _mean_knn(refs, x32.numpy().astype(np.float64), 3), rtol=1e-6)


def test_exported_neighbour_term_agrees_with_the_pipeline_on_tight_far_clusters():
    pytest.importorskip("onnxruntime")
    from sklearn.pipeline import make_pipeline

    from skae.onnx import load_onnx, to_onnx

    X, new = _far_clusters(2000, 0), _far_clusters(1000, 1)
    pipe = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(AE, random_state=0)).fit(X)
    model = load_onnx(to_onnx(pipe, X[:5]))
    np.testing.assert_array_equal(model.predict(new), pipe.predict(new))
    # the rest is the float32 rounding of the scaled rows (1e-7 of values near 1, whose
    # neighbours are 1e-3 apart): the scores once differed by 0.04 and 20 labels
    scores = pipe.decision_function(new)
    assert np.max(np.abs(model.decision_function(new) - scores) / (np.abs(scores) + 1)) < 2e-3


def test_reference_set_is_held_once_in_float64_in_the_graph():
    pytest.importorskip("onnxruntime")
    from skae.onnx import to_onnx

    X = np.random.RandomState(0).normal(size=(400, 6))
    det = ReconstructionAnomalyDetector(AE, reference_size=300, random_state=0).fit(X)
    assert det.reference_.shape == (300, 6) and det.reference_.dtype == np.float64
    from onnx import TensorProto

    graph = to_onnx(det, X[:5]).graph
    sized = [t for t in graph.initializer if np.prod(t.dims) == 300 * 6]
    # once (it was held twice in float32: a product form and rows to gather)
    assert [t.data_type for t in sized] == [TensorProto.DOUBLE]


def test_centroid_references_hold_no_training_row(blobs_with_outliers):
    X, _ = blobs_with_outliers
    rows = ReconstructionAnomalyDetector(AE, reference_size=200, random_state=0).fit(X)
    assert rows.model_training_rows_ == 200
    assert all(np.any(np.all(X == r, axis=1)) for r in rows.reference_)
    private = ReconstructionAnomalyDetector(
        AE, references="centroids", reference_size=200, random_state=0
    ).fit(X)
    assert private.model_training_rows_ == 0
    # each centroid is the mean of at least 5 rows: none is (close to) a training row
    nearest = np.sqrt(((private.reference_[:, None] - X[None]) ** 2).sum(-1)).min(axis=1)
    assert nearest.min() > 1e-6
    assert len(private.reference_) <= 200


@pytest.mark.parametrize("novelty", [False, True])
def test_centroid_term_is_the_share_weighted_distance_to_the_nearest_centroids(
    blobs_with_outliers, novelty
):
    import torch

    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(
        AE, references="centroids", novelty=novelty, random_state=0
    ).fit(X)
    plan = det._calibrated().neighbors
    rows = np.vstack([X[:10], X[:10] + 2.0])
    d = np.sqrt(((rows[:, None] - plan.references[None]) ** 2).sum(-1))
    order = np.argsort(d, axis=1)
    if novelty:
        want = d.min(axis=1)
    else:  # the nearest centroids until they stand for 8% of the rows
        mass = plan.masses[order] / 0.08
        used = np.minimum(np.clip(1.0 - (np.cumsum(mass, 1) - mass), 0, None), mass)
        want = (np.take_along_axis(d, order, 1) * used).sum(1)
    got = NeighborBlock(plan).distance(torch.as_tensor(rows)).numpy()[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_partial_fit_with_centroids_holds_no_training_row(blobs_with_outliers):
    X, _ = blobs_with_outliers
    streamed = ReconstructionAnomalyDetector(AE, references="centroids", random_state=0)
    for chunk in np.array_split(X, 4):
        streamed.partial_fit(chunk)
    assert streamed.model_training_rows_ == 0
    nearest = np.sqrt(((streamed.reference_[:, None] - X[None]) ** 2).sum(-1)).min(axis=1)
    assert nearest.min() > 1e-6
    # the streamed detector ranks like the in-memory one
    memory = ReconstructionAnomalyDetector(AE, references="centroids", random_state=0).fit(X)
    rows = np.vstack([X[:50], X[:10] + 3.0])
    a, b = streamed.score_samples(rows), memory.score_samples(rows)
    assert np.corrcoef(a, b)[0, 1] > 0.9
