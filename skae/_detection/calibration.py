"""The detector's calibration: from its members' outputs on the training rows to the
weights that turn them into one score, and the threshold on that score.

Each member gives a reconstruction term (its mean error; with ``normalize_errors``, each
feature's divided by that feature's median training error) and, with
``latent_weight > 0``, a code-space term (the Mahalanobis distance of its code over the
code size); with ``neighbor_weight > 0`` the detector adds one neighbour term (the mean
distance to the nearest reference rows, :mod:`skae._detection.neighbors`). Unless one
member is scored by reconstruction alone, every term is standardised by its median and
interquartile range on the training rows. The weights are folded into the members'
:class:`MemberWeights` (and the :class:`~skae._detection.neighbors.NeighborPlan`), so the
score is ``bias - sum of the weighted terms``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .neighbors import NeighborPlan


@dataclass
class MemberWeights:
    """How one member's outputs enter the detector's score.

    The member's error term is ``feature_loss @ error_weights`` (or, without per-feature
    weights, ``-score * error_scale``) and its code term ``||code @ whitener - shift||^2``.
    """

    error_weights: np.ndarray | None  # (n_features,)
    error_scale: float
    whitener: np.ndarray | None  # (n_components, n_components)
    shift: np.ndarray | None  # (n_components,)
    feature_scale: np.ndarray | None  # (n_features,), divides feature_errors


@dataclass
class Calibration:
    """What turns the members' outputs into scores (see the detector's Notes)."""

    feature_scales: list | None
    latent_means: list | None
    latent_precisions: list | None
    weights: list  # one MemberWeights per member
    bias: float
    offset: float | None = None  # set from the training scores (:func:`threshold`)
    scorer: object = None  # the float64 EnsembleScorer built from these (not pickled)
    # the sorted calibration scores (score_samples) p-values count against, and whether
    # they are of rows held out of training (false_alarm_rate) or of training rows
    scores: np.ndarray | None = None
    held_out: bool = False
    neighbors: NeighborPlan | None = None  # the reference set, its weight folded in


def calibrate(
    errors,
    codes,
    scores,
    *,
    normalize_errors,
    latent_weight,
    informative=None,
    neighbors=None,
    neighbor_terms=None,
    neighbor_weight=0.0,
):
    """The members' weights and the bias, from their outputs on the calibration rows.

    Parameters
    ----------
    errors : list of ndarray of shape (n_samples, n_features)
        Each member's feature losses.
    codes : list of ndarray of shape (n_samples, n_components)
        Each member's codes.
    scores : list of ndarray of shape (n_samples,)
        Each member's own ``score_samples``.
    normalize_errors : bool
        Divide each feature's error by its median training error.
    latent_weight : float
        Weight of the code-space terms; 0 leaves them out.
    informative : ndarray of bool of shape (n_features,), default=None
        Which features vary in the calibration rows (None: all). A constant feature
        carries no information: its reconstruction error there is float noise, so its
        scale is the median of the informative features' scales, not its own (see
        :func:`_feature_scale`).
    neighbors : NeighborPlan, default=None
        The reference set (at unit weight), when there is a neighbour term.
    neighbor_terms : ndarray of shape (n_samples,), default=None
        That term on the calibration rows (a row of the reference set left out of its
        own neighbours).
    neighbor_weight : float, default=0.0
        Weight of the neighbour term, relative to the reconstruction terms' 1.

    Returns
    -------
    calibration : Calibration
        Without ``offset`` and ``scorer``, which need the scores of these weights.
    """
    k, n_features = len(errors), errors[0].shape[1]
    scales = means = precisions = None
    if normalize_errors:
        scales = [_feature_scale(e, informative) for e in errors]
    whiteners = [None] * k
    if latent_weight > 0:
        means, precisions, whiteners = zip(*(_code_statistics(z) for z in codes), strict=True)
    unit = [
        MemberWeights(
            None if scales is None else 1.0 / (scales[i] * n_features),
            1.0,
            None if whiteners[i] is None else whiteners[i][0],
            None if whiteners[i] is None else whiteners[i][1],
            None if scales is None else scales[i],
        )
        for i in range(k)
    ]
    terms = _unit_terms(unit, errors, codes, scores)
    n_member_terms = terms.shape[1]
    with_neighbors = neighbors is not None and neighbor_weight > 0
    if with_neighbors:
        terms = np.column_stack([terms, np.asarray(neighbor_terms, dtype=np.float64)])
    if k == 1 and latent_weight == 0 and not with_neighbors:
        term_weights, median = np.ones(1), np.zeros(1)
    else:
        q1, median, q3 = np.percentile(terms, [25, 50, 75], axis=0)
        # A constant term (IQR 0) falls back on its standard deviation, then on 1.
        spread = np.where(q3 - q1 > 0, q3 - q1, terms.std(axis=0))
        spread = np.where(spread > 0, spread, 1.0)
        share = np.r_[np.full(k, 1.0 / k), np.full(n_member_terms - k, latent_weight / k)]
        if with_neighbors:
            share = np.r_[share, neighbor_weight]
        term_weights = share / spread
    member_weights = [
        _fold(unit[i], term_weights[i], term_weights[k + i] if n_member_terms > k else None)
        for i in range(k)
    ]
    return Calibration(
        scales,
        None if means is None else list(means),
        None if precisions is None else list(precisions),
        member_weights,
        float(np.sum(term_weights * median)),
        neighbors=replace(neighbors, weight=float(term_weights[-1])) if with_neighbors else None,
    )


def threshold(scores, contamination):
    """``offset_``: the ``100 * contamination`` percentile of the training scores, or
    Tukey's lower fence ``Q1 - 1.5 * IQR`` with ``contamination="auto"``."""
    if contamination == "auto":
        q1, q3 = np.percentile(scores, [25, 75])
        return float(q1 - 1.5 * (q3 - q1))
    return float(np.percentile(scores, 100.0 * contamination))


