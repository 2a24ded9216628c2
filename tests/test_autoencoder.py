import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skae import AutoencoderTransformer

from .conftest import requires_cuda

FAST = dict(hidden_layer_sizes=(16,), max_iter=30, random_state=0, device="cpu")


def test_shapes_and_dtypes(low_rank):
    ae = AutoencoderTransformer(n_components=3, **FAST).fit(low_rank)
    Z = ae.transform(low_rank)
    assert Z.shape == (400, 3) and Z.dtype == np.float32
    R = ae.inverse_transform(Z)
    assert R.shape == (400, 12) and R.dtype == np.float32
    s = ae.score_samples(low_rank)
    assert s.shape == (400,) and s.dtype == np.float64
    assert ae.n_features_in_ == 12 and ae.device_ == "cpu"
    assert ae.n_iter_ == len(ae.loss_curve_) == len(ae.validation_loss_curve_)
    assert 0 <= ae.best_epoch_ < ae.n_iter_
    assert not ae.module_.training


def test_score_samples_is_minus_the_per_sample_loss(low_rank):
    ae = AutoencoderTransformer(n_components=3, **FAST).fit(low_rank)
    recon = ae.inverse_transform(ae.transform(low_rank)).astype(np.float64)
    expected = -((recon - low_rank) ** 2).mean(axis=1)
    np.testing.assert_allclose(ae.score_samples(low_rank), expected, rtol=1e-4, atol=1e-6)
    assert ae.score(low_rank) == pytest.approx(expected.mean(), rel=1e-4)


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_other_losses_score_their_own_loss(low_rank, loss):
    ae = AutoencoderTransformer(loss=loss, **FAST).fit(low_rank)
    err = ae.inverse_transform(ae.transform(low_rank)).astype(np.float64) - low_rank
    per = (
        np.abs(err) if loss == "mae" else np.where(np.abs(err) < 1, 0.5 * err**2, np.abs(err) - 0.5)
    )
    np.testing.assert_allclose(ae.score_samples(low_rank), -per.mean(axis=1), rtol=1e-4, atol=1e-6)


def test_identical_refits_with_the_same_random_state(low_rank):
    a = AutoencoderTransformer(**FAST).fit(low_rank)
    b = AutoencoderTransformer(**FAST).fit(low_rank)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.transform(low_rank), b.transform(low_rank))
    c = AutoencoderTransformer(**{**FAST, "random_state": 1}).fit(low_rank)
    assert not np.array_equal(a.transform(low_rank), c.transform(low_rank))


def test_fit_does_not_touch_torch_global_rng(low_rank):
    state = torch.random.get_rng_state()
    AutoencoderTransformer(**FAST).fit(low_rank)
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_linear_autoencoder_reaches_pca_error_at_the_default_tolerance(scale):
    """Default tol and learning-rate schedule, training loss monitored
    (early_stopping=False), low-noise data (a rank-5 signal plus 5% noise): it stops by
    itself within 3% of PCA's error, however the data is scaled."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 20)) + 0.05 * rng.normal(size=(2000, 20))
    X = scale * StandardScaler().fit_transform(X)
    pca = PCA(5).fit(X)
    pca_err = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    ae = AutoencoderTransformer(
        n_components=5,
        hidden_layer_sizes=(),
        activation="identity",
        early_stopping=False,
        max_iter=2000,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert ae.n_iter_ < 2000  # it stopped by itself
    assert -ae.score(X) <= 1.03 * pca_err, (-ae.score(X), pca_err)


def test_the_decoder_metric_makes_linear_codes_pca_scores_up_to_a_rotation():
    """code_metric="decoder" folds G^(1/2) into the weights: a linear autoencoder's codes
    are then centred, their distances are those of the reconstructions, and the
    reconstructions are what the network computed before the fold."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 8)) + 0.05 * rng.normal(size=(500, 8))
    params = dict(
        n_components=3, hidden_layer_sizes=(), activation="identity", random_state=0, device="cpu"
    )
    plain = AutoencoderTransformer(code_metric=None, **params).fit(X)
    folded = AutoencoderTransformer(**params).fit(X)
    Z = folded.transform(X).astype(np.float64)
    R = folded.inverse_transform(folded.transform(X)).astype(np.float64)
    np.testing.assert_allclose(R, plain.inverse_transform(plain.transform(X)), atol=1e-4)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-4)
    dz = np.linalg.norm(Z[:100, None] - Z[None, :100], axis=-1)
    dr = np.linalg.norm(R[:100, None] - R[None, :100], axis=-1)
    np.testing.assert_allclose(dz, dr, rtol=1e-3, atol=1e-4)
    # the codes' covariance is the reconstructions': PCA's variances, on the diagonal
    # after a rotation
    np.testing.assert_allclose(
        np.linalg.eigvalsh(np.cov(Z.T)), np.linalg.eigvalsh(np.cov(R.T))[-3:], rtol=1e-3
    )


