"""Small networks, data and losses shared by the engine's tests."""

import numpy as np
import torch

from skae._nn.random import generator
from skae._train.engine import TrainConfig, train

CPU = torch.device("cpu")


def mse(module, x, epoch=0):
    return (module(x) - x).square().mean()


def stacked_mse(module, x, epoch=0):
    return (module(x) - x).square().mean(dim=(-2, -1))


def data(n=300, d=6, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.normal(size=(n, 2)) @ rng.normal(size=(2, d))).astype(np.float32)


def fit(net, X, loss=mse, seed=0, n_members=1, **config):
    return train(
        net,
        loss,
        X,
        config=TrainConfig(**config),
        device=CPU,
        generator=generator(seed),
        n_members=n_members,
    )
