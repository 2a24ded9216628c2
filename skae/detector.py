"""ReconstructionAnomalyDetector: outliers from reconstruction errors, IsolationForest-style."""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._detection import conformal
from ._detection.calibration import MemberWeights, calibrate, informative_features, threshold
from ._detection.calibration_sample import CalibrationSample
from ._detection.default_members import default_epochs, default_estimators
from ._detection.ensemble import train_ensemble
from ._detection.members import TRAINING_PARAMS, make_members
from ._detection.neighbors import auto_reference_size, reference_terms
from ._detection.scorer import EnsembleScorer
from ._estimators.base import BaseAutoencoder, keep_state_on_error, warn_not_converged
from ._estimators.batches import map_batches
from ._estimators.validation import check_finite_output, validate, validate_fitted

# default_epochs and default_estimators are documented here, where the detector uses them
__all__ = ["ReconstructionAnomalyDetector", "default_epochs", "default_estimators"]


# The fewest rows whose scores give quartiles and a threshold worth the name: with fewer,
# the robust standardisation divides by the spread of one or two rows.
MIN_CALIBRATION_ROWS = 10

# neighbor_weight="auto": without and with novelty (benchmarks/README.md, both halves)
NEIGHBOR_WEIGHT, NOVELTY_NEIGHBOR_WEIGHT = 4.0, 16.0


def _check_enough_calibration_rows(n, rate):
    need = conformal.needed_rows(rate)
    if n < need:
        raise ValueError(
            f"false_alarm_rate={rate} needs at least {need} calibration rows, held out of "
            f"the rows partial_fit has seen ({conformal.CALIBRATION_FRACTION:.0%} of each "
            f"chunk); it holds {n}: add rows with partial_fit, or raise false_alarm_rate."
        )


def _check_enough_rows(n, method):
    if n < MIN_CALIBRATION_ROWS:
        raise ValueError(
            f"ReconstructionAnomalyDetector needs at least {MIN_CALIBRATION_ROWS} rows to "
            "calibrate its scores (their quartiles and the threshold); "
            + (
                f"got n_samples = {n}."
                if method == "fit"
                else f"partial_fit has seen {n} (n_samples = {n}): add rows with "
                "partial_fit before scoring."
            )
        )


class ReconstructionAnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detector scoring rows by how badly autoencoders reconstruct them.

    One autoencoder (or VAE), or an ensemble of them, is fitted on the training data,
    assumed mostly normal; rows reconstructed badly are anomalous, and so are rows far
    from their nearest training rows (a bounded reference set). The interface follows
    :class:`sklearn.ensemble.IsolationForest`: ``score_samples`` is higher for normal
    rows, ``decision_function = score_samples - offset_`` is negative for outliers, and
    ``predict`` returns +1 (inlier) or -1 (outlier), with ``offset_`` set so that a
    ``contamination`` share of the training rows is flagged.

    Parameters
    ----------
    estimator : AutoencoderTransformer, VAETransformer, list of them, or None, \
