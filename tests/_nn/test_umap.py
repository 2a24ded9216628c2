import numpy as np
import torch

from skae._nn.losses import umap_cross_entropy
from skae._nn.umap import EdgeSampler, optimize_layout


def test_the_cross_entropy_is_finite_at_zero_distance():
    z = torch.zeros(4, 2, requires_grad=True)  # every code on top of every other
    index = torch.tensor([0, 1, 2])
    loss = umap_cross_entropy(z, index, index + 1, index, index, 1.58, 0.9)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_the_cross_entropy_attracts_edges_and_repels_negatives():
    a, b = 1.58, 0.9
    near = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0]])
    far = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.1, 0.0]])
    edge, negative = (torch.tensor([0]), torch.tensor([1])), (torch.tensor([0]), torch.tensor([2]))
    assert umap_cross_entropy(near, *edge, *negative, a, b) < umap_cross_entropy(
        far, *edge, *negative, a, b
    )
    empty = torch.zeros(0, dtype=torch.long)
    assert umap_cross_entropy(near, empty, empty, empty, empty, a, b) == 0


def test_edges_are_drawn_in_proportion_to_their_weight():
    weights = torch.tensor([1.0, 0.5, 0.1, 0.001])
    ends = torch.arange(4)
    sampler = EdgeSampler(ends, ends.roll(1), weights, 4, 2, n_epochs=200)
    assert len(sampler.heads) == 3  # too weak to be drawn once in 200 epochs: dropped
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(2000):
        heads, _, negative_heads, negatives = sampler.sample(gen)
        counts += torch.bincount(heads, minlength=4)
        assert len(negative_heads) == 2 * len(heads) and (negatives < 4).all()
    np.testing.assert_allclose(counts[:3] / 2000, [1.0, 0.5, 0.1], atol=0.03)


def test_the_layout_gathers_a_graphs_components():
    # two cliques of 10 rows: each clique ends far tighter than the gap between them
    heads, tails = zip(
        *[(i, j) for c in (0, 10) for i in range(c, c + 10) for j in range(c, c + 10) if i != j],
        strict=True,
    )
    heads, tails = torch.tensor(heads), torch.tensor(tails)
    sampler = EdgeSampler(heads, tails, torch.ones(len(heads)), 20, 5, n_epochs=200)
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(20, 2, generator=gen) * 5
    Y = optimize_layout(start, sampler, 1.58, 0.9, 200, gen)
    spread = max(Y[:10].std(0).max(), Y[10:].std(0).max())
    gap = (Y[:10].mean(0) - Y[10:].mean(0)).norm()
    assert gap > 3 * spread
    assert torch.equal(start, start.clone())  # the start is not modified