def test_the_decoder_metric_leaves_a_nonlinear_network_reconstructing_the_same(low_rank):
    X = StandardScaler().fit_transform(low_rank)
    plain = AutoencoderTransformer(n_components=3, code_metric=None, **FAST).fit(X)
    folded = AutoencoderTransformer(n_components=3, **FAST).fit(X)
    np.testing.assert_allclose(
        folded.inverse_transform(folded.transform(X)),
        plain.inverse_transform(plain.transform(X)),
        atol=1e-4,
    )
    assert not np.allclose(folded.transform(X), plain.transform(X), atol=1e-2)


@pytest.mark.parametrize(
    "n_samples, batch, epochs", [(178, 32, 5000), (1000, 57, 1875), (20_000, 256, 423)]
)
def test_auto_batch_size_and_epochs_follow_the_rows(n_samples, batch, epochs):
    """About 16 minibatches an epoch (32 to 256 rows) and 30,000 optimiser steps (at
    most 5,000 epochs)."""
    ae = AutoencoderTransformer()
    assert ae._batch_size(n_samples) == batch
    assert ae._max_epochs(n_samples) == epochs
    assert AutoencoderTransformer(batch_size=64, max_iter=7)._max_epochs(n_samples) == 7


def test_latent_noise_is_drawn_from_the_estimators_stream(low_rank):
    X = StandardScaler().fit_transform(low_rank)
    a = AutoencoderTransformer(latent_noise=0.5, **FAST).fit(X)
    b = AutoencoderTransformer(latent_noise=0.5, **FAST).fit(X)
    c = AutoencoderTransformer(latent_noise=0.0, **FAST).fit(X)
    assert a.loss_curve_ == b.loss_curve_ != c.loss_curve_


