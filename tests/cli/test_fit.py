"""skae.cli.fit: skae fit, in memory and streamed."""

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, TrainingInterruptedWarning
from skae.cli import main
from skae.onnx import load_onnx

from .conftest import FAST, QUICK, X_COLUMNS, fails, fit_quietly, score


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fit_then_score_flags_the_planted_outliers(table, tmp_path, capsys, fmt):
    df, y = table
    train, test = tmp_path / f"train.{fmt}", tmp_path / f"test.{fmt}"
    write = {
        "csv": lambda d, p: d.to_csv(p, index=False),
        "parquet": lambda d, p: d.to_parquet(p, index=False),
    }[fmt]
    write(df, train)
    write(df.sample(frac=1.0, random_state=0), test)  # rows shuffled
    assert (
        main(["fit", str(train), "-o", str(tmp_path / "m.onnx"), "--contamination", "0.05", *FAST])
        == 0
    )
    out = capsys.readouterr().out
    # city one-hot encoded; the integer id column left out as an ID, and said so
    assert "6 columns used (5 numeric: x0, x1, x2, x3, x4; 1 categorical: city)" in out
    out_path = tmp_path / f"scored.{fmt}"
    score(tmp_path / "m.onnx", test, out_path, "--chunk-size", "128")
    scored = pd.read_csv(out_path) if fmt == "csv" else pd.read_parquet(out_path)
    assert list(scored.columns) == [*df.columns, "score", "label", "p_value", "top_feature"]
    pd.testing.assert_frame_equal(
        scored[df.columns].reset_index(drop=True),
        df.sample(frac=1.0, random_state=0).reset_index(drop=True),
        check_dtype=False,
    )
    truth = y[scored["id"].to_numpy()]
    assert roc_auc_score(truth, -scored["score"]) > 0.95
    flagged = scored["label"] == -1
    assert truth[flagged].mean() > 0.5 and flagged[truth == 1].mean() > 0.6
    assert set(scored["top_feature"]) <= {*X_COLUMNS, "id", "city"}
    assert scored.loc[truth == 1, "top_feature"].isin(X_COLUMNS).mean() >= 0.8


