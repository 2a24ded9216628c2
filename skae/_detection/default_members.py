"""The default ensemble of :class:`~skae.ReconstructionAnomalyDetector`: its members'
shapes, sized from the data, and their training budget.

Chosen on ADBench's classical datasets (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from ..autoencoder import AutoencoderTransformer

# (hidden width, code size) as multiples of n_features, and depth, of the default members:
# members that differ in width, bottleneck and depth make errors that average out.
_DEFAULT_MEMBERS = [(1.0, 0.25, 1), (2.0, 0.5, 1), (0.5, 0.125, 1), (1.0, 0.25, 2), (2.0, 0.125, 2)]
# The default members' widest hidden layer and largest code; wider tables get the members
# sized for SIZED_UP_TO features (the widest tuned on), so their shapes stay distinct.
MAX_WIDTH, MAX_CODE, SIZED_UP_TO = 128, 32, 100
# The default members train for about this many optimiser steps at most: their max_iter
# follows from the number of rows (default_epochs), between these bounds. Measured on
# ADBench (benchmarks/README.md): brief training keeps the anomalies from being learnt.
STEP_BUDGET, MIN_EPOCHS, MAX_EPOCHS = 300, 10, 200
# The default members' relative tolerance for early stopping.
DEFAULT_TOL = 1e-3
# What the default members train with, unless the detector's own parameters say otherwise.
DEFAULT_LEARNING_RATE = 3e-3
# The training settings the default members were chosen with, pinned so that a change of
# AutoencoderTransformer's own defaults (chosen for codes, not for detection) leaves the
# detector's scores as they were.
PINNED = dict(
    activation="relu",
    learning_rate="constant",
    alpha=0.0,
    batch_size=256,
    max_iter=200,
    code_metric=None,
    latent_noise=0.0,
)


def default_epochs(n_samples, batch_size=256, validation_fraction=0.1):
    """Epochs for about :data:`STEP_BUDGET` optimiser steps over ``n_samples`` rows.

    The default members' ``max_iter``: an epoch of 10 000 rows is 35 steps, one of 150
    rows a single step, so a fixed number of epochs trains large tables far longer than
    small ones. Between :data:`MIN_EPOCHS` and :data:`MAX_EPOCHS`.
    """
    n_train = max(1, round(n_samples * (1 - validation_fraction)))
    steps = -(-n_train // batch_size)
    return int(np.clip(-(-STEP_BUDGET // steps), MIN_EPOCHS, MAX_EPOCHS))


def default_estimators(n_features, n_samples=None):
    """The ensemble used when ``estimator=None``, sized from the data.

    Five small autoencoders of different widths (up to 128; sized as for 100 features
    on wider tables), bottlenecks and depths,
    trained with a trimmed loss (the worst 10% of each minibatch left out: the training
    data contains anomalies) at a learning rate of 3e-3, with early stopping (relative
    ``tol=1e-3``) and at most :func:`default_epochs` epochs (about 300 optimiser steps)
    when ``n_samples`` is given. Chosen on ADBench's classical datasets (see
    benchmarks/README.md).
    """
    members, size = [], min(n_features, SIZED_UP_TO)
    for width, code, depth in _DEFAULT_MEMBERS:
        w = int(np.clip(round(width * size), 8, MAX_WIDTH))
        c = int(np.clip(round(code * size), 1, MAX_CODE))
        hidden = (w,) if depth == 1 else (w, max(c, w // 2))
        members.append(
            AutoencoderTransformer(
                n_components=c,
                hidden_layer_sizes=hidden,
                loss_trim=0.1,
                learning_rate_init=DEFAULT_LEARNING_RATE,
                tol=DEFAULT_TOL,
                **PINNED,
            )
        )
    if n_samples is not None:
        # the members share their batch size and validation share: one budget for all
        lead = members[0]
        epochs = default_epochs(n_samples, lead.batch_size, lead.validation_fraction)
        for member in members:
            member.set_params(max_iter=epochs)
    return members
