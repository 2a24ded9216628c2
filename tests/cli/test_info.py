"""skae.cli.info: skae info."""

from skae.cli import main


def test_info_prints_the_metadata(fitted_onnx, capsys):
    assert main(["info", str(fitted_onnx / "model.onnx"), "--params"]) == 0
    out = capsys.readouterr().out
    assert "5 features" in out or "5 columns" in out
    assert "x0, x1, x2, x3, x4" in out
    assert "feature_names_in" not in out  # shown once, as "feature names"
    assert "contamination: 0.1" in out and "skae_version" in out
    assert "label, scores, p_value, feature_errors" in out and "estimator_params" in out
    assert "numeric columns (standardised): x0, x1, x2, x3, x4" in out
    assert "feature errors: per input column" in out


def test_info_escapes_control_characters_in_metadata(fitted_onnx, tmp_path, capsys):
    import onnx

    model = onnx.load(str(fitted_onnx / "model.onnx"))
    entry = model.metadata_props.add()
    entry.key, entry.value = "note\x1b[2J", "evil\x1b]0;title\x07\u202eend\nnext"
    onnx.save(model, str(tmp_path / "evil.onnx"))
    assert main(["info", str(tmp_path / "evil.onnx")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "note\\x1b[2J: evil\\x1b]0;title\\x07\\u202eend\\nnext" in out


def test_info_on_a_pipeline_that_drops_columns_counts_what_it_reads(tmp_path, capsys):
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skae import ReconstructionAnomalyDetector
    from skae.onnx import load_onnx, to_onnx
    from skae.preprocessing import CategoryEncoder
    from skae.scoring import score_frame

    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.normal(size=(200, 6)), columns=[f"x{i}" for i in range(6)])
    df["country"] = rng.choice(["fr", "de", "it"], 200)
    df["id"], df["order_id"] = np.arange(200), [f"o{i}" for i in range(200)]
    numbers = [f"x{i}" for i in range(6)]
    pipe = make_pipeline(
        ColumnTransformer(
            [("n", StandardScaler(), numbers), ("c", CategoryEncoder(), ["country"])]
        ),
        ReconstructionAnomalyDetector(max_iter=3, random_state=0),
    ).fit(df)
    path = tmp_path / "m.onnx"
    path.write_bytes(to_onnx(pipe, df.iloc[:1], feature_errors=True).SerializeToString())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "inputs:  7 columns, one input each" in out
    assert "unused: id, order_id (2 of the 9 columns it was fitted on" in out
    assert "top_feature names one of 7 (x0, x1, x2, x3, x4, x5, country)" in out
    scored = score_frame(load_onnx(str(path)), df.drop(columns=["id", "order_id"]))
    assert set(scored["top_feature"]) <= {*numbers, "country"}