def test_ctrl_c_during_fit_writes_no_model(table, tmp_path, capsys, monkeypatch):
    import warnings

    from skae.cli import fit as _fit_table

    class Interrupted(ReconstructionAnomalyDetector):
        def fit(self, X, y=None):  # what the engine does on Ctrl-C
            warnings.warn(
                "Training interrupted by the user at epoch 3; the estimator "
                "keeps the best weights found so far.",
                TrainingInterruptedWarning,
                stacklevel=2,
            )
            return super().fit(X)

    monkeypatch.setattr(
        _fit_table,
        "_detector",
        lambda options: Interrupted(AutoencoderTransformer(max_iter=2, device="cpu")),
    )
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.onnx").write_bytes(b"the previous model")
    assert main(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")]) == 130
    assert "interrupted; no output written" in capsys.readouterr().err
    assert (tmp_path / "m.onnx").read_bytes() == b"the previous model"


def test_fit_refuses_to_overwrite_its_input_through_any_link(table, tmp_path, capsys):
    df, _ = table
    data = tmp_path / "data.csv"
    df.to_csv(data, index=False)
    before = data.read_bytes()
    os.link(data, tmp_path / "hard.onnx")
    (tmp_path / "soft.onnx").symlink_to(data)
    fails(["fit", str(data), "-o", str(data)], capsys, "must be a .onnx file")
    for out in ("hard.onnx", "soft.onnx"):
        fails(["fit", str(data), "-o", str(tmp_path / out)], capsys, "is the input")
    assert data.read_bytes() == before


def test_semicolon_csv_with_decimal_commas_is_read_as_its_columns(table, tmp_path, capsys):
    df, _ = table
    small = df.iloc[:300]
    small.to_csv(tmp_path / "eu.csv", sep=";", decimal=",", index=False)
    assert main(["fit", str(tmp_path / "eu.csv"), "-o", str(tmp_path / "m.onnx"), *QUICK]) == 0
    assert "6 columns used" in capsys.readouterr().out
    from skae.scoring import model_inputs

    assert sorted(n for n, _ in model_inputs(load_onnx(tmp_path / "m.onnx"))) == sorted(
        [*X_COLUMNS, "city"]
    )
    score(tmp_path / "m.onnx", tmp_path / "eu.csv", tmp_path / "o.csv")
    text = (tmp_path / "o.csv").read_text()
    assert text.splitlines()[0] == "city;x0;x1;x2;x3;x4;id;score;label;p_value;top_feature"
    scored = pd.read_csv(tmp_path / "o.csv", sep=";", decimal=",")
    np.testing.assert_allclose(scored["x0"], small["x0"])
    assert np.isfinite(scored["score"]).all()


def test_a_one_column_file_with_semicolons_asks_for_sep(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a;b;c\n1;2\n3;4;5;6\n")
    fails(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")], capsys, "--sep")


def test_fit_shows_progress_unless_quiet_and_passes_n_jobs(table, tmp_path, capsys, monkeypatch):
    from skae.cli import fit as _fit_table

    seen = []
    build = _fit_table._detector

    def spy(options):
        detector = build(options)
        seen.append(detector.get_params())
        return detector

    monkeypatch.setattr(_fit_table, "_detector", spy)
    df, _ = table
    df.iloc[:200].to_csv(tmp_path / "d.csv", index=False)
    base = [
        "fit",
        str(tmp_path / "d.csv"),
        "-o",
        str(tmp_path / "m.onnx"),
        "--max-iter",
        "2",
        "--device",
        "cpu",
    ]
    assert main([*base, "--n-jobs", "1"]) == 0
    noisy = capsys.readouterr().err
    assert main([*base, "-q"]) == 0
    quiet = capsys.readouterr().err
    assert seen[0]["n_jobs"] == 1 and seen[0]["verbose"] == 1 and seen[1]["verbose"] == 0
    assert "%" in noisy and quiet == ""


def test_fit_uses_text_booleans_and_integers_and_imputes(mixed, capsys):
    folder, _, _ = mixed
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(folder / "m.onnx"),
                "--contamination",
                "0.05",
                *FAST,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert (
        "7 columns used (6 numeric: a, b, c, d, flag, count; 1 categorical: kind; 25 "
        "missing values filled in 1 columns)" in captured.out
    )
    assert main(["info", str(folder / "m.onnx")]) == 0
    info = capsys.readouterr().out
    assert "    kind: 4 categories" in info
    assert "    user: text with more than 20 distinct values" in info
    assert "    c: 25 at fit; a missing value is filled with the training median" in info
    assert "    a: 0 at fit; a missing value is filled with the training median" in info
    score(folder / "m.onnx", folder / "train.csv", folder / "o.csv")
    scored = pd.read_csv(folder / "o.csv")
    assert scored["score"].notna().all()
    assert (scored.loc[30:39, "top_feature"] == "kind").mean() >= 0.8
    assert (scored.loc[40:49, "top_feature"] == "b").mean() >= 0.8
    assert (scored.loc[30:49, "label"] == -1).mean() >= 0.8


def test_missing_values_are_not_anomalies_unless_indicated(mixed, capsys):
    folder, df, missing = mixed
    ranks = {}
    for flag in ([], ["--missing-indicator"]):
        out = folder / f"m{len(flag)}.onnx"
        assert main(["fit", str(folder / "train.csv"), "-o", str(out), *FAST, *flag]) == 0
        scores = load_onnx(out).decision_function(df.drop(columns="user"))
        ranks[bool(flag)] = pd.Series(scores).rank().to_numpy()[missing].mean()
    # imputed rows rank like any others; with the indicator, missing values stand out
    assert ranks[False] > 0.25 * len(df) and ranks[True] < ranks[False]
    assert main(["info", str(folder / "m1.onnx")]) == 0
    assert "flagged in an indicator column" in capsys.readouterr().out


def test_fit_column_options_override_the_choice(mixed, capsys):
    folder, _, _ = mixed
    out = folder / "opts.onnx"
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(out),
                "--categorical",
                "count",
                "--ignore",
                "kind",
                "flag",
                "--max-categories",
                "30",
                "--contamination",
                "auto",
                *QUICK,
            ]
        )
        == 0
    )
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    categorical, left_out = info.split("categorical columns")[1].split("left out at fit")
    assert "    count: " in categorical
    assert "    kind: --ignore" in left_out and "    flag: --ignore" in left_out


