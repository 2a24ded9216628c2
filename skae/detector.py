"""ReconstructionAnomalyDetector: outliers from reconstruction errors, IsolationForest-style."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base import BaseAutoencoder, keep_state_on_error
from ._engine import map_batches
from ._validation import check_finite_output, validate


# (hidden width, code size) as multiples of n_features, and depth, of the default members:
# members that differ in width, bottleneck and depth make errors that average out.
_DEFAULT_MEMBERS = [(1.0, 0.25, 1), (2.0, 0.5, 1), (0.5, 0.125, 1), (1.0, 0.25, 2),
                    (2.0, 0.125, 2)]


def default_estimators(n_features):
    """The ensemble used when ``estimator=None``, sized from the number of features.

    Five small autoencoders of different widths, bottlenecks and depths, trained with a
    trimmed loss (the worst 10% of each minibatch left out: the training data contains
    anomalies) at a learning rate of 3e-3 with early stopping. Chosen on ADBench's
    classical datasets (see benchmarks/README.md).
    """
    from .autoencoder import AutoencoderTransformer

    members = []
    for width, code, depth in _DEFAULT_MEMBERS:
        w = int(np.clip(round(width * n_features), 8, 256))
        c = int(np.clip(round(code * n_features), 1, 32))
        hidden = (w,) if depth == 1 else (w, max(c, w // 2))
        members.append(AutoencoderTransformer(
            n_components=c, hidden_layer_sizes=hidden, loss_trim=0.1,
            learning_rate_init=3e-3))
    return members


class ReconstructionAnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detector scoring rows by how badly autoencoders reconstruct them.

    One autoencoder (or VAE), or an ensemble of them, is fitted on the training data,
    assumed mostly normal; rows reconstructed badly are anomalous. The interface follows
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
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]; sets ``offset_``.
    normalize_errors : bool, default=True
        Divide each feature's reconstruction error by that feature's median error on the
        training data before averaging over features, so features that are hard to
        reconstruct everywhere do not drown the others. The median, not the mean: the
        training data holds anomalies, whose large errors would inflate a mean. When
        False, a member's reconstruction score is its own ``score_samples`` (minus the
        loss; the ELBO for a VAE).
    latent_weight : float, default=0.5
        Weight of the code-space term: the Mahalanobis distance of a row's latent code
        (the posterior mean for a VAE) from the training codes, which flags rows that
        reconstruct well but sit far out along the directions the model did learn
        (Denouden et al., 2018). 0 scores by reconstruction error alone.
    random_state : int, RandomState instance or None, default=None
        When not None, seeds every member (overriding their own ``random_state``).

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
    offset_ : float
        The ``100 * contamination`` percentile of the training scores.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The same interface, from random trees.

    Notes
    -----
    Each member gives a reconstruction score (minus its mean normalised error) and,
    when ``latent_weight > 0``, a code-space distance. With one member and
    ``latent_weight=0``, ``score_samples`` is that reconstruction score. Otherwise every
    term is standardised robustly by its median and interquartile range on the training
    rows (anomalies in the training data barely move either), and ``score_samples`` is
    minus (the mean standardised reconstruction error of the members plus
    ``latent_weight`` times their mean standardised code distance).

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
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "normalize_errors": ["boolean"],
        "latent_weight": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination=0.1, normalize_errors=True,
                 latent_weight=0.5, random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.normalize_errors = normalize_errors
        self.latent_weight = latent_weight
        self.random_state = random_state

    def _members(self, n_features):
        if self.estimator is None:
            return default_estimators(n_features)
        members = (list(self.estimator) if isinstance(self.estimator, (list, tuple))
                   else [self.estimator])
        if not members or not all(isinstance(m, BaseAutoencoder) for m in members):
            raise ValueError(
                "estimator must be an AutoencoderTransformer or VAETransformer, a non-empty "
                f"list of them, or None; got {self.estimator!r}.")
        return [clone(m) for m in members]

    @_fit_context(prefer_skip_nested_validation=False)  # the inner estimators are validated
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
            self._set_scoring(X, self._fit_members(X))
        return self

    def _fit_members(self, X):
        members = self._members(X.shape[1])
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            for member in members:
                member.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        for member in members:
            member.fit(X)
        return members

    def _set_scoring(self, X, members):
        """Fitted members in hand: set every fitted attribute (nothing before this)."""
        self.estimators_ = members
        self.estimator_ = members[0]
        self.feature_scales_ = self.latent_means_ = self.latent_precisions_ = None
        if self.normalize_errors:
            scales = []
            for member in members:
                median = np.median(member._feature_errors(X), axis=0)
                # A feature reconstructed perfectly in training must not divide by ~0.
                scales.append(np.maximum(median, max(1e-3 * median.mean(), 1e-12)))
            self.feature_scales_ = scales
        if self.latent_weight > 0:
            self._fit_latent(X)
        self._score_stats = self._score_plan = None
        if len(members) > 1 or self.latent_weight > 0:
            terms = self._map(lambda nets, x: torch.stack(self._terms(nets, x), 1), X)
            q1, median, q3 = np.percentile(terms, [25, 50, 75], axis=0)
            # A constant term (IQR 0) falls back on its standard deviation, then on 1.
            spread = np.where(q3 - q1 > 0, q3 - q1, terms.std(axis=0))
            spread = np.where(spread > 0, spread, 1.0)
            self._score_stats = (median, spread)
            self._score_plan = self._compile_score(median, spread)
        self.offset_ = float(np.percentile(self._score_samples(X), 100.0 * self.contamination))

    def _compile_score(self, median, spread):
        """Fold the robust standardisation and the weights into the members' last steps.

        score = -(mean_i z(error_i) + latent_weight * mean_i z(distance_i)) with
        z(t) = (t - median) / spread is linear in each term, so each member's weight goes
        into its error weights (a vector over features) and into its whitener (scaled by
        the square root of the distance's weight), and the medians into one bias: the
        scoring graph is a matrix product per term, not a dozen elementwise steps.
        """
        k = len(self.estimators_)
        share = np.r_[np.full(k, 1.0 / k), np.full(len(median) - k, self.latent_weight / k)]
        weights = share / spread  # on anomaly terms; the score is minus their sum
        plan = []
        for i, (error, code) in enumerate(self._unit_plan()):
            if code is not None:  # a squared distance: scale its matrix by the square root
                root = np.sqrt(weights[k + i])
                code = (code[0] * root, code[1] * root)
            plan.append((error * weights[i], code))
        return plan, float(np.sum(weights * median))

    def _fit_latent(self, X):
        self.latent_means_, self.latent_precisions_, self._latent_whiteners = [], [], []
        nets = [member._module64 for member in self.estimators_]
        for member, net in zip(self.estimators_, nets):
            codes = map_batches(lambda x: member._encode_tensor(net, x), X)
            # (one training row has no spread: a zero covariance, the ridge decides)
            cov = (np.atleast_2d(np.cov(codes, rowvar=False)) if len(codes) > 1
                   else np.zeros((codes.shape[1], codes.shape[1])))
            # The ridge keeps a collapsed code direction (or a code on the unit sphere)
            # invertible without letting it dominate the distance.
            ridge = 1e-6 * max(np.trace(cov) / len(cov), 1e-12)
            precision = np.linalg.pinv(cov + ridge * np.eye(len(cov)), hermitian=True)
            # W with W W^T = precision / n_components: the distance is ||(z - mean) W||^2,
            # one matrix product (and the mean folds into a bias) in the scoring graph
            values, vectors = np.linalg.eigh(precision)
            whitener = vectors * np.sqrt(np.clip(values, 0, None) / codes.shape[1])
            mean = codes.mean(axis=0)
            self.latent_means_.append(mean)
            self.latent_precisions_.append(precision)
            self._latent_whiteners.append((whitener, mean @ whitener))

    # ---------------------------------------------------------------- scoring (torch)
    # These work on any list of the members' networks: float64 copies for Python
    # inference, the float32 ``module_``s when traced for ONNX export.
    def _member_errors(self, nets, x):
        errors = []
        for i, (member, net) in enumerate(zip(self.estimators_, nets)):
            e = member._feature_loss(net, x)
            if self.feature_scales_ is not None:
                e = e / torch.as_tensor(self.feature_scales_[i], dtype=x.dtype)
            errors.append(e)
        return errors

    def _unit_plan(self):
        """Per-member weights giving the raw terms (the mean normalised error, the
        Mahalanobis distance); ``_compile_score`` scales the same structure."""
        plan = []
        for i in range(len(self.estimators_)):
            error = (1.0 if self.feature_scales_ is None
                     else 1.0 / (self.feature_scales_[i] * len(self.feature_scales_[i])))
            code = self._latent_whiteners[i] if self.latent_means_ is not None else None
            plan.append((error, code))
        return plan

    def _member_terms(self, nets, x, plan):
        """Per member, its weighted error term and (or None) its weighted code distance,
        with one encoder pass: the error of e / scale is one matrix-vector product, the
        distance ||z W - b||^2 one matrix product."""
        for member, net, (error_weights, code_weights) in zip(self.estimators_, nets, plan):
            if self.feature_scales_ is None:
                error = -member._score_tensor(net, x) * float(error_weights)
                z = member._encode_tensor(net, x) if code_weights is not None else None
            else:
                e, z = member._feature_loss_and_code(net, x)
                error = e @ torch.as_tensor(error_weights, dtype=x.dtype)
            distance = None
            if code_weights is not None:
                whitener, shift = (torch.as_tensor(a, dtype=x.dtype) for a in code_weights)
                y = torch.addmm(-shift, z, whitener)
                distance = (y * y).sum(dim=1)
            yield error, distance

    def _terms(self, nets, x):
        """Anomaly terms, higher = more anomalous: the members' errors, then (when
        ``latent_weight > 0``) their code distances."""
        pairs = list(self._member_terms(nets, x, self._unit_plan()))
        return [e for e, _ in pairs] + [d for _, d in pairs if d is not None]

    def _score_tensor(self, nets, x):
        if self._score_plan is None:
            return -self._terms(nets, x)[0]
        plan, bias = self._score_plan
        anomaly = None
        for error, distance in self._member_terms(nets, x, plan):
            term = error if distance is None else error + distance
            anomaly = term if anomaly is None else anomaly + term
        return float(bias) - anomaly

    def _feature_tensor(self, nets, x):
        errors = self._member_errors(nets, x)
        return errors[0] if len(errors) == 1 else torch.stack(errors).mean(dim=0)

    def _map(self, fn, X):
        nets = [member._module64 for member in self.estimators_]
        return check_finite_output(map_batches(lambda x: fn(nets, x), X), X)

    # --------------------------------------------------------------- public methods
    def _validate_X(self, X):
        check_is_fitted(self)
        return validate(self, X, reset=False)

    def _score_samples(self, X):
        return self._map(self._score_tensor, X)

    def score_samples(self, X):
        """Normality score: minus the reconstruction error (and code-space distance).

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
        return self._score_samples(self._validate_X(X))

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

    def feature_errors(self, X):
        """Per-feature reconstruction errors: which columns make a row anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features)
            The elementwise loss (squared error for ``loss="mse"``, the negative
            log-likelihood for a VAE), divided by the feature's mean training error when
            ``normalize_errors=True``, averaged over the members of an ensemble. For a
            single autoencoder, ``score_samples`` is minus their mean.
        """
        return self._map(self._feature_tensor, self._validate_X(X))
