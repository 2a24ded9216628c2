"""Text columns encoded for a detector: one-hot and standardised, where a category never
seen at fit stands out as much as one seen once, and a missing value is the column's most
frequent category (a missing number is its median, likewise), flagged only when asked.

``skae fit`` puts :class:`CategoryEncoder` in its preprocessing, and Python users import
it from :mod:`skae.preprocessing`; its ONNX converter
(:mod:`skae.onnx._converters`) is a ``LabelEncoder`` and a ``Gather`` from the same table
of encoded rows that :meth:`CategoryEncoder.transform` reads, so Python and the graph
agree exactly.
"""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_is_fitted

from .._schema import MISSING_CATEGORY

UNSEEN, MISSING = "(unseen)", "(missing)"


class CategoryEncoder(TransformerMixin, BaseEstimator):
    """One-hot encoding of text columns, standardised, for outlier detection.

    Each input column gives one output per category seen at fit, standardised by the
    category's share ``p`` (``(onehot - p) / sqrt(p (1 - p))``, as a StandardScaler after
    a OneHotEncoder would), so a rare category stands out as a large value the way a rare
    number does; plus one output for categories never seen at fit, standardised as a
    category seen once in the training rows, so a new category stands out at least as much
    as the rarest one (instead of the all-zero row of ``handle_unknown="ignore"``, which
    looks like an average row once standardised).

    Parameters
    ----------
    categories : list of list of str or None, default=None
        The categories of each column; None takes the values seen at fit. Values outside
        them are unseen categories.
    missing : {"most_frequent", "indicator"}, default="most_frequent"
        A missing value (None, NaN or the text "nan") counts as the column's most frequent
        category, as a missing number is filled with the median. "indicator" also adds a
        0/1 output per column that is 1 where the value is missing, so that a missing value
        itself counts as unusual.

    Attributes
    ----------
    categories_ : list of ndarray
        Each column's categories.
    frequencies_ : list of ndarray
        Each category's share of the training rows (missing values counted in the most
        frequent category).
    tables_ : list of ndarray of shape (n_categories + 2, n_outputs)
        Each column's encoded rows: one per category, then the unseen row, then the
        missing row.
    feature_sources_ : ndarray of shape (n_features_out,)
        The input column each output comes from (for explanations per input column).
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of str
        Names of the columns seen during fit, when X is a DataFrame.

    See Also
    --------
    sklearn.preprocessing.OneHotEncoder : Encodes a category unseen at fit as all zeros
        (``handle_unknown="ignore"``), which looks like an average row once standardised.

    Notes
    -----
    Values are compared as text (``str(value)``): give a column of numbers that are
    categories as text. Inside a Pipeline exported with :func:`skae.onnx.to_onnx` from a
    DataFrame sample, the graph encodes exactly as :meth:`transform` does (a missing value
    is fed as "nan").

    Examples
    --------
    >>> import pandas as pd
    >>> from skae.preprocessing import CategoryEncoder
    >>> X = pd.DataFrame({"country": ["FR", "FR", "FR", "DE"]})
    >>> encoder = CategoryEncoder().fit(X)
    >>> encoder.get_feature_names_out().tolist()
    ['country_DE', 'country_FR', 'country_(unseen)']
    >>> encoder.transform(pd.DataFrame({"country": ["DE", "XX", None]})).round(2)
    array([[ 1.73, -1.73,  0.  ],
           [-0.58, -1.73,  2.5 ],
           [-0.58,  0.58,  0.  ]])
    """

    _parameter_constraints: dict = {
        "categories": [list, None],
        "missing": [StrOptions({"most_frequent", "indicator"})],
    }

    def __init__(self, categories=None, missing="most_frequent"):
        self.categories = categories
        self.missing = missing

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Count each column's categories in X.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Text columns.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted encoder.
        """
        columns = self._columns(X, reset=True)
        counts = [collections.Counter(col) for col in columns]  # missing under None
        return self._fit_counts(counts, len(columns[0]) if columns else 0)

    def fit_counts(self, counts, n_rows, feature_names=None):
        """Fit from category counts gathered elsewhere (a streamed pass over the data).

        Parameters
        ----------
        counts : list of Mapping
            Per column, ``{category: rows}``; missing values under ``"nan"``.
        n_rows : int
            Rows counted.
        feature_names : list of str, default=None
            The columns' names, as ``feature_names_in_``.

        Returns
        -------
        self : object
            Fitted encoder.
        """
        self._validate_params()
        self.n_features_in_ = len(counts)
        if feature_names is not None:
            self.feature_names_in_ = np.asarray(feature_names, dtype=object)
        missing = [c.get(MISSING_CATEGORY, 0) for c in counts]
        seen = [{k: v for k, v in c.items() if k != MISSING_CATEGORY} for c in counts]
        for column, gaps in zip(seen, missing, strict=True):
            column[None] = gaps
        return self._fit_counts(seen, n_rows)

    def _fit_counts(self, counts, n_rows):
        """``counts``: per column, ``{category: rows}`` with missing rows under None."""
        n = max(int(n_rows), 1)
        self.categories_, self.frequencies_, self.tables_ = [], [], []
        for j, count in enumerate(counts):
            gaps = count.get(None, 0)
            observed = {k: v for k, v in count.items() if k is not None}
            cats = self._categories_of(j, observed)
            rows = np.array([observed.get(c, 0) for c in cats], dtype=np.float64)
            if len(cats):
                rows[int(np.argmax(rows))] += gaps  # missing: the most frequent category
            shares = rows / n
            self.categories_.append(np.asarray(cats, dtype=object))
            self.frequencies_.append(shares)
            self.tables_.append(self._table(shares, n))
        widths = [t.shape[1] for t in self.tables_]
        self.feature_sources_ = np.repeat(np.arange(len(widths)), widths)
        return self

    def _categories_of(self, j, observed):
        if self.categories is not None:
            return [str(c) for c in self.categories[j] if str(c) != MISSING_CATEGORY]
        return sorted(str(c) for c in observed)

    def _table(self, shares, n):
        """Encoded rows: each category, the unseen one, the missing one (see the class)."""
        k = len(shares)
        unseen = 1.0 / (n + 1)  # standardised as a category seen once
        p = np.r_[shares, unseen]
        scale = np.sqrt(p * (1 - p))
        scale = np.where(scale > 0, scale, 1.0)  # a constant output keeps scale 1
        onehot = np.eye(k + 1)
        table = (onehot - np.r_[shares, 0.0]) / scale
        most = int(np.argmax(shares)) if k else k
        table = np.vstack([table, table[most]])  # missing: the most frequent category
        if self.missing == "indicator":
            flag = np.zeros((k + 2, 1))
            flag[-1] = 1.0
            table = np.hstack([table, flag])
        return table

    def _columns(self, X, reset):
        """X's columns as lists of str, missing values as None."""
        _check_feature_names(self, X, reset=reset)
        # sparse, 1-D, empty and complex input refused with scikit-learn's messages
        checked = check_array(X, dtype=None, ensure_all_finite=False)
        _check_n_features(self, checked, reset=reset)
        frame = X if hasattr(X, "iloc") else pd.DataFrame(checked.astype(object))
        return [
            [None if _missing(v) else str(v) for v in frame.iloc[:, j].to_numpy(dtype=object)]
            for j in range(frame.shape[1])
        ]

    def codes(self, X):
        """Each value's row in its column's table: its category, unseen, or missing."""
        check_is_fitted(self)
        out = []
        for cats, column in zip(self.categories_, self._columns(X, reset=False), strict=True):
            index = {c: i for i, c in enumerate(cats)}
            k = len(cats)
            out.append(np.array([k + 1 if v is None else index.get(v, k) for v in column]))
        return out

    def transform(self, X):
        """Encode X.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)
            Text columns.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out), dtype float64
        """
        parts = [table[c] for table, c in zip(self.tables_, self.codes(X), strict=True)]
        return np.hstack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        """``column_category`` per output, with ``(unseen)`` and ``(missing)`` outputs."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            names = input_features
        if names is None:
            names = [f"x{j}" for j in range(self.n_features_in_)]
        out = []
        for name, cats in zip(names, self.categories_, strict=True):
            out += [f"{name}_{c}" for c in cats] + [f"{name}_{UNSEEN}"]
            if self.missing == "indicator":
                out.append(f"{name}_{MISSING}")
        return np.asarray(out, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = True  # a missing value: the most frequent category
        return tags


def _missing(value):
    if value is None:
        return True
    if isinstance(value, str):
        return value == MISSING_CATEGORY
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
