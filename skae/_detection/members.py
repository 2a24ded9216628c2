"""The detector's members: made, validated, given the detector's training parameters and
seeded, in the steps scikit-learn's ``ensemble/_base.py`` names (``_validate_estimator``,
``_make_estimator``, ``_set_random_states``)."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._estimators.base import BaseAutoencoder
from .default_members import default_estimators

# The detector's training parameters, passed on to the members.
TRAINING_PARAMS = ("max_iter", "learning_rate_init", "batch_size", "device", "n_jobs")


def validate_members(estimator):
    """The members given in ``estimator`` (one, or a non-empty list), unfitted clones."""
    given = list(estimator) if isinstance(estimator, (list, tuple)) else [estimator]
    if not given or not all(isinstance(m, BaseAutoencoder) for m in given):
        raise ValueError(
            "estimator must be an AutoencoderTransformer or VAETransformer, a "
            f"non-empty list of them, or None; got {estimator!r}."
        )
    return [clone(m) for m in given]


def pass_training_params(members, detector):
    """Give every member the detector's training parameters that are set; a member given
    by the user keeps a parameter it set itself (not at its own default)."""
    for member in members:
        defaults = inspect.signature(type(member)).parameters
        own = member.get_params(deep=False)
        for name in TRAINING_PARAMS:
            value = getattr(detector, name)
            if value is None:
                continue
            if detector.estimator is not None and own[name] != defaults[name].default:
                continue  # set on the member by the user: that wins
            member.set_params(**{name: value})
        if detector.verbose:
            member.set_params(verbose=0)  # the detector shows one bar for all
        member._validate_params()  # parameters set here are checked like the user's


def set_random_states(members, random_state):
    """Seed every member from ``random_state`` (when not None), overriding their own."""
    if random_state is None:
        return
    rng = check_random_state(random_state)
    for member in members:
        member.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))


def make_members(detector, n_features, n_samples=None, novelty=False):
    """Unfitted members of ``detector``: the default ensemble (trained on every row with
    ``novelty``) or clones of its ``estimator``, with its training parameters and seeds."""
    if detector.estimator is None:
        members = default_estimators(n_features, n_samples)
        if novelty:  # no anomalies in the training rows: none to trim away
            for member in members:
                member.set_params(loss_trim=0.0)
    else:
        members = validate_members(detector.estimator)
    pass_training_params(members, detector)
    set_random_states(members, detector.random_state)
    return members
