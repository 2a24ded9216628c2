"""skae.scoring: a DataFrame scored with an exported detector, as every scorer does it."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
from skae.onnx import load_onnx, to_onnx
from skae.scoring import score_columns, score_frame


@pytest.fixture(scope="module")
def model_and_table():
    rng = np.random.RandomState(0)
    table = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    table.loc[:4, "b"] += 8
    pipe = make_pipeline(
        StandardScaler(),
        ReconstructionAnomalyDetector(
            AutoencoderTransformer(max_iter=50, device="cpu"), random_state=0
        ),
    ).fit(table.iloc[5:])  # the 5 planted rows are new to the model
    return load_onnx(to_onnx(pipe, table.iloc[:1], feature_errors=True)), table, pipe


def test_score_frame_keeps_the_rows_and_adds_the_score_columns(model_and_table):
    model, table, pipe = model_and_table
    extra = table.assign(id=np.arange(len(table)))
    scored = score_frame(model, extra)
    assert list(scored.columns) == ["a", "b", "c", "id", "score", "label", "p_value", "top_feature"]
    np.testing.assert_array_equal(scored["label"], pipe.predict(table))
    np.testing.assert_allclose(scored["score"], pipe.decision_function(table), atol=1e-4, rtol=1e-4)
    assert set(scored["top_feature"].iloc[:5]) == {"b"}


def test_a_threshold_moves_the_cut(model_and_table):
    model, table, _ = model_and_table
    columns = score_columns(model, table, threshold=1e9)
    assert (columns["label"] == -1).all()


def test_columns_the_scores_would_overwrite_are_refused(model_and_table):
    model, table, _ = model_and_table
    with pytest.raises(ValueError, match=r"already has columns \['label'\]"):
        score_frame(model, table.assign(label=1))
