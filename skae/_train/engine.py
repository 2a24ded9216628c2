"""The training engine shared by every estimator: it knows nothing of sklearn.

A model supplies a network and a loss; :func:`train` does the rest: the data moved to the
device once and batched by slicing a random permutation (no DataLoader), the optimiser
(:mod:`skae._train.optim`), a validation split, early stopping that restores the best
weights (:mod:`skae._train.stopping`), a progress bar, a clean stop on Ctrl-C, and an
error rather than a NaN model.

A network may hold K independent members with a leading member axis on every parameter
(:class:`skae._nn.stacked.StackedAutoencoder`): then each member gets its own shuffling,
its own validation rows, its own loss curve and its own early stopping, in one pass per
minibatch. A plain network is the case K = 1.

The loop is a few named steps of :class:`TrainingRun`: ``start`` (placement, the
validation split, the optimiser), ``run_epoch`` (one pass over the minibatches),
``epoch_losses`` (validation, one host sync, the divergence check), ``record`` (loss
curves, early stopping, the best weights, progress) and ``finish``.

Every random draw comes from the ``generator`` passed in (:mod:`skae._nn.random`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch

from .._nn import random as _random
from .._nn.networks import Dropout
from .._warnings import warn_at_caller
from ..exceptions import TrainingDivergedError, TrainingInterruptedWarning, TrainingOutOfMemoryError
from .devices import is_out_of_memory
from .interrupts import defer_keyboard_interrupt
from .optim import Optimizer, OptimizerStateMismatch
from .progress import ProgressBar
from .stopping import EarlyStopping, EpochState, MemberSnapshots


@dataclass
class TrainConfig:
    """What the engine needs to know about one call to :func:`train`."""

    solver: str = "adam"
    learning_rate: float = 1e-3
    alpha: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    shuffle: bool = True
    early_stopping: bool = True
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    # relative: an epoch improves when its loss is below (1 - tol) times the best so far
    tol: float = 1e-4
    verbose: int = 0
    # BatchNorm cannot train on a batch of one row: such a trailing batch is skipped.
    skip_singleton_batches: bool = False
    # "bfloat16": forward passes under bf16 autocast (weights and optimiser stay float32).
    precision: str = "float32"
    # "adaptive": when the monitored loss has not improved for n_iter_no_change epochs,
    # multiply the learning rate by lr_decay and go on, up to max_lr_decays times; training
    # stops at the next such plateau. "constant": it stops at the first. One network only
    # (K = 1): the members of a stack share one learning rate. "linear": the rate falls
    # linearly from learning_rate towards 0 over max_epochs (UMAP's schedule) and every
    # epoch runs: a sampled objective's loss is too noisy for a plateau rule.
    lr_schedule: str = "constant"
    lr_decay: float = 0.5
    max_lr_decays: int = 3


@dataclass
class MemberResult:
    """What one call to :func:`train` produced for one member (this call's epochs only)."""

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list | None = None
    best_epoch: int = 0
    n_epochs: int = 0
    stopped_early: bool = False
    # the learning rate of each epoch (the adaptive schedule only)
    learning_rates: list | None = None


@dataclass
class TrainResult:
    """What one call to :func:`train` produced."""

    members: list  # one MemberResult per member
    optimizer_state: dict | None = None
    interrupted: bool = False


def train(module, loss_fn, X, *, config: TrainConfig, device: torch.device, **kwargs):
    """Train ``module`` in place on ``X``; return a :class:`TrainResult`.

    Parameters
    ----------
    module : torch.nn.Module
        The network. It is moved to ``device`` for training and ends on CPU in eval mode.
    loss_fn : callable
        ``loss_fn(module, batch, epoch)``: the batch's mean training loss, a scalar, or
        with K > 1 members a (K,) tensor of each member's mean loss on its own rows
        (``batch`` then has shape (K, B, n_features)).
    X : ndarray of shape (n_samples, n_features), float32
        Training data; converted to a tensor on ``device`` once.
    config : TrainConfig
    device : torch.device
    generator : torch.Generator
        On ``device``: every shuffle, split and training-time draw of the networks.
    n_members : int, default=1
        K, the members stacked on the leading axis of every parameter of ``module``.
    eval_loss_fn : callable, default=None
        ``eval_loss_fn(module, x)`` -> per-sample validation losses (eval mode, no noise),
        shape (n,) or (K, n). Defaults to ``loss_fn`` at ``epoch_offset`` (its batch
        mean counted once per row).
    optimizer_state : dict, default=None
        An optimiser ``state_dict`` to resume from (warm start, ``partial_fit``).
    epoch_offset : int, default=0
        Epochs already run, so epoch-dependent losses (KL warm-up) continue.
    validate : bool, default=True
        Hold out ``config.validation_fraction`` of the rows for early stopping
        (ignored unless ``config.early_stopping``).
    progress : ProgressBar, default=None
        A bar to advance; without one, ``config.verbose`` makes a bar of its own.

    Running out of device memory raises :class:`~skae.exceptions.TrainingOutOfMemoryError`
    (the module is moved back to the CPU first); a non-finite loss raises
    :class:`~skae.exceptions.TrainingDivergedError`.
    """
    try:
        return _train(module, loss_fn, X, config=config, device=device, **kwargs)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        module.to("cpu")
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingOutOfMemoryError(
            f"{device} ran out of memory while training (batch of {config.batch_size} rows, "
            f"training data {X.shape[0]} x {X.shape[1]} = {X.nbytes / 2**20:.0f} MiB held on "
            "the device)."
        ) from exc


def _train(module, loss_fn, X, *, config, device, generator, **options):
    """The loop: one :class:`TrainingRun`, epoch after epoch, until every member stopped,
    the epochs ran out or Ctrl-C."""
    run = TrainingRun.start(module, loss_fn, X, config, device, generator, **options)
    try:
        with defer_keyboard_interrupt() as interrupt, _random.drawing_from(generator):
            for epoch in range(run.epoch_offset, run.epoch_offset + config.max_epochs):
                train_losses, val_losses = run.epoch_losses(epoch, run.run_epoch(epoch, interrupt))
                active = run.record(epoch, train_losses, val_losses)
                if interrupt["set"]:
                    run.interrupted_at(epoch)
                    break
                if not active:
                    break
    finally:
        run.close_progress()
    return run.finish()


# ------------------------------------------------------------------------ the steps
def _split(n, n_members, validation_fraction, device, gen):
    """Per member, random train and validation row indices, shape (K, n_train) and
    (K, n_val); validation is None when it would be empty."""
    n_val = int(round(n * validation_fraction))
    if n_val < 1 or n - n_val < 1:
        return torch.arange(n, device=device).expand(n_members, n), None
    perm = _permutations(n_members, n, device, gen)
    return perm[:, n_val:], perm[:, :n_val]


def _permutations(n_members, n, device, gen):
    if n_members == 1:
        return torch.randperm(n, device=device, generator=gen)[None]
    return torch.argsort(torch.rand(n_members, n, device=device, generator=gen), dim=1)


def _gather(X_t, idx):
    """Rows of X_t at idx of shape (K, B): (B, F) when K = 1, else (K, B, F).

    index_select is ~4x faster than X_t[idx] for a row gather on CPU."""
    if idx.shape[0] == 1:
        return X_t.index_select(0, idx[0])
    return X_t.index_select(0, idx.reshape(-1)).view(*idx.shape, X_t.shape[1])


@torch.no_grad()
def _mean_losses(loss_fn, module, X_t, idx, chunk=8192):
    """Per-member mean of ``loss_fn``'s per-sample losses over the rows idx (K, n), as a
    tensor on the device (read with the training losses: one host sync an epoch)."""
    total = torch.zeros(idx.shape[0], dtype=torch.float64, device=X_t.device)
    for start in range(0, idx.shape[1], chunk):
        losses = loss_fn(module, _gather(X_t, idx[:, start : start + chunk]))
        total += losses.reshape(idx.shape[0], -1).sum(dim=1, dtype=torch.float64)
    return total / idx.shape[1]


def _has_modes(module):
    """Whether training and eval mode compute differently (dropout, batch norm)."""
    kinds = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.dropout._DropoutNd, Dropout)
    return any(isinstance(m, kinds) for m in module.modules())


