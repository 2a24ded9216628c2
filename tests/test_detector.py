import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.detector import default_estimators

AE = AutoencoderTransformer(hidden_layer_sizes=(16,), n_components=2, max_iter=50, device="cpu")


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.25])
def test_predict_flags_the_contamination_fraction(blobs_with_outliers, contamination):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, contamination=contamination, random_state=0).fit(X)
    labels = det.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1.0 / len(X))
    np.testing.assert_array_equal(det.fit_predict(X), labels)


def test_isolation_forest_contract(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(
        AE, normalize_errors=False, latent_weight=0, random_state=0
    ).fit(X)
    s = det.score_samples(X)
    assert det.offset_ == pytest.approx(np.percentile(s, 10))
    np.testing.assert_allclose(det.decision_function(X), s - det.offset_)
    np.testing.assert_array_equal(det.predict(X), np.where(s - det.offset_ < 0, -1, 1))
    np.testing.assert_allclose(s, det.estimator_.score_samples(X))


@pytest.mark.parametrize(
    "estimator", [None, AE, VAETransformer(hidden_layer_sizes=(16,), max_iter=50, device="cpu")]
)
def test_detects_planted_outliers(blobs_with_outliers, estimator):
    X, y = blobs_with_outliers
    det = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(estimator, contamination=0.05, random_state=0),
    ).fit(X)
    assert roc_auc_score(y, -det.decision_function(X)) > 0.95


def test_feature_errors_point_at_the_broken_column(blobs_with_outliers):
    X, _ = blobs_with_outliers
    X = StandardScaler().fit_transform(X[:570])
    det = ReconstructionAnomalyDetector(AE, latent_weight=0, random_state=0).fit(X)
    row = X[:1].copy()
    row[0, 5] += 8.0
    errors = det.feature_errors(row)
    assert errors.shape == (1, 8)
    assert int(np.argmax(errors)) == 5
    np.testing.assert_allclose(-errors.mean(axis=1), det.score_samples(row), rtol=1e-6)


def test_pandas_feature_names(blobs_with_outliers):
    X, _ = blobs_with_outliers
    df = pd.DataFrame(X, columns=list("abcdefgh"))
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(df)
    assert list(det.feature_names_in_) == list("abcdefgh")
    with pytest.raises(ValueError, match="feature names"):
        det.predict(df[list("hgfedcba")])


def test_random_state_seeds_the_inner_estimator(blobs_with_outliers):
    X, _ = blobs_with_outliers
    a = ReconstructionAnomalyDetector(AE, random_state=3).fit(X)
    b = ReconstructionAnomalyDetector(AE, random_state=3).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert AE.random_state is None  # the user's estimator is cloned, never modified


def test_default_ensemble_is_sized_from_the_features():
    small, wide = default_estimators(4), default_estimators(100)
    assert len(small) == len(wide) == 5
    assert [(m.n_components, m.hidden_layer_sizes) for m in default_estimators(1000)] == [
        (m.n_components, m.hidden_layer_sizes) for m in wide
    ]  # sized as for 100 at most
    for s, w in zip(small, wide, strict=True):
        assert s.n_components < w.n_components
        assert s.hidden_layer_sizes[0] < w.hidden_layer_sizes[0]
        assert s.loss_trim == 0.1
    # members differ in shape: width, bottleneck and depth, however wide the table
    for n in (9, 36, 100, 1000):  # (below 9 the minimum width of 8 merges some)
        assert len({(m.n_components, m.hidden_layer_sizes) for m in default_estimators(n)}) == 5
    # at most ~300 optimiser steps: fewer epochs for larger tables
    epochs = [default_estimators(8, n)[0].max_iter for n in (150, 2_000, 20_000)]
    assert epochs == sorted(epochs, reverse=True) and 10 <= min(epochs) and max(epochs) <= 200


def _robust_z(train, rows):
    q1, median, q3 = np.percentile(train, [25, 50, 75])
    return (rows - median) / (q3 - q1)


def _mahalanobis(member, X, rows):
    codes, new = member.transform(X).astype(float), member.transform(rows).astype(float)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    d = new - codes.mean(0)
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d) / codes.shape[1]


@pytest.mark.parametrize("latent_weight", [0.0, 0.5, 2.0])
def test_ensemble_score_is_the_documented_robust_combination(blobs_with_outliers, latent_weight):
    X, _ = blobs_with_outliers
    vae = VAETransformer(hidden_layer_sizes=(16,), max_iter=30, device="cpu")
    det = ReconstructionAnomalyDetector([AE, vae], latent_weight=latent_weight, random_state=0).fit(
        X
    )
    assert len(det.estimators_) == 2 and det.estimator_ is det.estimators_[0]
    errors, distances = [], []
    for m, scale in zip(det.estimators_, det.feature_scales_, strict=True):
        errors.append(
            _robust_z(
                (m._feature_errors(X) / scale).mean(1), (m._feature_errors(X[:10]) / scale).mean(1)
            )
        )
        distances.append(_robust_z(_mahalanobis(m, X, X), _mahalanobis(m, X, X[:10])))
    expected = -(np.mean(errors, axis=0) + latent_weight * np.mean(distances, axis=0))
    # float32 codes in the reference against float64 ones inside: close, not equal
    np.testing.assert_allclose(det.score_samples(X[:10]), expected, rtol=1e-3, atol=1e-4)
    assert (det.latent_means_ is None) == (latent_weight == 0)
    np.testing.assert_allclose(det.feature_errors(X[:3]).shape, (3, 8))


