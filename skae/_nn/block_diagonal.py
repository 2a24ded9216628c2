"""Several autoencoders as one MLP of block-diagonal layers: fast ensemble inference.

Scoring one row is bound by per-operation overhead, not arithmetic. Here every layer of
all members is one 2-D matrix product with its bias (one ``Gemm`` node in ONNX; the
batched 3-D products of :mod:`skae._nn.stacked` take a ``MatMul`` and an ``Add`` each and
are slower per node): the first layer concatenates the members' weights (they all read
the input), later layers place each member's weights on the diagonal. Outputs are side by
side: codes ``(N, sum of code sizes)`` and reconstructions ``(N, K * n_features)``.

Members of different depths share the layers when their activation is idempotent on its
own outputs (ReLU, identity): a shallower member gets identity layers after a hidden
layer of its own, which change nothing, ``relu(relu(h)) = relu(h)``. Training uses
:class:`skae._nn.stacked.StackedAutoencoder` (its gradients stay per member); this module is
built from trained members, for the Python scorer and the exported graph alike.
"""

from __future__ import annotations

import torch
from torch import nn

from .networks import ACTIVATIONS
from .stacked import can_stack, linears

# Activations with act(act(x)) == act(x): a member may skip a layer as an identity.
IDEMPOTENT = ("relu", "identity")


def _padded_layers(module, depth):
    """A member's layers padded to ``depth`` hidden layers: a list of (weight (in, out),
    bias) per slot, identity layers inserted after its first hidden layer and after its
    first decoder layer (each follows an activation of its own)."""
    layers = [(lin.weight.detach().T, lin.bias.detach()) for lin in linears(module)]
    own = (len(layers) - 2) // 2
    missing = depth - own
    if missing == 0:
        return layers
    encoder, decoder = layers[: own + 1], layers[own + 1 :]
    eye_enc = _identity(encoder[0][0].shape[1], encoder[0][0])
    eye_dec = _identity(decoder[0][0].shape[1], decoder[0][0])
    return (
        [encoder[0]]
        + [eye_enc] * missing
        + encoder[1:]
        + [decoder[0]]
        + [eye_dec] * missing
        + decoder[1:]
    )


def _identity(width, like):
    return (torch.eye(width, dtype=like.dtype), torch.zeros(width, dtype=like.dtype))


def can_widen(modules, activation):
    """Whether these trained Autoencoders can be scored as one block-diagonal MLP."""
    if not all(can_stack(m) for m in modules) or any(m.latent_normalize for m in modules):
        return False
    depths = {(len(linears(m)) - 2) // 2 for m in modules}
    if len({m.output_activation for m in modules}) != 1:
        return False
    return len(depths) == 1 or (activation in IDEMPOTENT and min(depths) >= 1)


class BlockDiagonalAutoencoders(nn.Module):
    """K trained Autoencoders as one MLP of block-diagonal layers (inference only).

    Parameters
    ----------
    members : list of Autoencoder
        See :func:`can_widen`: same output activation, no latent normalisation; mixed
        depths only with an idempotent activation and at least one hidden layer each.
    activation : str
        Their hidden activation.
    """

    def __init__(self, members, activation):
        super().__init__()
        if not can_widen(members, activation):
            raise ValueError("these autoencoders cannot be scored as one block-diagonal MLP")
        depth = max((len(linears(m)) - 2) // 2 for m in members)
        member_layers = [_padded_layers(m, depth) for m in members]
        self.n_members = len(members)
        self.n_features = linears(members[0])[0].in_features
        self.output_activation = members[0].output_activation
        self.code_slot = depth  # the layer whose output is the code
        self.code_sizes = [p[depth][0].shape[1] for p in member_layers]
        self.activation = ACTIVATIONS[activation]()
        self.layers = nn.ParameterList()
        self.biases = nn.ParameterList()
        for j in range(len(member_layers[0])):
            weights = [p[j][0] for p in member_layers]
            if j == 0:  # every member reads the input: side by side
                weight = torch.cat(weights, dim=1)
            else:
                weight = torch.block_diag(*weights)
            self.layers.append(nn.Parameter(weight, requires_grad=False))
            self.biases.append(
                nn.Parameter(torch.cat([p[j][1] for p in member_layers]), requires_grad=False)
            )
        # the output layer extended to subtract the input from every member's output
        tile = torch.eye(self.n_features, dtype=weight.dtype).repeat(1, self.n_members)
        self.register_buffer("residual_weight", torch.cat([weight, -tile]))

    def _hidden(self, x):
        """Codes and the last hidden layer's output."""
        h, codes = x, None
        for j, (weight, bias) in enumerate(zip(self.layers[:-1], self.biases[:-1], strict=True)):
            h = torch.addmm(bias, h, weight)
            if j == self.code_slot:
                codes = h
            else:
                h = self.activation(h)
        return codes, h

    def forward(self, x):
        """Codes (N, sum of code sizes) and output logits (N, K * n_features)."""
        codes, h = self._hidden(x)
        return codes, torch.addmm(self.biases[-1], h, self.layers[-1])

    def residuals(self, x):
        """Codes and ``reconstruction - x`` side by side (N, K * n_features), the input
        subtracted inside the output layer's product: ``[h, x] @ [[W], [-tile]] + b``.
        Only without an output activation."""
        codes, h = self._hidden(x)
        return codes, torch.addmm(self.biases[-1], torch.cat([h, x], dim=1), self.residual_weight)

    def activate(self, logits):
        return torch.sigmoid(logits) if self.output_activation == "sigmoid" else logits

    def member_codes(self, codes):
        """Per member, its (N, code size) block of the side-by-side codes."""
        return list(torch.split(codes, self.code_sizes, dim=1))

    def member_errors(self, errors):
        """Per member, its (N, n_features) block of side-by-side feature errors."""
        return list(torch.split(errors, self.n_features, dim=1))
