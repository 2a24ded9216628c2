"""skae._tables.preprocessing: the ColumnTransformer skae fit builds, in memory or streamed."""

import numpy as np
import pandas as pd

from skae._tables.columns import ColumnStats, choose_roles, model_frame
from skae._tables.preprocessing import build_preprocessor, fit_streamed_preprocessor


def _table(n=600, seed=0):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(3, 2, size=n),
            "y": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1]),
        }
    )
    df.loc[rng.choice(n, 30, replace=False), "x"] = np.nan
    return df


def test_the_streamed_preprocessor_has_the_whole_datas_statistics():
    """Fitted from chunks and a 100-row sample, the scalers hold the exact moments of all
    rows (the imputed column's with its fills): as the in-memory fit on the whole table."""
    df = _table()
    stats = ColumnStats(count_limit=20, sample_rows=100, random_state=0)
    for rows in np.array_split(np.arange(len(df)), 6):
        stats.update(df.iloc[rows])
    roles = choose_roles(stats)
    sample = model_frame(stats.sample_frame(), roles)
    streamed = fit_streamed_preprocessor(roles, stats, sample=sample, impute="mean")
    whole = build_preprocessor(roles, impute="mean").fit(model_frame(df, roles))
    ours = streamed.named_transformers_["numeric"].steps[-1][1]
    theirs = whole.named_transformers_["numeric"].steps[-1][1]
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-10)
    np.testing.assert_allclose(ours.var_, theirs.var_, rtol=1e-10)
    ours, theirs = (p.named_transformers_["categorical"] for p in (streamed, whole))
    np.testing.assert_allclose(ours.frequencies_[0], theirs.frequencies_[0], rtol=1e-12)
    X = model_frame(df, roles)
    np.testing.assert_allclose(streamed.transform(X), whole.transform(X), rtol=1e-9, atol=1e-12)


def test_missing_indicators_flag_the_columns_that_had_gaps():
    df = _table()
    stats = ColumnStats(count_limit=20, sample_rows=0)
    stats.update(df)
    roles = choose_roles(stats)
    pre = build_preprocessor(roles, indicators=True).fit(model_frame(df, roles))
    out = pre.transform(model_frame(df, roles))
    n_numeric, n_kinds = 2, 3
    flags = out[:, n_numeric]
    np.testing.assert_array_equal(flags, df["x"].isna().to_numpy(dtype=float))
    # each kind, the unseen one, and the missing-text indicator
    assert out.shape[1] == n_numeric + 1 + n_kinds + 2