def test_normalize_errors_divides_by_the_median_training_error(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, latent_weight=0, random_state=0).fit(X)
    raw = det.estimator_._feature_errors(X)
    # (the errors are held in float32 while their medians are taken)
    np.testing.assert_allclose(det.feature_scales_[0], np.median(raw, 0), rtol=1e-6)
    np.testing.assert_allclose(det.feature_errors(X), raw / np.median(raw, 0), rtol=1e-6)
    # one member, no code term: the score is minus the mean normalised error
    np.testing.assert_allclose(det.score_samples(X), -(raw / np.median(raw, 0)).mean(1), rtol=1e-6)


def test_code_distance_flags_rows_far_along_the_learned_directions():
    # Rows on a 2-D plane in 6-D: a point far out *on* the plane reconstructs well,
    # so only the code-space term can tell it from the training rows.
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(2, 6))
    X = rng.normal(size=(800, 2)) @ basis + 0.1 * rng.normal(size=(800, 6))
    far = np.array([[4.0, -4.0]]) @ basis
    ae = AutoencoderTransformer(
        n_components=2,
        hidden_layer_sizes=(),
        activation="identity",
        learning_rate_init=1e-2,
        device="cpu",
    )
    errors_only = ReconstructionAnomalyDetector(ae, latent_weight=0, random_state=0).fit(X)
    with_codes = ReconstructionAnomalyDetector(ae, random_state=0).fit(X)
    assert errors_only.predict(far)[0] == 1
    assert with_codes.predict(far)[0] == -1


def test_empty_ensemble_is_rejected(blobs_with_outliers):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match="non-empty list"):
        ReconstructionAnomalyDetector([]).fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(contamination=0.6), "contamination"),
        (dict(contamination=0.0), "contamination"),
        (dict(latent_weight=-1.0), "latent_weight"),
        (dict(estimator=StandardScaler()), "estimator"),
    ],
)
def test_invalid_parameters(blobs_with_outliers, params, match):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match=match):
        ReconstructionAnomalyDetector(**params).fit(X)


def test_inner_estimator_parameters_are_validated(blobs_with_outliers):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match="activation"):
        ReconstructionAnomalyDetector(AutoencoderTransformer(activation="nope")).fit(X)


# ------------------------------------------------------- the detector's own parameters
def test_training_parameters_reach_the_default_members(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(
        max_iter=4, learning_rate_init=1e-2, batch_size=64, device="cpu", n_jobs=1, random_state=0
    ).fit(X)
    for member in det.estimators_:
        assert (
            member.max_iter,
            member.learning_rate_init,
            member.batch_size,
            member.device,
            member.n_jobs,
        ) == (4, 1e-2, 64, "cpu", 1)
        assert member.n_iter_ <= 4
    assert det.n_iter_ == max(m.n_iter_ for m in det.estimators_)
    # None keeps the default members' own choices
    default = ReconstructionAnomalyDetector()._members(8)
    assert {m.learning_rate_init for m in default} == {3e-3}
    assert {m.max_iter for m in default} == {200}


def test_a_given_member_keeps_what_the_user_set_on_it(blobs_with_outliers):
    X, _ = blobs_with_outliers
    mine = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=2, device="cpu")
    det = ReconstructionAnomalyDetector(
        mine, max_iter=5, learning_rate_init=0.02, random_state=0
    ).fit(X)
    assert det.estimator_.max_iter == 2  # set on the member: it wins
    assert det.estimator_.learning_rate_init == 0.02  # left at its default: the detector's
    assert mine.learning_rate_init == 1e-3  # the user's estimator is never modified


