"""skae._train.progress: the bar ends where training ended, saying why."""

import numpy as np

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae._train.progress import ProgressBar


def _last_line(err):
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]


def test_a_fit_that_stops_early_closes_its_bar_at_100_percent_saying_why(capsys):
    X = np.random.RandomState(0).normal(size=(300, 5))
    model = AutoencoderTransformer(max_iter=500, verbose=1, device="cpu").fit(X)
    assert model.n_iter_ < 500
    last = _last_line(capsys.readouterr().err)
    assert "100%" in last and f"{model.n_iter_}/{model.n_iter_}" in last
    assert "stopped: no improvement for 10 epochs" in last


def test_the_ensemble_bar_names_the_networks_whose_losses_it_shows(capsys, monkeypatch):
    # what the bar is given each epoch (tqdm redraws at most every 0.1 s, so a fast fit
    # may never draw a middle state)
    shown, original = [], ProgressBar.__call__

    def record(self, train_losses, validation_losses):
        original(self, train_losses, validation_losses)
        shown.append(dict(self.last))

    monkeypatch.setattr(ProgressBar, "__call__", record)
    X = np.random.RandomState(0).normal(size=(300, 5))
    ReconstructionAnomalyDetector(max_iter=15, verbose=1, random_state=0).fit(X)
    err = capsys.readouterr().err
    assert shown and all(p["networks"].endswith(" of 5") for p in shown)
    last = _last_line(err)
    assert "networks stopped by themselves" in last and "at max_iter" in last


def test_the_default_ensemble_bar_ends_saying_its_step_budget_is_by_design(capsys):
    X = np.random.RandomState(0).normal(size=(300, 5))
    ReconstructionAnomalyDetector(verbose=1, random_state=0).fit(X)
    last = _last_line(capsys.readouterr().err)
    assert "step budget, as designed" in last and "stopped by themselves" not in last
