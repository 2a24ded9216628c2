"""The detector's scoring network: its members' networks and calibrated weights as one
module.

:class:`EnsembleScorer` runs the members' networks, grouped as few networks as possible
(:func:`scoring_groups`: 3-D stacks for many rows, block-diagonal MLPs for one row at a
time), followed by each member's :class:`~skae._detection.calibration.MemberWeights`. The
detector scores with its float64 copy; the ONNX export traces its float32 copy, so the
exported graph has one matrix product per layer for a whole group.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .._nn.block_diagonal import BlockDiagonalAutoencoders
from .._nn.losses import elementwise_loss, residual_loss
from .._nn.stacked import StackedAutoencoder, pad_stack
from .ensemble import stack_groups
from .neighbors import NeighborBlock


def _padded(arrays, shape):
    """The weights' float64 arrays zero-padded to ``shape`` and stacked: (K, *shape)."""
    return pad_stack([torch.as_tensor(a, dtype=torch.float64) for a in arrays], shape)


class _Block(nn.Module):
    """One network of the scorer (a 3-D stack or a single member) and its members' weights.

    Every block answers ``terms(x)`` (per member: error terms (K, n) and code terms
    (K, n) or None), ``anomaly(x)`` (the sum of its terms, (n,)),
    ``scaled_errors(x)`` (its members' scaled feature losses summed, (n, F)) and
    ``member_outputs(x)``."""

    def __init__(self, member, network, member_weights, n_features):
        super().__init__()
        self.member, self.network = member, network
        K = len(member_weights)
        use_weights = member_weights[0].error_weights is not None
        self.use_weights, self.has_codes = use_weights, member_weights[0].whitener is not None
        weights = (
            _padded([p.error_weights for p in member_weights], (n_features,))
            if use_weights
            else torch.zeros(K, n_features, dtype=torch.float64)
        )
        self.register_buffer("error_weights", weights[..., None])
        self.register_buffer(
            "error_scale",
            torch.as_tensor([[p.error_scale] for p in member_weights], dtype=torch.float64),
        )
        if self.has_codes:
            width = max(p.whitener.shape[0] for p in member_weights)
            whitener = _padded([p.whitener for p in member_weights], (width, width))
            shift = _padded([p.shift[None] for p in member_weights], (1, width))
        else:
            whitener = shift = torch.zeros(K, 1, 1, dtype=torch.float64)
        self.register_buffer("whitener", whitener)
        self.register_buffer("shift", shift)
        self.register_buffer(
            "inverse_scale", torch.as_tensor(_inverse_scales(member_weights, n_features))[:, None]
        )

    def _outputs(self, x):
        """The members' feature losses (K, n, F), codes (K, n, C) and own scores (K, n)."""
        errors, codes, score = self.member._member_outputs(self.network, x)
        if errors.dim() == 2:  # a single network: add the member axis
            errors, codes, score = errors[None], codes[None], score[None]
        return errors, codes, score

    def terms(self, x):
        errors, codes, score = self._outputs(x)
        if self.use_weights:
            error_terms = torch.matmul(errors, self.error_weights).squeeze(-1)
        else:
            error_terms = -score * self.error_scale
        code_terms = None
        if self.has_codes:
            y = torch.matmul(codes, self.whitener) - self.shift
            code_terms = (y * y).sum(dim=-1)
        return error_terms, code_terms

    def anomaly(self, x):
        errors, codes = self.terms(x)
        return (errors if codes is None else errors + codes).sum(dim=0)

    def anomaly_column(self, x):
        return self.anomaly(x).unsqueeze(1)

    def scaled_errors(self, x):
        return (self._outputs(x)[0] * self.inverse_scale).sum(dim=0)

    def member_outputs(self, x):
        e, z, s = self.member._member_outputs(self.network, x)
        if isinstance(self.network, StackedAutoencoder):
            return list(e), self.network.member_codes(z), list(s)
        return [e], [z], [s]


