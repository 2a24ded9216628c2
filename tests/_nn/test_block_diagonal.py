"""skae._nn.block_diagonal: several autoencoders as one MLP of block-diagonal layers."""

import torch

from skae._nn.block_diagonal import BlockDiagonalAutoencoders, can_widen
from skae._nn.networks import Autoencoder
from skae._nn.random import generator


def test_block_diagonal_form_scores_like_the_members_across_depths():
    """The inference layout: one block-diagonal MLP for members of depths 1 and 2 (identity
    layers pad the shallower ones under ReLU), codes and outputs side by side."""
    nets = [
        Autoencoder(6, h, c, generator=generator(i))
        for i, (h, c) in enumerate([((8,), 2), ((16, 4), 3), ((4,), 1)])
    ]
    assert can_widen(nets, "relu") and not can_widen(nets, "tanh")
    wide = BlockDiagonalAutoencoders(nets, "relu")
    x = torch.randn(9, 6, generator=generator(9))
    codes, logits = wide(x)
    _, residual = wide.residuals(x)
    for k, net in enumerate(nets):
        torch.testing.assert_close(wide.member_codes(codes)[k], net.encode(x))
        torch.testing.assert_close(logits[:, 6 * k : 6 * (k + 1)], net(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            residual[:, 6 * k : 6 * (k + 1)], net(x) - x, rtol=1e-5, atol=1e-6
        )
