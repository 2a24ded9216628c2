"""skae._detection.members: the detector's members made, given its training parameters
and seeded."""

import pytest

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae._detection.members import make_members, validate_members


def test_a_parameter_set_on_a_member_wins_over_the_detectors():
    own = AutoencoderTransformer(max_iter=7)
    det = ReconstructionAnomalyDetector([own, AutoencoderTransformer()], max_iter=3)
    members = make_members(det, n_features=4)
    assert [m.max_iter for m in members] == [7, 3]
    assert members[0] is not own  # clones


def test_random_state_seeds_every_member_apart():
    det = ReconstructionAnomalyDetector(random_state=0)
    seeds = [m.random_state for m in make_members(det, n_features=4)]
    assert len(set(seeds)) == len(seeds) == 5
    assert seeds == [m.random_state for m in make_members(det, n_features=4)]


def test_novelty_members_train_on_every_row():
    det = ReconstructionAnomalyDetector()
    assert {m.loss_trim for m in make_members(det, 4, novelty=True)} == {0.0}
    assert {m.loss_trim for m in make_members(det, 4, novelty=False)} == {0.1}


def test_estimator_that_is_not_an_autoencoder_is_refused_by_name():
    with pytest.raises(ValueError, match="estimator must be an AutoencoderTransformer"):
        validate_members([])
