"""The base class of the autoencoder estimators: parameters, hooks, fit, inference.

Parameters are validated here (``_parameter_constraints``), data through ``validate_data``;
how a network trains is :mod:`skae._estimators.training` (and, below it, the engine
:func:`skae._train.engine.train`); each estimator supplies only its network and its losses
through the abstract hooks of :class:`BaseAutoencoder`.
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._nn import random as _random
from .._nn.losses import trimmed_mean
from .._nn.networks import ACTIVATIONS
from .._train.optim import SOLVERS
from .._version import __version__
from .batches import map_batches
from .training import TrainingMixin, float64_copy, keep_state_on_error, warn_not_converged
from .validation import check_codes, check_finite_output, validate_fitted


class BaseAutoencoder(
    TrainingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, ABC
):
    """Base class of :class:`AutoencoderTransformer` and :class:`VAETransformer`.

    Subclasses implement the abstract hooks; everything else (validation, training,
    batching, fitted attributes) lives here.

    It implements :class:`skae._estimators.member.Member`, the interface through which
    the detector's ensemble trains and scores its members (alone or stacked) and the ONNX
    converters trace them. A subclass supplies its network and losses through the hooks
    below; ``module`` is ``module_`` (float32), ``_network64()`` (its float64 copy, for
    Python inference), or, for members of equal :meth:`_stack_spec`, a
    :class:`~skae._nn.stacked.StackedAutoencoder` (every tensor then has a leading member
    axis):

    - ``_build_module(n_features, generator)``: a new network;
    - ``_member_outputs(module, x) -> (feature_loss, code, score)``: the elementwise
      reconstruction loss (n, n_features), the code (n, n_components) it was decoded from,
      and the per-sample score (n,), higher = more typical; one encoder pass;
    - ``_encode_tensor(module, x)``, ``_decode_tensor(module, z)``: transform and
      inverse_transform;
    - ``_train_loss(module, x, epoch)``, ``_eval_loss(module, x)``: training and
      validation losses;
    - ``_stack_spec()``: what stacked members share, or None (the default: this
      estimator never stacks).
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "loss_trim": [Interval(Real, 0, 1, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "solver": [StrOptions(set(SOLVERS))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "device": [str, torch.device],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # Parameters that shape the network: a warm start or partial_fit after one of them
    # changed rebuilds the network (with a warning). Everything else applies as it is.
    _ARCHITECTURE = ("n_components", "hidden_layer_sizes", "activation", "dropout", "batch_norm")

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(64, 32),
        activation="relu",
        noise_std=0.0,
        loss_trim=0.0,
        dropout=0.0,
        batch_norm=False,
        solver="adam",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        alpha=0.0,
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
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.noise_std = noise_std
        self.loss_trim = loss_trim
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.precision = precision
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ----------------------------------------------------------------- hooks
    @abstractmethod
    def _build_module(self, n_features, generator):
        """A new network, its initial weights drawn from ``generator``."""

    @abstractmethod
    def _train_loss(self, module, x, epoch):
        """Mean training loss of the batch x: a scalar, or (K,) for a stack."""

    @abstractmethod
    def _member_outputs(self, module, x):
        """(elementwise loss, code, per-sample score), deterministic, one encoder pass."""

    @abstractmethod
    def _encode_tensor(self, module, x):
        """The code that ``transform`` returns."""

    def _module_config(self):
        """What the network is built from: a change means a new network."""
        return {name: getattr(self, name) for name in self._ARCHITECTURE}

    def _stack_spec(self):
        """What members must share to train as one stacked network
        (:class:`~skae._estimators.member.StackSpec`); None: this estimator never stacks."""
        return None

    def _decode_tensor(self, module, z):
        return module.activate(module.decoder(z))

    def _score_tensor(self, module, x):
        """Per-sample score, higher = more typical, shape (n,)."""
        return self._member_outputs(module, x)[2]

    def _eval_loss(self, module, x):
        """Deterministic per-sample loss monitored on the validation split."""
        return -self._score_tensor(module, x)

    def _noisy(self, x):
        """The training input: x plus Gaussian noise for a denoising autoencoder."""
        return x + self.noise_std * _random.randn_like(x) if self.noise_std > 0 else x

    # Trimming starts after this many epochs: the network first learns the bulk of the data.
    TRIM_WARMUP_EPOCHS = 2

    def _trims(self, epoch):
        """Whether this epoch's batch losses are trimmed (``loss_trim > 0``, after warm-up)."""
        return self.loss_trim > 0 and epoch >= self.TRIM_WARMUP_EPOCHS

    def _reduce(self, per_sample, epoch):
        """Batch loss from per-sample losses (last axis): the mean, trimmed when
        :meth:`_trims`."""
        if self._trims(epoch):
            return trimmed_mean(per_sample, self.loss_trim, dim=-1)
        return per_sample.mean(dim=-1)

    def _after_training(self, module, X32, partial):
        """Adjust a trained network in place before it is installed (nothing here)."""

    def _check_training_data(self, X):
        """Loss-specific checks on the values of X (e.g. [0, 1] for Bernoulli)."""

    # ------------------------------------------------------------ validation
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers (an empty tuple "
                f"gives a linear autoencoder); got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _layer_widths(self, n_features):
        """Layer widths from input to output."""
        hidden = self._hidden_sizes()
        return [n_features, *hidden, self.n_components, *reversed(hidden), n_features]

    def _check_bounded_01(self, X, what):
        lo, hi = float(X.min()), float(X.max())
        if lo < -1e-6 or hi > 1 + 1e-6:  # tolerate rounding from scalers
            raise ValueError(
                f"{what} models data in [0, 1], but X has values in [{lo:.4g}, {hi:.4g}]. "
                "Put a MinMaxScaler before this estimator in a Pipeline, or use a Gaussian "
                "loss (loss='mse' / likelihood='gaussian')."
            )

    # --------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the network to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. float64 input is accepted and converted to float32, the
            network's precision.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Run one epoch over X, continuing from the current weights if fitted.

        Use it for data that arrives in chunks. No validation split is held out and no
        early stopping happens; the optimiser state and the random streams carry over
        between calls, so each chunk gets fresh shuffling and noise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, partial=True)

    def _fit(self, X, partial):
        with keep_state_on_error(self):
            converged = self._train_on(X, partial)
        if not converged:
            warn_not_converged([self])
        return self

    # ------------------------------------------------------------- inference
    def _network64(self):
        """The float64 copy of ``module_`` that Python inference runs."""
        if self.__dict__.get("_module64") is None:
            self._module64 = float64_copy(self.module_)
        return self._module64

    def _map(self, fn, X, float32=False):
        """``fn(float64 network, rows)`` over X in chunks, checked finite; ``float32``
        casts first, so an overflow of the cast is caught by the same check."""
        module = self._network64()
        widths = [self._layer_widths(self.n_features_in_)]
        out = map_batches(lambda x: fn(module, x), X, widths, self.n_jobs)
        if float32:
            with np.errstate(over="ignore"):  # an overflow to inf is reported below
                out = out.astype(np.float32)
        return check_finite_output(out, X, "float32 output" if float32 else "output")

    def _feature_errors(self, X):
        """Elementwise losses of validated X, shape (n_samples, n_features)."""
        return self._map(lambda module, x: self._member_outputs(module, x)[0], X)

    def transform(self, X):
        """Encode X into the latent space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components), dtype float32
            Latent codes.
        """
        return self._map(self._encode_tensor, validate_fitted(self, X), float32=True)

    def inverse_transform(self, X):
        """Decode latent codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, such as the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_), dtype float32
            Reconstructions (the mean of the output distribution).
        """
        check_is_fitted(self)
        Z = check_codes(X)
        width = self._n_features_out
        if Z.shape[1] != width:
            raise ValueError(
                f"inverse_transform takes latent codes with {width} columns (the output of "
                f"transform: the fitted network has n_components={width}); got "
                f"{Z.shape[1]} columns."
            )
        return self._map(self._decode_tensor, Z, float32=True)

    def score_samples(self, X):
        """Per-sample score: higher means more typical of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,), dtype float64
            See the estimator's description for what is scored.
        """
        return self._map(self._score_tensor, validate_fitted(self, X))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples`, so model selection works without a scorer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean per-sample score (higher is better).
        """
        return float(np.mean(self.score_samples(X)))

    @property
    def _n_features_out(self):
        # the fitted network's width: after set_params(n_components=...) without a refit,
        # get_feature_names_out still describes what transform returns
        config = getattr(self, "_module_config_fitted", None)
        return config["n_components"] if config is not None else self.n_components

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        state.pop("_module64", None)  # derived from module_: rebuilt on load
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            # moved to a GPU by hand after fit: pickle a CPU copy, loadable anywhere
            state["module_"] = copy.deepcopy(module).to("cpu")
        state["_skae_version"] = __version__
        return state

    def __setstate__(self, state):
        saved_version = state.pop("_skae_version", "unknown")
        if saved_version != __version__:
            warnings.warn(
                f"This {type(self).__name__} was saved with skae {saved_version} and is "
                f"loaded with skae {__version__}; its behaviour may differ. Refit it, or "
                "export it to ONNX (skae.onnx.to_onnx) for a version-independent model.",
                UserWarning,
                stacklevel=2,
            )
        super().__setstate__(state)  # the float64 copy is rebuilt on first use

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
