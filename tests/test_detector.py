import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer

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
        AE, normalize_errors=False, latent_weight=0, neighbor_weight=0, random_state=0
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
    det = ReconstructionAnomalyDetector(AE, neighbor_weight=0, random_state=0).fit(X)
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
        (dict(neighbor_weight=-1.0), "neighbor_weight"),
        (dict(n_neighbors=0), "n_neighbors"),
        (dict(reference_size=1), "reference_size"),
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
    sample = det._calibration_sample
    assert sample.rows.shape == (50, 8) and sample.n_seen == len(X)
    s = det.score_samples(det._calibration_sample.rows)
    assert det.offset_ == pytest.approx(np.percentile(s, 10), rel=1e-4, abs=1e-6)
    offset = det.offset_
    det.partial_fit(X[:100])
    assert det.offset_ != offset  # a new chunk: the calibration is recomputed


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


def test_partial_fit_after_fit_recalibrates_from_every_row_seen(blobs_with_outliers):
    """fit's rows seed the reservoir: 10 more rows move the threshold a little, not to
    what those 10 alone would give."""
    X, _ = blobs_with_outliers
    shares = []
    for seed in range(4):
        det = ReconstructionAnomalyDetector(AE, contamination=0.05, random_state=seed).fit(X)
        rows = np.random.RandomState(seed).choice(len(X), 10, replace=False)
        det.partial_fit(X[rows])
        assert det._calibration_sample.n_seen == len(X) + 10
        shares.append((det.predict(X) == -1).mean())
    assert all(0.02 <= s <= 0.09 for s in shares), shares


@pytest.mark.parametrize("n", [1, 2, 9])
def test_too_few_rows_to_calibrate_are_refused_with_the_minimum(blobs_with_outliers, n):
    X, _ = blobs_with_outliers
    with pytest.raises(ValueError, match=f"at least 10 rows.*n_samples = {n}"):
        ReconstructionAnomalyDetector(AE).fit(X[:n])
    det = ReconstructionAnomalyDetector(AE).partial_fit(X[:n])  # training a chunk is fine
    with pytest.raises(ValueError, match=f"at least 10 rows.*partial_fit has seen {n}"):
        det.predict(X)
    det.partial_fit(X[n : n + 20])
    assert det.predict(X).shape == (len(X),)


def _normal_table(n, rng):
    """Clean training rows: two clusters on a plane in 8-D."""
    centre = rng.choice([-2.0, 2.0], size=(n, 1))
    plane = rng.normal(size=(n, 2)) + centre
    X = plane @ np.random.RandomState(7).normal(size=(2, 8))
    return X + 0.1 * rng.normal(size=X.shape)


FAST_MEMBER = AutoencoderTransformer(hidden_layer_sizes=(16,), n_components=2, max_iter=30)


@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_new_normal_rows_are_flagged_at_most_at_the_false_alarm_rate(rate):
    """Averaged over fits (the guarantee is over calibration draws): at most the rate
    within noise, and not far below it."""
    rng = np.random.RandomState(0)
    shares = []
    for seed in range(8):
        det = ReconstructionAnomalyDetector(FAST_MEMBER, false_alarm_rate=rate, random_state=seed)
        det.fit(_normal_table(2000, rng))
        shares.append((det.predict(_normal_table(4000, rng)) == -1).mean())
    noise = 3 * np.std(shares) / np.sqrt(len(shares)) + 3 * np.sqrt(rate / 4000 / len(shares))
    assert rate * 0.7 < np.mean(shares) <= rate + noise, shares


def test_p_values_of_new_normal_rows_are_uniform_and_planted_anomalies_small():
    from scipy import stats

    # uniform over calibration draws: many fits, a few new rows each
    rng = np.random.RandomState(1)
    member = clone(FAST_MEMBER).set_params(max_iter=5)
    pooled = []
    for seed in range(50):
        det = ReconstructionAnomalyDetector(member, false_alarm_rate=0.05, random_state=seed)
        det.fit(_normal_table(800, rng))
        pooled.append(det.pvalues(_normal_table(60, rng)))
    pooled = np.concatenate(pooled)
    assert stats.kstest(pooled, "uniform").pvalue > 1e-3
    for t in (0.01, 0.05, 0.2, 0.5):
        assert abs(np.mean(pooled <= t) - t) < 0.03
    planted = _normal_table(50, rng) + rng.choice([-4.0, 4.0], size=(50, 8))
    p = det.pvalues(planted)
    assert np.median(p) < 0.01 and (det.predict(planted) == -1).mean() > 0.9
    np.testing.assert_array_equal(det.pvalues(planted) <= 0.05, det.predict(planted) == -1)