def test_streaming_fit_never_holds_more_than_chunk_rows(mixed, tmp_path, capsys, monkeypatch):
    from skae.cli import fit as _fit_table

    _, df, _ = mixed
    sizes, held = [], []
    read = _fit_table.iter_table

    def spy_read(*args, **kwargs):
        for chunk in read(*args, **kwargs):
            sizes.append(len(chunk))
            yield chunk

    fit_pre = _fit_table.fit_streamed_preprocessor

    def spy_pre(roles, stats, **kwargs):
        held.append(len(stats.sample))
        return fit_pre(roles, stats, **kwargs)

    monkeypatch.setattr(_fit_table, "iter_table", spy_read)
    monkeypatch.setattr(_fit_table, "fit_streamed_preprocessor", spy_pre)
    df.to_parquet(tmp_path / "train.parquet", row_group_size=300)
    fit_quietly(tmp_path / "train.parquet", tmp_path / "m.onnx", "--chunk-rows", "64", epochs=2)
    out = capsys.readouterr().out
    assert "streamed in chunks of 64 rows, 2 epochs" in out
    assert max(sizes) <= 64 and sum(sizes) == 3 * len(df)  # statistics + 2 epochs
    assert held == [64]
    score(tmp_path / "m.onnx", tmp_path / "train.parquet", tmp_path / "o.parquet")
    assert pd.read_parquet(tmp_path / "o.parquet")["score"].notna().all()


def test_streaming_fit_reads_a_folder_of_csv_and_parquet(mixed, tmp_path, capsys):
    _, df, _ = mixed
    (tmp_path / "data").mkdir()
    df.iloc[:400].to_csv(tmp_path / "data" / "a.csv.gz", index=False)
    df.iloc[400:].to_parquet(tmp_path / "data" / "b.parquet")
    (tmp_path / "data" / "_SUCCESS").write_text("")
    fit_quietly(tmp_path / "data", tmp_path / "m.onnx")
    out = capsys.readouterr().out
    assert f"skae fit: {len(df)} rows, 7 columns used" in out and "streamed" in out
    score(tmp_path / "m.onnx", tmp_path / "data", tmp_path / "o.csv", "--chunk-size", "128")
    scored = pd.read_csv(tmp_path / "o.csv")
    assert len(scored) == len(df) and scored["score"].notna().all()


def test_fit_streams_a_file_larger_than_the_bound(mixed, tmp_path, capsys):
    from skae.cli.main import run
    from skae.cli.options import FitOptions

    folder, _, _ = mixed
    options = FitOptions(
        data=str(folder / "train.csv"),
        output=str(tmp_path / "m.onnx"),
        epochs=1,
        device="cpu",
        quiet=True,
        stream_file_bytes=1000,
        default_chunk_rows=300,
    )
    assert run("fit", options) == 0
    assert "streamed in chunks of 300 rows" in capsys.readouterr().out