def _optimizer(module, config, optimizer_state):
    """The optimiser over ``module``'s parameters, resumed from ``optimizer_state``."""
    optimizer = Optimizer(
        module.named_parameters(), config.solver, config.learning_rate, config.alpha
    )
    if optimizer_state is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except OptimizerStateMismatch as exc:
            warn_at_caller(
                f"The saved optimiser state does not fit this network ({exc}); "
                "training continues with a fresh optimiser state."
            )
    return optimizer


def _autocast(config, device):
    """A context for the forward passes: bf16 autocast, or nothing (no per-step cost)."""
    if config.precision == "bfloat16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


class TrainingRun:
    """The state of one call of :func:`train`, advanced by its named steps."""

    @classmethod
    def start(
        cls,
        module,
        loss_fn,
        X,
        config,
        device,
        generator,
        *,
        n_members=1,
        eval_loss_fn=None,
        optimizer_state=None,
        epoch_offset=0,
        validate=True,
        progress=None,
    ):
        """Placement, the validation split, the optimiser, the stoppers and the bar."""
        if config.lr_schedule not in ("constant", "adaptive", "linear"):
            raise ValueError(f"Unknown lr_schedule {config.lr_schedule!r}.")
        if config.lr_schedule == "adaptive" and n_members > 1:
            raise ValueError("lr_schedule='adaptive' trains one network at a time, not a stack.")
        run = cls()
        run.module, run.loss_fn, run.config, run.device = module, loss_fn, config, device
        run.gen, run.K, run.epoch_offset = generator, n_members, epoch_offset
        module.to(device)
        run.X_t = torch.from_numpy(X).to(device)
        n = run.X_t.shape[0]
        if validate and config.early_stopping:
            run.train_idx, run.val_idx = _split(
                n, n_members, config.validation_fraction, device, generator
            )
        else:
            run.train_idx, run.val_idx = torch.arange(n, device=device).expand(n_members, n), None
        run.n_train = run.train_idx.shape[1]
        run.batch_size = max(1, min(config.batch_size, run.n_train))
        run.optimizer = _optimizer(module, config, optimizer_state)
        run.autocast = _autocast(config, device)
        if eval_loss_fn is None:

            def eval_loss_fn(m, x):  # the batch mean, once per row: the mean stays the mean
                return loss_fn(m, x, epoch_offset)[..., None].expand(x.shape[:-1])

        run.eval_loss_fn = eval_loss_fn
        run._start_bookkeeping(progress)
        run.modes = _has_modes(module)  # else train() / eval() would only cost time
        module.train()
        return run

    def _start_bookkeeping(self, progress):
        K, config = self.K, self.config
        self.stoppers = [EarlyStopping(config.n_iter_no_change, config.tol) for _ in range(K)]
        self.snapshots = MemberSnapshots(self.module, K)
        validating = self.val_idx is not None
        self.results = [
            MemberResult(validation_loss_curve=[] if validating else None) for _ in range(K)
        ]
        self.active = list(range(K))
        adaptive = config.lr_schedule == "adaptive"
        self.decays_left = config.max_lr_decays if adaptive else 0
        if config.lr_schedule != "constant":
            self.results[0].learning_rates = []
        self.own_bar = progress is None and config.verbose
        self.bar = ProgressBar(config.max_epochs) if self.own_bar else progress
        self.start_position = self.bar.position if self.bar is not None else 0
        self.interrupted = False

    def run_epoch(self, epoch, interrupt):
        """One pass over the (shuffled) minibatches; returns the (K,) mean training
        losses as a tensor on the device. Stops after the step during which Ctrl-C came."""
        config, K, module = self.config, self.K, self.module
        if config.lr_schedule == "linear":
            done = (epoch - self.epoch_offset) / config.max_epochs
            self.optimizer.lr = config.learning_rate * (1.0 - done)
        if self.modes:
            module.train()
        order = (
            self.train_idx.gather(1, _permutations(K, self.n_train, self.device, self.gen))
            if config.shuffle
            else self.train_idx
        )
        total = torch.zeros(K, device=self.device)
        for start in range(0, self.n_train, self.batch_size):
            idx = order[:, start : start + self.batch_size]
            if config.skip_singleton_batches and idx.shape[1] == 1 and self.n_train > 1:
                continue
            with self.autocast():
                loss = self.loss_fn(module, _gather(self.X_t, idx), epoch)
            self.optimizer.zero_grad()
            (loss.sum() if K > 1 else loss).backward()
            self.optimizer.step()
            total.add_(loss.detach(), alpha=idx.shape[1])
            if interrupt["set"]:
                break
        return total / self.n_train

    def epoch_losses(self, epoch, train_losses):
        """The epoch's training and validation losses as floats (one host sync), or
        TrainingDivergedError when one is not finite."""
        losses = train_losses
        if self.val_idx is not None:
            if self.modes:
                self.module.eval()
            validation = _mean_losses(self.eval_loss_fn, self.module, self.X_t, self.val_idx)
            losses = torch.cat([losses.double(), validation])
        losses = losses.tolist()  # one host sync per epoch
        if not all(map(math.isfinite, losses)):
            raise TrainingDivergedError(
                f"The training loss became non-finite (NaN or inf) at epoch {epoch}."
            )
        K = self.K
        return losses[:K], (losses[K:] if self.val_idx is not None else None)

    def record(self, epoch, train_losses, val_losses):
        """Loss curves, early stopping and the best weights of each member still
        training, and the progress bar; returns whether any member still trains."""
        early_stopping = self.config.early_stopping
        for k in list(self.active):
            state = EpochState(
                epoch, train_losses[k], None if val_losses is None else val_losses[k]
            )
            result = self.results[k]
            result.loss_curve.append(state.train_loss)
            if val_losses is not None:
                result.validation_loss_curve.append(state.validation_loss)
            result.n_epochs += 1
            if result.learning_rates is not None:
                result.learning_rates.append(self.optimizer.lr)
            is_best, stop = self.stoppers[k](state)
            stop = stop and self.config.lr_schedule != "linear"
            if is_best and early_stopping:
                self.snapshots.save(k)  # keep the best epoch's weights
            if stop and self.decays_left > 0:  # a plateau: a lower rate, and go on
                self.decays_left -= 1
                self.optimizer.lr *= self.config.lr_decay
                self.stoppers[k].restart_patience()
                stop = False
            if stop:
                result.stopped_early = True
                self.active.remove(k)
                if not early_stopping and self.K > 1:
                    self.snapshots.save(k)  # the weights it stopped with
        if self.bar is not None:
            self.bar(train_losses, val_losses)
        return bool(self.active)

    def interrupted_at(self, epoch):
        """Ctrl-C: warn and end the run with the best weights so far."""
        warn_at_caller(
            f"Training interrupted by the user at epoch {epoch}; the estimator "
            "keeps the best weights found so far.",
            TrainingInterruptedWarning,
        )
        self.interrupted = True

    def close_progress(self):
        """Close the run's own bar, or move a shared one to the end of this run."""
        if self.bar is None:
            return
        if self.own_bar:
            self.bar.finish(self._why_stopped())
        else:
            self.bar.advance_to(self.start_position + self.config.max_epochs)

    def _why_stopped(self):
        if self.interrupted:
            return "interrupted (Ctrl-C)"
        stopped = sum(r.stopped_early for r in self.results)
        if stopped == self.K:
            patience = self.config.n_iter_no_change
            why = f"stopped: no improvement for {patience} epoch{'s' * (patience != 1)}"
            halved = self.config.max_lr_decays - self.decays_left
            if self.config.lr_schedule == "adaptive" and halved:
                why += f" after the learning rate was halved {halved} time{'s' * (halved != 1)}"
            return why
        if stopped:
            return f"{stopped} of {self.K} stopped early, the rest reached the epoch limit"
        return "reached the epoch limit (max_iter)"

    def finish(self):
        """The best (or stopping) weights back in place, the module on CPU in eval mode,
        and the run's :class:`TrainResult`."""
        early_stopping = self.config.early_stopping
        if early_stopping or self.K > 1:
            self.snapshots.restore()
        for k, result in enumerate(self.results):
            best = self.stoppers[k].best_epoch
            result.best_epoch = (
                best
                if early_stopping and best is not None
                else self.epoch_offset + result.n_epochs - 1
            )
        self.module.to("cpu").eval()
        return TrainResult(
            members=self.results,
            optimizer_state=self.optimizer.state_dict(),
            interrupted=self.interrupted,
        )
