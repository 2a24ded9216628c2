"""scikit-learn's own estimator checks, on cheap instances of every skae estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer

CHEAP = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=64, device="cpu")


def cheap_estimators():
    return [
        AutoencoderTransformer(**CHEAP),
        AutoencoderTransformer(embedding="umap", n_epochs=20, **CHEAP),
        VAETransformer(**CHEAP),
        ReconstructionAnomalyDetector(AutoencoderTransformer(**CHEAP)),
        ReconstructionAnomalyDetector(VAETransformer(**CHEAP)),
        ReconstructionAnomalyDetector([AutoencoderTransformer(**CHEAP), VAETransformer(**CHEAP)]),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(cheap_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
