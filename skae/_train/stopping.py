"""Early stopping: patience on a monitored loss, and the best weights of each member."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class EpochState:
    """One member's losses at the end of an epoch, as :class:`EarlyStopping` reads them."""

    epoch: int  # counted across warm starts, from 0
    train_loss: float
    validation_loss: float | None


class EarlyStopping:
    """Patience on a monitored loss, with a relative tolerance, keeping the best weights.

    Training stops when the loss has not fallen below ``(1 - tol)`` times a reference for
    ``patience`` epochs, where the reference is the loss of the last epoch that did (the
    first epoch's, to start): a loss still falling by ``tol`` over the patience window in
    all goes on, however small each epoch's step. Relative, so the rule does not depend on
    how the data was scaled. Monitors the validation loss when there is one, else the
    training loss.
    """

    def __init__(self, patience, tol):
        self.patience = patience
        self.tol = tol
        self.best_loss = math.inf
        self.best_epoch = None
        self._reference = math.inf
        self._bad_epochs = 0

    def __call__(self, state: EpochState) -> tuple[bool, bool]:
        """Returns (is this the best epoch so far, should training stop)."""
        loss = state.validation_loss if state.validation_loss is not None else state.train_loss
        best = loss < self.best_loss
        if best:
            self.best_loss, self.best_epoch = loss, state.epoch
        if math.isinf(self._reference) or loss < self._reference - self.tol * abs(self._reference):
            self._reference, self._bad_epochs = loss, 0
        else:
            self._bad_epochs += 1
        return best, self._bad_epochs >= self.patience

    def restart_patience(self):
        """Count the patience afresh from the best loss (after the learning rate was
        lowered)."""
        self._reference, self._bad_epochs = self.best_loss, 0


class MemberSnapshots:
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