class _WideBlock(nn.Module):
    """Autoencoders scored as one block-diagonal MLP (:mod:`skae._nn.block_diagonal`), the
    same block interface as :class:`_Block`; the score takes one matrix product per layer, one for
    the weighted errors and one (with the shift as its bias) for the code distances."""

    def __init__(self, member, network, member_weights, n_features):
        super().__init__()
        self.member, self.network = member, network
        self.loss = member._stack_spec().loss
        self.n_members, self.n_features = len(member_weights), n_features
        # an autoencoder's score is minus its mean loss: without per-feature weights the
        # error term is that mean times the member's scale
        weights = [
            p.error_weights
            if p.error_weights is not None
            else np.full(n_features, p.error_scale / n_features)
            for p in member_weights
        ]
        self.register_buffer("error_weights", torch.as_tensor(np.concatenate(weights))[:, None])
        self.register_buffer(
            "inverse_scale",
            torch.as_tensor(_inverse_scales(member_weights, n_features).reshape(-1)),
        )
        self.has_codes = member_weights[0].whitener is not None
        if self.has_codes:
            self.register_buffer(
                "whitener", torch.block_diag(*[torch.as_tensor(p.whitener) for p in member_weights])
            )
            self.register_buffer(
                "neg_shift", -torch.as_tensor(np.concatenate([p.shift for p in member_weights]))
            )
            sizes = network.code_sizes
            segments = np.zeros((sum(sizes), len(sizes)))
            segments[np.arange(sum(sizes)), np.repeat(np.arange(len(sizes)), sizes)] = 1
            self.register_buffer("segments", torch.as_tensor(segments))
        # the error weights, then a weight of 1 per whitened code column
        ones = torch.ones(
            sum(network.code_sizes) if self.has_codes else 0, 1, dtype=self.error_weights.dtype
        )
        self.register_buffer("all_weights", torch.cat([self.error_weights, ones]))

    def _residual_path(self):
        return self.network.output_activation is None and self.loss != "bce"

    def _losses(self, x):
        if self._residual_path():
            codes, residual = self.network.residuals(x)
            return residual_loss(self.loss, residual), codes
        codes, logits = self.network(x)
        target = x.repeat(1, self.n_members)
        return elementwise_loss(self.loss, logits, target, self.network.activate), codes

    def _distances(self, codes):
        y = torch.addmm(self.neg_shift, codes, self.whitener)
        return y * y

    def terms(self, x):
        losses, codes = self._losses(x)
        errors = losses.reshape(-1, self.n_members, self.n_features).transpose(0, 1)
        weights = self.error_weights.reshape(self.n_members, 1, self.n_features)
        error_terms = (errors * weights).sum(dim=-1)
        code_terms = (self._distances(codes) @ self.segments).T if self.has_codes else None
        return error_terms, code_terms

    def anomaly_column(self, x):
        """The block's anomaly total, (n, 1), in few graph nodes: for squared errors the
        residuals and the whitened codes are squared and weighted in one product."""
        if self._residual_path() and self.loss == "mse":
            codes, residual = self.network.residuals(x)
            if self.has_codes:
                y = torch.addmm(self.neg_shift, codes, self.whitener)
                residual = torch.cat([residual, y], dim=1)
            return torch.matmul(residual * residual, self.all_weights)
        losses, codes = self._losses(x)
        total = torch.matmul(losses, self.error_weights)
        if self.has_codes:
            total = total + self._distances(codes).sum(dim=1, keepdim=True)
        return total

    def anomaly(self, x):
        return self.anomaly_column(x).squeeze(1)

    def scaled_errors(self, x):
        losses, _ = self._losses(x)
        scaled = (losses * self.inverse_scale).reshape(-1, self.n_members, self.n_features)
        return scaled.sum(dim=1)

    def member_outputs(self, x):
        losses, codes = self._losses(x)
        errors = self.network.member_errors(losses)
        return errors, self.network.member_codes(codes), [-e.mean(dim=1) for e in errors]


def _inverse_scales(member_weights, n_features):
    scales = [
        p.feature_scale if p.feature_scale is not None else np.ones(n_features)
        for p in member_weights
    ]
    return 1.0 / np.stack(scales)


# A block-diagonal MLP streams its zeros too: above this many weights (dense), the 3-D
# stacks score one row faster (measured with benchmarks/bench_inference.py).
WIDE_MAX_WEIGHTS = 300_000


def _padded_widths(widths, depth):
    """Layer widths with identity layers where skae._nn.block_diagonal inserts them: after the first
    hidden layer of the encoder and of the decoder."""
    own = (len(widths) - 3) // 2
    missing = depth - own
    if missing <= 0:
        return widths
    encoder, code, decoder = widths[: own + 1], widths[own + 1], widths[own + 2 :]
    encoder = encoder[:2] + [encoder[1]] * missing + encoder[2:]
    decoder = decoder[:1] + [decoder[0]] * missing + decoder[1:]
    return encoder + [code] + decoder


