"""The detector's neighbour term: the mean distance from a row to its ``k`` nearest rows
of a bounded reference set (a uniform sample of the training rows), in input space.

It captures what a k-nearest-neighbour detector captures (a row far from every training
row is anomalous, also where the autoencoders reconstruct it well), and it is exportable:
for one row it is a matrix product with the reference set, ``||a||^2 - 2 a.b + ||b||^2``,
in float64 (exact enough that the float32 graph and the estimator pick the same
neighbours, also for tight clusters far apart), a ``TopK`` of the k + 1 smallest and a
few elementwise nodes. (The sums are products
with a column of ones: onnxruntime's ``ReduceSum`` rounds differently for other batch
sizes, its ``MatMul`` does not, so a row's score never depends on the rows scored with
it.)

Leave-one-out without indices: a query row that coincides with a reference row (within
``SELF_TOLERANCE`` times the references' root-mean-square norm, after centring)
does not count that one row among its neighbours. A training row in the reference set
is then scored by its other neighbours, exactly as the calibration needs (a row is no
evidence of its own normality), and ``score_samples`` on the training rows is the
calibration's score, so ``offset_`` flags the ``contamination`` share of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._estimators.batches import map_batches

# A query within SELF_TOLERANCE times the references' RMS norm (after centring) of a
# reference row is that row: the float32 rounding of the differences (about 1e-7 of the
# norms, the scaler's rounding included) stays far below it.
SELF_TOLERANCE = 1e-4
# n_neighbors="auto": the share of the reference rows that makes a neighbourhood when the
# training rows may hold anomalies (a cluster of anomalies smaller than this cannot vouch
# for its own members), and the neighbourhood of novelty detection (training rows known
# to be normal: the nearest few). Measured on ADBench's classical datasets under both
# protocols (benchmarks/README.md).
OUTLIER_SHARE, NOVELTY_NEIGHBORS = 0.08, 2


# reference_size="auto": the reference rows with and without novelty (measured on both
# fixed halves of the development datasets, benchmarks/README.md)
NOVELTY_REFERENCES, OUTLIER_REFERENCES = 2048, 512


def auto_reference_size(reference_size, novelty):
    """``reference_size="auto"``: 2,048 with ``novelty``, else 512."""
    if reference_size != "auto":
        return reference_size
    return NOVELTY_REFERENCES if novelty else OUTLIER_REFERENCES


def auto_neighbors(n_references, novelty):
    """``n_neighbors="auto"``: 2 with ``novelty``, else 8% of the reference rows (>= 1)."""
    if novelty:
        return NOVELTY_NEIGHBORS
    return max(1, int(round(OUTLIER_SHARE * n_references)))


# references="centroids": at most this many k-means centroids of the calibration rows,
# each the mean of at least MIN_CLUSTER_ROWS of them (smaller clusters are dropped, so
# no centroid is one row or close to it), fitted on at most CENTROID_FIT_ROWS rows.
MAX_CENTROIDS, MIN_CLUSTER_ROWS, CENTROID_FIT_ROWS = 256, 5, 16_384


@dataclass
class NeighborPlan:
    """The reference set and how its term enters the score: ``weight`` times the mean
    Euclidean distance to the ``n_neighbors`` nearest references; or, with ``masses``
    (the share of the rows each reference, a centroid, stands for), the mean distance to
    the nearest centroids that together stand for ``share`` of the rows (each weighted by
    the part of its share used; the nearest centroid when ``share`` is 0)."""

    references: np.ndarray  # (R, n_features), float64
    n_neighbors: int
    weight: float = 1.0
    masses: np.ndarray | None = None  # (R,), sums to 1: centroids, not rows
    share: float = 0.0

    @property
    def holds_rows(self):
        """Whether the references are training rows (not summaries of many)."""
        return self.masses is None


def choose_references(X, size, rng):
    """At most ``size`` rows of X, a uniform sample without replacement, as float64."""
    if len(X) > size:
        X = X[np.sort(rng.choice(len(X), size, replace=False))]
    return np.array(X, dtype=np.float64)


def plan_centroids(X, size, n_neighbors, novelty, rng):
    """The centroid plan at unit weight: k-means centroids of (a sample of) X, at most
    ``min(size, MAX_CENTROIDS)``, each the mean of at least ``MIN_CLUSTER_ROWS`` rows,
    with the share of the rows each stands for. ``n_neighbors="auto"``: the nearest
    centroids standing for 8% of the rows, or with ``novelty`` the nearest one; an int:
    the mean distance to that many nearest centroids."""
    from sklearn.cluster import KMeans

    sample = choose_references(X, CENTROID_FIT_ROWS, rng)
    n_clusters = max(1, min(size, MAX_CENTROIDS, len(sample) // MIN_CLUSTER_ROWS))
    seed = int(rng.randint(np.iinfo(np.int32).max))
    km = KMeans(n_clusters=n_clusters, n_init=1, max_iter=50, random_state=seed).fit(sample)
    sizes = np.bincount(km.labels_, minlength=n_clusters)
    keep = sizes >= min(MIN_CLUSTER_ROWS, sizes.max())
    centroids = np.asarray(km.cluster_centers_[keep], dtype=np.float64)
    masses = sizes[keep] / sizes[keep].sum()
    if n_neighbors != "auto":
        k = int(min(n_neighbors, len(centroids)))
        return NeighborPlan(centroids, k, masses=np.full(len(centroids), 1.0 / k), share=1.0)
    share = 0.0 if novelty else OUTLIER_SHARE
    return NeighborPlan(centroids, 1, masses=masses, share=share)


def plan_neighbors(X, size, n_neighbors, novelty, rng, references="rows"):
    """The neighbour term's plan at unit weight: at most ``size`` rows of X as the
    references and the neighbourhood (``n_neighbors``, or for "auto"
    :func:`auto_neighbors`), at most one fewer than the references; with
    ``references="centroids"``, :func:`plan_centroids`."""
    if references == "centroids":
        return plan_centroids(X, size, n_neighbors, novelty, rng)
    references = choose_references(X, size, rng)
    k = auto_neighbors(len(references), novelty) if n_neighbors == "auto" else n_neighbors
    return NeighborPlan(references, int(min(k, max(len(references) - 1, 1))))


def reference_terms(X, size, n_neighbors, novelty, rng, *, references="rows", n_jobs=None):
    """The plan (:func:`plan_neighbors`, at unit weight) drawn from the training rows X,
    and the term on X (a reference row left out of its own neighbours), (n,)."""
    plan = plan_neighbors(X, size, n_neighbors, novelty, rng, references=references)
    block = NeighborBlock(plan)
    widths = [block.widths(X.shape[1])]
    return plan, map_batches(block.distance, X, widths, n_jobs).reshape(-1)


class NeighborBlock(nn.Module):
    """The neighbour term as a module: ``anomaly_column(x)`` is (n, 1).

    It computes in float64 whatever the dtype of ``x`` (the exported float32 graph casts
    the row to float64 and the term back): in float32, ``||a||^2 - 2ab + ||b||^2`` loses
    the small distances to cancellation (about 1e-7 of the squared norms), which picks
    the wrong neighbours where rows form tight clusters far from the centre of the
    reference set. In float64 that error is about 1e-16 of the squared norms, so the
    product form gives the distances themselves: no rows are gathered, and the graph
    holds the reference set once (``R x n_features`` float64 numbers)."""

    def __init__(self, plan):
        super().__init__()
        self.massed = plan.masses is not None
        if self.massed:
            self._init_centroids(plan)
            return
        refs = np.asarray(plan.references, dtype=np.float64)
        n_refs = len(refs)
        self.k = int(min(plan.n_neighbors, max(n_refs - 1, 1)))
        # drop a self-match only when there is a row left to replace it
        self.exclude_self = n_refs > self.k
        self.n_take = self.k + 1 if self.exclude_self else self.k
        self.weight = float(plan.weight)
        # the distances are scaled by weight / k in the products, so they sum to the
        # weighted term with no node for the weight
        scale = self.weight / self.k
        self.scale = scale
        sq = self._register_products(refs, scale)
        self.tolerance = float(scale * SELF_TOLERANCE * np.sqrt(max(sq.mean(), 1e-24)))

    def _register_products(self, refs, scale):
        """The buffers of ``||scale (x - r)||^2 = ||s xc||^2 - 2 s^2 xc.rc + ||s rc||^2``
        (rows and references centred on the references' mean); returns ``||rc||^2``.
        Sums are products with ones: onnxruntime's ReduceSum rounds differently for other
        batch sizes, its MatMul does not (a row's score then never depends on the rows
        scored with it)."""
        center = refs.mean(axis=0)
        centred = refs - center
        sq = (centred * centred).sum(axis=1)
        s2 = scale * scale
        self.register_buffer("center", torch.as_tensor(center)[None])
        self.register_buffer("neg2_refs", torch.as_tensor(-2.0 * s2 * centred.T).contiguous())
        self.register_buffer("ref_sq", torch.as_tensor(s2 * sq)[None])
        self.register_buffer("sq_features", torch.full((refs.shape[1], 1), s2, dtype=torch.float64))
        self.register_buffer("ones_taken", torch.ones(self.n_take, 1, dtype=torch.float64))
        return sq

    def _init_centroids(self, plan):
        """Centroids: the nearest ``n_take`` (enough to stand for ``share`` of the rows
        whichever they are), each weighted by the part of its share used."""
        refs = np.asarray(plan.references, dtype=np.float64)
        n_refs = len(refs)
        masses = np.asarray(plan.masses, dtype=np.float64)
        if plan.share > 0:
            masses = masses / plan.share  # the weights then sum to 1
            cum = np.cumsum(np.sort(masses))
            self.n_take = int(min(n_refs, np.searchsorted(cum, 1.0 - 1e-12) + 1))
        else:  # the nearest centroid
            masses, self.n_take = np.full(n_refs, 1.0), 1
        self.k, self.exclude_self, self.weight = self.n_take, False, float(plan.weight)
        self.scale, self.tolerance = self.weight, 0.0
        self._register_products(refs, self.weight)
        self.register_buffer("masses", torch.as_tensor(masses))

    def _massed_column(self, xc):
        partial = torch.addmm(self.ref_sq, xc, self.neg2_refs)
        nearest = torch.topk(partial, self.n_take, dim=1, largest=False)  # ascending
        dist = (nearest.values + (xc * xc) @ self.sq_features).abs().sqrt()
        if self.n_take == 1:
            return dist
        mass = self.masses[nearest.indices]  # (n, n_take)
        before = torch.cumsum(mass, dim=1) - mass
        used = torch.minimum(torch.relu(1.0 - before), mass)
        return (dist * used) @ self.ones_taken

    def _apply(self, fn, recurse=True):
        # the term's buffers stay float64 when the scorer is cast to float32 (its
        # rounding would pick the wrong neighbours); moves between devices still apply
        kept = dict(self._buffers)
        super()._apply(fn, recurse)
        for name, buffer in kept.items():
            moved = self._buffers[name]
            self._buffers[name] = buffer.to(device=moved.device, dtype=torch.float64)
        return self

    def anomaly_column(self, x):
        """``weight`` times the mean distance to the k nearest references (a self-match
        left out), (n, 1), in x's dtype, computed in float64: one matrix product with the
        centred references, a ``TopK`` of the k + 1 smallest squared distances, their
        square roots."""
        xc = x.to(torch.float64) - self.center
        if self.massed:
            return self._massed_column(xc).to(x.dtype)
        # ||b||^2 - 2ab ranks the references as the squared distance does; ||a||^2, the
        # same for every reference, is added to the k + 1 kept only
        partial = torch.addmm(self.ref_sq, xc, self.neg2_refs)
        nearest = torch.topk(partial, self.n_take, dim=1, largest=False, sorted=False).values
        # abs: a squared distance of zero may come out as -1e-16
        dist = (nearest + (xc * xc) @ self.sq_features).abs().sqrt()  # (n, k + 1)
        total = dist @ self.ones_taken
        if self.exclude_self:
            closest = dist.min(dim=1, keepdim=True).values
            farthest = dist.max(dim=1, keepdim=True).values
            total = total - torch.where(closest <= self.tolerance, closest, farthest)
        return total.to(x.dtype)

    def distance(self, x):
        """The mean distance to the k nearest references (a self-match left out), (n, 1)."""
        return self.anomaly_column(x) / self.weight

    def widths(self, n_features):
        """For the inference chunking and thread choice: a layer of R units (held per
        row while it is scored)."""
        return [n_features, int(self.neg2_refs.shape[1])]
