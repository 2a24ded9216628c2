"""The training engine shared by every estimator: it knows nothing of sklearn.

A model supplies a network and a loss; :func:`train` does the rest: the data moved to the
device once and batched by slicing a random permutation (no DataLoader), the optimiser
(:mod:`skae._optim`), a validation split, early stopping that restores the best weights,
a progress bar, a clean stop on Ctrl-C, and an error rather than a NaN model.

A network may hold K independent members with a leading member axis on every parameter
(:class:`skae._stacked.StackedAutoencoder`): then each member gets its own shuffling, its
own validation rows, its own loss curve and its own early stopping, in one pass per
minibatch. A plain network is the case K = 1.

Every random draw comes from the ``generator`` passed in (:mod:`skae._random`).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from . import _random
from ._networks import Dropout
from ._optim import Optimizer, OptimizerStateMismatch
from ._warnings import warn_at_caller


class TrainingDivergedError(FloatingPointError, ValueError):
    """Raised when the training loss becomes NaN or infinite."""


class TrainingOutOfMemoryError(MemoryError):
    """The device ran out of memory during training."""


class TrainingInterruptedWarning(RuntimeWarning):
    """Ctrl-C stopped training early; the estimator keeps the best weights so far."""


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


@dataclass
class EpochState:
    """One member's losses at the end of an epoch, as :class:`EarlyStopping` reads them."""

    epoch: int  # counted across warm starts, from 0
    train_loss: float
    validation_loss: float | None


@dataclass
class MemberResult:
    """What one call to :func:`train` produced for one member (this call's epochs only)."""

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list | None = None
    best_epoch: int = 0
    n_epochs: int = 0
    stopped_early: bool = False


@dataclass
class TrainResult:
    """What one call to :func:`train` produced."""

    members: list  # one MemberResult per member
    optimizer_state: dict | None = None
    interrupted: bool = False


# ----------------------------------------------------------------------- devices
def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; anything else is checked and parsed."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' (CUDA when present, else CPU) or device='cpu'."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r}: only CPU and CUDA devices are supported.")
    return dev


# --------------------------------------------------------------------- interrupts
@contextlib.contextmanager
def defer_keyboard_interrupt():
    """Turn Ctrl-C into a flag checked between optimiser steps (main thread only).

    A process that ignores SIGINT (started with ``nohup`` or as a background job of a
    script, or a service that set ``SIG_IGN``) keeps ignoring it: training is then not
    interruptible by SIGINT, as the process asked.
    """
    flag = {"set": False}
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        yield flag
        return

    def handler(signum, frame):
        if flag["set"]:  # a second Ctrl-C interrupts at once
            raise KeyboardInterrupt
        flag["set"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------ early stopping
class EarlyStopping:
    """Patience on a monitored loss, with a relative tolerance, keeping the best weights.

    An epoch improves when its loss is below ``(1 - tol)`` times the best loss so far, so
    the rule does not depend on how the data was scaled. Monitors the validation loss when
    there is one, else the training loss.
    """

    def __init__(self, patience, tol):
        self.patience = patience
        self.tol = tol
        self.best_loss = math.inf
        self.best_epoch = None
        self._bad_epochs = 0

    def __call__(self, state: EpochState) -> tuple[bool, bool]:
        """Returns (is this the best epoch so far, should training stop)."""
        loss = state.validation_loss if state.validation_loss is not None else state.train_loss
        best = loss < self.best_loss
        if best:
            threshold = self.best_loss - self.tol * abs(self.best_loss)
            self._bad_epochs = 0 if loss < threshold else self._bad_epochs + 1
            self.best_loss, self.best_epoch = loss, state.epoch
        else:
            self._bad_epochs += 1
        return best, self._bad_epochs >= self.patience


class _MemberSnapshots:
    """Copies of each member's parameters: the whole module when K = 1, else slice k of
    every tensor of the module's state (which all have a leading member axis).

    The state's tensors are looked up once: the optimiser updates them in place, so the
    references stay live for the whole run (after the module moved to its device)."""

    def __init__(self, module, n_members):
        self.n_members = n_members
        self.tensors = list(module.state_dict().values())
        self.saved = [None] * n_members

    def _views(self, k):
        return self.tensors if self.n_members == 1 else [t[k] for t in self.tensors]

    def save(self, k):
        self.saved[k] = [t.detach().clone() for t in self._views(k)]

    @torch.no_grad()
    def restore(self):
        for k, saved in enumerate(self.saved):
            if saved is not None:
                for live, copy in zip(self._views(k), saved, strict=True):
                    live.copy_(copy)


def _has_modes(module):
    """Whether training and eval mode compute differently (dropout, batch norm)."""
    kinds = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.dropout._DropoutNd, Dropout)
    return any(isinstance(m, kinds) for m in module.modules())


# ------------------------------------------------------------------------ progress
class ProgressBar:
    """A tqdm bar over epochs with the current losses (tqdm imported only when used).

    One bar can follow several calls of :func:`train` (an ensemble trained in groups):
    ``advance_to`` moves it to the end of a group that stopped early.
    """

    def __init__(self, total, desc="skae"):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=True)
        self.position = 0

    def __call__(self, train_losses, validation_losses):
        postfix = {"loss": f"{np.mean(train_losses):.4g}"}
        if validation_losses is not None:
            postfix["val_loss"] = f"{np.mean(validation_losses):.4g}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)
        self.position += 1

    def advance_to(self, position):
        if position > self.position:
            self.bar.update(position - self.position)
            self.position = position

    def close(self):
        self.bar.close()