def _feature_scale(errors, informative=None):
    """A member's median training error per feature, as float64.

    A feature constant in the training rows has no information, and its median error is
    float noise: divided by it, the noise would make it the explanation of ordinary rows
    and move which rows are flagged. Its scale is the median of the other features'
    scales instead, so only a real departure from its constant (a new value, an unseen
    category) counts, as much as a departure of the same size in any feature.
    """
    median = np.median(errors, axis=0).astype(np.float64)
    if informative is not None and informative.any() and not informative.all():
        median = np.where(informative, median, np.median(median[informative]))
    # A feature reconstructed perfectly in training must not divide by ~0.
    return np.maximum(median, max(1e-3 * median.mean(), 1e-12))


def informative_features(X):
    """Which columns of the calibration rows X vary: a spread above float noise."""
    spread = np.ptp(np.asarray(X, dtype=np.float64), axis=0) if len(X) else np.zeros(X.shape[1])
    typical = np.abs(np.asarray(X, dtype=np.float64)).max(axis=0) if len(X) else spread
    return spread > 1e-6 * np.maximum(typical, 1e-30)


def _unit_terms(member_weights, errors, codes, scores):
    """The anomaly terms of the unit weights, (n, n_terms), from the members' outputs: the
    error terms are linear in the feature losses, the code terms squared distances, so no
    second pass through the networks is needed."""
    columns = []
    for w, e, s in zip(member_weights, errors, scores, strict=True):
        columns.append(e @ w.error_weights if w.error_weights is not None else -s * w.error_scale)
    for w, z in zip(member_weights, codes, strict=True):
        if w.whitener is not None:
            y = z @ w.whitener - w.shift
            columns.append((y * y).sum(axis=1))
    return np.column_stack(columns)


def _fold(w, error_weight, code_weight):
    """Unit weights with the final weights folded in: the score is then ``bias - sum``."""
    root = None if code_weight is None else np.sqrt(code_weight)
    return MemberWeights(
        None if w.error_weights is None else w.error_weights * error_weight,
        w.error_scale * error_weight,
        None if w.whitener is None else w.whitener * root,
        None if w.shift is None else w.shift * root,
        w.feature_scale,
    )


def _code_statistics(codes):
    """Mean, precision and whitener (W, shift) of a member's training codes.

    ``W W^T = precision / n_components``, so the code term ``||z W - shift||^2`` is the
    Mahalanobis distance divided by the code size: one matrix product in the graph.
    """
    # (one training row has no spread: a zero covariance, the ridge decides)
    cov = (
        np.atleast_2d(np.cov(codes, rowvar=False))
        if len(codes) > 1
        else np.zeros((codes.shape[1], codes.shape[1]))
    )
    # The ridge keeps a collapsed code direction (or a code on the unit sphere)
    # invertible without letting it dominate the distance.
    ridge = 1e-6 * max(np.trace(cov) / len(cov), 1e-12)
    precision = np.linalg.pinv(cov + ridge * np.eye(len(cov)), hermitian=True)
    values, vectors = np.linalg.eigh(precision)
    whitener = vectors * np.sqrt(np.clip(values, 0, None) / codes.shape[1])
    mean = codes.mean(axis=0)
    return mean, precision, (whitener, mean @ whitener)
