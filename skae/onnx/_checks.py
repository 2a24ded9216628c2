"""Why a graph's output is not finite: the input columns at fault, named.

A NaN in a column the Pipeline imputes is fine; one it does not impute, an infinity, or a
value too large for float32 makes the output NaN or infinite, and a NaN score would label
the row an inlier. The runtime checks the outputs after each run (no cost on the hot path)
and, when one is not finite, these functions find which columns made it so.
"""

from __future__ import annotations

import numpy as np


def finite_rows(values):
    values = np.asarray(values)
    if values.dtype.kind not in "fc":
        return np.ones(len(values), dtype=bool)
    return np.isfinite(values.reshape(len(values), -1)).all(axis=1)


def _bad_columns(model, feeds):
    """``[(column, input name, j)]`` holding NaN or infinity in ``feeds``: ``j`` is the
    column's position in a tensor input, None for a column input."""
    if model._columns is None:
        X = feeds[model._input]
        names = model.feature_names_in_ or list(range(X.shape[1]))
        return [(names[j], model._input, j) for j in np.flatnonzero(~np.isfinite(X).all(axis=0))]
    return [
        (column, name, None)
        for column, name, dtype in model._columns
        if dtype in (np.float32, np.float64) and not np.isfinite(feeds[name]).all()
    ]


def check_finite_input(model, feeds):
    columns = [c for c, _, _ in _bad_columns(model, feeds)]
    if columns:
        raise ValueError(
            f"X contains NaN or infinity (or values too large for float32) in the columns "
            f"{columns}; impute or drop them before scoring."
        )


def _culprits(model, feeds, output, rows):
    """The columns whose NaN or infinity makes ``output`` non-finite on ``rows``: each
    suspect alone, with the others' bad values zeroed, is run again (an error path: the
    cost does not matter, naming the right column does)."""
    rows = np.flatnonzero(rows)[:256]
    feeds = {k: v[rows] for k, v in feeds.items()}
    suspects = _bad_columns(model, feeds)
    clean = {
        k: np.where(np.isfinite(v), v, 0).astype(v.dtype) if v.dtype.kind == "f" else v
        for k, v in feeds.items()
    }
    culprits = []
    for column, name, j in suspects:
        trial = dict(clean)
        if j is None:
            trial[name] = feeds[name]
        else:
            trial[name] = clean[name].copy()
            trial[name][:, j] = feeds[name][:, j]
        if not finite_rows(model._session.run([output], trial)[0]).all():
            culprits.append(column)
    return culprits or [c for c, _, _ in suspects]


def raise_not_finite(model, feeds, output, values):
    rows = ~finite_rows(values)
    columns = _culprits(model, feeds, output, rows)
    first = int(np.flatnonzero(rows)[0])
    if columns:
        raise ValueError(
            f"X contains NaN or infinity (or values too large for float32) in the columns "
            f"{columns} ({int(rows.sum())} rows, the first at position {first}), which the "
            "model does not impute: impute or drop them before scoring, or put a "
            "SimpleImputer in the Pipeline before exporting it."
        )
    largest = max(
        (float(np.abs(v).max()) for v in feeds.values() if v.dtype.kind == "f" and v.size),
        default=0.0,
    )
    raise ValueError(
        f"The model's {output!r} output is not finite for some rows of X (largest |value| "
        f"in X: {largest:.3g}; the first such row at position {first}): values this large "
        "overflow its float32 arithmetic. Scale X the way the training data was scaled."
    )
