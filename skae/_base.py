"""The thin sklearn facade shared by the autoencoder estimators.

Parameters are validated here (``_parameter_constraints``), data through ``validate_data``;
the training itself is :func:`skae._engine.train`, and each estimator supplies only its
network and its losses through a handful of hooks.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._version import __version__
from ._engine import (SOLVERS, TrainConfig, map_batches, num_threads, resolve_device,
                      seeded, train)
from ._losses import trimmed_mean
from ._networks import ACTIVATIONS
from ._validation import check_codes, check_finite_output, validate

@contextlib.contextmanager
def keep_state_on_error(estimator):
    """Put every attribute back as it was if fitting fails (or is cut short by an error).

    ``validate_data(reset=True)`` sets ``n_features_in_`` before training starts, and a
    detector sets several fitted attributes one after another: a failed (re)fit must
    leave the previous fitted model whole, or the estimator unfitted.
    """
    saved = dict(vars(estimator))  # attributes are replaced on fit, never mutated
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


def _float64_copy(module):
    """The network in float64 for inference: scores then do not depend on how rows are
    batched (float32 products can differ by one rounding step between batch sizes)."""
    return copy.deepcopy(module).double().eval()


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of :class:`AutoencoderTransformer` and :class:`VAETransformer`.

    Subclasses implement ``_build_module``, ``_train_loss``, ``_feature_loss_and_code``,
    ``_score_tensor``, ``_encode_tensor`` and ``_decode_tensor``; everything else
    (validation, training, batching, fitted attributes) lives here.
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
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "n_jobs": [None, Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(self, n_components=2, *, hidden_layer_sizes=(64, 32), activation="relu",
                 noise_std=0.0, loss_trim=0.0, dropout=0.0, batch_norm=False, solver="adam",
                 learning_rate_init=1e-3, alpha=0.0, batch_size=256, max_iter=200,
                 shuffle=True, early_stopping=True, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, device="auto", precision="float32", n_jobs=None,
                 random_state=None, verbose=0, warm_start=False):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.noise_std = noise_std
        self.loss_trim = loss_trim
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.solver = solver
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
    def _build_module(self, n_features):  # pragma: no cover - abstract
        raise NotImplementedError

    def _train_loss(self, module, x, epoch):  # pragma: no cover - abstract
        """Mean training loss of the batch x (a scalar tensor)."""
        raise NotImplementedError

    def _feature_loss_and_code(self, module, x):  # pragma: no cover - abstract
        """Deterministic elementwise reconstruction loss, shape (n, n_features), and the
        latent code it was decoded from, shape (n, n_components): one encoder pass."""
        raise NotImplementedError

    def _feature_loss(self, module, x):
        """Deterministic elementwise reconstruction loss, shape (n, n_features)."""
        return self._feature_loss_and_code(module, x)[0]

    def _eval_loss(self, module, x):
        """Deterministic per-sample loss monitored on the validation split."""
        return -self._score_tensor(module, x)

    def _score_tensor(self, module, x):  # pragma: no cover - abstract
        """Per-sample score, higher = more typical, shape (n,)."""
        raise NotImplementedError

    def _encode_tensor(self, module, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode_tensor(self, module, z):  # pragma: no cover - abstract
        raise NotImplementedError

    # Trimming starts after this many epochs: the network first learns the bulk of the data.
    TRIM_WARMUP_EPOCHS = 2

    def _trims(self, epoch):
        """Whether this epoch's batch losses are trimmed (``loss_trim > 0``, after warm-up)."""
        return self.loss_trim > 0 and epoch >= self.TRIM_WARMUP_EPOCHS

    def _reduce(self, per_sample, epoch):
        """Batch loss from per-sample losses: the mean, trimmed when :meth:`_trims`."""
        if self._trims(epoch):
            return trimmed_mean(per_sample, self.loss_trim)
        return per_sample.mean()

    def _check_training_data(self, X):
        """Loss-specific checks on the values of X (e.g. [0, 1] for Bernoulli)."""

    # ------------------------------------------------------------ validation
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
                   for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a tuple of positive integers (an empty tuple "
                f"gives a linear autoencoder); got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _check_bounded_01(self, X, what):
        lo, hi = float(X.min()), float(X.max())
        if lo < -1e-6 or hi > 1 + 1e-6:  # tolerate rounding from scalers
            raise ValueError(
                f"{what} models data in [0, 1], but X has values in [{lo:.4g}, {hi:.4g}]. "
                "Put a MinMaxScaler before this estimator in a Pipeline, or use a Gaussian "
                "loss (loss='mse' / likelihood='gaussian')."
            )

    def _train_config(self, partial):
        return TrainConfig(
            solver=self.solver,
            learning_rate=self.learning_rate_init,
            alpha=self.alpha,
            batch_size=self.batch_size,
            max_epochs=1 if partial else self.max_iter,
            shuffle=self.shuffle,
            early_stopping=self.early_stopping and not partial,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            verbose=self.verbose,
            skip_singleton_batches=self.batch_norm,
            precision=self.precision,
        )

    # --------------------------------------------------------------- fitting
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
        self._validate_params()
        return self._fit(X, partial=False)

    def partial_fit(self, X, y=None):
        """Run one epoch over X, continuing from the current weights if fitted.

        Use it for data that arrives in chunks. No validation split is held out and no
        early stopping happens; the optimiser state carries over between calls.

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
        self._validate_params()
        return self._fit(X, partial=True)

    def _fit(self, X, partial):
        with keep_state_on_error(self):
            return self._fit_validated(X, partial)

    def _fit_validated(self, X, partial):
        continuing = (partial or self.warm_start) and hasattr(self, "module_")
        X = validate(self, X, reset=not continuing)
        if self.batch_norm and X.shape[0] < 2:
            raise ValueError("batch_norm=True needs at least 2 samples to train; got 1.")
        self._check_training_data(X)
        X32 = np.require(X, dtype=np.float32, requirements=["C", "W"])
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        epoch_offset = self.n_iter_ if continuing else 0
        with seeded(seed, device), num_threads(self.n_jobs):
            # Train a copy: a failed run leaves the previous fitted state untouched.
            module = (copy.deepcopy(self.module_) if continuing
                      else self._build_module(X.shape[1]))
            result = train(
                module, self._train_loss, X32,
                config=self._train_config(partial),
                device=device,
                eval_loss_fn=self._eval_loss,
                optimizer_state=self._optimizer_state if continuing else None,
                epoch_offset=epoch_offset,
                validate=not partial,
            )
        if continuing:
            self.loss_curve_ = self.loss_curve_ + result.loss_curve
            if result.validation_loss_curve is not None:
                self.validation_loss_curve_ = ((self.validation_loss_curve_ or [])
                                               + result.validation_loss_curve)
        else:
            self.loss_curve_ = result.loss_curve
            self.validation_loss_curve_ = result.validation_loss_curve
        self.module_ = module
        self._module64 = _float64_copy(module)
        self._optimizer_state = result.optimizer_state
        self.best_epoch_ = result.best_epoch
        self.n_iter_ = epoch_offset + result.n_epochs
        self.device_ = str(device)
        if not (partial or result.stopped_early or result.interrupted):
            warnings.warn(
                f"{type(self).__name__}: reached max_iter={self.max_iter} epochs before the "
                "loss stopped improving; increase max_iter if the loss curve is still "
                "falling.", ConvergenceWarning, stacklevel=3)
        return self

    # ------------------------------------------------------------- inference
    def _map(self, fn, X, float32=False):
        """``fn(float64 network, rows)`` over X in batches, checked finite; ``float32``
        casts first, so an overflow of the cast is caught by the same check."""
        module = self._module64
        with num_threads(self.n_jobs):
            out = map_batches(lambda x: fn(module, x), X)
        if float32:
            with np.errstate(over="ignore"):  # an overflow to inf is reported below
                out = out.astype(np.float32)
        return check_finite_output(out, X, "float32 output" if float32 else "output")

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate(self, X, reset=False)

    def _score_samples(self, X):
        """Scores of validated X (used by the detector to skip re-validation)."""
        return self._map(self._score_tensor, X)

    def _feature_errors(self, X):
        """Elementwise losses of validated X, shape (n_samples, n_features)."""
        return self._map(self._feature_loss, X)

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
        X = self._validate_X(X)
        return self._map(self._encode_tensor, X, float32=True)

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
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform takes latent codes with n_components={self.n_components} "
                f"columns (the output of transform); got {Z.shape[1]} columns."
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
        return self._score_samples(self._validate_X(X))

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
        return self.n_components

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
                UserWarning, stacklevel=2)
        super().__setstate__(state)
        if "module_" in self.__dict__:
            self._module64 = _float64_copy(self.module_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
