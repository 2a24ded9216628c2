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
