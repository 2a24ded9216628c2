"""AutoencoderTransformer: a deterministic MLP autoencoder as an sklearn transformer."""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real

import torch
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions

from ._estimators.base import BaseAutoencoder
from ._estimators.embedding import umap_objective
from ._estimators.member import StackSpec
from ._nn import random as _random
from ._nn.code_metric import fold_decoder_metric
from ._nn.losses import RECONSTRUCTION_LOSSES, elementwise_loss, mean_loss
from ._nn.networks import Autoencoder
from ._nn.stacked import STACKABLE_ACTIVATIONS
from ._train.threads import mlp_flops, num_threads, resolve_threads


def _partial_fit_message(estimator):
    return (
        f"partial_fit is not available with embedding={estimator.embedding!r}: UMAP's "
        "objective is a graph of the whole training table, which a chunk does not have. "
        "Use fit on the table (or on a sample of it); fit with warm_start=True continues "
        "training on the graph of the rows it is given."
    )


def _partial_fit_available(estimator):
    if estimator.embedding is not None:
        raise AttributeError(_partial_fit_message(estimator))
    return True


class AutoencoderTransformer(BaseAutoencoder):
    """Autoencoder: an MLP encoder to ``n_components`` latent units and a mirrored decoder.

    The code layer is linear (no activation); the decoder mirrors ``hidden_layer_sizes``.
    With ``hidden_layer_sizes=()`` and ``activation="identity"`` it is a linear
    autoencoder, which spans the same subspace as PCA. Training is minibatch Adam on the
    reconstruction loss, with early stopping on a validation split that keeps the best
    weights. Scaling is not done for you: put a ``StandardScaler`` (or ``MinMaxScaler``
    for ``loss="bce"``) before it in a Pipeline.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent code.
    hidden_layer_sizes : tuple of int, default=(64, 32)
        Widths of the encoder's hidden layers; the decoder uses them in reverse. An empty
        tuple gives a linear autoencoder.
    activation : {"relu", "leaky_relu", "prelu", "selu", "elu", "gelu", "tanh", \
"identity"}, default="tanh"
        Activation of the hidden layers ("prelu" is learnable; "selu" uses LeCun
        initialisation and alpha-dropout).
    output_activation : {None, "identity", "sigmoid"}, default=None
        Activation of the decoder's output. "sigmoid" keeps reconstructions in (0, 1).
        With ``loss="bce"`` the output is always the sigmoid (the Bernoulli mean).
    loss : {"mse", "bce", "mae", "huber"}, default="mse"
        Reconstruction loss. "bce" is the Bernoulli likelihood, computed from logits, for
        data in [0, 1]; "huber" uses delta=1.
    latent_normalize : bool, default=False
        Project the code onto the unit sphere (L2-normalised latent space).
    code_metric : {"decoder", None}, default="decoder"
        "decoder": after training, re-express the codes so that Euclidean distances
        between them match, on average over the training rows, distances between their
        reconstructions (the decoder's pullback metric G = mean J^T J, folded into the
        weights as z' = G^(1/2) (z - mean): the reconstructions do not change). An
        autoencoder's code has an arbitrary scale and shear, which KMeans or a nearest-
        neighbour search would read as structure; a linear autoencoder's codes become
        PCA's scores up to a rotation. None: the codes as trained. Not applied by
        ``partial_fit`` nor with ``latent_normalize``.
    latent_noise : float, default=0.1
        Gaussian noise on the code during training, as a share of each code unit's
        spread in the minibatch: the decoder must map nearby codes to nearby
        reconstructions, which keeps the code space smooth (ignored with
        ``activation="identity"``, where it would only add noise).
    embedding : {None, "umap"}, default=None
        None: the network trains on the reconstruction alone. "umap": codes for
        clustering and maps. The encoder is trained on UMAP's objective (McInnes et al.,
        2018), the cross-entropy between a fuzzy ``n_neighbors``-nearest-neighbour graph
        of the training rows and the codes' similarities ``1 / (1 + a d^(2b))``, edges
        sampled by weight with ``negative_sample_rate`` negatives each, jointly with the
        decoder's reconstruction (weighted by ``reconstruction_weight``), so
        ``inverse_transform`` and ``score_samples`` keep their meaning. The codes start
        where UMAP's would end: the graph's spectral layout optimised by UMAP's own SGD,
        the encoder fitted to that layout and the decoder to its codes; then
        ``max_iter`` ("auto": 100) full-batch epochs train both on the joint objective
        at a tenth of ``learning_rate_init``, falling linearly to 0 (every epoch runs;
        no validation split: ``early_stopping``, ``validation_fraction``, ``batch_size``,
        ``shuffle`` and ``code_metric`` do not apply). The graph is exact (scikit-learn's
        ``NearestNeighbors``, O(n^2) distances): meant for tables of up to some tens of
        thousands of rows (sample larger ones). ``transform`` of new rows is the encoder
        alone, in Python and in ONNX. Not with ``latent_normalize``; ``partial_fit`` is
        not available (a chunk has no graph of the table); a warm start continues the
        network on the graph of the rows it is given.
    n_neighbors : int, default=15
        ``embedding="umap"``: neighbours of each row in the graph (umap-learn's
        ``n_neighbors``): small values keep fine local structure, large ones the global
        arrangement.
    min_dist : float, default=0.1
        ``embedding="umap"``: how tightly codes may pack (umap-learn's ``min_dist``, with
        ``spread=1``).
    negative_sample_rate : int, default=5
        ``embedding="umap"``: negative samples (rows drawn uniformly, pushed apart) per
        sampled edge (umap-learn's ``negative_sample_rate``).
    reconstruction_weight : float, default=1.0
        ``embedding="umap"``: weight of the mean reconstruction loss against UMAP's
        cross-entropy (per sampled edge) in the joint objective; 0 trains the encoder on
        UMAP's objective alone (the decoder is still fitted to the codes first).
    n_epochs : int, default=None
        ``embedding="umap"``: epochs of UMAP's layout optimisation, the start the encoder
        is fitted to (umap-learn's ``n_epochs``); None: 500 below 10,000 rows, 200 from
        there, as umap-learn. ``max_iter`` counts the joint epochs that follow.
    noise_std : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs during training only
        (a denoising autoencoder); the target stays the clean input.
    loss_trim : float, default=0.0
        Robust training: after the first 2 epochs, leave the ``loss_trim`` share of
        worst-reconstructed rows of each minibatch out of the loss (for training data
        that contains anomalies, as in outlier detection).
    dropout : float, default=0.0
        Dropout rate after each hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    solver : {"adam", "adamw", "sgd"}, default="adam"
        Optimiser: Adam/AdamW (fused kernels where supported) or SGD with Nesterov
        momentum 0.9.
    learning_rate : {"adaptive", "constant"}, default="adaptive"
        Schedule of the learning rate. "adaptive": when the monitored loss has not
        improved for ``n_iter_no_change`` epochs, halve the rate and go on, up to three
        times; training stops at the next such plateau (so the loss settles instead of
        stopping at the first flat stretch). "constant": stop at the first plateau.
        ``partial_fit`` always trains at ``learning_rate_init``.
    learning_rate_init : float, default=1e-3
        The (initial) learning rate (a tenth of it with ``embedding="umap"``).
    alpha : float or "auto", default="auto"
        L2 penalty on the weights (not the biases): the objective is the mean loss plus
        ``alpha / 2 * ||W||^2``, a Gaussian prior on the weights (decoupled weight decay
        with ``solver="adamw"``). "auto": a prior of fixed precision 1.6 in units of the
        loss of reconstructing a row by the mean row, ``alpha = 1.6 * v / n_train`` with
        v the mean variance of the training columns (0.01 for wine's 160 standardised
        training rows, 1e-3 for digits' 1,617): it keeps a network trained on a small
        table near the simple maps the data supports, fades as rows are added, and
        does not depend on the scale of the data (``partial_fit`` uses the chunk's
        rows).
    batch_size : int or "auto", default="auto"
        Minibatch size (clipped to the number of training rows). "auto": about 16
        minibatches an epoch, between 32 and 256 rows (wine's 160 training rows get 32,
        tables of 4,000 rows or more 256).
    max_iter : int or "auto", default="auto"
        Maximum number of epochs. "auto": the epochs of about 30,000 optimiser steps,
        between 50 and 5,000; the stopping rule ends almost every fit long before. A
        ConvergenceWarning says when the cap was reached with the loss still falling.
        With ``embedding="umap"`` the epochs to run ("auto": 100).
    shuffle : bool, default=True
        Reshuffle the rows every epoch.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when the validation loss has
        not improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the weights of
        the best epoch. When False, training stops when the training loss stops improving
        and keeps the last weights.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=10
        Patience, in epochs.
    tol : float, default=1e-4
        Minimum *relative* decrease of the monitored loss that counts as progress:
        training stops when the loss has not fallen below ``(1 - tol)`` times the loss
        of the last epoch that did for ``n_iter_no_change`` epochs (so a loss still
        falling slowly goes on), a rule that does not depend on how the data is scaled.
    device : str or torch.device, default="auto"
        "auto" trains on CUDA when available, else on the CPU; "cpu", "cuda", "cuda:1"
        are accepted. The fitted network always ends on the CPU.
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs training forward passes under bf16 autocast (weights, optimiser
        and inference stay float32): faster on GPUs with bf16 tensor cores, slower on
        most CPUs at small batch sizes.
    n_jobs : int, default=None
        CPU threads torch uses for training and inference (set for the duration of each
        call, then restored); -1 uses all cores. None chooses per call: one thread for
        small networks (under ~2e7 floating-point operations per step, where a second
        thread costs more than it saves) and whenever the machine is busy (load average
        at or above the core count), else torch's own setting; never more than torch's
        setting (``torch.set_num_threads``, ``OMP_NUM_THREADS``).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the validation split, noise and dropout, drawn
        from generators of the fit's own (torch's global RNG is never used, so fits in
        several threads are reproducible). ``partial_fit`` and warm starts continue the
        stream: consecutive calls draw new shuffles and noise.
    verbose : int, default=0
        1 shows a progress bar with the current losses.
    warm_start : bool, default=False
        When True, ``fit`` continues from the current weights and optimiser state. A new
        learning rate, ``alpha``, loss, batch size or schedule applies to the running
        network (a new ``solver`` starts its optimiser state afresh); a change to the
        architecture (``n_components``, ``hidden_layer_sizes``, ``activation``,
        ``dropout``, ``batch_norm``, ``latent_normalize``, a sigmoid output) rebuilds the
        network with a warning.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (:class:`skae._nn.networks.Autoencoder`), on CPU in eval mode.
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_loss_curve_ : list of float or None
        Validation loss of each epoch (None without early stopping).
    best_epoch_ : int
        Epoch (0-based) whose weights the network holds.
    n_iter_ : int
        Number of epochs run.
    device_ : str
        Device the network was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    VAETransformer : The variational counterpart, with a generative model.
    ReconstructionAnomalyDetector : Outlier detection from reconstruction errors.
    sklearn.decomposition.PCA : The linear special case.

    Notes
    -----
    ``score_samples`` is minus the per-sample reconstruction loss (the loss averaged over
    features), computed in float64 so results do not depend on how rows are batched;
    ``transform`` and ``inverse_transform`` return float32, the network's precision.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> X = np.random.RandomState(0).normal(size=(200, 6))
    >>> ae = AutoencoderTransformer(n_components=2, max_iter=5, random_state=0)
    >>> ae.fit_transform(X).shape
    (200, 2)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 6)

    Codes for clustering, which keep neighbourhoods as UMAP's do:

    >>> umap_ae = AutoencoderTransformer(2, embedding="umap", max_iter=5, random_state=0)
    >>> umap_ae.fit_transform(X).shape
    (200, 2)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "output_activation": [None, StrOptions({"identity", "sigmoid"})],
        "loss": [StrOptions(set(RECONSTRUCTION_LOSSES))],
        "latent_normalize": ["boolean"],
        "code_metric": [None, StrOptions({"decoder"})],
        "latent_noise": [Interval(Real, 0, None, closed="left")],
        "embedding": [None, StrOptions({"umap"})],
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "min_dist": [Interval(Real, 0, None, closed="left")],
        "negative_sample_rate": [Interval(Integral, 0, None, closed="left")],
        "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
        "n_epochs": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(64, 32),
        activation="tanh",
        output_activation=None,
        loss="mse",
        latent_normalize=False,
        code_metric="decoder",
        latent_noise=0.1,
        embedding=None,
        n_neighbors=15,
        min_dist=0.1,
        negative_sample_rate=5,
        reconstruction_weight=1.0,
        n_epochs=None,
        noise_std=0.0,
        loss_trim=0.0,
        dropout=0.0,
        batch_norm=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        alpha="auto",
        batch_size="auto",
        max_iter="auto",
        shuffle=True,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        precision="float32",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            noise_std=noise_std,
            loss_trim=loss_trim,
            dropout=dropout,
            batch_norm=batch_norm,
            solver=solver,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            alpha=alpha,
            batch_size=batch_size,
            max_iter=max_iter,
            shuffle=shuffle,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            device=device,
            precision=precision,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
        )
        self.output_activation = output_activation
        self.loss = loss
        self.latent_normalize = latent_normalize
        self.code_metric = code_metric
        self.latent_noise = latent_noise
        self.embedding = embedding
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.negative_sample_rate = negative_sample_rate
        self.reconstruction_weight = reconstruction_weight
        self.n_epochs = n_epochs

    _ARCHITECTURE = (*BaseAutoencoder._ARCHITECTURE, "latent_normalize")

    def _sigmoid_output(self):
        """Whether the decoder ends in a sigmoid (always for the Bernoulli loss)."""
        return self.loss == "bce" or self.output_activation == "sigmoid"

    def _module_config(self):
        return {**super()._module_config(), "sigmoid": self._sigmoid_output()}

    def _build_module(self, n_features, generator):
        return Autoencoder(
            n_features,
            self._hidden_sizes(),
            self.n_components,
            activation=self.activation,
            output_activation="sigmoid" if self._sigmoid_output() else None,
            latent_normalize=self.latent_normalize,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            generator=generator,
        )

    # Parameters that may differ between members of one stack (everything else is one
    # training run's: a stack has one optimiser, one batch size, one schedule).
    _PER_MEMBER = (
        "hidden_layer_sizes",
        "n_components",
        "random_state",
        "verbose",
        "n_jobs",
        "warm_start",
    )

    def _stack_spec(self):
        """Autoencoders that differ only in widths, code size and seed train as one stack:
        parameter-free activations, no dropout or batch norm (they also score as one
        network; see :meth:`_trains_alone` for training)."""
        if self.activation not in STACKABLE_ACTIVATIONS or self.dropout > 0 or self.batch_norm:
            return None
        if self.embedding is not None:  # its loss needs every row's code: it trains alone
            return None
        named = ("activation", "loss", "latent_normalize", *self._PER_MEMBER)
        settings = self.get_params(deep=False)
        return StackSpec(
            kind=type(self).__name__,
            depth=len(self._hidden_sizes()),
            activation=self.activation,
            loss=self.loss,
            latent_normalize=bool(self.latent_normalize),
            sigmoid_output=self._sigmoid_output(),
            settings=tuple(sorted((k, repr(v)) for k, v in settings.items() if k not in named)),
        )

    def _check_training_data(self, X):
        if self.loss == "bce":
            self._check_bounded_01(X, "loss='bce' (the Bernoulli likelihood)")

    def _after_training(self, module, X32, partial):
        """``code_metric="decoder"``: the codes whitened by the decoder's metric
        (:mod:`skae._nn.code_metric`); not by ``partial_fit`` (a running network keeps its
        code space), with ``latent_normalize`` nor with an ``embedding`` (whose distances
        are the point: whitening would undo them)."""
        if self.embedding is not None or self.latent_normalize or partial:
            return
        if self.code_metric == "decoder":
            fold_decoder_metric(module, X32)

    # ------------------------------------------------------ embedding="umap"
    # max_iter="auto" with an embedding: full-batch epochs on UMAP's objective after the
    # encoder was fitted to UMAP's layout (measured with benchmarks/bench_clustering.py).
    EMBEDDING_EPOCHS = 100
    # ...at this share of learning_rate_init: the codes start at UMAP's layout and the
    # decoder fitted to them, and the full rate moved them away from it (digits at d = 2,
    # KMeans ARI 0.82 at 1e-3, 0.85 at 1e-4; umap-learn 0.85).
    EMBEDDING_RATE_SCALE = 0.1

    def _n_train(self, n_samples, partial=False):
        if self.embedding is not None:  # no validation split: its rows are in the graph
            return max(1, n_samples)
        return super()._n_train(n_samples, partial)

    def _batch_size(self, n_samples, partial=False):
        if self.embedding is not None:  # the loss needs every row's code each step
            return max(1, n_samples)
        return super()._batch_size(n_samples, partial)

    def _max_epochs(self, n_samples):
        if self.embedding is not None and self.max_iter == "auto":
            return self.EMBEDDING_EPOCHS
        return super()._max_epochs(n_samples)

    def _train_config(self, partial, X32):
        config = super()._train_config(partial, X32)
        if self.embedding is None:
            return config
        # the rows in graph order every epoch, UMAP's falling rate and epoch budget
        return dataclasses.replace(
            config,
            learning_rate=self.learning_rate_init * self.EMBEDDING_RATE_SCALE,
            shuffle=False,
            early_stopping=False,
            lr_schedule="linear",
        )

    def _train_on(self, X, partial, progress=None):
        if self.embedding is None:
            return super()._train_on(X, partial, progress)
        if partial:
            raise ValueError(_partial_fit_message(self))
        if self.latent_normalize:
            raise ValueError(
                "latent_normalize=True puts the codes on the unit sphere, where UMAP's "
                f"layout cannot be drawn: set latent_normalize=False with embedding="
                f"{self.embedding!r}."
            )
        X32, continuing = self._prepare_training(X, partial)
        start = self._training_start(X32.shape[1], continuing)
        flops = mlp_flops(self._layer_widths(X32.shape[1]), len(X32))
        with (
            num_threads(resolve_threads(self.n_jobs, flops)),
            _random.drawing_from(start.generator),
        ):
            self._objective = umap_objective(self, start.module, X32, start)
        result = self._run_training(
            start,
            start.module,
            X32,
            partial=False,
            progress=progress,
            optimizer_state=start.optimizer_state,
        )
        del self._objective  # the graph is the fit's, not the model's
        self._finish_training(
            start,
            start.module,
            result.members[0],
            optimizer_state=result.optimizer_state,
            partial=False,
        )
        return True  # the epoch budget is the stopping rule

    # the base's partial_fit, hidden with embedding="umap" (a chunk has no graph of the
    # table): hasattr(estimator, "partial_fit") is then False, as Pipelines and Dask ask
    partial_fit = available_if(_partial_fit_available)(BaseAutoencoder.partial_fit)

    # ---------------------------------------------------------------- losses
    def _train_loss(self, module, x, epoch):
        z = module.encode(self._noisy(x))
        if self.embedding is None:
            return self._reconstruction_loss(module, z, x, epoch)
        loss = self._objective.loss(z)
        if self.reconstruction_weight > 0:
            loss = loss + self.reconstruction_weight * self._reconstruction_loss(
                module, z, x, epoch
            )
        return loss

    def _reconstruction_loss(self, module, z, x, epoch):
        """Mean training reconstruction loss of x from its code z."""
        if self.latent_noise > 0 and self.activation != "identity":
            # noise on the code, scaled by each code unit's spread in the batch (so the
            # encoder cannot outgrow it): the decoder must be smooth at that scale
            spread = z.detach().std(dim=-2, keepdim=True, correction=0)
            z = torch.addcmul(z, spread, _random.randn_like(z), value=self.latent_noise)
        logits = module.decoder(z)
        if x.dim() == 2 and not self._trims(epoch):
            return mean_loss(self.loss, logits, x, module.activate)  # fused: faster
        per_sample = elementwise_loss(self.loss, logits, x, module.activate).mean(dim=-1)
        return self._reduce(per_sample, epoch)

    def _member_outputs(self, module, x):
        z = module.encode(x)
        errors = elementwise_loss(self.loss, module.decoder(z), x, module.activate)
        return errors, z, -errors.mean(dim=-1)

    def _encode_tensor(self, module, x):
        return module.encode(x)
