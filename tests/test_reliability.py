"""Training faults, persistence, determinism and concurrency for all three estimators."""

import hashlib
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    AutoencoderTransformer,
    ReconstructionAnomalyDetector,
    TrainingDivergedError,
    TrainingOutOfMemoryError,
)

from .conftest import KINDS, make, requires_cuda


def inner(est):
    return est.estimator if isinstance(est, ReconstructionAnomalyDetector) else est


def scores(est, X):
    return est.score_samples(X)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(400, 3)) @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(400, 6))


# ---------------------------------------------------------------- training faults
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_divergence_under_warm_start_keeps_the_previous_model(kind, X):
    est = make(kind, warm_start=True).fit(X)
    before, n_iter = scores(est, X), est.n_iter_
    with pytest.raises(TrainingDivergedError, match="StandardScaler"):
        est.fit(np.full((50, 6), 1e30))
    np.testing.assert_array_equal(scores(est, X), before)
    assert est.n_iter_ == n_iter
    # a refit on data of another width that fails must not leave the new width behind
    est.set_params(warm_start=False)
    with pytest.raises(TrainingDivergedError):
        est.fit(np.full((50, 3), 1e30))
    assert est.n_features_in_ == 6
    np.testing.assert_array_equal(scores(est, X), before)


def test_a_failed_detector_refit_keeps_the_previous_detector(X):
    det = make("detector").fit(X)
    before = det.decision_function(X)
    with pytest.raises(TrainingDivergedError):
        det.fit(np.full((50, 4), 1e30))
    assert det.n_features_in_ == 6
    np.testing.assert_array_equal(det.decision_function(X), before)
    fresh = make("detector")
    with pytest.raises(TrainingDivergedError):
        fresh.fit(np.full((50, 4), 1e30))
    assert not hasattr(fresh, "estimators_") and not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_c_during_fit_keeps_a_usable_estimator(kind, X, monkeypatch, python_sigint):
    est = make(kind, max_iter=200, batch_size=32, early_stopping=False)
    cls = type(inner(est))
    original = cls._train_loss
    calls = {"n": 0}

    def interrupted_loss(self, module, x, epoch):
        calls["n"] += 1
        if calls["n"] == 30:  # mid-epoch 3: takes effect at the end of this step
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, module, x, epoch)

    monkeypatch.setattr(cls, "_train_loss", interrupted_loss)
    with pytest.warns(RuntimeWarning, match="interrupted by the user"):
        est.fit(X)
    net = inner(est) if kind != "detector" else est.estimator_
    assert net.n_iter_ == 3  # epochs 0, 1 and the interrupted one
    assert np.isfinite(scores(est, X)).all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 9876543210 bytes."
        ),
    ],
)
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_out_of_memory_suggests_a_smaller_batch(kind, error, X, monkeypatch):
    est = make(kind, batch_size=256).fit(X)
    before = scores(est, X)
    cls = type(est)

    def oom(self, module, x, epoch):
        raise error

    monkeypatch.setattr(cls, "_train_loss", oom)
    with pytest.raises(TrainingOutOfMemoryError, match=r"batch_size=64") as info:
        est.fit(X)
    assert "ran out of memory" in str(info.value) and isinstance(info.value, MemoryError)
    np.testing.assert_array_equal(scores(est, X), before)


def test_other_runtime_errors_are_not_called_out_of_memory(X, monkeypatch):
    def broken(self, module, x, epoch):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(AutoencoderTransformer, "_train_loss", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        make("ae").fit(X)


# --------------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind", KINDS + ["pipeline"])
def test_pickle_and_joblib_round_trips_give_identical_outputs(kind, X, tmp_path):
    est = (
        make_pipeline(StandardScaler(), make("detector")) if kind == "pipeline" else make(kind)
    ).fit(X)
    joblib.dump(est, tmp_path / "m.joblib")
    for loaded in (pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "m.joblib")):
        np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
        if kind in ("ae", "vae"):
            np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
        else:
            np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_a_detector_saved_by_another_version_says_so(X):
    det = make("detector").fit(X)
    blob = pickle.dumps(det).replace(f"{__import__('skae').__version__}".encode(), b"0.0.9")
    with pytest.warns(UserWarning, match="saved with skae 0.0.9"):
        pickle.loads(blob)


def test_pickles_hold_cpu_tensors_only(X):
    """The mechanism behind 'fitted on a GPU, scores on a CPU-only machine': training
    ends with the network and optimiser state on the CPU, and a network moved to a device
    by hand after fit is pickled as a CPU copy."""
    est = make("ae").fit(X)
    state = est.__getstate__()
    tensors = list(state["module_"].state_dict().values())
    tensors += [
        v
        for s in state["_optimizer_state"]["state"].values()
        for v in s.values()
        if isinstance(v, torch.Tensor)
    ]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    buffer = io.BytesIO()
    pickle.dump(est, buffer)
    buffer.seek(0)
    loaded = pickle.load(buffer)
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))


@requires_cuda
def test_fitted_on_gpu_scores_on_a_cpu_only_process(X, tmp_path):
    est = make("detector")
    est.estimator.set_params(device="cuda")
    est.fit(X)
    joblib.dump(est, tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        est = joblib.load({str(tmp_path / "m.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "s.npy")!r}, est.score_samples(X))
    """)
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    )
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), est.score_samples(X), rtol=1e-6)


# --------------------------------------------------------------------- determinism
def _digest_in_subprocess(kind):
    code = textwrap.dedent(f"""
        import hashlib, sys, warnings
        import numpy as np
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        warnings.simplefilter("ignore")
        from tests.test_reliability import make, _data
        X = _data()
        est = make({kind!r}).fit(X)
        print(hashlib.sha256(est.score_samples(X).tobytes()).hexdigest())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _data():
    rng = np.random.RandomState(1)
    return rng.normal(size=(300, 5))


@pytest.mark.parametrize("kind", KINDS)
def test_same_data_and_seed_are_bit_identical_across_runs(kind):
    X = _data()
    here = hashlib.sha256(make(kind).fit(X).score_samples(X).tobytes()).hexdigest()
    assert hashlib.sha256(make(kind).fit(X).score_samples(X).tobytes()).hexdigest() == here
    assert _digest_in_subprocess(kind) == here


# --------------------------------------------------------------------- concurrency
def test_a_fitted_estimator_scores_from_several_threads(X):
    det = make("detector").fit(X)
    expected = det.decision_function(X)
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = det.decision_function(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, expected)


# ------------------------------------------------------------------------ overflow
def _first_power_that_raises(score, X):
    """The smallest k such that score(X * 10**k) raises ValueError (k = 0 ... 300)."""
    for k in range(0, 301):
        with np.errstate(over="ignore"):
            try:
                score(X * 10.0**k)
            except ValueError as exc:
                assert "not finite" in str(exc)
                return k
    return None


def test_overflow_raises_where_the_readme_says(X):
    """README: from about 1e154 in Python (float64) and 1e19 in the float32 ONNX graph,
    where squared errors overflow (the square roots of the largest float64 and float32)."""
    from skae.onnx import load_onnx, to_onnx

    det = make("detector").fit(X)
    python = _first_power_that_raises(det.score_samples, X[:20])
    graph = load_onnx(to_onnx(det, X[:1]).SerializeToString())
    onnx = _first_power_that_raises(graph.decision_function, X[:20].astype(np.float32))
    assert 148 <= python <= 156, python
    assert 17 <= onnx <= 20, onnx
