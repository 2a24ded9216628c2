"""``embedding="umap"``: what a fit does before its network trains on UMAP's objective.

:func:`umap_objective` builds the fuzzy graph of the training rows
(:mod:`skae._estimators.neighbor_graph`) and, for a new network, places the codes where
UMAP would: the graph's spectral layout, optimised by UMAP's own layout SGD on free
coordinates (:func:`skae._nn.umap.optimize_layout`), then the encoder fitted to that
layout by regression. The network then trains on the cross-entropy between the graph and
its codes jointly with the reconstruction (``AutoencoderTransformer._train_loss``), so
``transform`` on new rows is the encoder's, and the decoder keeps its meaning.

Why this start: a network trained on UMAP's objective from random weights gets few
optimiser steps (one an epoch over the whole graph) and settled at KMeans ARI 0.55-0.73
on digits in our prototype, where UMAP reaches 0.85; started from UMAP's layout it
reaches UMAP's quality (benchmarks/bench_clustering.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .._nn.umap import EdgeSampler, optimize_layout
from .._train.optim import Optimizer
from .neighbor_graph import find_ab_params, fuzzy_graph, spectral_layout

# umap-learn's layout epochs: 500 below 10,000 rows, 200 from there.
LAYOUT_EPOCHS_SMALL, LAYOUT_EPOCHS_LARGE, LARGE_TABLE = 500, 200, 10_000
# Full-batch Adam steps, and their rate, that fit the encoder to the layout; and the
# layout's scale (its largest |coordinate|), UMAP's initial scale.
REGRESSION_STEPS, REGRESSION_RATE, LAYOUT_SCALE = 300, 1e-2, 10.0


@dataclass
class UmapObjective:
    """The graph's edge sampler and UMAP's ``a``, ``b`` for the training loss."""

    sampler: EdgeSampler
    a: float
    b: float

    def loss(self, z):
        return self.sampler.loss(z, self.a, self.b)


def layout_epochs(n_rows, n_epochs=None):
    """The layout's epochs: ``n_epochs`` as set, else UMAP's count for ``n_rows`` rows."""
    if n_epochs is not None:
        return int(n_epochs)
    return LAYOUT_EPOCHS_SMALL if n_rows < LARGE_TABLE else LAYOUT_EPOCHS_LARGE


def _say(estimator, message):
    if estimator.verbose:
        print(f"[{type(estimator).__name__}] {message}", file=sys.stderr, flush=True)


def umap_objective(estimator, module, X32, start):
    """The :class:`UmapObjective` of the rows X32; a new network (not ``start.continuing``)
    gets its encoder fitted to UMAP's layout of them first."""
    began = time.perf_counter()
    graph = fuzzy_graph(X32, estimator.n_neighbors, n_jobs=estimator.n_jobs)
    _say(
        estimator,
        f"fuzzy {estimator.n_neighbors}-nearest-neighbour graph of {graph.n_rows} rows: "
        f"{len(graph.weights)} edges in {time.perf_counter() - began:.2f} s",
    )
    a, b = find_ab_params(1.0, estimator.min_dist)
    n_epochs = layout_epochs(len(X32), estimator.n_epochs)
    sampler = EdgeSampler(
        torch.from_numpy(graph.heads),
        torch.from_numpy(graph.tails),
        torch.from_numpy(graph.weights),
        graph.n_rows,
        estimator.negative_sample_rate,
        n_epochs,
    ).to(start.device)
    if not start.continuing:
        began = time.perf_counter()
        seed = int(torch.randint(2**31 - 1, (1,), generator=start.generator, device=start.device))
        layout = spectral_layout(graph, estimator.n_components, seed)
        if layout is not None:
            Y = torch.from_numpy(layout).to(start.device)
            Y = optimize_layout(Y, sampler, a, b, n_epochs, start.generator)
            Y = Y * (LAYOUT_SCALE / Y.abs().max().clamp_min(1e-12))
            x = torch.from_numpy(X32).to(start.device)
            regress_encoder(module, x, Y)
            fit_decoder(module, x, estimator._reconstruction_loss)
            _say(
                estimator,
                f"UMAP layout ({n_epochs} epochs), the encoder fitted to it and the decoder "
                f"to its codes ({REGRESSION_STEPS} steps each): "
                f"{time.perf_counter() - began:.2f} s",
            )
    return UmapObjective(sampler, a, b)


def _fit_part(module, part, loss_of, device, n_steps, learning_rate):
    """Full-batch Adam on ``loss_of()`` over ``part``'s parameters (the encoder or the
    decoder of ``module``), ``module`` moved to ``device`` and back."""
    home = next(module.parameters()).device
    module.to(device).train()
    optimizer = Optimizer(part.named_parameters(), "adam", learning_rate)
    for _ in range(n_steps):
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.to(home)
    return module


def regress_encoder(module, x, target, n_steps=REGRESSION_STEPS, learning_rate=REGRESSION_RATE):
    """Fit ``module``'s encoder so its codes of ``x`` approach ``target`` (full-batch
    Adam on the mean squared error)."""
    return _fit_part(
        module,
        module.encoder,
        lambda: F.mse_loss(module.encode(x), target),
        target.device,
        n_steps,
        learning_rate,
    )


def fit_decoder(module, x, reconstruction_loss, n_steps=REGRESSION_STEPS, rate=REGRESSION_RATE):
    """Fit ``module``'s decoder to reconstruct ``x`` from its codes, the encoder held
    fixed (full-batch Adam on ``reconstruction_loss(module, z, x, epoch)``)."""
    home = next(module.parameters()).device
    with torch.no_grad():
        z = module.to(x.device).train().encode(x)
    _fit_part(
        module,
        module.decoder,
        lambda: reconstruction_loss(module, z, x, 0),
        x.device,
        n_steps,
        rate,
    )
    return module.to(home)
