import pytest
import torch

from skae._nn.networks import Autoencoder
from skae._nn.random import generator
from skae._nn.stacked import StackedAutoencoder, can_stack


def members(activation="relu", latent_normalize=False, depth=1):
    shapes = [(8, 2), (16, 3), (4, 1)]
    return [
        Autoencoder(
            6,
            (w,) * depth if depth else (),
            c,
            activation=activation,
            latent_normalize=latent_normalize,
            generator=generator(i),
        )
        for i, (w, c) in enumerate(shapes)
    ]


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "selu", "identity"])
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_stack_computes_what_each_member_computes(activation, depth):
    nets = members(activation, latent_normalize=depth == 1, depth=depth)
    stack = StackedAutoencoder(nets, activation)
    x = torch.randn(9, 6, generator=generator(9))
    logits, codes = stack(x), stack.encode(x)
    for k, net in enumerate(nets):
        torch.testing.assert_close(logits[k], net(x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stack.member_codes(codes)[k], net.encode(x))
    # per-member inputs (K, n, F) give the same as a shared input
    torch.testing.assert_close(stack(x.expand(3, 9, 6).contiguous()), logits)


def test_write_members_copies_trained_weights_back():
    nets = members()
    stack = StackedAutoencoder(nets, "relu")
    with torch.no_grad():
        for p in stack.parameters():
            p.mul_(2.0)
    fresh = members()
    stack.write_members(fresh)
    x = torch.randn(4, 6, generator=generator(1))
    for k, net in enumerate(fresh):
        torch.testing.assert_close(net(x), stack(x)[k], rtol=1e-5, atol=1e-6)


def test_optimizer_state_shapes_round_trip():
    nets = members()
    stack = StackedAutoencoder(nets, "relu")
    per_member = [
        [torch.randn(p.shape, generator=generator(i)) for p in net.parameters()]
        for i, net in enumerate(nets)
    ]
    stacked = stack.stack_state(per_member)
    assert [t.shape for t in stacked] == [p.shape for p in stack.parameters()]
    back = stack.unstack_state(stacked)
    for mine, theirs in zip(back, per_member, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs, strict=True))


def test_what_cannot_stack():
    assert not can_stack(Autoencoder(6, (8,), 2, batch_norm=True))
    assert not can_stack(Autoencoder(6, (8,), 2, dropout=0.1))
    assert not can_stack(Autoencoder(6, (8,), 2, activation="prelu"))
    with pytest.raises(ValueError, match="same depth"):
        StackedAutoencoder([Autoencoder(6, (8,), 2), Autoencoder(6, (8, 4), 2)], "relu")
