import math

import pytest
import torch
from torch import nn

from skae._nn.networks import (
    ACTIVATIONS,
    Autoencoder,
    Dropout,
    VariationalAutoencoder,
    mlp,
    unit_sphere,
)
from skae._nn.random import generator


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds_and_runs(activation):
    net = Autoencoder(10, (16, 8), 3, activation=activation)
    x = torch.randn(5, 10)
    assert net.encode(x).shape == (5, 3)
    assert net(x).shape == (5, 10)


def test_decoder_mirrors_encoder_and_code_is_linear():
    net = Autoencoder(10, (16, 8), 3)
    enc = [m.out_features for m in net.encoder.modules() if isinstance(m, nn.Linear)]
    dec = [m.out_features for m in net.decoder.modules() if isinstance(m, nn.Linear)]
    assert enc == [16, 8, 3]
    assert dec == [8, 16, 10]
    # The code layer is the last module of the encoder: a Linear, no activation after it.
    assert isinstance(net.encoder[-1], nn.Linear)


def test_empty_hidden_layers_give_a_linear_autoencoder():
    net = Autoencoder(6, (), 2, activation="identity")
    assert [type(m) for m in net.modules() if not isinstance(m, (nn.Sequential,))].count(
        nn.Linear
    ) == 2


def test_prelu_is_learnable():
    net = Autoencoder(6, (8,), 2, activation="prelu")
    assert any(isinstance(m, nn.PReLU) for m in net.modules())
    names = [n for n, _ in net.named_parameters()]
    assert any("weight" in n and p.numel() == 1 for n, p in net.named_parameters())
    assert len(names) > 4


def test_selu_uses_lecun_init_and_alpha_dropout():
    torch.manual_seed(0)
    block, _ = mlp(2000, (500,), activation="selu", dropout=0.1)
    linear = block[0]
    assert linear.weight.std().item() == pytest.approx(1 / math.sqrt(2000), rel=0.05)
    assert any(isinstance(m, Dropout) and m.alpha for m in block)


def test_relu_uses_kaiming_init():
    torch.manual_seed(0)
    block, _ = mlp(2000, (500,), activation="relu")
    assert block[0].weight.std().item() == pytest.approx(math.sqrt(2 / 2000), rel=0.05)
    assert torch.all(block[0].bias == 0)


def test_batch_norm_and_dropout_layers():
    block, width = mlp(4, (8, 6), batch_norm=True, dropout=0.2)
    assert width == 6
    assert sum(isinstance(m, nn.BatchNorm1d) for m in block) == 2
    assert sum(isinstance(m, Dropout) and not m.alpha for m in block) == 2


def test_latent_normalize_projects_onto_unit_sphere():
    net = Autoencoder(6, (8,), 3, latent_normalize=True)
    z = net.encode(torch.randn(7, 6))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(7))


def test_sigmoid_output_activation_bounds_reconstruction():
    net = Autoencoder(6, (8,), 2, output_activation="sigmoid")
    r = net.activate(net(10 * torch.randn(20, 6)))
    assert torch.all((r >= 0) & (r <= 1))


def test_vae_encoder_heads_and_reparameterisation():
    torch.manual_seed(0)
    net = VariationalAutoencoder(6, (8,), 2)
    x = torch.randn(1000, 6)
    mean, log_var = net.encode(x)
    assert mean.shape == log_var.shape == (1000, 2)
    z = net.reparameterize(torch.zeros(10000, 1), torch.full((10000, 1), math.log(4.0)))
    assert z.std().item() == pytest.approx(2.0, rel=0.05)
    logits, m, lv = net(x)
    assert logits.shape == (1000, 6)
    # gradients flow through the sample into both heads
    logits.sum().backward()
    assert net.mean.weight.grad is not None and net.log_var.weight.grad is not None


def test_vae_log_variance_is_clamped():
    net = VariationalAutoencoder(3, (), 2)
    with torch.no_grad():
        net.log_var.bias.fill_(1e6)
    _, log_var = net.encode(torch.zeros(2, 3))
    assert torch.all(log_var == VariationalAutoencoder.LOG_VAR_MAX)


def test_bernoulli_vae_reconstructs_probabilities():
    net = VariationalAutoencoder(5, (4,), 2, likelihood="bernoulli")
    r = net.activate(net.decoder(net.encode(torch.randn(8, 5))[0]))
    assert torch.all((r > 0) & (r < 1))


def test_alpha_dropout_keeps_selus_zero_mean_and_unit_variance():
    x = torch.nn.SELU()(torch.randn(200_000, generator=generator(0)))
    drop = Dropout(0.2, alpha=True).train()
    from skae._nn import random as _random

    with _random.drawing_from(generator(1)):
        y = drop(x)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1) < 0.02


def test_unit_sphere_matches_normalize_and_handles_zero():
    z = torch.randn(5, 3, generator=generator(0))
    torch.testing.assert_close(unit_sphere(z), torch.nn.functional.normalize(z, dim=1))
    assert torch.equal(unit_sphere(torch.zeros(1, 3)), torch.zeros(1, 3))


def test_building_a_network_never_touches_torchs_global_generator():
    before = torch.random.get_rng_state()
    Autoencoder(10, (16, 8), 3, generator=generator(0))
    VariationalAutoencoder(10, (16, 8), 3, generator=generator(0))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_the_same_generator_seed_gives_the_same_network():
    a = Autoencoder(10, (16,), 3, generator=generator(5)).state_dict()
    b = Autoencoder(10, (16,), 3, generator=generator(5)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
