"""Adam, AdamW and Nesterov SGD for the training engine, without ``torch.optim``.

Why not ``torch.optim``: constructing any of its optimisers, or calling ``step``, imports
``torch._dynamo`` (about a second on a quiet machine, several on a busy one) on the first
fit of every process, and ``Adam.step`` spends ~70 us a call on bookkeeping, about 10% of
a small network's step on a CPU. The update rules here are torch's own:

- Adam / AdamW on float32 CPU or CUDA tensors call torch's fused kernels
  (``torch._fused_adam_`` / ``torch._fused_adamw_``), the kernels ``torch.optim.Adam(
  fused=True)`` runs: bit-identical updates. Those kernels are private, so they are used
  only after a self-test on the first step of a process (the same update through the
  public tensor operations below, compared within float32 rounding); a torch release
  that renames or changes them costs speed, never correctness.
- Everything else runs the textbook update with public tensor operations.

``state_dict`` has torch's layout (``{"state": {i: {...}}, "param_groups": [...]}``), so
the optimiser state of a warm start or ``partial_fit`` is plain tensors.
"""

from __future__ import annotations

import math
import threading

import torch

from .._warnings import warn_at_caller

SOLVERS = ("adam", "adamw", "sgd")
BETAS = (0.9, 0.999)
EPS = 1e-8
MOMENTUM = 0.9

_FUSED_OK = {}  # (kernel name, device type) -> bool, decided once per process
_FUSED_LOCK = threading.Lock()


class OptimizerStateMismatch(ValueError):
    """A saved optimiser state does not fit the parameters (another network or solver)."""


def _param_groups(named_parameters, weight_decay):
    """L2 on weights, not on biases or normalisation / PReLU parameters.

    Without a penalty every parameter is in one group: each group costs a kernel launch.
    """
    if weight_decay <= 0:
        return [([p for _, p in named_parameters], 0.0)]
    decayed = [p for n, p in named_parameters if p.ndim >= 2 and not n.endswith("bias")]
    others = [p for n, p in named_parameters if not (p.ndim >= 2 and not n.endswith("bias"))]
    return [(decayed, float(weight_decay)), (others, 0.0)]


class _Group:
    """A parameter group and the lists each step hands to the update, built once:
    ``load_state_dict`` copies into the state tensors in place, so the lists stay live."""

    def __init__(self, params, weight_decay, states):
        self.params = params
        self.weight_decay = weight_decay
        self.states = states
        # each kind of state ("step", "exp_avg", ...) -> its tensor of every parameter
        self.buffers = {k: [s[k] for s in states] for k in states[0]}
        self.kernel = None  # Adam's fused kernel, or False: decided at the first step

    def subset(self, keep):
        """The group restricted to the parameters at positions ``keep``."""
        group = _Group(
            [self.params[i] for i in keep], self.weight_decay, [self.states[i] for i in keep]
        )
        group.kernel = self.kernel
        return group


class Optimizer:
    """One of :data:`SOLVERS` over a module's parameters.

    Parameters
    ----------
    named_parameters : iterable of (str, torch.Tensor)
        ``module.named_parameters()``.
    solver : {"adam", "adamw", "sgd"}
        Adam with L2 added to the gradient, AdamW with decoupled weight decay, or SGD with
        Nesterov momentum 0.9.
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty on the weights (decoupled for "adamw").
    """

    def __init__(self, named_parameters, solver, lr, weight_decay=0.0):
        if solver not in SOLVERS:
            raise ValueError(f"Unknown solver {solver!r}; expected one of {SOLVERS}.")
        self.solver = solver
        self.lr = float(lr)
        named = [(n, p) for n, p in named_parameters if p.requires_grad]
        # the module's own parameter order: the state does not depend on the grouping
        self.params = [p for _, p in named]
        self.state = [self._new_state(p) for p in self.params]
        self._index = {id(p): i for i, p in enumerate(self.params)}
        self._groups = [
            _Group(ps, wd, [self.state[self._index[id(p)]] for p in ps])
            for ps, wd in _param_groups(named, weight_decay)
            if ps
        ]

    def _new_state(self, p):
        if self.solver == "sgd":
            return {"momentum_buffer": torch.zeros_like(p, memory_format=torch.preserve_format)}
        # float32 step counters on the parameter's device, as the fused kernels expect
        return {
            "step": torch.zeros((), dtype=torch.float32, device=p.device),
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
        }

    # ------------------------------------------------------------------ stepping
    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        sgd = self.solver == "sgd"
        for group in self._groups:
            if not sgd and group.kernel is None:
                group.kernel = _fused_kernel(self.solver == "adamw", group.params) or False
            grads = [p.grad for p in group.params]
            if any(g is None for g in grads):  # rare: some parameter got no gradient
                keep = [i for i, g in enumerate(grads) if g is not None]
                if not keep:
                    continue
                group, grads = group.subset(keep), [grads[i] for i in keep]
            if sgd:
                _sgd(group.params, grads, group.states, self.lr, group.weight_decay)
            else:
                self._adam(group, grads)

    def _adam(self, group, grads):
        buffers = group.buffers
        if group.kernel:
            _fused_step(
                group.kernel,
                group.params,
                grads,
                buffers["exp_avg"],
                buffers["exp_avg_sq"],
                buffers["step"],
                self.lr,
                group.weight_decay,
            )
        else:
            _adam_reference(
                group.params,
                grads,
                buffers["exp_avg"],
                buffers["exp_avg_sq"],
                buffers["step"],
                lr=self.lr,
                weight_decay=group.weight_decay,
                decoupled=self.solver == "adamw",
            )

    # --------------------------------------------------------------- persistence
    def state_dict(self):
        """torch's layout, tensors on CPU (picklable, loadable on any device).

        ``state`` is keyed by the position of each parameter in the module's
        ``parameters()`` (``"order": "module"``), so an L2 penalty switched on or off
        between calls, which regroups the parameters, still finds each one's state.
        """
        return {
            "state": {
                i: {k: v.detach().to("cpu", copy=True) for k, v in s.items()}
                for i, s in enumerate(self.state)
            },
            "param_groups": [
                {
                    "params": [self._index[id(p)] for p in group.params],
                    "weight_decay": group.weight_decay,
                    "solver": self.solver,
                }
                for group in self._groups
            ],
            "order": "module",
        }

    def load_state_dict(self, state_dict):
        """Resume from a saved state (of this class, or of ``torch.optim.Adam``/``SGD``).

        Raises :class:`OptimizerStateMismatch` when it belongs to other parameters or to
        another solver; the learning rate and weight decay always come from this object.
        """
        saved = state_dict.get("state", {})
        n_saved = sum(len(g["params"]) for g in state_dict.get("param_groups", []))
        if n_saved != len(self.params):
            raise OptimizerStateMismatch(
                f"the saved state holds {n_saved} parameters, the network has {len(self.params)}"
            )
        if state_dict.get("order") == "module":
            order = list(range(len(self.params)))
        else:  # torch.optim numbers parameters across its groups (weights, then the rest)
            grouped = [self._index[id(p)] for group in self._groups for p in group.params]
            saved_keys = [i for g in state_dict["param_groups"] for i in g["params"]]
            by_position = dict(zip(grouped, saved_keys, strict=True))
            order = [by_position[i] for i in range(len(self.params))]
        keys = ("momentum_buffer",) if self.solver == "sgd" else ("exp_avg", "exp_avg_sq")
        for position, key in enumerate(order):
            p, entry = self.params[position], saved.get(key)
            if entry is None:  # never stepped (no gradient yet): fresh state
                continue
            if any(k not in entry for k in keys):
                raise OptimizerStateMismatch(f"the saved state is not {self.solver}'s")
            for k in keys:
                if entry[k].shape != p.shape:
                    raise OptimizerStateMismatch(
                        f"a saved state tensor has shape {tuple(entry[k].shape)}, the "
                        f"parameter {tuple(p.shape)}"
                    )
        for position, key in enumerate(order):
            entry, state = saved.get(key), self.state[position]
            if entry is None:
                continue
            for k, value in entry.items():
                if k in state:
                    target = state[k]
                    target.copy_(torch.as_tensor(value, dtype=target.dtype).reshape(target.shape))