def test_pandas_in_and_out(low_rank):
    df = pd.DataFrame(low_rank, columns=[f"c{i}" for i in range(12)])
    ae = AutoencoderTransformer(n_components=2, **FAST).set_output(transform="pandas")
    out = ae.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["autoencodertransformer0", "autoencodertransformer1"]
    assert list(ae.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(
        ae.get_feature_names_out(), ["autoencodertransformer0", "autoencodertransformer1"]
    )
    with pytest.raises(ValueError, match="feature names"):
        ae.transform(df[df.columns[::-1]])


def test_bce_needs_data_in_unit_interval(low_rank):
    with pytest.raises(ValueError, match="MinMaxScaler"):
        AutoencoderTransformer(loss="bce", **FAST).fit(low_rank)
    X01 = MinMaxScaler().fit_transform(low_rank)
    ae = AutoencoderTransformer(loss="bce", **FAST).fit(X01)
    R = ae.inverse_transform(ae.transform(X01))
    assert R.min() > 0 and R.max() < 1


def test_latent_normalize_gives_unit_norm_codes(low_rank):
    ae = AutoencoderTransformer(n_components=3, latent_normalize=True, **FAST).fit(low_rank)
    np.testing.assert_allclose(np.linalg.norm(ae.transform(low_rank), axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("activation", ["leaky_relu", "prelu", "selu", "elu", "gelu", "tanh"])
def test_every_activation_trains(low_rank, activation):
    X = StandardScaler().fit_transform(low_rank)
    ae = AutoencoderTransformer(n_components=3, activation=activation, **FAST).fit(X)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_denoising_dropout_batch_norm_and_solvers_train(low_rank):
    X = StandardScaler().fit_transform(low_rank)
    for extra in [
        dict(noise_std=0.3),
        dict(dropout=0.1),
        dict(batch_norm=True),
        dict(solver="adamw", alpha=1e-3),
        dict(solver="sgd", learning_rate_init=1e-2),
    ]:
        ae = AutoencoderTransformer(n_components=3, **{**FAST, **extra}).fit(X)
        assert ae.loss_curve_[-1] < ae.loss_curve_[0], extra
        assert np.all(np.isfinite(ae.score_samples(X)))


def test_alpha_shrinks_the_weights(low_rank):
    X = StandardScaler().fit_transform(low_rank)

    def norm(alpha):  # the weights as trained: the decoder metric's fold rescales them
        ae = AutoencoderTransformer(alpha=alpha, code_metric=None, **FAST).fit(X)
        return sum(p.square().sum().item() for p in ae.module_.parameters() if p.ndim == 2)

    assert norm(1.0) < norm(0.1) < norm(0.0)


def test_warm_start_and_partial_fit_continue_training(low_rank):
    ae = AutoencoderTransformer(
        **{**FAST, "max_iter": 5, "early_stopping": False}, warm_start=True
    ).fit(low_rank)
    first_curve = list(ae.loss_curve_)
    ae.fit(low_rank)
    assert ae.n_iter_ == 10 and ae.loss_curve_[:5] == first_curve
    pf = AutoencoderTransformer(**FAST)
    for chunk in np.array_split(low_rank, 4):
        pf.partial_fit(chunk)
    assert pf.n_iter_ == 4 and len(pf.loss_curve_) == 4


def test_grid_search_without_scoring(low_rank):
    X = StandardScaler().fit_transform(low_rank)
    # trained long enough that the comparison means something (rank-3 data)
    grid = GridSearchCV(
        AutoencoderTransformer(**{**FAST, "learning_rate_init": 1e-2}),
        {"n_components": [1, 3]},
        cv=3,
    )
    grid.fit(X)
    assert grid.best_params_ == {"n_components": 3}


def test_pipeline_and_column_transformer(low_rank):
    df = pd.DataFrame(low_rank, columns=[f"c{i}" for i in range(12)])
    ct = ColumnTransformer(
        [
            ("ae", AutoencoderTransformer(**FAST), list(df.columns[:8])),
            ("keep", "passthrough", list(df.columns[8:])),
        ]
    )
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(n_components=3, **FAST))
    assert pipe.fit_transform(df).shape == (400, 3)
    assert ct.fit_transform(df).shape == (400, 6)
    assert list(ct.get_feature_names_out()[:2]) == [
        "ae__autoencodertransformer0",
        "ae__autoencodertransformer1",
    ]


def test_verbose_shows_a_progress_bar(low_rank, capsys):
    AutoencoderTransformer(**{**FAST, "max_iter": 3}, verbose=1).fit(low_rank)
    err = capsys.readouterr().err
    assert "skae" in err and "val_loss" in err


def test_early_stopping_keeps_the_best_epoch(low_rank):
    ae = AutoencoderTransformer(
        **{**FAST, "max_iter": 200}, learning_rate_init=3e-2, n_iter_no_change=5
    ).fit(low_rank)
    assert ae.n_iter_ < 200
    assert ae.best_epoch_ == int(np.argmin(ae.validation_loss_curve_))


def test_bfloat16_precision_trains_and_keeps_float32_weights(low_rank):
    X = StandardScaler().fit_transform(low_rank)
    ae = AutoencoderTransformer(precision="bfloat16", **FAST).fit(X)
    assert ae.loss_curve_[-1] < 0.5 * ae.loss_curve_[0]
    assert all(p.dtype == torch.float32 for p in ae.module_.parameters())
    assert ae.transform(X).dtype == np.float32


def test_n_jobs_trains_and_restores_threads(low_rank):
    before = torch.get_num_threads()
    AutoencoderTransformer(n_jobs=1, **FAST).fit(low_rank).transform(low_rank)
    assert torch.get_num_threads() == before


def test_auto_alpha_is_a_prior_in_units_of_the_datas_variance():
    """alpha="auto" = 1.6 * mean column variance / training rows: the penalty keeps its
    weight against the loss whatever the scale of the data."""
    X = np.random.RandomState(0).normal(size=(500, 4)).astype(np.float32)
    ae = AutoencoderTransformer()
    assert ae._alpha(X) == pytest.approx(1.6 * X.var(axis=0).mean() / 450, rel=1e-6)
    assert ae._alpha(10 * X) == pytest.approx(100 * ae._alpha(X), rel=1e-6)
    assert AutoencoderTransformer(alpha=0.5)._alpha(X) == 0.5


# ------------------------------------------------------------------ embedding="umap"
UMAP_FAST = dict(embedding="umap", hidden_layer_sizes=(16,), max_iter=10, device="cpu")


@pytest.fixture(scope="module")
def labelled_blobs():
    """300 standardised rows of 4 overlapping Gaussian classes in 10 features."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, n_features=10, centers=4, cluster_std=2.5, random_state=3)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _kmeans_ari(Z, y):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    labels = KMeans(len(np.unique(y)), n_init=10, random_state=0).fit_predict(Z)
    return adjusted_rand_score(y, labels)


def test_umap_codes_cluster_better_than_the_default_codes(labelled_blobs):
    X, y = labelled_blobs
    umap_codes = AutoencoderTransformer(2, random_state=0, embedding="umap").fit_transform(X)
    default_codes = AutoencoderTransformer(2, random_state=0).fit_transform(X)
    assert _kmeans_ari(umap_codes, y) > 0.9
    assert _kmeans_ari(umap_codes, y) > _kmeans_ari(default_codes, y)


def test_umap_training_runs_the_epoch_budget_on_a_falling_rate(labelled_blobs):
    X, _ = labelled_blobs
    ae = AutoencoderTransformer(random_state=0, **UMAP_FAST).fit(X)
    assert ae.n_iter_ == 10 and len(ae.loss_curve_) == 10
    assert ae.validation_loss_curve_ is None  # no validation split: its rows are in the graph
    # the reconstruction is trained too: better than reconstructing every row by the mean
    assert -ae.score(X) < np.mean(X.var(axis=0))


def test_umap_fits_are_reproducible_and_ignore_y(labelled_blobs):
    # one thread in both fits: sums split over another number of threads may differ in
    # the last bit, which the layout's 500 epochs amplify
    X, y = labelled_blobs
    first = AutoencoderTransformer(random_state=5, n_jobs=1, **UMAP_FAST).fit_transform(X)
    second = make_pipeline(AutoencoderTransformer(random_state=5, n_jobs=1, **UMAP_FAST))
    second.fit(X, y)
    np.testing.assert_array_equal(first, second.transform(X))
    other = AutoencoderTransformer(random_state=6, **UMAP_FAST).fit_transform(X)
    assert not np.allclose(first, other)


def test_umap_fit_does_not_touch_torch_global_rng(labelled_blobs):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    AutoencoderTransformer(random_state=0, **UMAP_FAST).fit(labelled_blobs[0])
    assert torch.equal(torch.rand(3), expected)


def test_umap_codes_are_not_rewhitened_by_the_decoder_metric(labelled_blobs, monkeypatch):
    import skae.autoencoder as module

    called = []
    monkeypatch.setattr(module, "fold_decoder_metric", lambda *a: called.append(a))
    AutoencoderTransformer(random_state=0, **UMAP_FAST).fit(labelled_blobs[0])
    assert called == []


def test_umap_refuses_partial_fit_and_names_the_alternative(labelled_blobs):
    ae = AutoencoderTransformer(random_state=0, **UMAP_FAST)
    assert not hasattr(ae, "partial_fit")
    with pytest.raises(AttributeError) as info:
        ae.partial_fit(labelled_blobs[0])
    assert "warm_start=True" in str(info.value.__cause__)
    assert hasattr(AutoencoderTransformer(), "partial_fit")


def test_umap_warm_start_continues_on_the_new_rows_graph(labelled_blobs):
    X, _ = labelled_blobs
    ae = AutoencoderTransformer(random_state=0, warm_start=True, **UMAP_FAST).fit(X[:200])
    before = ae.transform(X)
    ae.fit(X[100:])
    assert ae.n_iter_ == 20 and len(ae.loss_curve_) == 20
    # continued from the fitted weights (no new layout): the codes moved, but little
    assert np.abs(ae.transform(X) - before).mean() < 0.5 * np.abs(before).mean()


def test_umap_refuses_codes_on_the_sphere(labelled_blobs):
    with pytest.raises(ValueError, match="latent_normalize=False"):
        AutoencoderTransformer(latent_normalize=True, **UMAP_FAST).fit(labelled_blobs[0])


def test_umap_verbose_reports_the_graph_the_layout_and_training(labelled_blobs, capsys):
    AutoencoderTransformer(random_state=0, verbose=1, **UMAP_FAST).fit(labelled_blobs[0])
    err = capsys.readouterr().err
    assert "nearest-neighbour graph of 300 rows" in err
    assert "UMAP layout" in err and "loss=" in err


def test_umap_layout_runs_n_epochs_or_umaps_count(labelled_blobs, capsys):
    X = labelled_blobs[0]
    AutoencoderTransformer(random_state=0, verbose=1, n_epochs=7, **UMAP_FAST).fit(X)
    assert "UMAP layout (7 epochs)" in capsys.readouterr().err
    AutoencoderTransformer(random_state=0, verbose=1, **UMAP_FAST).fit(X)
    assert "UMAP layout (500 epochs)" in capsys.readouterr().err  # umap-learn's, < 10k rows


def test_umap_pickles_clones_and_grid_searches(labelled_blobs):
    import pickle

    from sklearn.base import clone

    X, _ = labelled_blobs
    ae = AutoencoderTransformer(random_state=0, **UMAP_FAST).fit(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(ae)).transform(X), ae.transform(X))
    assert clone(ae).get_params() == ae.get_params()
    grid = GridSearchCV(ae, {"n_neighbors": [5, 15]}, cv=2).fit(X)
    assert grid.best_params_["n_neighbors"] in (5, 15)


def test_umap_transform_and_the_scaler_kmeans_pipeline_export_to_onnx(labelled_blobs):
    from sklearn.cluster import KMeans

    from skae.onnx import load_onnx, to_onnx

    X, _ = labelled_blobs
    raw = X * 3.0 + 1.0  # the Pipeline's scaler has work to do
    ae = AutoencoderTransformer(random_state=0, **UMAP_FAST).fit(X)
    np.testing.assert_allclose(
        load_onnx(to_onnx(ae, X[:1])).transform(X), ae.transform(X), rtol=1e-4, atol=1e-4
    )
    pipe = make_pipeline(
        StandardScaler(),
        AutoencoderTransformer(random_state=0, **UMAP_FAST),
        KMeans(4, n_init=3, random_state=0),
    ).fit(raw)
    served = load_onnx(to_onnx(pipe, raw[:1]))
    np.testing.assert_array_equal(served.predict(raw), pipe.predict(raw))


@requires_cuda
def test_umap_trains_on_a_gpu_and_clusters_as_on_the_cpu(labelled_blobs):
    X, y = labelled_blobs
    ae = AutoencoderTransformer(2, embedding="umap", device="cuda", random_state=0).fit(X)
    assert ae.device_.startswith("cuda") and next(ae.module_.parameters()).device.type == "cpu"
    assert _kmeans_ari(ae.transform(X), y) > 0.9
