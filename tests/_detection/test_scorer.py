"""skae._detection.scorer: the scoring network, the same numbers in every layout."""

import pytest

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector


@pytest.mark.parametrize(
    "estimator",
    [
        None,
        [  # same settings, different depths: one block-diagonal MLP (relu layers merge)
            AutoencoderTransformer(
                hidden_layer_sizes=h, n_components=2, loss="mae", activation="relu", device="cpu"
            )
            for h in [(16,), (8, 4)]
        ],
    ],
)
def test_batch_and_latency_layouts_score_alike(blobs_with_outliers, estimator):
    """Python scores with 3-D stacks, the exported graph with block-diagonal MLPs (depths
    merged): the same numbers either way."""
    import torch

    from skae._detection.scorer import scoring_groups

    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(estimator, max_iter=20, random_state=0).fit(X)
    kinds = {kind for _, kind in scoring_groups(det.estimators_, "latency")}
    assert "wide" in kinds
    x = torch.as_tensor(X[:50])
    batch = det._scoring_network(torch.float64, "batch")
    latency = det._scoring_network(torch.float64, "latency")
    for method in ("score_samples", "feature_errors", "forward"):
        torch.testing.assert_close(
            getattr(latency, method)(x), getattr(batch, method)(x), rtol=1e-10, atol=1e-10
        )
    torch.testing.assert_close(
        latency.decision_column(x, det.offset_)[:, 0],
        batch.score_samples(x) - det.offset_,
        rtol=1e-10,
        atol=1e-10,
    )
