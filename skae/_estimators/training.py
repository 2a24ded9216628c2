"""How an estimator trains: alone, or as a member of a detector's stacked ensemble.

:class:`TrainingMixin` implements the training half of :class:`skae._estimators.member.Member`
for :class:`skae._estimators.base.BaseAutoencoder`: validating the rows and deciding whether
training continues (warm start, ``partial_fit``), where a run starts (the network, its
random streams, the optimiser state), running :func:`skae._train.engine.train` with the
estimator's losses and threads, and installing the result as fitted attributes. A failed
fit leaves the previous fitted state whole (:func:`keep_state_on_error`).
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .._nn import random as _random
from .._train.devices import resolve_device
from .._train.engine import TrainConfig, train
from .._train.threads import mlp_flops, num_threads, resolve_threads
from .._warnings import warn_at_caller
from ..exceptions import TrainingDivergedError, TrainingOutOfMemoryError
from .member import TrainingStart
from .validation import validate, warn_wide_code


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


def warn_not_converged(estimators):
    """One ConvergenceWarning for the estimators that ran out of epochs."""
    names = sorted({f"{type(e).__name__}(max_iter={e.max_iter!r})" for e in estimators})
    what = (
        names[0]
        if len(estimators) == 1
        else f"{len(estimators)} networks of the ensemble ({', '.join(names)})"
    )
    warn_at_caller(
        f"{what} reached max_iter epochs before the loss stopped improving; increase "
        "max_iter if the loss curve is still falling.",
        ConvergenceWarning,
    )


def float64_copy(module):
    """The network in float64 for inference: scores then do not depend on how rows are
    batched (float32 products can differ by one rounding step between batch sizes)."""
    return copy.deepcopy(module).double().eval()


class TrainingMixin:
    """Training for :class:`~skae._estimators.base.BaseAutoencoder`, alone or stacked
    (the training methods of :class:`~skae._estimators.member.Member`)."""

    # batch_size="auto": about AUTO_BATCHES minibatches an epoch, between these sizes;
    # max_iter="auto": the epochs of about STEP_BUDGET optimiser steps, between these
    # bounds (the stopping rule ends almost every fit long before). Measured with
    # benchmarks/bench_clustering.py and the convergence tests.
    AUTO_BATCHES, AUTO_MIN_BATCH, AUTO_MAX_BATCH = 16, 32, 256
    STEP_BUDGET, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS = 30_000, 50, 5_000
    # alpha="auto": a Gaussian prior on the weights of this precision, in units of the
    # loss of reconstructing a row by the mean row (the data's mean variance): the
    # objective is the sum of the rows' losses plus PRIOR_PRECISION * variance / 2
    # ||W||^2, so the mean loss gets alpha = PRIOR_PRECISION * variance / n_train: strong
    # on a table of 160 rows, negligible on 100,000, and the same fit whatever the scale
    # of the data. Measured with benchmarks/bench_clustering.py (0.8, 1.6 and 4 tried).
    PRIOR_PRECISION = 1.6

    def _n_train(self, n_samples, partial=False):
        """Rows trained on per epoch (the validation split held out)."""
        if partial or not self.early_stopping:
            return max(1, n_samples)
        n_val = int(round(n_samples * self.validation_fraction))
        return n_samples - n_val if 1 <= n_val < n_samples else n_samples

    def _batch_size(self, n_samples, partial=False):
        """The minibatch size: ``batch_size``, or for "auto" from the number of rows."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        n_train = self._n_train(n_samples, partial)
        batches = -(-n_train // self.AUTO_BATCHES)
        return int(np.clip(batches, self.AUTO_MIN_BATCH, self.AUTO_MAX_BATCH))

    def _max_epochs(self, n_samples):
        """The epoch cap: ``max_iter``, or for "auto" from a budget of optimiser steps."""
        if self.max_iter != "auto":
            return int(self.max_iter)
        steps = -(-self._n_train(n_samples) // self._batch_size(n_samples))
        epochs = -(-self.STEP_BUDGET // steps)
        return int(np.clip(epochs, self.AUTO_MIN_EPOCHS, self.AUTO_MAX_EPOCHS))

    def _alpha(self, X32, partial=False):
        """The L2 penalty: ``alpha``, or for "auto" the prior's share of one row of X32."""
        if self.alpha != "auto":
            return float(self.alpha)
        variance = float(np.var(X32, axis=0, dtype=np.float64).mean()) if len(X32) > 1 else 0.0
        return self.PRIOR_PRECISION * variance / self._n_train(len(X32), partial)

    def _train_config(self, partial, X32):
        n_samples = len(X32)
        return TrainConfig(
            solver=self.solver,
            learning_rate=self.learning_rate_init,
            lr_schedule="constant" if partial else self.learning_rate,
            alpha=self._alpha(X32, partial),
            batch_size=self._batch_size(n_samples, partial),
            max_epochs=1 if partial else self._max_epochs(n_samples),
            shuffle=self.shuffle,
            early_stopping=self.early_stopping and not partial,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            verbose=self.verbose,
            skip_singleton_batches=self.batch_norm,
            precision=self.precision,
        )

    def _trains_alone(self):
        """Whether this network trains apart from any stack: the adaptive learning rate
        follows its own loss, and the members of a stack share one optimiser's rate."""
        return self.learning_rate == "adaptive"

    def _continuing(self, partial):
        return (partial or self.warm_start) and hasattr(self, "module_")

    def _prepare_training(self, X, partial, *, as_float32=True):
        """Validate X; decide whether training continues (warm start, partial_fit) or
        starts a new network. Returns (X as float32, or None, continuing)."""
        continuing = self._continuing(partial)
        X = validate(self, X, reset=not continuing)
        if not continuing:
            warn_wide_code(self, X.shape[1])
        if self.batch_norm and X.shape[0] < 2:
            raise ValueError("batch_norm=True needs at least 2 samples to train; got 1.")
        self._check_training_data(X)
        if continuing and self._module_config() != self._module_config_fitted:
            changed = sorted(
                k
                for k, v in self._module_config().items()
                if self._module_config_fitted.get(k) != v
            )
            warn_at_caller(
                f"{type(self).__name__}: {', '.join(changed)} changed since the network was "
                f"built, so {'partial_fit' if partial else 'the warm start'} trains a new "
                "network from scratch (the optimiser settings, loss and schedule parameters "
                "apply to a running network; the architecture cannot)."
            )
            continuing = False
        X32 = np.require(X, dtype=np.float32, requirements=["C", "W"]) if as_float32 else None
        return X32, continuing

    def _generators(self, device, continuing):
        """(generator for the initial weights, generator for training draws on device).

        A fresh fit seeds both from ``random_state``; a continuing one resumes the
        training stream where the last call left it, so consecutive ``partial_fit``
        calls never repeat their shuffles and noise.
        """
        saved = getattr(self, "_rng_state", None)
        if continuing and saved is not None and saved[0] == device.type:
            gen = torch.Generator(device=device)
            gen.set_state(saved[1])
            return None, gen
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if continuing:  # a stream to resume but none saved (another device): move on
            seed = (seed + 7919 * getattr(self, "n_iter_", 0)) % np.iinfo(np.int32).max
        return _random.generator(seed), _random.generator(seed + 1, device)

    def _resumable_optimizer_state(self, continuing):
        """The saved optimiser state when it belongs to the current solver, else None
        (Adam's moments mean nothing to SGD: a new solver starts fresh)."""
        if not continuing or getattr(self, "_optimizer_solver", None) != self.solver:
            return None
        return self._optimizer_state

    def _training_start(self, n_features, continuing):
        """The network, training stream and optimiser state a run starts from
        (:class:`~skae._estimators.member.TrainingStart`)."""
        device = resolve_device(self.device)
        init_gen, gen = self._generators(device, continuing)
        module = (
            copy.deepcopy(self.module_) if continuing else self._build_module(n_features, init_gen)
        )
        return TrainingStart(
            continuing=continuing,
            module=module,
            device=device,
            generator=gen,
            optimizer_state=self._resumable_optimizer_state(continuing),
        )

    def _train_on(self, X, partial, progress=None):
        """Train (validating X); set the fitted attributes. Returns whether training
        stopped by itself (False: it ran out of epochs)."""
        X32, continuing = self._prepare_training(X, partial)
        start = self._training_start(X32.shape[1], continuing)
        result = self._run_training(
            start,
            start.module,
            X32,
            partial=partial,
            progress=progress,
            optimizer_state=start.optimizer_state,
        )
        member = result.members[0]
        self._after_training(start.module, X32, partial)
        self._finish_training(
            start,
            start.module,
            member,
            optimizer_state=result.optimizer_state,
            partial=partial,
        )
        return partial or member.stopped_early or result.interrupted

    def _run_training(
        self,
        start,
        module,
        X32,
        *,
        partial,
        progress,
        optimizer_state,
        n_members=1,
        flops=None,
    ):
        """The engine's ``train`` of ``module`` (``start.module``, or a stack of members'
        modules) with this estimator's losses, settings and threads (a stack passes the
        whole stack's ``flops`` per step)."""
        if flops is None:
            batch = self._batch_size(len(X32), partial)
            flops = mlp_flops(self._layer_widths(X32.shape[1]), batch)
        with num_threads(resolve_threads(self.n_jobs, flops)), self._training_errors():
            return train(
                module,
                self._train_loss,
                X32,
                config=self._train_config(partial, X32),
                device=start.device,
                generator=start.generator,
                n_members=n_members,
                eval_loss_fn=self._eval_loss,
                optimizer_state=optimizer_state,
                epoch_offset=self.n_iter_ if start.continuing else 0,
                validate=not partial,
                progress=progress,
            )

    @contextlib.contextmanager
    def _training_errors(self):
        """The engine's training errors, with what to change in this estimator."""
        try:
            yield
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(
                f"{exc} Likely causes: unscaled input with very large values (put a "
                "StandardScaler or MinMaxScaler before this estimator in a Pipeline), or a "
                f"learning rate too high (learning_rate_init={self.learning_rate_init}; try "
                "10x smaller). No model was kept from this run."
            ) from exc
        except TrainingOutOfMemoryError as exc:
            batch = self.batch_size if self.batch_size != "auto" else self.AUTO_MAX_BATCH
            raise TrainingOutOfMemoryError(
                f"{exc} Lower batch_size (e.g. batch_size={max(1, batch // 4)}), "
                "narrow hidden_layer_sizes, set precision='bfloat16', or train on "
                "device='cpu'. No model was kept from this run."
            ) from exc

    def _finish_training(self, start, module, result, *, optimizer_state, partial):
        """Install one training run: the trained ``module``, its
        :class:`~skae._train.engine.MemberResult` and optimiser state (also called by a
        stacked ensemble for each member)."""
        continuing = start.continuing
        if continuing:
            self.loss_curve_ = self.loss_curve_ + result.loss_curve
            if result.validation_loss_curve is not None:
                self.validation_loss_curve_ = (
                    self.validation_loss_curve_ or []
                ) + result.validation_loss_curve
        else:
            self.loss_curve_ = result.loss_curve
            self.validation_loss_curve_ = result.validation_loss_curve
        epoch_offset = self.n_iter_ if continuing else 0
        self.module_ = module
        # the float64 copy for Python inference: now after fit (so scoring never changes
        # the fitted state), on first use after partial_fit (chunk after chunk, unused)
        self._module64 = float64_copy(module) if not partial else None
        self._module_config_fitted = self._module_config()
        self._optimizer_state = optimizer_state
        self._optimizer_solver = self.solver
        self._rng_state = (start.device.type, start.generator.get_state())
        self.best_epoch_ = result.best_epoch
        self.n_iter_ = epoch_offset + result.n_epochs
        self.device_ = str(start.device)