def test_the_false_alarm_rate_holds_on_a_real_dataset():
    """sklearn's bundled digits, one digit's rows as the normal data, the others new."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, digit = load_digits(return_X_y=True)
    normal = X[digit != 0]
    shares = {0.01: [], 0.05: []}
    for seed in range(3):
        rng = np.random.RandomState(seed)
        order = rng.permutation(len(normal))
        train, new = normal[order[:1100]], normal[order[1100:]]
        scaler = StandardScaler().fit(train)
        for rate in shares:
            det = ReconstructionAnomalyDetector(
                false_alarm_rate=rate, max_iter=20, random_state=seed
            )
            det.fit(scaler.transform(train))
            shares[rate].append((det.predict(scaler.transform(new)) == -1).mean())
        zeros = scaler.transform(X[digit == 0])
        assert np.median(det.pvalues(zeros)) < np.median(det.pvalues(scaler.transform(new)))
    for rate, values in shares.items():
        assert np.mean(values) <= rate + 3 * np.sqrt(rate / (3 * len(new))) + 0.01, values


def test_a_conflicting_contamination_is_refused():
    X = np.random.RandomState(0).normal(size=(500, 4))
    with pytest.raises(ValueError, match="contamination does not apply"):
        ReconstructionAnomalyDetector(contamination=0.05, false_alarm_rate=0.01).fit(X)


def test_too_few_rows_for_the_rate_are_refused_naming_what_would_do():
    X = np.random.RandomState(0).normal(size=(300, 4))
    with pytest.raises(ValueError, match="needs at least 99 calibration rows.*495 rows"):
        ReconstructionAnomalyDetector(FAST_MEMBER, false_alarm_rate=0.01).fit(X)


def test_partial_fit_holds_out_a_bounded_calibration_sample():
    rng = np.random.RandomState(2)
    det = ReconstructionAnomalyDetector(FAST_MEMBER, false_alarm_rate=0.05, random_state=0)
    X = _normal_table(5000, rng)
    for chunk in np.array_split(X, 10):
        det.partial_fit(chunk)
    n = len(det.calibration_scores_)
    assert 0.15 * len(X) < n < 0.25 * len(X)  # each chunk's held-out 20%, never trained on
    assert det._calibration_sample.n_seen + len(det._calibration_sample.held_out) == len(X)
    share = (det.predict(_normal_table(5000, rng)) == -1).mean()
    assert share < 0.05 + 0.03


def test_p_values_without_a_rate_are_ranks_among_the_training_rows(blobs_with_outliers):
    X, _ = blobs_with_outliers
    det = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    p = det.pvalues(X)
    assert len(det.calibration_scores_) == len(X)  # all of them, up to 2,000
    np.testing.assert_allclose(np.sort(p)[-1], 1.0)
    assert np.mean(p <= 0.1) == pytest.approx(0.1, abs=0.01)


def _discrete_table(n, rng):
    """A log-like table: three binary columns, eight distinct rows."""
    return (rng.random_sample((n, 3)) < [0.3, 0.5, 0.2]).astype(np.float64)


@pytest.mark.parametrize("settings", [dict(false_alarm_rate=0.2), dict(contamination=0.1)])
def test_a_tied_row_gets_one_label_and_p_value_whatever_it_is_scored_with(settings):
    """Rows that score the same up to rounding: offset_ lies off their tie group, so a
    row scored alone, in a batch, or in another batch gets the same label and p-value."""
    rng = np.random.RandomState(0)
    X = _discrete_table(1000, rng)
    det = ReconstructionAnomalyDetector(FAST_MEMBER, random_state=0, **settings).fit(X)
    batch = _discrete_table(777, rng)
    labels, p = det.predict(batch), det.pvalues(batch)
    for row in np.unique(batch, axis=0):
        same = np.all(batch == row, axis=1)
        assert len(set(labels[same])) == 1 and len(set(p[same])) == 1
        assert det.predict(row[None])[0] == labels[same][0]
        assert det.pvalues(row[None])[0] == p[same][0]
    scores = np.unique(det.score_samples(np.unique(X, axis=0)))
    assert np.all(np.abs(scores - det.offset_) > 1e-6 * np.abs(scores).max())


def test_fitted_settings_describe_the_fit_not_later_set_params():
    rng = np.random.RandomState(1)
    X = _normal_table(600, rng)
    det = ReconstructionAnomalyDetector(FAST_MEMBER, contamination=0.1, random_state=0).fit(X)
    offset = det.offset_
    det.set_params(novelty=True, contamination=0.2)
    assert det.novelty_ is False and det.contamination_ == 0.1
    assert det.false_alarm_rate_ is None and det.offset_ == offset
    det.set_params(contamination=0.1, novelty="auto", false_alarm_rate=0.01)
    assert det.novelty_ is False and det.false_alarm_rate_ is None
    with pytest.raises(ValueError, match="false_alarm_rate now resolves to 0.01.*call fit"):
        det.partial_fit(X[:50])
    det.fit(X)  # a new fit follows the parameters
    assert det.novelty_ is True and det.false_alarm_rate_ == 0.01 and det.contamination_ is None


def test_a_streamed_fit_never_trains_on_its_held_out_rows_over_many_passes():
    """partial_fit over the same chunks ten times: the held-out rows are the same on
    every pass, each counted once, and none is ever trained on."""
    rng = np.random.RandomState(3)
    X = _normal_table(1500, rng)
    det = ReconstructionAnomalyDetector(FAST_MEMBER, false_alarm_rate=0.05, random_state=0)
    trained = []
    train = det._train
    det._train = lambda rows, partial: trained.append(rows.copy()) or train(rows, partial)
    for _ in range(10):
        for chunk in np.array_split(X, 5):
            det.partial_fit(chunk)
    del det._train
    held = {r.tobytes() for r in det._calibration_sample.held_out}
    seen = {r.tobytes() for rows in trained for r in np.asarray(rows, np.float32)}
    assert len(held) == len(det.calibration_scores_) and 0.15 < len(held) / len(X) < 0.25
    assert not held & seen
    assert sum(map(len, trained)) == 10 * (len(X) - len(held))


def test_score_is_minus_mean_feature_errors_only_without_latent_and_neighbour_terms(
    blobs_with_outliers,
):
    X, _ = blobs_with_outliers
    plain = ReconstructionAnomalyDetector(
        AE, neighbor_weight=0.0, latent_weight=0.0, random_state=0
    ).fit(X)
    np.testing.assert_allclose(
        plain.score_samples(X[:20]), -plain.feature_errors(X[:20]).mean(axis=1), rtol=1e-5
    )
    # the default adds the neighbour term: the errors explain the score, not sum to it
    default = ReconstructionAnomalyDetector(AE, random_state=0).fit(X)
    far = X[:20] * 3.0
    assert not np.allclose(default.score_samples(far), -default.feature_errors(far).mean(axis=1))
