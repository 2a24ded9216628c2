"""skae._estimators.batches: inference in chunks, with the threads the work is worth."""

import numpy as np

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector


def test_small_inference_calls_take_one_thread_without_the_busy_check(monkeypatch):
    from skae._estimators import batches as _inference

    X = np.random.RandomState(0).normal(size=(100, 4))
    member = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=2, device="cpu")
    det = ReconstructionAnomalyDetector(member, random_state=0).fit(X)
    asked = []
    monkeypatch.setattr(
        _inference, "resolve_threads", lambda n_jobs, flops: asked.append(n_jobs) or 1
    )
    det.score_samples(X), det.feature_errors(X), det.estimator_.transform(X)
    assert asked == []  # one thread, no check of the machine's load
    det.set_params(n_jobs=2).score_samples(X)
    assert asked == [2]  # an explicit n_jobs is what it says
    monkeypatch.setattr(_inference, "ONE_THREAD_CALL_FLOPS", 0.0)
    det.set_params(n_jobs=None).score_samples(X)
    assert asked == [2, None]  # larger calls choose as before
