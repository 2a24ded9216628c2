"""UMAP's fuzzy k-nearest-neighbour graph of the training rows, and its spectral layout.

``embedding="umap"`` trains the encoder on the cross-entropy between this graph and the
codes' similarities (:func:`skae._nn.losses.umap_loss`). The graph is UMAP's (McInnes,
Healy & Melville 2018, section 3; umap-learn's ``fuzzy_simplicial_set`` with its
defaults): each row's ``n_neighbors`` nearest rows (itself included) by Euclidean
distance, found exactly by scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors`;
memberships ``exp(-(d - rho_i) / sigma_i)``, with ``rho_i`` the distance to the nearest
other row and ``sigma_i`` found so that a row's memberships sum to ``log2(n_neighbors)``
(a bisection run for every row at once); then the fuzzy union ``W + W^T - W * W^T``.

No numba and no approximate search: the exact search costs O(n^2) distances, about a
second for 20,000 rows of 50 features on one core, and scikit-learn's tree or brute
backend picks itself. The spectral layout (the eigenvectors of the graph's normalised
Laplacian, as UMAP initialises its layout) is where the codes start.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import curve_fit
from sklearn.manifold import spectral_embedding
from sklearn.neighbors import NearestNeighbors

# umap-learn's constants: the bisection's tolerance and steps, and the floor of sigma as
# a share of the mean neighbour distance (MIN_K_DIST_SCALE).
_SMOOTH_K_TOLERANCE = 1e-5
_BISECTION_STEPS = 64
_MIN_K_DIST_SCALE = 1e-3


@dataclass
class FuzzyGraph:
    """The symmetric fuzzy graph as edge lists (each undirected edge once per direction).

    Attributes
    ----------
    heads, tails : ndarray of shape (n_edges,), int64
        The ends of each directed edge.
    weights : ndarray of shape (n_edges,), float32
        Membership strengths in (0, 1].
    n_rows : int
        Vertices (training rows).
    """

    heads: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    n_rows: int

    def matrix(self):
        """The graph as a sparse (n_rows, n_rows) matrix."""
        n = self.n_rows
        return sparse.coo_matrix((self.weights, (self.heads, self.tails)), shape=(n, n)).tocsr()


def nearest_neighbors(X, n_neighbors, n_jobs=None):
    """Exact ``n_neighbors`` nearest rows of each row (itself first) and their distances."""
    k = min(n_neighbors, len(X))
    search = NearestNeighbors(n_neighbors=k, n_jobs=n_jobs).fit(X)
    distances, indices = search.kneighbors(X)
    # duplicated rows can put another row at distance 0 before the row itself: put the
    # row first, as UMAP's graph has it
    own = indices == np.arange(len(X))[:, None]
    missing = ~own.any(axis=1)
    order = np.argsort(~own, axis=1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=1)
    distances = np.take_along_axis(distances, order, axis=1)
    indices[missing, 0], distances[missing, 0] = np.flatnonzero(missing), 0.0
    return distances, indices


def smooth_knn(distances):
    """UMAP's ``rho`` and ``sigma`` of every row, the bisection vectorised over rows.

    ``distances`` has shape (n, k), the row itself first (distance 0). ``sigma_i`` solves
    ``sum_j exp(-max(d_ij - rho_i, 0) / sigma_i) = log2(k)`` over the other neighbours.
    """
    n, k = distances.shape
    others = distances[:, 1:].astype(np.float64)
    target = np.log2(k)
    positive = np.where(others > 0, others, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    gap = np.maximum(others - rho[:, None], 0.0)
    for _ in range(_BISECTION_STEPS):
        total = np.exp(-gap / mid[:, None]).sum(axis=1)
        if np.all(np.abs(total - target) < _SMOOTH_K_TOLERANCE):
            break
        above = total > target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
        mid = np.where(above, (lo + hi) / 2, np.where(np.isinf(hi), mid * 2, (lo + hi) / 2))
    mean_all = others.mean() if others.size else 0.0
    floor = _MIN_K_DIST_SCALE * np.where(rho > 0, others.mean(axis=1), mean_all)
    return rho, np.maximum(mid, floor)


def fuzzy_graph(X, n_neighbors=15, n_jobs=None):
    """UMAP's fuzzy union graph of the rows of X (:class:`FuzzyGraph`)."""
    n = len(X)
    distances, indices = nearest_neighbors(X, n_neighbors, n_jobs)
    if distances.shape[1] < 2:
        empty = np.zeros(0, dtype=np.int64)
        return FuzzyGraph(empty, empty, np.zeros(0, dtype=np.float32), n)
    rho, sigma = smooth_knn(distances)
    strength = np.exp(-np.maximum(distances[:, 1:] - rho[:, None], 0.0) / sigma[:, None])
    rows = np.repeat(np.arange(n), distances.shape[1] - 1)
    W = sparse.coo_matrix((strength.ravel(), (rows, indices[:, 1:].ravel())), shape=(n, n))
    W = W.tocsr()
    W.sum_duplicates()
    product = W.multiply(W.T)
    union = (W + W.T - product).tocoo()
    keep = union.data > 0
    return FuzzyGraph(
        union.row[keep].astype(np.int64),
        union.col[keep].astype(np.int64),
        union.data[keep].astype(np.float32),
        n,
    )


def find_ab_params(spread=1.0, min_dist=0.1):
    """UMAP's ``a`` and ``b``: ``1 / (1 + a d^(2b))`` fitted to 1 below ``min_dist`` and
    ``exp(-(d - min_dist) / spread)`` above it, as umap-learn fits them."""

    def curve(x, a, b):
        return 1.0 / (1.0 + a * x ** (2 * b))

    xv = np.linspace(0, spread * 3, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))
    (a, b), _ = curve_fit(curve, xv, yv)
    return float(a), float(b)


def spectral_layout(graph, n_components, random_state):
    """UMAP's initial layout: the eigenvectors of the graph's symmetric normalised
    Laplacian ``I - D^(-1/2) W D^(-1/2)`` of the smallest non-zero eigenvalues, scaled
    into [-10, 10].

    scikit-learn's :func:`~sklearn.manifold.spectral_embedding` finds them (shift-invert
    ARPACK, or its fallbacks) and returns them divided by ``sqrt(degree)``; they are
    multiplied back, as UMAP lays them out.

    Returns None when the graph is too small for ``n_components`` eigenvectors.
    """
    n = graph.n_rows
    if n <= n_components + 1 or len(graph.weights) == 0:
        return None
    adjacency = graph.matrix()
    with warnings.catch_warnings():
        # a graph of several components: the layout is still a fine start
        warnings.simplefilter("ignore", UserWarning)
        layout = spectral_embedding(
            adjacency,
            n_components=n_components,
            random_state=random_state,
            drop_first=True,
        )
    layout = layout * np.sqrt(np.asarray(adjacency.sum(axis=1)))
    scale = np.abs(layout).max()
    if not np.isfinite(scale) or scale == 0:
        return None
    return (10.0 * layout / scale).astype(np.float32)
