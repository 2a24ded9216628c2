import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.manifold import trustworthiness
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.metrics import trustworthiness_scorer

FAST = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0, device="cpu")
FAST_UMAP = dict(hidden_layer_sizes=(16,), random_state=0, device="cpu")


def test_the_scorer_is_trustworthiness_in_the_space_the_reducer_sees():
    X = np.random.RandomState(0).normal(size=(80, 6)) * [1, 2, 3, 4, 5, 100]
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(**FAST)).fit(X)
    scaled = pipe[0].transform(X)
    expected = trustworthiness(scaled, pipe.transform(X), n_neighbors=7)
    assert trustworthiness_scorer(7)(pipe, X) == pytest.approx(expected)
    assert trustworthiness_scorer(7)(pipe[-1], scaled) == pytest.approx(expected)


def test_the_scorer_rejects_a_non_positive_neighbour_count():
    with pytest.raises(ValueError, match="n_neighbors"):
        trustworthiness_scorer(0)


def test_the_scorer_picks_the_neighbour_count_that_clusters():
    """A graph of 2 neighbours breaks the classes into fragments; the scorer sees the lost
    neighbourhoods and prefers 15, whose codes cluster better."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    X, y = make_blobs(300, n_features=10, centers=4, cluster_std=2.5, random_state=3)
    X = StandardScaler().fit_transform(X)
    estimator = AutoencoderTransformer(2, embedding="umap", max_iter=10, **FAST_UMAP)
    search = GridSearchCV(
        estimator, {"n_neighbors": [2, 15]}, cv=3, scoring=trustworthiness_scorer()
    ).fit(X)
    assert search.best_params_ == {"n_neighbors": 15}

    def ari(n_neighbors):
        codes = estimator.set_params(n_neighbors=n_neighbors).fit_transform(X)
        return adjusted_rand_score(y, KMeans(4, n_init=10, random_state=0).fit_predict(codes))

    assert ari(15) > ari(2)
