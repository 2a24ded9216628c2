"""skae._detection.reservoir: a uniform sample of every row seen."""

import numpy as np


def test_the_reservoir_is_a_uniform_sample_of_every_row_seen():
    from skae._detection.reservoir import Reservoir

    reservoir = Reservoir(2000, 1, random_state=0)
    rows = np.arange(100_000, dtype=float)[:, None]
    for chunk in np.array_split(rows, 37):
        reservoir = reservoir.add(chunk)
    sample = reservoir.rows[:, 0]
    assert len(np.unique(sample)) == 2000
    counts = np.histogram(sample, bins=10, range=(0, 100_000))[0]
    assert counts.min() > 150  # ~200 expected from each tenth of the stream
