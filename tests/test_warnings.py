"""skae._warnings: warnings point at the user's own line, however deep they are raised."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer


def test_a_warning_from_inside_a_pipeline_points_at_the_callers_line():
    X = np.random.RandomState(0).normal(size=(60, 4))
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(max_iter=1, device="cpu"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit(X)
        line = __import__("inspect").currentframe().f_lineno - 1
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert found and found[0].filename == __file__ and found[0].lineno == line
