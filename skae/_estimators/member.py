"""What the detector's ensemble needs from a member: one small, written-down interface.

:class:`~skae._estimators.base.BaseAutoencoder` implements :class:`Member`; the ensemble's training
(:mod:`skae._detection.ensemble`), its scorer (:mod:`skae._detection.scorer`) and the
ONNX converters use a member only through it. Members whose :class:`StackSpec` are equal
differ only in widths, code size and seed, and train (and score) as one stacked network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from .._nn.block_diagonal import IDEMPOTENT


@dataclass(frozen=True)
class StackSpec:
    """What members must share to train as one stacked network.

    Attributes
    ----------
    kind : str
        The estimator class's name.
    depth : int
        Hidden layers of the encoder (the decoder mirrors them).
    activation : str
        Of the hidden layers; parameter-free and mapping 0 to 0 (see
        :data:`skae._nn.stacked.STACKABLE_ACTIVATIONS`).
    loss : str
        The reconstruction loss.
    latent_normalize : bool
        Codes on the unit sphere.
    sigmoid_output : bool
        Whether the decoder ends in a sigmoid.
    settings : tuple
        Every other training setting, as sorted ``(name, repr(value))`` pairs: a stack has
        one optimiser, one batch size, one schedule.
    """

    kind: str
    depth: int
    activation: str
    loss: str
    latent_normalize: bool
    sigmoid_output: bool
    settings: tuple

    def scoring_key(self):
        """Members with equal keys can be scored as one block-diagonal MLP: their depths
        may differ where the activation allows identity layers."""
        if self.activation in IDEMPOTENT and self.depth >= 1:
            return dataclasses.replace(self, depth=None)
        return self


@dataclass
class TrainingStart:
    """One member's side of a training run (:meth:`Member._training_start`).

    Attributes
    ----------
    continuing : bool
        Whether training continues the fitted network (warm start, ``partial_fit``).
    module : torch.nn.Module
        The network to train: a copy of ``module_`` when continuing, else a new one drawn
        from the member's own seed.
    device : torch.device
        Where it trains.
    generator : torch.Generator
        The member's training stream on ``device``, resumed when continuing.
    optimizer_state : dict or None
        The optimiser state to resume (None: a fresh optimiser).
    """

    continuing: bool
    module: Any
    device: Any
    generator: Any
    optimizer_state: dict | None


class Member(Protocol):
    """An autoencoder as the detector's ensemble uses it.

    Fitted attributes read: ``module_``, ``n_features_in_``, ``n_iter_``; parameters read:
    ``batch_size`` and ``device``. A member trains alone (:meth:`_train_on`) or, with
    others of the same :meth:`_stack_spec`, in one stacked network: the ensemble then
    calls :meth:`_prepare_training` and :meth:`_training_start` on each member, trains the
    stack with the first member's :meth:`_run_training`, and hands each member its
    weights and results with :meth:`_finish_training`.
    """

    def _stack_spec(self) -> StackSpec | None:
        """The spec that stacked members share; None when this member never stacks."""

    def _trains_alone(self) -> bool:
        """Whether it trains alone even when its :meth:`_stack_spec` matches others'."""

    def _layer_widths(self, n_features: int) -> list:
        """The network's layer widths from input to output."""

    def _train_on(self, X, partial: bool, progress=None) -> bool:
        """Train alone on X (validating it) and set the fitted attributes; returns whether
        training stopped by itself (False: it ran out of epochs)."""

    def _prepare_training(self, X, partial: bool, *, as_float32: bool = True):
        """Validate X; returns (X as float32, or None when not asked, continuing)."""

    def _training_start(self, n_features: int, continuing: bool) -> TrainingStart:
        """The network, generator and optimiser state a training run starts from."""

    def _run_training(self, start, module, X32, *, partial, progress, n_members=1, flops=None):
        """The engine's ``train`` on ``module`` (``start.module``, or a stack of several
        members' modules) with this member's losses, settings and threads."""

    def _finish_training(self, start, module, result, *, optimizer_state, partial) -> None:
        """Install a finished run: the trained ``module``, its
        :class:`~skae._train.engine.MemberResult` and optimiser state."""

    def _member_outputs(self, module, x):
        """(elementwise loss (n, F), code (n, C), own score (n,)) of ``module`` on x, one
        encoder pass; a stacked ``module`` gives each with a leading member axis."""
