"""ReconstructionAnomalyDetector: outliers from reconstruction errors, IsolationForest-style."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseAutoencoder


def default_estimator(n_features):
    """The autoencoder used when ``estimator=None``, sized from the number of features."""
    from .autoencoder import AutoencoderTransformer

    n_components = int(np.clip(n_features // 4, 2, 16))
    hidden = int(np.clip(2 * n_features, 16, 128))
    return AutoencoderTransformer(n_components=n_components, hidden_layer_sizes=(hidden,))


class ReconstructionAnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detector scoring rows by how badly an autoencoder reconstructs them.

    An autoencoder (or VAE) is fitted on the training data, assumed mostly normal; rows it
    reconstructs badly are anomalous. The interface follows
    :class:`sklearn.ensemble.IsolationForest`: ``score_samples`` is higher for normal
    rows, ``decision_function = score_samples - offset_`` is negative for outliers, and
    ``predict`` returns +1 (inlier) or -1 (outlier), with ``offset_`` set so that a
    ``contamination`` share of the training rows is flagged.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer, default=None
        The model to fit (cloned). None uses a one-hidden-layer autoencoder sized from
        the number of features, a default chosen for tabular data. Scale the data first
        (``make_pipeline(StandardScaler(), ReconstructionAnomalyDetector())``).
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]; sets ``offset_``.
    random_state : int, RandomState instance or None, default=None
        When not None, seeds the inner estimator (overriding its own ``random_state``).

    Attributes
    ----------
    estimator_ : AutoencoderTransformer or VAETransformer
        The fitted inner model.
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
        "estimator": [BaseAutoencoder, None],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination=0.1, random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)  # the inner estimator is validated
    def fit(self, X, y=None):
        """Fit the inner model on X and set ``offset_`` from ``contamination``.

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
        estimator = (default_estimator(X.shape[1]) if self.estimator is None
                     else clone(self.estimator))
        if self.random_state is not None:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            estimator.set_params(random_state=int(seed))
        self.estimator_ = estimator.fit(X)
        self.offset_ = float(np.percentile(self._score_samples(X), 100.0 * self.contamination))
        return self

    def _validate_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=(np.float32, np.float64))

    def _score_samples(self, X):
        return self.estimator_._score_samples(X)

    def score_samples(self, X):
        """Normality score: minus the reconstruction loss (the ELBO for a VAE).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Higher means more normal.
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
            The elementwise loss (squared error for ``loss="mse"``; the negative
            log-likelihood for a VAE). A row's ``score_samples`` is minus their mean for
            an autoencoder.
        """
        return self.estimator_._feature_errors(self._validate_X(X))