def test_fit_refuses_a_column_beyond_float32_without_a_warning_line(table, tmp_path, capsys):
    df, _ = table
    df = df.copy()
    df.loc[5, "x1"] = 5e39
    df.to_csv(tmp_path / "d.csv", index=False)
    err = fails(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")], capsys, "x1")
    assert "beyond float32" in err and "data row 6" in err
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_fitted_on_complete_data_fills_a_gap_when_scoring(table, tmp_path, capsys):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx"), *QUICK]) == 0
    gap = df.iloc[:50].copy()
    gap.loc[3, "x2"] = np.nan
    gap.to_csv(tmp_path / "g.csv", index=False)
    score(tmp_path / "m.onnx", tmp_path / "g.csv", tmp_path / "o.csv")
    scored = pd.read_csv(tmp_path / "o.csv")
    assert len(scored) == 50 and scored["score"].notna().all()
    capsys.readouterr()
    assert main(["info", str(tmp_path / "m.onnx")]) == 0
    assert "x2: 0 at fit; a missing value is filled with the training median" in (
        capsys.readouterr().out
    )


def test_a_streamed_fit_skips_header_only_files(mixed, tmp_path, capsys):
    folder, df, _ = mixed
    data = tmp_path / "data"
    data.mkdir()
    df.to_csv(data / "a.csv", index=False)
    df.iloc[:0].to_csv(data / "b.csv", index=False)  # a header only
    df.iloc[:0].to_parquet(data / "c.parquet")  # no rows
    fit_quietly(data, tmp_path / "m.onnx")
    assert f"{len(df)} rows" in capsys.readouterr().out


def _payments(n, rng):
    country = rng.choice(["FR", "DE", "IT", "ES", "NL"], size=n, p=[0.4, 0.3, 0.15, 0.14, 0.01])
    channel = rng.choice(["web", "app", "pos", "phone"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    amount = np.exp(rng.normal(3, 0.6, size=n))
    items = np.maximum(1, np.round(amount / 20 + rng.normal(0, 1, size=n)))
    return pd.DataFrame({"amount": amount, "items": items, "country": country, "channel": channel})


def test_an_unseen_category_stands_out_and_a_missing_one_does_not(tmp_path):
    """A never-seen country is flagged as often as the 1% country; a missing channel
    (3% of the training rows) no more than an ordinary row."""
    rng = np.random.RandomState(0)
    train = _payments(3000, rng)
    train.loc[rng.rand(len(train)) < 0.03, "channel"] = np.nan
    train.to_csv(tmp_path / "train.csv", index=False)
    fit_quietly(tmp_path / "train.csv", tmp_path / "m.onnx", "--contamination", "0.02")
    test = _payments(600, rng)
    test.loc[:99, "country"] = "PT"  # never seen
    test.loc[100:199, "country"] = "NL"  # rare
    test.loc[200:299, "channel"] = np.nan
    test.to_csv(tmp_path / "test.csv", index=False)
    score(tmp_path / "m.onnx", tmp_path / "test.csv", tmp_path / "o.csv")
    scored = pd.read_csv(tmp_path / "o.csv")
    flagged = scored["label"].to_numpy() == -1
    assert flagged[:100].mean() >= flagged[100:200].mean() >= 0.9
    assert flagged[200:300].mean() <= flagged[300:].mean() + 0.05
    assert (scored["top_feature"][:100] == "country").all()


@pytest.mark.parametrize("flag, novelty", [("auto", False), ("yes", True), ("no", False)])
def test_novelty_says_whether_the_training_rows_are_normal(table, tmp_path, flag, novelty):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    argv = ["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx"), *QUICK]
    assert main([*argv, "--novelty", flag]) == 0
    assert load_onnx(tmp_path / "m.onnx").metadata["novelty"] == str(novelty).lower()
    assert main(["info", str(tmp_path / "m.onnx")]) == 0


def test_novelty_follows_the_false_alarm_rate_by_default(table, tmp_path):
    from skae.cli.fit import _detector
    from skae.cli.options import FitOptions

    assert _detector(FitOptions(false_alarm_rate=0.05)).novelty == "auto"
    assert _detector(FitOptions(novelty="no")).novelty is False
    assert _detector(FitOptions(novelty="yes")).novelty is True


def test_an_integer_id_column_is_left_out_and_said_so_unless_numeric_names_it(
    table, tmp_path, capsys
):
    df, _ = table
    # customer_id: unique whole numbers named like an ID, in no order; seq: in row order
    df = df.assign(customer_id=np.random.RandomState(0).permutation(len(df)) + 1000)
    df.assign(seq=np.arange(len(df))[::-1]).drop(columns="id").to_csv(
        tmp_path / "t.csv", index=False
    )
    args = ["fit", str(tmp_path / "t.csv"), "-o", str(tmp_path / "m.onnx"), "--max-iter", "3"]
    assert main([*args, "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "leaving out columns: customer_id: an ID" in captured.err
    assert "seq: an ID (whole numbers, one per row, in row order" in captured.err
    assert "5 numeric: x0, x1, x2, x3, x4;" in captured.out
    assert main([*args, "--device", "cpu", "-q", "--numeric", "customer_id"]) == 0
    assert "6 numeric: x0, x1, x2, x3, x4, customer_id;" in capsys.readouterr().out
    fails([*args, "--numeric", "city"], capsys, "--numeric names 'city', which is text")


def test_no_training_rows_flag_keeps_no_training_row_and_info_says_so(table, tmp_path, capsys):
    df, _ = table
    df[X_COLUMNS].to_csv(tmp_path / "d.csv", index=False)
    found = {}
    for name, extra in (("rows", []), ("private", ["--no-training-rows"])):
        model = tmp_path / f"{name}.onnx"
        assert main(["fit", str(tmp_path / "d.csv"), "-o", str(model), *QUICK, *extra]) == 0
        assert main(["info", str(model), "--params"]) == 0
        found[name] = capsys.readouterr().out
    assert "training rows: 512 kept as they are" in found["rows"]
    assert "training rows: none kept" in found["private"]
    assert "references='centroids'" in found["private"]


def test_fit_help_says_the_model_file_holds_training_rows(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--no-training-rows" in help_text and "holds as they are" in help_text
