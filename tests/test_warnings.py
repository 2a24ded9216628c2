"""skae._warnings: warnings point at the user's own line, however deep they are raised."""

import warnings
from pathlib import Path

import numpy as np
import pytest
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


DATASETS = ("digits", "wine", "breast_cancer", "iris")


def _scaled(name):
    from sklearn import datasets

    X, _ = getattr(datasets, f"load_{name}")(return_X_y=True)
    return StandardScaler().fit_transform(X)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", ["ae", "vae", "detector"])
def test_default_fits_converge_without_a_warning(kind, name):
    """The defaults a user gets finish by themselves on scikit-learn's bundled tables: a
    warning is for a max_iter the user chose that cut a falling loss."""
    from skae import ReconstructionAnomalyDetector, VAETransformer

    X = _scaled(name)
    make = {
        "ae": lambda: AutoencoderTransformer(random_state=0),
        "vae": lambda: VAETransformer(random_state=0),
        "detector": lambda: ReconstructionAnomalyDetector(random_state=0),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make().fit(X)


def test_the_readme_quickstart_raises_no_warning():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    start = readme.index("## Quickstart")
    code = readme[
        readme.index("```python", start) + len("```python") : readme.index("```\n", start + 20)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(code, "README.md Quickstart", "exec"), {})
