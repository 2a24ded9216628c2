"""Training a detector's members in as few networks as possible.

:func:`train_members` trains the members (:class:`~skae._estimators.member.Member`):
autoencoders whose :class:`~skae._estimators.member.StackSpec` are equal differ only in
widths, code size and seed, and train together as one
:class:`~skae._nn.stacked.StackedAutoencoder`, one pass per minibatch, when a CPU cost model
says it pays (:func:`stack_groups`); the rest train one by one. Either way every member ends
as an ordinary fitted estimator. Scoring them is :mod:`skae._detection.scorer`.
"""

from __future__ import annotations

import dataclasses

from .._nn.stacked import StackedAutoencoder
from .._train.devices import resolve_device
from .._train.progress import ProgressBar
from .._train.threads import mlp_flops

# A rough CPU cost model of one training step, to decide whether stacking pays: the fixed
# cost of a network's step (operator dispatch, autograd, the optimiser), a stack's, and
# the arithmetic rate (one thread). Measured with benchmarks/bench_fit.py on 2-core
# AVX-512 machines; only their ratios matter.
STEP_SECONDS, STACK_STEP_SECONDS, FLOPS_PER_SECOND = 3e-4, 4e-4, 4e10


def stack_groups(members, n_features=None, n_samples=None):
    """Lists of member indices: one per stack (2+ members with equal specs), then singles.

    With ``n_features`` (training), members that train alone (:meth:`_trains_alone`: the
    adaptive learning rate, which a stack's members cannot share) are singles, and on a
    CPU a group is stacked only when the cost model says a step of the stack, padded to
    its widest member, is cheaper than a step of each member alone: small networks are
    bound by per-step overhead, wide ones by arithmetic, which padding multiplies.
    Inference always stacks (one graph node per layer).
    """
    groups, singles = {}, []
    training = n_features is not None
    for i, member in enumerate(members):
        key = member._stack_spec()
        if key is None or (training and member._trains_alone()):
            singles.append([i])
        else:
            groups.setdefault(key, []).append(i)
    stacks = []
    for group in groups.values():
        if len(group) > 1 and (
            n_features is None or _stacking_pays([members[i] for i in group], n_features, n_samples)
        ):
            stacks.append(group)
        else:
            singles = [[i] for i in group] + singles
    return stacks + singles


def _stacking_pays(members, n_features, n_samples=None):
    if resolve_device(members[0].device).type != "cpu":
        return True  # a GPU step is all overhead at these sizes
    # an "auto" batch follows the rows; without them, its size on large tables
    batch = members[0]._batch_size(n_samples if n_samples is not None else 2**31)
    widths = [m._layer_widths(n_features) for m in members]
    padded = [max(w[j] for w in widths) for j in range(len(widths[0]))]
    stacked = STACK_STEP_SECONDS + mlp_flops(padded, batch, len(members)) / FLOPS_PER_SECOND
    alone = sum(STEP_SECONDS + mlp_flops(w, batch) / FLOPS_PER_SECOND for w in widths)
    return stacked < alone


# ------------------------------------------------------------------------ training
def train_members(members, groups, X, *, partial, progress=None):
    """Fit (or continue) every member on X, in ``groups`` (:func:`stack_groups` of the
    members and X's width); returns the members that ran out of epochs."""
    unconverged = []
    for group in groups:
        chosen = [members[i] for i in group]
        if progress is not None:
            first, last = group[0] + 1, group[-1] + 1
            label = (
                f"{first}"
                if len(group) == 1
                else f"{first}-{last}"
                if group == list(range(group[0], group[-1] + 1))
                else ",".join(str(i + 1) for i in group)
            )
            progress.start_group(f"{label} of {len(members)}")
        if len(chosen) == 1:
            converged = [chosen[0]._train_on(X, partial, progress)]
        else:
            converged = _train_stack(chosen, X, partial, progress)
        unconverged += [m for m, ok in zip(chosen, converged, strict=True) if not ok]
    return unconverged