# ------------------------------------------------------------------------ training
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


def is_out_of_memory(exc):
    # torch.OutOfMemoryError is torch.cuda.OutOfMemoryError (the newer name)
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    # the CPU allocator raises a plain RuntimeError
    return isinstance(exc, RuntimeError) and (
        "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc)
    )


def train(module, loss_fn, X, *, config: TrainConfig, device: torch.device, **kwargs):
    """Train ``module`` in place on ``X``; return a :class:`TrainResult`.

    Running out of device memory raises :class:`TrainingOutOfMemoryError` (the module is
    moved back to the CPU first); the arguments are those of :func:`_train`.
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


def _train(
    module,
    loss_fn,
    X,
    *,
    config: TrainConfig,
    device: torch.device,
    generator,
    n_members=1,
    eval_loss_fn=None,
    optimizer_state=None,
    epoch_offset=0,
    validate=True,
    progress=None,
):
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
    """
    K = n_members
    module.to(device)
    X_t = torch.from_numpy(X).to(device)
    n = X_t.shape[0]
    gen = generator
    use_val = validate and config.early_stopping
    if use_val:
        train_idx, val_idx = _split(n, K, config.validation_fraction, device, gen)
    else:
        train_idx, val_idx = torch.arange(n, device=device).expand(K, n), None
    n_train = train_idx.shape[1]
    batch_size = max(1, min(config.batch_size, n_train))

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
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
        if config.precision == "bfloat16"
        else contextlib.nullcontext
    )  # no per-step cost on the default path
    if eval_loss_fn is None:

        def eval_loss_fn(m, x):  # the batch mean, once per row: the mean stays the mean
            return loss_fn(m, x, epoch_offset)[..., None].expand(x.shape[:-1])

    stoppers = [EarlyStopping(config.n_iter_no_change, config.tol) for _ in range(K)]
    snapshots = _MemberSnapshots(module, K)
    results = [
        MemberResult(validation_loss_curve=[] if val_idx is not None else None) for _ in range(K)
    ]
    active = list(range(K))
    own_bar = progress is None and config.verbose
    bar = ProgressBar(config.max_epochs) if own_bar else progress
    start_position = bar.position if bar is not None else 0
    interrupted = False
    modes = _has_modes(module)  # else train() / eval() would only cost time
    module.train()
    try:
        with defer_keyboard_interrupt() as interrupt, _random.drawing_from(gen):
            for local_epoch in range(config.max_epochs):
                epoch = epoch_offset + local_epoch
                if modes:
                    module.train()
                order = (
                    train_idx.gather(1, _permutations(K, n_train, device, gen))
                    if config.shuffle
                    else train_idx
                )
                total = torch.zeros(K, device=device)
                for start in range(0, n_train, batch_size):
                    idx = order[:, start : start + batch_size]
                    if config.skip_singleton_batches and idx.shape[1] == 1 and n_train > 1:
                        continue
                    with autocast():
                        loss = loss_fn(module, _gather(X_t, idx), epoch)
                    optimizer.zero_grad()
                    (loss.sum() if K > 1 else loss).backward()
                    optimizer.step()
                    total.add_(loss.detach(), alpha=idx.shape[1])
                    if interrupt["set"]:
                        break
                losses = total / n_train
                if val_idx is not None:
                    if modes:
                        module.eval()
                    losses = torch.cat(
                        [losses.double(), _mean_losses(eval_loss_fn, module, X_t, val_idx)]
                    )
                losses = losses.tolist()  # one host sync per epoch
                train_losses, val_losses = losses[:K], (losses[K:] if val_idx is not None else None)
                if not all(map(math.isfinite, losses)):
                    raise TrainingDivergedError(
                        f"The training loss became non-finite (NaN or inf) at epoch {epoch}."
                    )
                for k in list(active):
                    state = EpochState(
                        epoch, train_losses[k], None if val_losses is None else val_losses[k]
                    )
                    result = results[k]
                    result.loss_curve.append(state.train_loss)
                    if val_losses is not None:
                        result.validation_loss_curve.append(state.validation_loss)
                    result.n_epochs += 1
                    is_best, stop = stoppers[k](state)
                    if is_best and config.early_stopping:
                        snapshots.save(k)  # keep the best epoch's weights
                    if stop:
                        result.stopped_early = True
                        active.remove(k)
                        if not config.early_stopping and K > 1:
                            snapshots.save(k)  # the weights it stopped with
                if bar is not None:
                    bar(train_losses, val_losses)
                if interrupt["set"]:
                    warn_at_caller(
                        f"Training interrupted by the user at epoch {epoch}; the estimator "
                        "keeps the best weights found so far.",
                        TrainingInterruptedWarning,
                    )
                    interrupted = True
                    break
                if not active:
                    break
    finally:
        if bar is not None:
            if own_bar:
                bar.close()
            else:
                bar.advance_to(start_position + config.max_epochs)
    if config.early_stopping or K > 1:
        snapshots.restore()
    for k, result in enumerate(results):
        best = stoppers[k].best_epoch
        result.best_epoch = (
            best
            if config.early_stopping and best is not None
            else epoch_offset + result.n_epochs - 1
        )
    module.to("cpu").eval()
    return TrainResult(
        members=results, optimizer_state=optimizer.state_dict(), interrupted=interrupted
    )