def _dense_weights(members):
    """How many weights the block-diagonal MLP of these members holds, zeros included."""
    n = members[0].n_features_in_
    widths = [m._layer_widths(n) for m in members]
    depth = max((len(w) - 3) // 2 for w in widths)
    widths = [_padded_widths(w, depth) for w in widths]
    total = sum(w[1] for w in widths) * n  # the first layer: side by side
    for j in range(1, len(widths[0]) - 1):
        total += sum(w[j] for w in widths) * sum(w[j + 1] for w in widths)
    return total


def scoring_groups(members, layout="batch"):
    """How the scorer groups members: lists of indices with, per list, "wide" (one
    block-diagonal MLP), "stack" (a 3-D stack) or "single".

    ``layout="latency"`` (the exported graph, scored a row at a time) uses block-diagonal
    MLPs where they are small enough; ``"batch"`` (Python scoring, calibration: many rows
    at once, where the zeros of a block-diagonal layer cost arithmetic) uses 3-D stacks."""
    wide, rest = {}, []
    for i, member in enumerate(members):
        spec = member._stack_spec()
        if layout != "latency" or spec is None or spec.latent_normalize:
            rest.append(i)
            continue
        # depths merge where the activation allows identity layers (skae._nn.block_diagonal)
        wide.setdefault(spec.scoring_key(), []).append(i)
    groups = []
    for group in wide.values():
        chosen = [members[i] for i in group]
        if len(group) > 1 and _dense_weights(chosen) <= WIDE_MAX_WEIGHTS:
            groups.append((group, "wide"))
        else:
            rest += group
    rest = sorted(rest)
    for sub in stack_groups([members[i] for i in rest]):
        indices = [rest[i] for i in sub]
        groups.append((indices, "stack" if len(indices) > 1 else "single"))
    return groups


class EnsembleScorer(nn.Module):
    """The members' networks and their calibrated weights as one module.

    ``layout`` picks how same-kind members are computed: "batch" (3-D stacks) or
    "latency" (block-diagonal MLPs, few graph nodes); see :func:`scoring_groups`.

    ``forward(x)`` gives the anomaly terms, shape (n, n_terms): the members' error terms,
    then (when there are codes) their code terms, in member order, then (with
    ``neighbors``, a :class:`~skae._detection.neighbors.NeighborPlan`) the neighbour term.
    ``score_samples(x)`` gives ``bias - sum of all terms`` (the weights carry the
    calibration), and ``feature_errors(x)`` the members' mean scaled per-feature losses.
    """

    def __init__(
        self,
        members,
        member_weights,
        bias,
        *,
        dtype=torch.float64,
        layout="batch",
        neighbors=None,
    ):
        super().__init__()
        n_features = members[0].n_features_in_
        blocks, order = [], []
        for group, kind in scoring_groups(members, layout):
            chosen = [members[i] for i in group]
            modules = [m.module_ for m in chosen]
            chosen_weights = [member_weights[i] for i in group]
            if kind == "wide":
                activation = chosen[0]._stack_spec().activation
                network = BlockDiagonalAutoencoders(modules, activation)
                block = _WideBlock(chosen[0], network, chosen_weights, n_features)
            else:
                network = (
                    StackedAutoencoder(modules, chosen[0]._stack_spec().activation)
                    if kind == "stack"
                    else copy.deepcopy(modules[0])
                )
                block = _Block(chosen[0], network, chosen_weights, n_features)
            blocks.append(block)
            order += group
        self.blocks = nn.ModuleList(blocks)
        self.register_buffer("order", torch.as_tensor(np.argsort(order)))
        self.bias = float(bias)
        self.n_members = len(members)
        self.neighbors = None if neighbors is None else NeighborBlock(neighbors)
        self.to(dtype).eval()

    def forward(self, x):
        error_terms, code_terms = zip(*(block.terms(x) for block in self.blocks), strict=True)
        terms = torch.cat(error_terms).index_select(0, self.order)
        if code_terms[0] is not None:
            codes = torch.cat(code_terms).index_select(0, self.order)
            terms = torch.cat([terms, codes])
        if self.neighbors is not None:
            terms = torch.cat([terms, self.neighbors.anomaly_column(x).T])
        return terms.T

    def score_samples(self, x):
        anomaly = None
        for block in self.blocks:
            part = block.anomaly(x)
            anomaly = part if anomaly is None else anomaly + part
        if self.neighbors is not None:
            anomaly = anomaly + self.neighbors.anomaly_column(x).squeeze(1)
        return self.bias - anomaly

    def decision_column(self, x, offset):
        """``score_samples(x) - offset`` as a column (n, 1): the exported graph's output,
        in as few nodes as the blocks allow."""
        anomaly = None
        for block in self.blocks:
            part = block.anomaly_column(x)
            anomaly = part if anomaly is None else anomaly + part
        if self.neighbors is not None:
            anomaly = anomaly + self.neighbors.anomaly_column(x)
        return (self.bias - offset) - anomaly

    def feature_errors(self, x):
        total = None
        for block in self.blocks:
            part = block.scaled_errors(x)
            total = part if total is None else total + part
        return total / self.n_members

    def member_outputs(self, x):
        """Per member, in member order: its unscaled feature losses (n, F), its code
        (n, n_components) and its own score (n,), for the detector's calibration."""
        errors, codes, scores = [], [], []
        for block in self.blocks:
            e, z, s = block.member_outputs(x)
            errors += e
            codes += z
            scores += s
        order = self.order.tolist()
        return ([errors[i] for i in order], [codes[i] for i in order], [scores[i] for i in order])