def test_grid_search_over_the_default_members_max_iter(blobs_with_outliers):
    from sklearn.model_selection import GridSearchCV

    X, y = blobs_with_outliers
    pipe = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(random_state=0))

    def auc(estimator, X, y):
        return roc_auc_score(y, -estimator.decision_function(X))

    from sklearn.model_selection import StratifiedKFold

    grid = GridSearchCV(
        pipe,
        {"reconstructionanomalydetector__max_iter": [2, 3]},
        scoring=auc,
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    grid.fit(X, y)
    assert grid.best_params_["reconstructionanomalydetector__max_iter"] in (2, 3)
    assert {m.max_iter for m in grid.best_estimator_[-1].estimators_} <= {2, 3}


def test_estimator_parameters_of_the_default_ensemble_name_the_detectors_own():
    det = ReconstructionAnomalyDetector()
    with pytest.raises(ValueError, match="reconstructionanomalydetector__max_iter"):
        det.set_params(estimator__max_iter=3)
    det.set_params(max_iter=3)
    assert det.max_iter == 3


def test_verbose_shows_one_progress_bar_for_the_whole_ensemble(blobs_with_outliers, capsys):
    X, _ = blobs_with_outliers
    ReconstructionAnomalyDetector(max_iter=5, n_jobs=1, verbose=1, random_state=0).fit(X)
    err = capsys.readouterr().err
    assert "skae ensemble" in err
    assert "skae:" not in err and "\nskae " not in err.replace("skae ensemble", "")


def test_one_convergence_warning_per_fit_pointing_at_the_callers_line(blobs_with_outliers):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, _ = blobs_with_outliers
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_pipeline(
            StandardScaler(), ReconstructionAnomalyDetector(max_iter=2, random_state=0)
        ).fit(X)
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1
    assert convergence[0].filename == __file__
    assert "5 networks" in str(convergence[0].message)


def test_contamination_auto_is_tukeys_lower_fence(blobs_with_outliers):
    X, y = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, contamination="auto", random_state=0).fit(X)
    s = det.score_samples(X)
    q1, q3 = np.percentile(s, [25, 75])
    assert det.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    flagged = det.predict(X) == -1
    assert 0 < flagged.mean() < 0.2 and flagged[y == 1].mean() > 0.8


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


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_feature_errors_of_a_dataframe_is_a_dataframe(blobs_with_outliers):
    X, _ = blobs_with_outliers
    df = pd.DataFrame(X, columns=list("abcdefgh"), index=np.arange(100, 100 + len(X)))
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(df)
    errors = det.feature_errors(df.iloc[:4])
    assert list(errors.columns) == list("abcdefgh")
    assert list(errors.index) == [100, 101, 102, 103]
    np.testing.assert_allclose(errors.to_numpy(), det.feature_errors(X[:4]))


# ------------------------------------------------------------------ partial_fit
def test_partial_fit_trains_every_member_one_epoch_per_chunk(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(random_state=0)
    for chunk in np.array_split(X, 3):
        det.partial_fit(chunk)
    assert [m.n_iter_ for m in det.estimators_] == [3] * 5
    assert det.predict(X).shape == (len(X),)


def test_partial_fit_calibrates_from_a_bounded_reservoir(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, reservoir_size=50, random_state=0)
    for chunk in np.array_split(X, 6):
        det.partial_fit(chunk)
        assert det._calibration is None  # recomputed only when scores are needed
    assert det._reservoir.rows.shape == (50, 8) and det._reservoir.n_seen == len(X)
    s = det.score_samples(det._reservoir.rows)
    assert det.offset_ == pytest.approx(np.percentile(s, 10), rel=1e-4, abs=1e-6)
    offset = det.offset_
    det.partial_fit(X[:100])
    assert det.offset_ != offset  # a new chunk: the calibration is recomputed


def test_the_reservoir_is_a_uniform_sample_of_every_row_seen():
    from skae._detection.reservoir import Reservoir

    reservoir = Reservoir(2000, 1, random_state=0)
    rows = np.arange(100_000, dtype=float)[:, None]
    for chunk in np.array_split(rows, 37):
        reservoir = reservoir.add(chunk)
    sample = reservoir.rows[:, 0]
    assert len(np.unique(sample)) == 2000
    counts = np.histogram(sample, bins=10, range=(0, 100_000))[0]
    assert counts.min() > 150  # ~200 expected from each tenth of the stream


def test_partial_fit_after_fit_continues_the_members(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    n = det.estimator_.n_iter_
    det.partial_fit(X[:100])
    assert det.estimator_.n_iter_ == n + 1


def test_a_partially_fitted_detector_pickles_and_continues(blobs_with_outliers):
    import pickle

    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(random_state=0).partial_fit(X[:300])
    loaded = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))
    for est in (det, loaded):
        est.partial_fit(X[300:])
    np.testing.assert_array_equal(loaded.score_samples(X), det.score_samples(X))


@pytest.mark.parametrize(
    "estimator",
    [
        None,
        [  # same settings, different depths: one block-diagonal MLP
            AutoencoderTransformer(hidden_layer_sizes=h, n_components=2, loss="mae", device="cpu")
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


def test_threads_first_scoring_after_partial_fit_agree(blobs_with_outliers):
    """The deferred calibration is per detector and needs no lock: threads that trigger
    it at once compute the same one."""
    from concurrent.futures import ThreadPoolExecutor

    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, random_state=0).partial_fit(X)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: det.score_samples(X), range(4)))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_array_equal(det.score_samples(X), results[0])
