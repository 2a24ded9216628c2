"""The shared facade: warm starts and partial_fit after parameter changes, private random
streams, parameter validation through _fit_context."""

import threading
import warnings

import numpy as np
import pytest
import sklearn
import torch

from skae import AutoencoderTransformer, VAETransformer
from skae._nn import random as _random
from skae._train import engine as _engine

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(200, 3)) @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(200, 6))


def record_learning_rates(monkeypatch):
    rates = []
    original = _engine.Optimizer

    class Recording(original):
        def __init__(self, params, solver, lr, weight_decay=0.0):
            rates.append((solver, lr, weight_decay))
            super().__init__(params, solver, lr, weight_decay)

    monkeypatch.setattr(_engine, "Optimizer", Recording)
    return rates


@pytest.mark.parametrize("continue_with", ["warm_start", "partial_fit"])
def test_optimiser_settings_changed_between_calls_apply(X, monkeypatch, continue_with):
    rates = record_learning_rates(monkeypatch)
    ae = AutoencoderTransformer(**FAST, warm_start=True).fit(X)
    ae.set_params(learning_rate_init=0.5, alpha=0.1)
    ae.fit(X) if continue_with == "warm_start" else ae.partial_fit(X)
    assert rates[-1] == ("adam", 0.5, 0.1)


@pytest.mark.parametrize(
    "param, value",
    [
        ("alpha", 0.1),
        ("solver", "sgd"),
        ("solver", "adamw"),
        ("batch_size", 7),
        ("loss", "mae"),
        ("noise_std", 0.1),
    ],
)
def test_partial_fit_after_a_training_parameter_changes_continues(X, param, value):
    ae = AutoencoderTransformer(**FAST).partial_fit(X)
    ae.set_params(**{param: value})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no rebuild, no state mismatch
        ae.partial_fit(X)
    assert ae.n_iter_ == 2


@pytest.mark.parametrize(
    "param, value",
    [
        ("n_components", 3),
        ("hidden_layer_sizes", (5,)),
        ("activation", "relu"),
        ("latent_normalize", True),
        ("loss", "bce"),
        ("dropout", 0.2),
    ],
)
def test_an_architecture_change_rebuilds_the_network_with_a_warning(X, param, value):
    X01 = (X - X.min(0)) / (X.max(0) - X.min(0))
    ae = AutoencoderTransformer(**FAST, warm_start=True).fit(X01)
    ae.set_params(**{param: value})
    with pytest.warns(UserWarning, match=f"{param if param != 'loss' else 'sigmoid'} changed"):
        ae.fit(X01)
    assert ae.n_iter_ == 3  # trained from scratch
    codes = ae.transform(X01)
    assert codes.shape[1] == len(ae.get_feature_names_out()) == ae.n_components
    if param == "loss":  # bce: a sigmoid output now
        recon = ae.inverse_transform(codes)
        assert recon.min() > 0 and recon.max() < 1


def test_the_rebuild_warning_points_at_the_users_line(X):
    ae = AutoencoderTransformer(**FAST, warm_start=True).fit(X)
    ae.set_params(n_components=3)
    with pytest.warns(UserWarning, match="changed") as record:
        ae.fit(X)
    assert {w.filename for w in record} == {__file__}


def test_vae_likelihood_change_rebuilds(X):
    X01 = (X - X.min(0)) / (X.max(0) - X.min(0))
    vae = VAETransformer(**FAST).partial_fit(X01)
    vae.set_params(likelihood="bernoulli")
    with pytest.warns(UserWarning, match="likelihood changed"):
        vae.partial_fit(X01)


def test_partial_fit_draws_new_shuffles_and_noise_on_every_call(X, monkeypatch):
    draws = []
    original = _random.randn_like
    monkeypatch.setattr(_random, "randn_like", lambda x: draws.append(original(x)) or draws[-1])
    settings = {**FAST, "batch_size": 200, "latent_noise": 0.0}  # input noise only
    ae = AutoencoderTransformer(**settings, noise_std=0.1)
    ae.partial_fit(X)
    ae.partial_fit(X)
    assert len(draws) == 2 and not torch.equal(draws[0], draws[1])
    # and a fresh estimator with the same seed repeats the first call exactly
    fresh = AutoencoderTransformer(**settings, noise_std=0.1)
    fresh.partial_fit(X)
    assert torch.equal(draws[2], draws[0])


def test_fits_in_several_threads_are_reproducible_and_leave_the_global_rng(X):
    kwargs = dict(FAST, noise_std=0.1, dropout=0.1, max_iter=5)
    expected = AutoencoderTransformer(**kwargs).fit(X).transform(X)
    results, errors = [None] * 4, []

    def work(i):
        try:
            results[i] = AutoencoderTransformer(**kwargs).fit(X).transform(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    torch.manual_seed(123)
    reference = torch.rand(50)
    torch.manual_seed(123)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, expected)
    assert torch.equal(torch.rand(50), reference)  # nobody moved the global stream


def test_parameter_validation_follows_sklearns_config(X):
    bad = AutoencoderTransformer(**{**FAST, "activation": "swish"})
    with pytest.raises(ValueError, match="'activation' parameter"):
        bad.fit(X)
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(KeyError, match="swish"):  # not validated: fails when building
            bad.fit(X)