def _train_stack(members, X, partial, progress):
    """Train members of one stack spec as one network; returns which stopped by
    themselves. Every member's weights, curves and optimiser state are installed only
    once the whole stack has trained, so a failure leaves them as they were."""
    lead = members[0]  # equal stack specs: every training setting is the lead's
    prepared = [m._prepare_training(X, partial, as_float32=i == 0) for i, m in enumerate(members)]
    X32 = prepared[0][0]
    n_features = X32.shape[1]
    continuing = all(c for _, c in prepared)
    starts = [m._training_start(n_features, continuing) for m in members]
    if continuing and (
        any(s.optimizer_state is None for s in starts) or len({m.n_iter_ for m in members}) != 1
    ):
        # histories that differ cannot share one optimiser step count: start afresh
        continuing = False
        starts = [m._training_start(n_features, False) for m in members]
    # one stream for the stack: the lead's, which every member then carries on
    starts = [dataclasses.replace(s, generator=starts[0].generator) for s in starts]
    modules = [s.module for s in starts]
    stack = StackedAutoencoder(modules, lead._stack_spec().activation)
    optimizer_state = (
        _stack_optimizer_states(stack, [s.optimizer_state for s in starts]) if continuing else None
    )
    batch = lead._batch_size(len(X32), partial)
    flops = sum(mlp_flops(m._layer_widths(n_features), batch) for m in members)
    result = lead._run_training(
        starts[0],
        stack,
        X32,
        partial=partial,
        progress=progress,
        optimizer_state=optimizer_state,
        n_members=len(members),
        flops=flops,
    )
    stack.write_members(modules)
    member_states = _unstack_optimizer_state(stack, result.optimizer_state)
    for member, start, outcome, state in zip(
        members, starts, result.members, member_states, strict=True
    ):
        member._after_training(start.module, X32, partial)
        member._finish_training(
            start, start.module, outcome, optimizer_state=state, partial=partial
        )
    return [partial or m.stopped_early or result.interrupted for m in result.members]


def _stack_optimizer_states(stack, states):
    """Members' optimiser states (skae._train.optim's layout) -> the stack's."""
    if any(s.get("order") != "module" for s in states):
        return None  # a state of another layout: start the optimiser afresh
    n = len(states[0]["state"])
    keys = [k for k in states[0]["state"][0] if k != "step"]
    stacked = {i: {} for i in range(n)}
    for key in keys:
        per_member = [[s["state"][i][key] for i in range(n)] for s in states]
        for i, tensor in enumerate(stack.stack_state(per_member)):
            stacked[i][key] = tensor
    if "step" in states[0]["state"][0]:
        for i in stacked:
            stacked[i]["step"] = states[0]["state"][0]["step"].clone()
    return {"state": stacked, "param_groups": [{"params": list(range(n))}], "order": "module"}


def _unstack_optimizer_state(stack, state):
    """The stack's optimiser state -> one state per member, in the same layout."""
    n = len(state["state"])
    entries = [state["state"][i] for i in range(n)]
    per_key = {
        key: stack.unstack_state([e[key] for e in entries]) for key in entries[0] if key != "step"
    }
    out = []
    for k in range(stack.n_members):
        member = {i: {key: per_key[key][k][i] for key in per_key} for i in range(n)}
        if "step" in entries[0]:
            for i in member:
                member[i]["step"] = entries[0]["step"].clone()
        out.append(
            {"state": member, "param_groups": [{"params": list(range(n))}], "order": "module"}
        )
    return out


def _why_stopped(members, unconverged, partial, budgeted=False):
    """The ensemble's progress bar's last words (``budgeted``: the members train for a
    step budget by design, so running it out is the plan, not a failure)."""
    if unconverged is None:
        return "stopped by an error or Ctrl-C"
    if partial:
        return f"one epoch on this chunk for {len(members)} networks"
    n, done = len(members), len(members) - len(unconverged)
    if budgeted:
        return (
            f"done: {n} networks trained for their step budget, as designed"
            if done == 0
            else f"done: {done} of {n} networks converged early, the others trained for "
            "their step budget, as designed"
        )
    return f"{done} of {n} networks stopped by themselves, {n - done} at max_iter"


def train_ensemble(members, X, partial, verbose, budgeted=False):
    """Train the members on X (one epoch with ``partial``), with one progress bar for
    all when ``verbose`` (``budgeted``: the members train for a step budget by design);
    returns those that ran out of epochs."""
    groups = stack_groups(members, X.shape[1], X.shape[0])
    bar = None
    if verbose:
        epochs = 1 if partial else max(m._max_epochs(len(X)) for m in members)
        bar = ProgressBar(epochs * len(groups), desc="skae ensemble")
    unconverged = None
    try:
        unconverged = train_members(members, groups, X, partial=partial, progress=bar)
    finally:
        if bar is not None:
            bar.finish(_why_stopped(members, unconverged, partial, budgeted))
    return unconverged
