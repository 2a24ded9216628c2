import threading

import torch

from skae._nn import random as _random
from skae._nn.networks import Dropout, VariationalAutoencoder


def test_draws_follow_the_installed_generator_and_leave_the_global_one():
    before = torch.random.get_rng_state()
    x = torch.zeros(4, 3)
    with _random.drawing_from(_random.generator(7)):
        a = _random.randn_like(x)
    with _random.drawing_from(_random.generator(7)):
        b = _random.randn_like(x)
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_dropout_and_reparameterisation_draw_from_the_fit_generator():
    drop = Dropout(0.5).train()
    vae = VariationalAutoencoder(5, (8,), 2, generator=_random.generator(0))
    x = torch.ones(16, 5)
    outs = []
    for _ in range(2):
        with _random.drawing_from(_random.generator(3)):
            outs.append((drop(x), vae(x)[0]))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.equal(outs[0][1], outs[1][1])
    assert torch.equal(drop.eval()(x), x)  # an identity at inference


def test_each_thread_has_its_own_generator():
    results = {}

    def work(seed):
        with _random.drawing_from(_random.generator(seed)):
            results[seed] = [_random.rand_like(torch.zeros(1000)) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with _random.drawing_from(_random.generator(1)):
        expected = [_random.rand_like(torch.zeros(1000)) for _ in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(results[1], expected, strict=True))