default=None
        The model(s) to fit (cloned). A list makes an ensemble. None uses
        :func:`default_estimators`, five small autoencoders of different shapes sized from
        the number of features, chosen for tabular data. Scale the data first
        (``make_pipeline(StandardScaler(), ReconstructionAnomalyDetector())``).
        Autoencoders whose settings differ only in widths, code size and seed train
        together as one stacked network (one pass per minibatch for all of them).
    contamination : "auto" or float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]; ``offset_`` is the
        ``100 * contamination`` percentile of the training scores. With "auto", no share
        is assumed: ``offset_`` is Tukey's lower fence of the training scores,
        ``Q1 - 1.5 * IQR``, so rows flagged are those far below the bulk. It does not
        apply with ``false_alarm_rate`` (setting both to other than this default is an
        error).
    false_alarm_rate : float in (0, 0.5), default=None
        For training rows known to be normal: the most a new row drawn like them may be
        flagged, on average over fits. 20% of the training rows (at most 10,000) are held
        out of training (20% of each chunk with ``partial_fit``: the same rows on every
        pass over the data, each counted once; see
        :mod:`skae._detection.calibration_sample`), and ``offset_`` is set
        from their scores by split conformal prediction, so that a row is flagged exactly
        when its p-value (:meth:`pvalues`) is at most this rate. Needs at least
        ``1 / false_alarm_rate - 1`` held-out rows (99 at 0.01).
    novelty : "auto" or bool, default="auto"
        Whether the training rows are known to be normal (novelty detection, in
        scikit-learn's terms: a model fitted on last month's normal traffic scores
        today's) or may hold anomalies (outlier detection). True: the neighbour term looks
        at the nearest 2 reference rows (``n_neighbors="auto"``) and the default members
        train on every row; False: the neighbourhood is 8% of the reference rows, so that
        a small cluster of anomalies in the training rows cannot vouch for its own
        members, and the default members leave the worst 10% of each minibatch out of
        their loss. "auto": True with ``false_alarm_rate`` (which takes the training rows
        as normal), else False. Unlike :class:`~sklearn.neighbors.LocalOutlierFactor`'s
        ``novelty``, every method works either way; ``score_samples`` of a training row
        leaves that row out of its own neighbours.
    normalize_errors : bool, default=True
        Divide each feature's reconstruction error by that feature's median error on the
        training data before averaging over features, so features that are hard to
        reconstruct everywhere do not drown the others. The median, not the mean: the
        training data holds anomalies, whose large errors would inflate a mean. When
        False, a member's reconstruction score is its own ``score_samples`` (minus the
        loss; the ELBO for a VAE).
    latent_weight : float, default=0.0
        Weight of the code-space term, relative to the reconstruction term's 1: the
        Mahalanobis distance of a row's latent code (the posterior mean for a VAE) from
        the training codes, which flags rows that reconstruct well but sit far out along
        the directions the model did learn (Denouden et al., 2018). 0 leaves it out (the
        neighbour term covers such rows better on ADBench's datasets).
    neighbor_weight : "auto" or float, default="auto"
        Weight of the neighbour term, relative to the reconstruction term's 1: the mean
        Euclidean distance from a row to its ``n_neighbors`` nearest rows of the
        reference set, in input space. 0 leaves it out (scores by reconstruction alone,
        plus the code-space term). "auto": 4, or 16 with ``novelty`` (on normal training
        rows the autoencoders add nothing measurable to the nearest neighbours on the
        benchmark's datasets: the score is then mostly the neighbour term).
    n_neighbors : "auto" or int, default="auto"
        The neighbourhood of the neighbour term. "auto": 2 with ``novelty``, else 8% of
        the reference rows (at least 1).
    reference_size : "auto" or int, default="auto"
        The most training rows the neighbour term measures distances to: a uniform
        sample of the calibration rows (of the ``partial_fit`` reservoir). "auto": 1,024
        with ``novelty`` (the nearest 2 of more rows resolve more), else 512 (a
        neighbourhood of 8% is as well estimated from 512 rows as from 1,024 on the
        benchmark's both halves, at half the cost). It bounds the
        cost of scoring a row (one matrix product with the reference set) and the size of
        the fitted detector and of its ONNX graph: each holds the reference rows once, in
        float64 (``reference_size * n_features * 8`` bytes). These are raw training rows
        (after the Pipeline's preprocessing), recoverable from the model file: see
        ``references``.
    references : {"rows", "centroids"}, default="rows"
        What the neighbour term measures distances to. "rows": ``reference_size``
        training rows drawn at random, kept as they are in the fitted detector and in its
        ONNX graph (anyone with the model file can read them, through the Pipeline's
        scaler back to the original units). "centroids": k-means centroids of the
        calibration rows (at most ``min(reference_size, 256)``), each the mean of at
        least 5 rows (smaller clusters are dropped), so the model file holds no training
        row; the term is then the distance to the nearest centroids that stand for 8% of
        the rows (with ``novelty``, the nearest centroid). It costs a little detection
        quality (benchmarks/README.md) and scores faster. The pickle keeps the
        calibration sample either way (``reservoir_size``).
    max_iter : int, default=None
        Maximum epochs of every member. None: for the default members, enough epochs for
        about 300 optimiser steps (:func:`default_epochs`: 10 to 200 epochs, fewer for
        larger tables), a budget by design (brief training keeps anomalies in the
        training rows from being learnt), so reaching it raises no ConvergenceWarning;
        the members' own setting otherwise.
    learning_rate_init : float, default=None
        Learning rate of every member. None: 3e-3 for the default members, the
        members' own setting otherwise.
    batch_size : int, default=None
        Minibatch size of every member. None: the members' own setting (256 by default).
    device : str or torch.device, default=None
        Where the members train ("auto", "cpu", "cuda", "cuda:1"). None: the members' own
        setting ("auto": CUDA when available).
    n_jobs : int, default=None
        CPU threads for training and scoring; None chooses per call (see
        :class:`~skae.AutoencoderTransformer`).
    verbose : int, default=0
        1 shows one progress bar for the whole ensemble.
    reservoir_size : int, default=50_000
        The most training rows the calibration (error scales, code statistics, the robust
        standardisation, ``offset_``) is computed from. ``fit`` uses all rows up to this
        many, else a random sample of this size; ``partial_fit`` keeps a uniform sample
        (reservoir sampling) of all the rows it has seen, ``fit``'s included, so its
        memory does not grow with the data. The sample stays in the fitted detector (and
        its pickle: up to ``reservoir_size * n_features * 4`` bytes), so that
        ``partial_fit`` after ``fit`` recalibrates from every row seen; lower it for
        smaller pickles. At least 10 rows are needed to calibrate.
    random_state : int, RandomState instance or None, default=None
        When not None, seeds every member (overriding their own ``random_state``) and the
        calibration sample.

    The training parameters (``max_iter`` to ``n_jobs``) reach every default member; a
    member given in ``estimator`` takes them only where it was left at its own default,
    so a setting made on the member wins.

    Attributes
    ----------
    estimators_ : list of AutoencoderTransformer or VAETransformer
        The fitted models.
    estimator_ : AutoencoderTransformer or VAETransformer
        The first fitted model (the only one unless ``estimator`` is a list or None).
    feature_scales_ : list of ndarray of shape (n_features,) or None
        Each member's median training error per feature (``normalize_errors=True``).
    latent_means_, latent_precisions_ : list of ndarray or None
        Each member's mean training code and the inverse of its covariance (with a
        small ridge), for the code-space term (``latent_weight > 0``).
    reference_ : ndarray of shape (n_references, n_features) or None
        The reference rows of the neighbour term (``neighbor_weight > 0``), or its
        centroids with ``references="centroids"``.
    model_training_rows_ : int
        How many training rows the exported model (and this detector) holds as they
        are, for the neighbour term: ``len(reference_)`` with ``references="rows"``, else
        0. The detector (and its pickle, not its ONNX graph) also keeps the calibration
        sample: up to ``reservoir_size`` training rows.
    n_neighbors_ : int or None
        The neighbourhood the neighbour term uses.
    novelty_ : bool
        The setting ``novelty`` resolved to at fit (at the first ``partial_fit``).
    false_alarm_rate_ : float or None
        The ``false_alarm_rate`` the fit calibrated ``offset_`` for (None: none).
    contamination_ : float, "auto" or None
        The ``contamination`` the fit set ``offset_`` from (None with a false-alarm
        rate). These three describe the fit: ``set_params`` after it changes the next
        fit, not them, nor the exported model's metadata; ``partial_fit`` refuses a
        change of any of them (call ``fit`` to start over).
    n_iter_ : int
        Epochs run by the member that trained longest.
    offset_ : float
        The threshold on ``score_samples``: the ``100 * contamination`` percentile of the
        training scores (or Tukey's lower fence with ``contamination="auto"``), or with
        ``false_alarm_rate`` just below the ``floor(rate (n + 1))``-th lowest of the n
        calibration scores. It never lies within a tie group of scores (rows that score
        the same up to rounding, as on discrete data): a tied row's label does not
        depend on the rows scored with it (see :mod:`skae._detection.conformal`).
    calibration_scores_ : ndarray
        The sorted calibration scores (see :meth:`pvalues`).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The same interface, from random trees.

    Notes
    -----
    Each member gives a reconstruction term (its mean normalised error) and, when
    ``latent_weight > 0``, a code-space term (the Mahalanobis distance of its code,
    divided by the code size). The neighbour term (``neighbor_weight > 0``) is
    ``d(x) = mean of ||x - r|| over the n_neighbors nearest reference rows r``, a
    reference row equal to x left out. With one member, ``latent_weight=0`` and
    ``neighbor_weight=0``, ``score_samples`` is minus that reconstruction term.
    Otherwise every term is standardised robustly by its median and interquartile range
    on the training rows (anomalies in the training data barely move either), and
    ``score_samples`` is minus (the mean standardised reconstruction term of the members
    plus ``latent_weight`` times their mean standardised code term plus
    ``neighbor_weight`` times the standardised neighbour term).

    What a fitted detector holds of the training rows: its ONNX graph holds
    ``model_training_rows_`` of them as they are (the neighbour term's reference rows,
    at most ``reference_size``; none with ``references="centroids"`` or
    ``neighbor_weight=0``), readable by anyone with the file; the detector itself, and
    so its pickle, also keeps the calibration sample (up to ``reservoir_size`` rows, so
    that ``partial_fit`` can recalibrate) and, with ``false_alarm_rate``, up to 10,000
    held-out rows.

    References
    ----------
    T. Denouden et al., "Improving Reconstruction Autoencoder Out-of-distribution
    Detection with Mahalanobis Distance", arXiv:1812.02765, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(300, 5))
    >>> det = ReconstructionAnomalyDetector(
    ...     AutoencoderTransformer(max_iter=20), contamination=0.05, random_state=0
    ... ).fit(X)
    >>> det.predict([[0, 0, 0, 0, 0], [9, -9, 9, -9, 9]])
    array([ 1, -1])
    """

    _parameter_constraints: dict = {
        "estimator": [BaseAutoencoder, list, tuple, None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "false_alarm_rate": [None, Interval(Real, 0, 0.5, closed="neither")],
        "novelty": [StrOptions({"auto"}), "boolean"],
        "normalize_errors": ["boolean"],
        "latent_weight": [Interval(Real, 0, None, closed="left")],
        "neighbor_weight": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "n_neighbors": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "reference_size": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left")],
        "references": [StrOptions({"rows", "centroids"})],
        "max_iter": [None, Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [None, Interval(Real, 0, None, closed="neither")],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "device": [None, str, torch.device],
        "n_jobs": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
        ],
        "verbose": ["verbose"],
        "reservoir_size": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        contamination=0.1,
        false_alarm_rate=None,
        novelty="auto",
        normalize_errors=True,
        latent_weight=0.0,
        neighbor_weight="auto",
        n_neighbors="auto",
        reference_size="auto",
        references="rows",
        max_iter=None,
        learning_rate_init=None,
        batch_size=None,
        device=None,
        n_jobs=None,
        verbose=0,
        reservoir_size=50_000,
        random_state=None,
    ):
        self.estimator = estimator
        self.contamination = contamination
        self.false_alarm_rate = false_alarm_rate
        self.novelty = novelty
        self.normalize_errors = normalize_errors
        self.latent_weight = latent_weight
        self.neighbor_weight = neighbor_weight
        self.n_neighbors = n_neighbors
        self.reference_size = reference_size
        self.references = references
        self.max_iter = max_iter
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.reservoir_size = reservoir_size
        self.random_state = random_state

    def set_params(self, **params):
        if self.estimator is None and any(k.startswith("estimator__") for k in params):
            raise ValueError(
                "estimator is None (the default ensemble), so there is no estimator__ "
                "parameter to set. Tune the detector's own training parameters instead "
                f"({', '.join(TRAINING_PARAMS)}; in a Pipeline e.g. "
                "'reconstructionanomalydetector__max_iter'), or pass estimator="
                "AutoencoderTransformer(...) to tune its parameters."
            )
        return super().set_params(**params)

    # ------------------------------------------------------------------ members
    def _members(self, n_features, n_samples=None):
        """Unfitted clones of the members, with the detector's training parameters."""
        return make_members(self, n_features, n_samples, novelty=self._novelty())

    def _train(self, X, partial):
        """Train the members on X; returns those that ran out of epochs."""
        unconverged = train_ensemble(
            self.estimators_, X, partial, self.verbose, budgeted=self._budgeted()
        )
        self.n_iter_ = max(m.n_iter_ for m in self.estimators_)
        return unconverged

    # ---------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=False)  # the members are validated
    def fit(self, X, y=None):
        """Fit the model(s) on X and set ``offset_`` from ``contamination``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, mostly normal rows.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with keep_state_on_error(self):
            X = validate(self, X)
            self._check_rates()
            _check_enough_rows(len(X), "fit")
            self._set_fit_settings()
            # the calibration sample stands for all of X: partial_fit adds to it
            self._calibration_sample, X, rows, held = CalibrationSample.for_fit(
                X, self.reservoir_size, self.false_alarm_rate_, self.random_state
            )
            self.estimators_ = self._members(X.shape[1], X.shape[0])
            self.estimator_ = self.estimators_[0]
            unconverged = self._train(X, partial=False)
            self._calibration = self._calibrate(rows, held)
        if unconverged and not self._budgeted():
            warn_not_converged(unconverged)
        return self

    def _budgeted(self):
        """Whether the members train for a budget of optimiser steps by design (the
        default members at the detector's default ``max_iter``): reaching it is then no
        sign of a fit cut short, and no ConvergenceWarning is raised."""
        return self.estimator is None and self.max_iter is None

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y=None):
        """Train every member one epoch on a chunk of rows, continuing from before.

        For data that arrives in chunks or does not fit in memory. The first call builds
        the members; each call trains them one epoch on the chunk (the optimiser state
        and random streams carry over) and adds the chunk to a uniform sample of at most
        ``reservoir_size`` rows seen so far. The calibration (error scales, code
        statistics, the robust standardisation and ``offset_``) is computed from that
        sample when next needed, so memory does not grow with the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with keep_state_on_error(self):
            first = not hasattr(self, "estimators_")
            X = validate(self, X, reset=first)
            self._check_rates()
            if first:
                self._set_fit_settings()
                self.estimators_ = self._members(X.shape[1])
                self.estimator_ = self.estimators_[0]
                self._calibration_sample = CalibrationSample.start(
                    X.shape[1],
                    self.reservoir_size,
                    self.false_alarm_rate_ is not None,
                    self.random_state,
                )
            else:
                self._check_fit_settings()
            self._calibration_sample, X = self._calibration_sample.add(X)
            if len(X):
                self._train(X, partial=True)
            self._calibration = None  # recomputed from the sample when next needed
        return self

    def _novelty(self):
        """``novelty`` as fitted (``novelty_``), else as the parameters resolve it."""
        fitted = self.__dict__.get("novelty_")
        return self._settings()["novelty"] if fitted is None else fitted

    def _settings(self):
        """What the parameters make of the fit: ``novelty`` resolved ("auto" is True
        with ``false_alarm_rate``), the false-alarm rate, and the contamination (None
        with a rate, where it does not apply)."""
        rate = None if self.false_alarm_rate is None else float(self.false_alarm_rate)
        return {
            "false_alarm_rate": rate,
            "contamination": None if rate is not None else self.contamination,
            "novelty": rate is not None if self.novelty == "auto" else bool(self.novelty),
        }

    def _set_fit_settings(self):
        """Keep the settings the fit follows as fitted attributes: ``set_params`` after
        the fit changes the next fit, not what this one means (nor its export)."""
        settings = self._settings()
        self.novelty_ = settings["novelty"]
        self.false_alarm_rate_ = settings["false_alarm_rate"]
        self.contamination_ = settings["contamination"]

    def _check_fit_settings(self):
        """``partial_fit`` continues a fit: the settings it started with must stand."""
        for name, value in self._settings().items():
            fitted = getattr(self, f"{name}_")
            if value != fitted:
                raise ValueError(
                    f"{name} now resolves to {value!r}, but this detector was fitted with "
                    f"{fitted!r}, and partial_fit continues that fit: set {name} back, or "
                    "call fit to start a new one."
                )

    def _neighbor_weight(self):
        """``neighbor_weight`` resolved: "auto" is 4, or 16 with ``novelty``."""
        if self.neighbor_weight == "auto":
            return NOVELTY_NEIGHBOR_WEIGHT if self._novelty() else NEIGHBOR_WEIGHT
        return float(self.neighbor_weight)

    def _check_rates(self):
        """``contamination`` does not apply with ``false_alarm_rate``: only its default
        may stand beside it."""
        if self.false_alarm_rate is not None and self.contamination != 0.1:
            raise ValueError(
                f"contamination={self.contamination!r} and false_alarm_rate="
                f"{self.false_alarm_rate!r} were both set: with false_alarm_rate the "
                "training rows are taken as normal and the threshold is calibrated on rows "
                "held out of them, so contamination does not apply. Set one of them."
            )

    def _calibration_rows(self):
        """The rows the calibration scores came from, in the detector's input space: the
        held-out rows with ``false_alarm_rate`` (every one: the drift check's column
        shares are counted over as many rows as the calibration scores), else the
        training sample (at most 2,000)."""
        sample = self._calibration_sample
        limit = (
            conformal.MAX_CALIBRATION_SCORES if sample.holds_out else conformal.TRAINING_SCORES_KEPT
        )
        return sample.calibration_rows(limit)

    # ------------------------------------------------------------ calibration
    def _calibrated(self):
        """The calibration, computed from the reservoir on first use after ``partial_fit``.

        No lock: computing it is deterministic and has no other effect, so threads that
        first score at the same time each compute the same calibration, and one is kept.
        """
        calibration = self._calibration
        if calibration is None:
            sample = self._calibration_sample
            _check_enough_rows(sample.n_seen, "partial_fit")
            calibration = self._calibration = self._calibrate(sample.rows, sample.held_out)
        return calibration

    def _scorer(self, calibration, dtype=torch.float64, layout="batch", *, weights=None):
        """The scoring network of ``calibration`` (or of bare ``weights``, bias 0)."""
        if weights is not None:
            return EnsembleScorer(self.estimators_, weights, 0.0, dtype=dtype, layout=layout)
        return EnsembleScorer(
            self.estimators_,
            calibration.weights,
            calibration.bias,
            dtype=dtype,
            layout=layout,
            neighbors=calibration.neighbors,
        )

    def _run(self, scorer, method, X):
        """A float64 scorer method over X in chunks, on CPU, checked finite."""
        widths = self._member_widths()
        if scorer.neighbors is not None:
            widths = [*widths, scorer.neighbors.widths(self.n_features_in_)]
        out = map_batches(getattr(scorer, method), X, widths, self.n_jobs)
        return check_finite_output(out, X)

    def _references(self, X):
        """The neighbour term's plan (at unit weight) from the training rows X and that
        term on them; (None, None) when ``neighbor_weight=0``."""
        if self._neighbor_weight() == 0:
            return None, None
        return reference_terms(
            X,
            auto_reference_size(self.reference_size, self._novelty()),
            self.n_neighbors,
            self._novelty(),
            check_random_state(self.random_state),
            references=self.references,
            n_jobs=self.n_jobs,
        )

    def _member_widths(self):
        return [m._layer_widths(self.n_features_in_) for m in self.estimators_]

    def _calibrate(self, X, held_out=None):
        """Error scales, code statistics, robust standardisation and offset from the
        training rows X (float32 or float64), and the calibration scores: of the rows
        ``held_out`` of training when ``false_alarm_rate`` is set, else of X."""
        errors, codes, scores = self._member_outputs_over(X)
        neighbors, neighbor_terms = self._references(X)
        calibration = calibrate(
            errors,
            codes,
            scores,
            normalize_errors=self.normalize_errors,
            latent_weight=self.latent_weight,
            informative=informative_features(X),
            neighbors=neighbors,
            neighbor_terms=neighbor_terms,
            neighbor_weight=self._neighbor_weight(),
        )
        # the float64 scorer, built now and kept for score_samples (scoring then never
        # changes the fitted state); the training scores exactly as score_samples
        # computes them (ties included)
        calibration.scorer = self._scorer(calibration)
        scores = self._run(calibration.scorer, "score_samples", X)
        rng = check_random_state(self.random_state)
        if held_out is None:
            # off any tie group of the training scores, so rounding moves no tied row
            # across it
            calibration.offset = conformal.off_ties(threshold(scores, self.contamination_), scores)
            calibration.scores = conformal.sorted_scores(
                scores, conformal.TRAINING_SCORES_KEPT, rng
            )
            calibration.held_out = False
            return calibration
        _check_enough_calibration_rows(len(held_out), self.false_alarm_rate_)
        held = self._run(calibration.scorer, "score_samples", held_out)
        calibration.scores = conformal.sorted_scores(held, conformal.MAX_CALIBRATION_SCORES, rng)
        calibration.offset = conformal.conformal_offset(calibration.scores, self.false_alarm_rate_)
        calibration.held_out = True
        return calibration

    def _member_outputs_over(self, X):
        """Per member, on X: its feature losses, codes and own scores, from the float32
        networks (their medians, covariances and quantiles need no more), in chunks."""
        members = self.estimators_
        bare = [MemberWeights(None, 1.0, None, None, None) for _ in members]
        scorer = self._scorer(None, dtype=torch.float32, weights=bare)

        def flat(x):  # errors, codes and scores of every member, one list
            return [value for kind in scorer.member_outputs(x) for value in kind]

        outputs = map_batches(flat, X, self._member_widths(), self.n_jobs, dtype=torch.float32)
        k = len(members)
        errors, codes, scores = outputs[:k], outputs[k : 2 * k], outputs[2 * k :]
        return (
            errors,
            [z.astype(np.float64) for z in codes],
            [s.astype(np.float64) for s in scores],
        )

    @property
    def calibration_scores_(self):
        """The sorted calibration scores p-values count against (``score_samples`` of
        rows held out of training with ``false_alarm_rate``, else of training rows)."""
        return self._calibrated().scores

    @property
    def offset_(self):
        return self._calibrated().offset

    @property
    def feature_scales_(self):
        return self._calibrated().feature_scales

    @property
    def latent_means_(self):
        return self._calibrated().latent_means

    @property
    def latent_precisions_(self):
        return self._calibrated().latent_precisions

    @property
    def reference_(self):
        neighbors = self._calibrated().neighbors
        return None if neighbors is None else neighbors.references

    @property
    def model_training_rows_(self):
        """How many training rows the exported model holds as they are: the neighbour
        term's reference rows with ``references="rows"``, else 0 (centroids, or no
        neighbour term). The pickle also keeps the calibration sample (at most
        ``reservoir_size`` rows)."""
        neighbors = self._calibrated().neighbors
        return 0 if neighbors is None or not neighbors.holds_rows else len(neighbors.references)

    @property
    def n_neighbors_(self):
        neighbors = self._calibrated().neighbors
        return None if neighbors is None else neighbors.n_neighbors

    def _scoring_network(self, dtype=torch.float32, layout="latency"):
        """The scoring network with the fitted calibration: ``score_samples(x)``,
        ``decision_column(x, offset)`` and ``feature_errors(x)``. ONNX export traces the
        float32 "latency" layout (one row at a time); Python scores many rows with the
        float64 "batch" layout."""
        return self._scorer(self._calibrated(), dtype, layout)

    def _scorer64(self):
        calibration = self._calibrated()
        if calibration.scorer is None:  # after unpickling
            calibration.scorer = self._scoring_network(torch.float64, layout="batch")
        return calibration.scorer

    # ---------------------------------------------------------- public methods
    def _score_samples(self, X):
        return self._run(self._scorer64(), "score_samples", X)

    def score_samples(self, X):
        """Normality score: minus the weighted reconstruction, code-space and neighbour terms.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal. See the class Notes for how the members'
            errors and code distances are combined.
        """
        return self._score_samples(validate_fitted(self, X))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Shifted normality scores.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def pvalues(self, X):
        """Conformal p-value of each row against the calibration scores.

        ``p = (1 + #{calibration scores <= score}) / (n + 1)``, ``score`` being
        ``score_samples(X)`` (higher = more normal), scores that tie up to rounding
        counted as equal (:mod:`skae._ties`; the exported graph counts the same way):
        small means unusual. With
        ``false_alarm_rate`` the calibration rows were held out of training, so for rows
        drawn like them ``P(p <= t) <= t`` for every ``t``, and a row is flagged exactly
        when ``p <= false_alarm_rate``. Without it the calibration scores are the
        training rows' own (a sample of at most 2,000): ``p`` is then the share of
        training rows scoring at most as normal as the row, a rank to threshold later,
        not a calibrated probability (the training rows were fitted, and may hold
        anomalies).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        p_values : ndarray of shape (n_samples,), in (0, 1]
        """
        scores = self.score_samples(X)
        return conformal.pvalues(self.calibration_scores_, scores)

    def feature_errors(self, X):
        """Per-feature reconstruction errors: which columns make a row anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        errors : ndarray or DataFrame of shape (n_samples, n_features)
            The elementwise loss (squared error for ``loss="mse"``, the negative
            log-likelihood for a VAE), divided by the feature's *median* training error
            when ``normalize_errors=True``, averaged over the members. A DataFrame (with
            X's index and the fitted column names) when X is a DataFrame. With one member,
            ``latent_weight=0`` and ``neighbor_weight=0``, ``score_samples`` is minus
            their mean; otherwise (the default included: the neighbour term is on) the
            score also weighs the members robustly and adds the code-space and neighbour
            terms (class Notes), so the errors explain the reconstruction part of the
            score without summing to it: a row far from every training row that the
            autoencoders reconstruct well can be flagged with small errors everywhere.
        """
        X_checked = validate_fitted(self, X)
        errors = self._run(self._scorer64(), "feature_errors", X_checked)
        if hasattr(X, "columns") and hasattr(X, "index"):
            import pandas as pd

            names = getattr(self, "feature_names_in_", None)
            columns = list(names) if names is not None else list(X.columns)
            return pd.DataFrame(errors, index=X.index, columns=columns)
        return errors

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())
        calibration = state.get("_calibration")
        if calibration is not None and calibration.scorer is not None:
            # the scorer is derived from the members: rebuilt when needed
            state["_calibration"] = dataclasses.replace(calibration, scorer=None)
        return state
