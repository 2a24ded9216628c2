"""skae._detection.calibration_sample: which rows are held out, for how long, counted once."""

import numpy as np

from skae._detection import conformal
from skae._detection.calibration_sample import CalibrationSample, priorities, row_keys


def _rows(n, seed=0):
    return np.random.RandomState(seed).normal(size=(n, 3)).astype(np.float32)


def _stream(sample, X, passes, chunks):
    trained = []
    for _ in range(passes):
        for chunk in np.array_split(X, chunks):
            sample, train = sample.add(chunk)
            trained.append(train)
    return sample, np.concatenate(trained)


def _as_set(rows):
    return {r.tobytes() for r in np.asarray(rows, np.float32)}


def test_a_row_held_out_once_stays_held_out_and_counts_once_over_passes():
    X = _rows(5000)
    sample = CalibrationSample.start(3, 1000, True, random_state=0)
    sample, trained = _stream(sample, X, passes=10, chunks=7)
    held = sample.held_out
    assert len(_as_set(held)) == len(held)  # each row once, after 10 passes
    assert not _as_set(held) & _as_set(trained)  # never trained on
    assert 0.17 * len(X) < len(held) < 0.23 * len(X)
    # every pass trains on the same rows: the ones not held out
    assert len(trained) == 10 * (len(X) - len(held))


def test_the_same_rows_are_held_out_however_the_data_is_chunked():
    X = _rows(3000, seed=1)
    a, _ = _stream(CalibrationSample.start(3, 1000, True, random_state=4), X, 1, 3)
    b, _ = _stream(CalibrationSample.start(3, 1000, True, random_state=4), X[::-1], 2, 11)
    assert _as_set(a.held_out) == _as_set(b.held_out)


def test_fit_then_partial_fit_on_the_same_rows_adds_none_and_trains_on_none_held_out():
    X = _rows(2000, seed=2)
    sample, train, _, held = CalibrationSample.for_fit(X, 500, 0.05, random_state=0)
    assert len(held) == conformal.calibration_rows(len(X), 0.05)
    again, trained = _stream(sample, X, passes=3, chunks=4)
    assert _as_set(again.held_out) == _as_set(held)
    assert not _as_set(trained) & _as_set(held)
    assert len(trained) == 3 * len(train)


def test_the_held_out_sample_is_bounded_and_uniform_a_row_left_out_never_returns():
    X = np.arange(60_000, dtype=np.float32)[:, None]
    sample = CalibrationSample.start(1, 100, True, random_state=0)
    sample, _ = _stream(sample, X, passes=1, chunks=6)
    held = sample.held_out[:, 0]
    assert len(held) == conformal.MAX_CALIBRATION_SCORES
    assert sample.cutoff < conformal.CALIBRATION_FRACTION
    counts = np.histogram(held, bins=6, range=(0, 60_000))[0]
    assert counts.min() > 1500  # ~1,667 from each sixth of the stream
    # a second pass: rows left out of the sample are trained on, the sample is unchanged
    again, trained = _stream(sample, X, passes=1, chunks=6)
    np.testing.assert_array_equal(np.sort(again.held_out[:, 0]), np.sort(held))
    assert not _as_set(trained) & _as_set(held[:, None])


def test_duplicated_rows_are_told_apart_by_their_rank_in_the_chunk():
    """On a discrete table the copies of a row are held out independently of each other
    (not all of a value at once), and the same copies on every pass."""
    X = np.repeat(np.eye(3, dtype=np.float32), 400, axis=0)
    keys = row_keys(X, seed=5)
    assert len(np.unique(keys)) == len(X)
    held = priorities(keys) < 0.2
    for value in range(3):
        assert 0.12 < held[X[:, value] == 1].mean() < 0.28
    np.testing.assert_array_equal(row_keys(X, seed=5), keys)
    assert not np.array_equal(row_keys(X, seed=6), keys)


def test_without_a_hold_out_every_row_is_trained_on():
    X = _rows(300)
    sample, trained = _stream(CalibrationSample.start(3, 100, False, 0), X, 2, 3)
    assert sample.held_out is None and len(trained) == 2 * len(X)
    assert sample.n_seen == 2 * len(X) and len(sample.rows) == 100
