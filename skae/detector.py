"""ReconstructionAnomalyDetector: outliers from reconstruction errors, IsolationForest-style."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseAutoencoder
from ._engine import map_batches


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
        The model(s) to fit (cloned). A list makes an ensemble: each member's scores are
        standardised by their training mean and spread, then averaged. None uses
        :func:`default_estimators`, five small autoencoders of different shapes sized from
        the number of features, chosen for tabular data. Scale the data first
        (``make_pipeline(StandardScaler(), ReconstructionAnomalyDetector())``).
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]; sets ``offset_``.
    normalize_errors : bool, default=True
        Divide each feature's reconstruction error by that feature's mean error on the
        training data before averaging over features, so features that are hard to
        reconstruct everywhere do not drown the others. When False, a single estimator's
        score is its own ``score_samples`` (minus the loss; the ELBO for a VAE).
    random_state : int, RandomState instance or None, default=None
        When not None, seeds every member (overriding their own ``random_state``).

    Attributes
    ----------
    estimators_ : list of AutoencoderTransformer or VAETransformer
        The fitted models.
    estimator_ : AutoencoderTransformer or VAETransformer
        The first fitted model (the only one unless ``estimator`` is a list or None).
    feature_scales_ : list of ndarray of shape (n_features,) or None
        Each member's mean training error per feature (``normalize_errors=True``).
    offset_ : float
        The ``100 * contamination`` percentile of the training scores.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The same interface, from random trees.

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
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination=0.1, normalize_errors=True,
                 random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.normalize_errors = normalize_errors
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
        X = validate_data(self, X, dtype=(np.float32, np.float64))
        members = self._members(X.shape[1])
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            for member in members:
                member.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        for member in members:
            member.fit(X)
        self.estimators_ = members
        self.estimator_ = members[0]
        self.feature_scales_ = None
        self._score_stats = None
        if self.normalize_errors:
            scales = []
            for member in members:
                mean_error = member._feature_errors(X).mean(axis=0)
                # A feature reconstructed perfectly in training must not divide by ~0.
                scales.append(np.maximum(mean_error, max(1e-3 * mean_error.mean(), 1e-12)))
            self.feature_scales_ = scales
        if len(members) > 1:
            raw = self._map(lambda nets, x: torch.stack(self._member_scores(nets, x), 1), X)
            self._score_stats = (raw.mean(axis=0), raw.std(axis=0) + 1e-12)
        self.offset_ = float(np.percentile(self._score_samples(X), 100.0 * self.contamination))
        return self

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

    def _member_scores(self, nets, x):
        if self.feature_scales_ is None:
            return [m._score_tensor(net, x) for m, net in zip(self.estimators_, nets)]
        return [-e.mean(dim=1) for e in self._member_errors(nets, x)]

    def _score_tensor(self, nets, x):
        scores = self._member_scores(nets, x)
        if self._score_stats is None:
            return scores[0]
        mean, std = self._score_stats
        z = [(s - float(m)) / float(d) for s, m, d in zip(scores, mean, std)]
        return torch.stack(z, dim=1).mean(dim=1)

    def _feature_tensor(self, nets, x):
        errors = self._member_errors(nets, x)
        return errors[0] if len(errors) == 1 else torch.stack(errors).mean(dim=0)

    def _map(self, fn, X):
        nets = [member._module64 for member in self.estimators_]
        return map_batches(lambda x: fn(nets, x), X)

    # --------------------------------------------------------------- public methods
    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float32, np.float64))

    def _score_samples(self, X):
        return self._map(self._score_tensor, X)

    def score_samples(self, X):
        """Normality score: minus the (normalised) reconstruction error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal. For an ensemble, the mean of the members'
            standardised scores.
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
