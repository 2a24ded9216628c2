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


def auto_neighbors(n_references, novelty):
    """``n_neighbors="auto"``: 2 with ``novelty``, else 8% of the reference rows (>= 1)."""
    if novelty:
        return NOVELTY_NEIGHBORS
    return max(1, int(round(OUTLIER_SHARE * n_references)))


@dataclass
class NeighborPlan:
    """The reference set and how its term enters the score: ``weight`` times the mean
    Euclidean distance to the ``n_neighbors`` nearest references."""

    references: np.ndarray  # (R, n_features), float64
    n_neighbors: int
    weight: float = 1.0


def choose_references(X, size, rng):
    """At most ``size`` rows of X, a uniform sample without replacement, as float64."""
    if len(X) > size:
        X = X[np.sort(rng.choice(len(X), size, replace=False))]
    return np.array(X, dtype=np.float64)


def plan_neighbors(X, size, n_neighbors, novelty, rng):
    """The neighbour term's plan at unit weight: at most ``size`` rows of X as the
    references and the neighbourhood (``n_neighbors``, or for "auto"
    :func:`auto_neighbors`), at most one fewer than the references."""
    references = choose_references(X, size, rng)
    k = auto_neighbors(len(references), novelty) if n_neighbors == "auto" else n_neighbors
    return NeighborPlan(references, int(min(k, max(len(references) - 1, 1))))


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
        refs = np.asarray(plan.references, dtype=np.float64)
        center = refs.mean(axis=0)
        centred = refs - center
        sq = (centred * centred).sum(axis=1)
        n_refs, n_features = refs.shape
        self.k = int(min(plan.n_neighbors, max(n_refs - 1, 1)))
        # drop a self-match only when there is a row left to replace it
        self.exclude_self = n_refs > self.k
        self.n_take = self.k + 1 if self.exclude_self else self.k
        self.weight = float(plan.weight)
        # the distances are scaled by weight / k in the products, so they sum to the
        # weighted term with no node for the weight
        scale = self.weight / self.k
        s2 = scale * scale
        self.scale = scale
        self.register_buffer("center", torch.as_tensor(center)[None])
        self.register_buffer("neg2_refs", torch.as_tensor(-2.0 * s2 * centred.T).contiguous())
        self.register_buffer("ref_sq", torch.as_tensor(s2 * sq)[None])
        # sums as products with ones: onnxruntime's ReduceSum rounds differently for
        # other batch sizes, its MatMul does not (a row's score then never depends on the
        # rows scored with it)
        self.register_buffer("sq_features", torch.full((n_features, 1), s2, dtype=torch.float64))
        self.register_buffer("ones_taken", torch.ones(self.n_take, 1, dtype=torch.float64))
        self.tolerance = float(scale * SELF_TOLERANCE * np.sqrt(max(sq.mean(), 1e-24)))

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
        sq = torch.addmm(self.ref_sq, xc, self.neg2_refs) + (xc * xc) @ self.sq_features
        nearest = torch.topk(sq, self.n_take, dim=1, largest=False).values  # ascending
        # abs: a squared distance of zero may come out as -1e-16
        dist = nearest.abs().sqrt()  # (n, k + 1)
        total = dist @ self.ones_taken
        if self.exclude_self:
            closest, farthest = dist[:, :1], dist[:, -1:]
            total = total - torch.where(closest <= self.tolerance, closest, farthest)
        return total.to(x.dtype)

    def distance(self, x):
        """The mean distance to the k nearest references (a self-match left out), (n, 1)."""
        return self.anomaly_column(x) / self.weight

    def widths(self, n_features):
        """For the inference chunking and thread choice: a layer of R units (held per
        row while it is scored)."""
        return [n_features, int(self.neg2_refs.shape[1])]
