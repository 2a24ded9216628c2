import numpy as np
import pytest

from skae._estimators.neighbor_graph import (
    find_ab_params,
    fuzzy_graph,
    nearest_neighbors,
    smooth_knn,
    spectral_layout,
)


@pytest.fixture
def rows():
    return np.random.RandomState(0).normal(size=(120, 5))


def test_each_rows_memberships_sum_to_log2_k(rows):
    distances, _ = nearest_neighbors(rows, 10)
    rho, sigma = smooth_knn(distances)
    memberships = np.exp(-np.maximum(distances[:, 1:] - rho[:, None], 0) / sigma[:, None])
    np.testing.assert_allclose(memberships.sum(axis=1), np.log2(10), atol=1e-4)
    # the nearest other row has membership 1
    np.testing.assert_allclose(memberships.max(axis=1), 1.0)


def test_the_graph_is_the_symmetric_fuzzy_union(rows):
    graph = fuzzy_graph(rows, 10)
    W = graph.matrix().toarray()
    np.testing.assert_allclose(W, W.T, atol=1e-6)
    assert np.all(np.diag(W) == 0) and W.max() <= 1.0 and W.min() >= 0.0
    # every row keeps at least its own 9 neighbours
    assert np.all((W > 0).sum(axis=1) >= 9)


def test_duplicated_rows_still_put_each_row_first():
    X = np.repeat(np.random.RandomState(1).normal(size=(20, 3)), 2, axis=0)
    distances, indices = nearest_neighbors(X, 4)
    assert np.all(indices[:, 0] == np.arange(len(X))) and np.all(distances[:, 0] == 0)
    assert np.isfinite(fuzzy_graph(X, 4).weights).all()


def test_ab_params_are_umaps():
    # umap-learn's find_ab_params(1.0, 0.1)
    a, b = find_ab_params(1.0, 0.1)
    assert a == pytest.approx(1.577, abs=1e-3) and b == pytest.approx(0.895, abs=1e-3)


def test_spectral_layout_is_scaled_and_none_for_tiny_graphs(rows):
    layout = spectral_layout(fuzzy_graph(rows, 10), 2, random_state=0)
    assert layout.shape == (120, 2) and np.abs(layout).max() == pytest.approx(10.0)
    assert spectral_layout(fuzzy_graph(rows[:3], 10), 2, random_state=0) is None
    assert len(fuzzy_graph(rows[:1], 10).weights) == 0
