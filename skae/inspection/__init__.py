"""Explaining a fitted detector's scores in the columns of the data it was given."""

from __future__ import annotations

from ._error_columns import INPUT
from ._error_columns import feature_errors as _feature_errors


def feature_errors(estimator, X, *, space=INPUT):
    """Per-column reconstruction errors of a fitted detector or detector Pipeline.

    A detector's own ``feature_errors`` are per feature it sees: after a
    ColumnTransformer, one-hot columns and scaled copies. Here they are reported per
    column of ``X``: a one-hot block's errors are averaged onto its source column, scalers,
    imputers, ordinal encoders and feature selectors map one to one, and columns the
    model does not read get 0. Where a step mixes columns (PCA, polynomial features, an
    autoencoder), no input column owns a feature: the errors are then reported per
    transformed feature, under ``get_feature_names_out`` names, rather than under
    wrong input names. The same mapping is what :func:`skae.onnx.to_onnx` puts in the
    graph's ``feature_errors`` output.

    Parameters
    ----------
    estimator : ReconstructionAnomalyDetector or Pipeline
        Fitted; a Pipeline must end in the detector.
    X : array-like or pandas DataFrame of shape (n_samples, n_features)
        Rows to explain, as given to ``estimator.predict``.
    space : {"input", "transformed"}, default="input"
        "input" maps onto the input columns where possible (see above); "transformed"
        keeps the features the detector sees.

    Returns
    -------
    errors : pandas.DataFrame of shape (n_samples, n_columns)
        Indexed like ``X`` when it is a DataFrame. Columns: the input column names (their
        positions when the estimator was fitted without names), or the transformed
        feature names; ``errors.attrs["feature_errors_space"]`` is "input" or
        "transformed". ``errors.idxmax(axis=1)`` names each row's most anomalous column,
        as ``skae score``'s ``top_feature`` does.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    >>> from skae.inspection import feature_errors
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"amount": rng.lognormal(3, 1, 200),
    ...                   "shop": rng.choice(["a", "b", "c"], 200)})
    >>> pipe = make_pipeline(
    ...     make_column_transformer((StandardScaler(), ["amount"]),
    ...                             (OneHotEncoder(), ["shop"])),
    ...     ReconstructionAnomalyDetector(AutoencoderTransformer(max_iter=5),
    ...                                   random_state=0)).fit(X)
    >>> errors = feature_errors(pipe, X.iloc[:3])
    >>> list(errors.columns), errors.attrs["feature_errors_space"]
    (['amount', 'shop'], 'input')
    """
    return _feature_errors(estimator, X, space=space)


__all__ = ["feature_errors"]
