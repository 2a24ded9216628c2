"""Several autoencoders of the same depth run as one network of batched matrix products.

An ensemble of small networks spends its time on per-operation overhead, not arithmetic:
five autoencoders trained one after another cost five times the steps. Stacked, each
layer of all members is one batched matrix product (``baddbmm``), so a step of the whole
ensemble costs little more than a step of one member, and the exported graph has one
MatMul per layer instead of one chain of nodes per member.

Members may differ in widths and code sizes: every layer is zero-padded to the widest
member. The padding stays exactly zero through training: a padded unit has zero weights
in and out and a zero bias, its activation is 0 (every stackable activation maps 0 to 0),
so its gradients are exactly 0 and Adam, AdamW and SGD leave it at 0. Each member keeps
its own initial weights (built by :class:`skae._nn.networks.Autoencoder` from its own
generator), and :meth:`StackedAutoencoder.write_members` copies the trained weights back
into the members' own modules.

Tensors have a leading member axis: inputs ``(N, F)`` (shared by all members) or
``(K, N, F)``, outputs ``(K, N, ...)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .networks import ACTIVATIONS, Autoencoder, AutoencoderMethods, Dropout

# Activations without parameters that map 0 to 0 (PReLU has a parameter per member).
STACKABLE_ACTIVATIONS = ("relu", "leaky_relu", "selu", "elu", "gelu", "tanh", "identity")


def linears(module):
    """The nn.Linear layers of an Autoencoder, in the order the data flows through them."""
    return [
        m
        for part in (module.encoder, module.decoder)
        for m in part.modules()
        if isinstance(m, nn.Linear)
    ]


def can_stack(module):
    """Whether an Autoencoder has only Linear layers and parameter-free activations."""
    return type(module) is Autoencoder and not any(
        isinstance(m, (nn.BatchNorm1d, nn.PReLU, Dropout, nn.Dropout, nn.AlphaDropout))
        for m in module.modules()
    )


def pad_stack(tensors, shape):
    """Zero-pad each tensor to ``shape`` (top-left aligned) and stack on a new axis 0."""
    out = tensors[0].new_zeros((len(tensors), *shape))
    for k, t in enumerate(tensors):
        out[(k, *(slice(0, s) for s in t.shape))] = t
    return out


class StackedLinear(nn.Module):
    """K linear layers, ``weight`` of shape (K, in, out) and ``bias`` of shape (K, 1, out)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x):
        if x.dim() == 2:  # one input shared by every member: broadcast in the product
            return torch.matmul(x, self.weight) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)


class _StackedMLP(nn.Module):
    """Stacked linears with the activation after every layer but the last."""

    def __init__(self, layers, activation):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = activation

    def forward(self, h):
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < last:
                h = self.activation(h)
        return h


class StackedAutoencoder(AutoencoderMethods, nn.Module):
    """K :class:`~skae._nn.networks.Autoencoder` modules of the same depth as one network.

    It has the interface the estimators' loss hooks use on a single autoencoder
    (``encode``, ``decoder``, ``activate``, ``forward``), with a leading member axis.

    Parameters
    ----------
    members : list of Autoencoder
        Same depth, same ``output_activation`` and ``latent_normalize``, no batch norm,
        dropout or PReLU (see :func:`can_stack`).
    activation : str
        Their hidden activation, one of :data:`STACKABLE_ACTIVATIONS`.
    """

    def __init__(self, members, activation):
        super().__init__()
        if activation not in STACKABLE_ACTIVATIONS:
            raise ValueError(f"activation {activation!r} cannot be stacked")
        if not all(can_stack(m) for m in members):
            raise ValueError("only Autoencoders without batch norm, dropout or PReLU stack")
        layers = [linears(m) for m in members]
        if len({len(ls) for ls in layers}) != 1:
            raise ValueError("stacked autoencoders must have the same depth")
        first = members[0]
        if any(
            (m.output_activation, m.latent_normalize)
            != (first.output_activation, first.latent_normalize)
            for m in members
        ):
            raise ValueError(
                "stacked autoencoders must share output_activation and latent_normalize"
            )
        self.output_activation = first.output_activation
        self.latent_normalize = first.latent_normalize
        self.n_members = len(members)
        # per member, per layer: (in, out)
        self.layer_shapes = [[(lin.in_features, lin.out_features) for lin in ls] for ls in layers]
        self.code_sizes = [m.encoder[-1].out_features for m in members]
        stacked = []
        for j in range(len(layers[0])):
            in_max = max(shapes[j][0] for shapes in self.layer_shapes)
            out_max = max(shapes[j][1] for shapes in self.layer_shapes)
            weight = pad_stack([ls[j].weight.detach().T for ls in layers], (in_max, out_max))
            bias = pad_stack([ls[j].bias.detach()[None] for ls in layers], (1, out_max))
            stacked.append(StackedLinear(weight, bias))
        act = ACTIVATIONS[activation]()
        n_encoder = len(layers[0]) // 2
        self.encoder = _StackedMLP(stacked[:n_encoder], act)
        self.decoder = _StackedMLP(stacked[n_encoder:], act)

    def stacked_layers(self):
        return list(self.encoder.layers) + list(self.decoder.layers)

    @torch.no_grad()
    def write_members(self, members):
        """Copy the trained weights back into the members' own modules (unpadded)."""
        for k, member in enumerate(members):
            for (n_in, n_out), lin, layer in zip(
                self.layer_shapes[k], linears(member), self.stacked_layers(), strict=True
            ):
                lin.weight.copy_(layer.weight[k, :n_in, :n_out].T)
                lin.bias.copy_(layer.bias[k, 0, :n_out])

    # ----------------------------------------------- per-parameter state (optimiser)
    def stack_state(self, per_member):
        """Per-member tensors shaped like each member's parameters (in the order of
        ``member.parameters()``) -> tensors shaped like this module's parameters."""
        out = []
        for j, layer in enumerate(self.stacked_layers()):
            out.append(pad_stack([t[2 * j].T for t in per_member], layer.weight.shape[1:]))
            out.append(pad_stack([t[2 * j + 1][None] for t in per_member], layer.bias.shape[1:]))
        return out

    def unstack_state(self, tensors):
        """The inverse of :meth:`stack_state`: one list of tensors per member."""
        members = []
        for k, shapes in enumerate(self.layer_shapes):
            mine = []
            for j, (n_in, n_out) in enumerate(shapes):
                mine.append(tensors[2 * j][k, :n_in, :n_out].T.clone())
                mine.append(tensors[2 * j + 1][k, 0, :n_out].clone())
            members.append(mine)
        return members

    def member_codes(self, z):
        """Per member, its (n, code size) slice of the padded codes ``z`` (K, n, C)."""
        return [z[k, :, :c] for k, c in enumerate(self.code_sizes)]
