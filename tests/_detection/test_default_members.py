"""skae._detection.default_members: the default ensemble, sized from the data."""

from skae.detector import default_estimators


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
