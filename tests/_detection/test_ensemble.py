"""skae._detection.ensemble: members trained as stacks, ending as plain estimators."""

import numpy as np

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector


def test_default_members_train_as_two_stacks_and_end_as_plain_estimators(blobs_with_outliers):
    from skae._detection.ensemble import stack_groups
    from skae._nn.networks import Autoencoder

    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(max_iter=5, random_state=0).fit(X)
    assert sorted(map(len, stack_groups(det.estimators_))) == [2, 3]  # by depth
    for member in det.estimators_:
        assert type(member.module_) is Autoencoder
        assert member.module_.encoder[-1].out_features == member.n_components
        assert len(member.loss_curve_) == member.n_iter_
        member.transform(X[:3])  # each is a usable estimator on its own


def test_stacked_members_each_stop_on_their_own(blobs_with_outliers):
    X, _ = blobs_with_outliers
    members = [
        AutoencoderTransformer(
            hidden_layer_sizes=(w,), n_components=c, tol=0.05, max_iter=300, device="cpu"
        )
        for w, c in [(16, 2), (32, 4), (8, 1)]
    ]
    det = ReconstructionAnomalyDetector(members, random_state=0).fit(X)
    epochs = [m.n_iter_ for m in det.estimators_]
    assert max(epochs) < 300 and len(set(epochs)) > 1
    for m in det.estimators_:
        assert m.best_epoch_ == int(np.argmin(m.validation_loss_curve_))
