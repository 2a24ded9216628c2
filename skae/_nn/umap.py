"""The torch side of ``embedding="umap"``: sampling a fuzzy graph's edges, UMAP's layout
optimisation.

The graph itself (a k-nearest-neighbour search) is built on the estimator side
(:mod:`skae._estimators.neighbor_graph`); here it is three tensors. Every random draw
comes from the generator passed in (or the fit's, :mod:`skae._nn.random`).
"""

from __future__ import annotations

import torch

from . import random as _random
from .losses import umap_cross_entropy

# UMAP's per-coordinate clip of one edge's move in its layout optimisation.
_MOVE_CLIP = 4.0


class EdgeSampler:
    """An epoch's edges and negative samples, as UMAP draws them.

    Each edge is kept in an epoch with probability ``weight / max(weight)`` (UMAP's
    ``epochs_per_sample``: an edge of the strongest weight every epoch); edges too weak to
    be drawn once in ``n_epochs`` are dropped, as umap-learn drops them. Each kept edge
    brings ``negative_sample_rate`` negatives, rows drawn uniformly.

    Parameters
    ----------
    heads, tails : torch.Tensor of shape (n_edges,), int64
    weights : torch.Tensor of shape (n_edges,), float32
    n_rows : int
    negative_sample_rate : int
    n_epochs : int
        The epochs the sampler serves (the weakest edges kept are drawn about once).
    """

    def __init__(self, heads, tails, weights, n_rows, negative_sample_rate, n_epochs):
        keep = weights.new_ones(weights.shape, dtype=torch.bool)
        probability = weights
        if weights.numel():
            probability = weights / weights.max()
            keep = probability >= 1.0 / max(int(n_epochs), 1)
        self.heads, self.tails = heads[keep], tails[keep]
        self.probability = probability[keep]
        self.n_rows = int(n_rows)
        self.negative_sample_rate = int(negative_sample_rate)

    def to(self, device):
        for name in ("heads", "tails", "probability"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def sample(self, generator=None):
        """(heads, tails, negative heads, negatives) of one epoch."""
        gen = generator if generator is not None else _random.current()
        kept = torch.rand(self.probability.shape, generator=gen, device=self.heads.device)
        kept = kept < self.probability
        heads, tails = self.heads[kept], self.tails[kept]
        negative_heads = heads.repeat_interleave(self.negative_sample_rate)
        negatives = torch.randint(
            self.n_rows, negative_heads.shape, generator=gen, device=heads.device
        )
        return heads, tails, negative_heads, negatives

    def loss(self, z, a, b):
        """:func:`~skae._nn.losses.umap_cross_entropy` of the codes of every row, ``z``,
        over one epoch's sample."""
        return umap_cross_entropy(z, *self.sample(), a, b)


# An epoch's moves are applied in this many rounds (each a random share of its edges):
# umap-learn applies each edge's move at once, and summing a whole epoch's moves before
# applying them overshoots (digits at d = 2: KMeans ARI 0.76 in one round, 0.86-0.87 in
# 4, 8 or 16, umap-learn 0.85). A row gets a handful of moves per round whatever the
# table's size.
LAYOUT_ROUNDS = 8


def _layout_round(Y, heads, tails, negative_heads, negatives, a, b, rate):
    """Apply one round's summed moves to Y in place."""
    moves = torch.zeros_like(Y)
    gap = Y.index_select(0, heads) - Y.index_select(0, tails)
    s = gap.square().sum(dim=-1, keepdim=True)
    coefficient = -2.0 * a * b * s.clamp_min(1e-12).pow(b - 1.0) / (a * s.pow(b) + 1.0)
    step = (coefficient * gap).clamp(-_MOVE_CLIP, _MOVE_CLIP) * rate
    moves.index_add_(0, heads, step)
    moves.index_add_(0, tails, -step)
    gap = Y.index_select(0, negative_heads) - Y.index_select(0, negatives)
    s = gap.square().sum(dim=-1, keepdim=True)
    coefficient = 2.0 * b / ((1e-3 + s) * (a * s.pow(b) + 1.0))
    step = torch.where(s > 0, (coefficient * gap).clamp(-_MOVE_CLIP, _MOVE_CLIP), 0.0)
    moves.index_add_(0, negative_heads, step * rate)
    Y += moves


@torch.no_grad()
def optimize_layout(layout, sampler, a, b, n_epochs, generator, learning_rate=1.0):
    """UMAP's layout optimisation of free coordinates, from ``layout`` (not modified).

    umap-learn's SGD: attraction on both ends of a sampled edge, repulsion on the head of
    each negative pair, each move clipped to 4 per coordinate, the rate falling linearly
    to 0; an epoch's moves are applied in :data:`LAYOUT_ROUNDS` vectorised rounds
    instead of one edge at a time. Returns the optimised (n_rows, d) layout.
    """
    Y = layout.clone()
    rate_of_negatives = sampler.negative_sample_rate
    for epoch in range(n_epochs):
        rate = learning_rate * (1.0 - epoch / n_epochs)
        heads, tails, negative_heads, negatives = sampler.sample(generator)
        order = torch.randperm(len(heads), generator=generator, device=heads.device)
        for part in order.chunk(LAYOUT_ROUNDS):
            pairs = part[:, None] * rate_of_negatives
            pairs = (pairs + torch.arange(rate_of_negatives, device=part.device)).reshape(-1)
            _layout_round(
                Y,
                heads[part],
                tails[part],
                negative_heads[pairs],
                negatives[pairs],
                a,
                b,
                rate,
            )
    return Y