def _sgd(params, grads, states, lr, weight_decay):
    for p, grad, state in zip(params, grads, states, strict=True):
        grad = grad if weight_decay == 0 else grad.add(p, alpha=weight_decay)
        buf = state["momentum_buffer"]
        buf.mul_(MOMENTUM).add_(grad)
        p.add_(grad.add(buf, alpha=MOMENTUM), alpha=-lr)  # Nesterov


def _adam_reference(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, weight_decay, decoupled):
    """The Adam / AdamW update with public tensor operations (torch's algorithm)."""
    beta1, beta2 = BETAS
    for p, grad, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        step.add_(1)
        if weight_decay != 0:
            if decoupled:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(p, alpha=weight_decay)
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        t = float(step.item())
        denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(EPS)
        p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))


def _fused_step(kernel, params, grads, exp_avgs, exp_avg_sqs, steps, lr, weight_decay):
    """One update through torch's fused kernel, called as torch.optim.Adam(fused=True)
    calls it."""
    torch._foreach_add_(steps, 1)
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=lr,
        beta1=BETAS[0],
        beta2=BETAS[1],
        weight_decay=weight_decay,
        eps=EPS,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


def _fused_kernel(decoupled, params):
    """torch's fused Adam(W) kernel when it is there and passes the self-test, else None."""
    name = "_fused_adamw_" if decoupled else "_fused_adam_"
    device = params[0].device
    if device.type not in ("cpu", "cuda") or any(
        p.dtype != torch.float32 or p.device != device for p in params
    ):
        return None
    key = (name, device.type)
    ok = _FUSED_OK.get(key)
    if ok is None:
        with _FUSED_LOCK:
            ok = _FUSED_OK.get(key)
            if ok is None:
                ok = _FUSED_OK[key] = _self_test(name, decoupled, device)
    return getattr(torch, name) if ok else None


def _self_test(name, decoupled, device):
    """Does torch's private kernel exist, take these arguments and match the reference?"""
    kernel = getattr(torch, name, None)
    if kernel is None:
        return False
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(7, 5, generator=gen)
    g = torch.randn(7, 5, generator=gen)
    results = []
    try:
        for fused in (True, False):
            param = p.clone().to(device)
            m, v = torch.zeros_like(param), torch.zeros_like(param)
            step = torch.zeros((), dtype=torch.float32, device=device)
            grad = g.to(device)
            for _ in range(3):
                if fused:
                    _fused_step(kernel, [param], [grad], [m], [v], [step], 1e-2, 0.1)
                else:
                    _adam_reference(
                        [param],
                        [grad],
                        [m],
                        [v],
                        [step],
                        lr=1e-2,
                        weight_decay=0.1,
                        decoupled=decoupled,
                    )
            results.append(param.cpu())
    except Exception as exc:  # a changed signature or a missing kernel for this device
        warn_at_caller(
            f"skae: torch.{name} is unusable ({type(exc).__name__}: {exc}); "
            "training uses the slower reference update.",
            RuntimeWarning,
        )
        return False
    if not torch.allclose(results[0], results[1], rtol=1e-5, atol=1e-7):
        warn_at_caller(
            f"skae: torch.{name} disagrees with the Adam update; training uses the "
            "slower reference update.",
            RuntimeWarning,
        )
        return False
    return True
