"""skae.cli.score: skae score, chunk by chunk, into every output format."""

import io
import os
import stat

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from skae.cli import main
from skae.onnx import load_onnx

from .conftest import X_COLUMNS, export_pipeline, fails, score


def test_score_threshold_overrides_the_labels(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "o.csv", "--threshold=-1e9")
    assert (pd.read_csv(tmp_path / "o.csv")["label"] == 1).all()


def test_score_selects_columns_by_name(fitted_onnx, table, tmp_path):
    df, _ = table
    df.to_csv(tmp_path / "a.csv", index=False)
    df[df.columns[::-1]].to_csv(tmp_path / "b.csv", index=False)
    for name in "ab":
        score(fitted_onnx / "model.onnx", tmp_path / f"{name}.csv", tmp_path / f"{name}_out.csv")
    a, b = pd.read_csv(tmp_path / "a_out.csv"), pd.read_csv(tmp_path / "b_out.csv")
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)


def test_a_failed_score_keeps_the_existing_output(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    bad = df.copy()
    bad.loc[550, "x0"] = np.inf  # in the last chunk: earlier chunks were already written
    bad.to_csv(tmp_path / "late.csv", index=False)
    fails(
        [
            "score",
            str(fitted_onnx / "model.onnx"),
            str(tmp_path / "late.csv"),
            "-o",
            str(out),
            "-q",
            "--chunk-size",
            "100",
        ],
        capsys,
        "data row 551",
    )
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_full_disk_or_ctrl_c_mid_write_keeps_the_existing_output(
    fitted_onnx, table, tmp_path, capsys, monkeypatch, error
):
    from skae._tables import writing as _output

    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "o.csv"
    out.write_text("precious\n")
    calls = []
    write = _output.TableWriter.write

    def failing(self, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise error
        write(self, chunk)

    monkeypatch.setattr(_output.TableWriter, "write", failing)
    rc = main(
        [
            "score",
            str(fitted_onnx / "model.onnx"),
            str(tmp_path / "d.csv"),
            "-o",
            str(out),
            "-q",
            "--chunk-size",
            "100",
        ]
    )
    err = capsys.readouterr().err
    assert rc == (130 if isinstance(error, KeyboardInterrupt) else 1)
    assert ("No space left" in err) or ("interrupted" in err)
    assert out.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "o.csv"]


def test_score_refuses_to_overwrite_its_input_or_its_model(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    data = tmp_path / "new.csv"
    df.to_csv(data, index=False)
    before = data.read_bytes()
    model_before = (fitted_onnx / "model.onnx").read_bytes()
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(data)
    (tmp_path / "model_link.csv").symlink_to(fitted_onnx / "model.onnx")
    model = str(fitted_onnx / "model.onnx")
    for out in (data, tmp_path / "hard.csv", tmp_path / "soft.csv", tmp_path / "model_link.csv"):
        fails(["score", model, str(data), "-o", str(out), "-q"], capsys, "is the input")
    assert data.read_bytes() == before
    assert (fitted_onnx / "model.onnx").read_bytes() == model_before


@pytest.mark.parametrize(
    "suffix",
    [f"{b}{c}" for b in (".csv", ".tsv", ".txt") for c in ("", ".gz", ".bz2", ".zip", ".xz")]
    + [".parquet"],
)
def test_score_writes_every_accepted_suffix_in_its_format(fitted_onnx, table, tmp_path, suffix):
    from skae._tables.reading import read_table

    df, _ = table
    df.iloc[:150].to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / f"scored{suffix}"
    score(fitted_onnx / "model.onnx", tmp_path / "d.csv", out, "--chunk-size", "40")
    magic = {
        ".gz": b"\x1f\x8b",
        ".bz2": b"BZh",
        ".zip": b"PK",
        ".xz": b"\xfd7zXZ",
        ".parquet": b"PAR1",
    }
    raw = out.read_bytes()
    for ending, start in magic.items():
        if suffix.endswith(ending):
            assert raw.startswith(start)
    if suffix == ".tsv":
        assert raw.decode().splitlines()[0].split("\t")[-4:] == [
            "score",
            "label",
            "p_value",
            "top_feature",
        ]
    back = read_table(str(out))  # skae reads its own output
    assert len(back) == 150 and list(back.columns[-4:]) == [
        "score",
        "label",
        "p_value",
        "top_feature",
    ]
    np.testing.assert_allclose(back["x0"], df["x0"].iloc[:150])
    # and can score it again once the score columns are renamed
    back.drop(columns=["score", "label", "p_value", "top_feature"]).to_csv(
        tmp_path / "again.csv", index=False
    )
    score(fitted_onnx / "model.onnx", tmp_path / "again.csv", tmp_path / "again_out.csv")


def test_csv_to_parquet_keeps_every_value_whatever_the_chunking(fitted_onnx, table, tmp_path):
    df, _ = table
    df = df.iloc[:200].copy()
    extra = pd.DataFrame(
        {
            "count": np.arange(200).astype(object),
            "note": [None] * 200,
            "ref": np.arange(200).astype(object),
        }
    )
    extra.loc[150, "count"] = 1.5  # an integer column that later holds 1.5
    extra.loc[170, "note"] = "late"  # a text column empty in the first chunks
    extra.loc[190, "ref"] = "A99"  # numeric IDs, then text
    data = pd.concat([df, extra], axis=1)
    data.to_csv(tmp_path / "d.csv", index=False)
    for chunk in ("50", "7", "1000"):
        out = tmp_path / f"o{chunk}.parquet"
        score(fitted_onnx / "model.onnx", tmp_path / "d.csv", out, "--chunk-size", chunk)
        scored = pd.read_parquet(out)
        assert scored.loc[150, "count"] == 1.5 and scored.loc[3, "count"] == 3
        assert scored.loc[170, "note"] == "late" and pd.isna(scored.loc[0, "note"])
        assert scored.loc[190, "ref"] == "A99" and scored.loc[3, "ref"] == "3"
        np.testing.assert_allclose(scored["x0"], df["x0"])


def test_csv_to_csv_copies_fields_as_their_exact_text(fitted_onnx, table, tmp_path):
    df, _ = table
    data = df.iloc[:30][X_COLUMNS].round(3).astype(str)
    data.insert(0, "code", ["007"] * 30)
    data.insert(1, "region", ["NA"] * 15 + ["EU"] * 15)
    data.loc[0, "x0"] = data.loc[0, "x0"] + "0"  # "1.5" written as "1.50"
    data.to_csv(tmp_path / "d.csv", index=False)
    score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "o.csv", "--chunk-size", "7")
    back = pd.read_csv(tmp_path / "o.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back[data.columns], data)


def test_score_keeps_a_parquet_named_index_as_a_column(fitted_onnx, table, tmp_path):
    df, _ = table
    indexed = df.assign(id=df["id"] * 7 + 3).set_index("id")
    indexed.to_parquet(tmp_path / "d.parquet")
    for out in ("o.parquet", "o.csv"):
        score(
            fitted_onnx / "model.onnx", tmp_path / "d.parquet", tmp_path / out, "--chunk-size", "64"
        )
        scored = (pd.read_parquet if out.endswith("parquet") else pd.read_csv)(tmp_path / out)
        assert list(scored.columns[:2]) == ["id", "city"]
        np.testing.assert_array_equal(scored["id"], df["id"] * 7 + 3)
    ranged = df[X_COLUMNS].set_index(pd.RangeIndex(100, 700, name="row"))
    ranged.to_parquet(tmp_path / "r.parquet")
    score(
        fitted_onnx / "model.onnx", tmp_path / "r.parquet", tmp_path / "r.csv", "--chunk-size", "64"
    )
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "r.csv")["row"], np.arange(100, 700))


def test_outputs_honour_the_umask_and_keep_an_existing_mode(fitted_onnx, table, tmp_path):
    df, _ = table
    df.iloc[:20].to_csv(tmp_path / "d.csv", index=False)
    old = os.umask(0o022)
    try:
        score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "new.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o644
    (tmp_path / "shared.csv").write_text("old")
    (tmp_path / "shared.csv").chmod(0o660)
    score(fitted_onnx / "model.onnx", tmp_path / "d.csv", tmp_path / "shared.csv")
    assert stat.S_IMODE((tmp_path / "shared.csv").stat().st_mode) == 0o660


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.xz"])
def test_a_corrupt_compressed_table_is_one_could_not_read_error(tmp_path, capsys, suffix):
    data = tmp_path / f"bad{suffix}"
    data.write_bytes(b"a,b\n1,2\n")  # not compressed at all
    line = fails(
        ["fit", str(data), "-o", str(tmp_path / "m.onnx")], capsys, "could not read it as CSV"
    )
    assert line.count("could not read it") == 1 and "unexpected" not in line, line
    assert "Error:" not in line  # not an unexpected error's type name


def test_top_feature_after_transforming_pipelines(table, tmp_path, capsys):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import PolynomialFeatures

    df, _ = table
    X = df[X_COLUMNS]
    X.to_csv(tmp_path / "d.csv", index=False)
    pca = export_pipeline(tmp_path, "pca", [StandardScaler(), PCA(3)], X)
    poly = export_pipeline(tmp_path, "poly", [PolynomialFeatures(2), StandardScaler()], X)
    capsys.readouterr()
    for model in (pca, poly):
        score(model, tmp_path / "d.csv", tmp_path / "o.csv")
        scored = pd.read_csv(tmp_path / "o.csv")
        names = load_onnx(model).feature_error_names_
        assert len(scored) == len(X)
        if names is None:
            assert "top_feature" not in scored
        else:
            assert set(scored["top_feature"]) <= set(names)
            if model == pca and len(names) == 3:  # errors of the 3 PCA components
                assert not set(scored["top_feature"]) & set(X_COLUMNS)
        assert main(["info", str(model)]) == 0
        assert "feature errors: per" in capsys.readouterr().out


def test_score_refuses_rows_with_an_unnamed_leading_field(fitted_onnx, tmp_path, capsys):
    """a,b,c over id0,1.76,0.40,0.98: pandas makes id0 an index, which was then dropped
    from every written row. Refused, as skae fit refuses it."""
    header = ",".join(X_COLUMNS)
    rows = "\n".join(f"id{i}," + ",".join(["0.5"] * len(X_COLUMNS)) for i in range(5))
    (tmp_path / "d.csv").write_text(f"{header}\n{rows}\n")
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"o.{fmt}"
        fails(
            ["score", str(fitted_onnx / "model.onnx"), str(tmp_path / "d.csv"), "-o", str(out)],
            capsys,
            "data row 1 has 6 fields but the header names 5",
        )
        assert not out.exists()
    fails(["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")], capsys, "6 fields")


def test_a_folder_scored_to_parquet_has_one_schema(fitted_onnx, table, tmp_path):
    """An integer pass-through column in one CSV holding floats in the next, and a
    Parquet column all-null in one file and text in the next: one type each."""
    df, _ = table
    data = tmp_path / "data"
    data.mkdir()
    first, second = df.iloc[:300].copy(), df.iloc[300:].copy()
    first["extra"] = np.arange(300)
    second["extra"] = np.arange(300) + 0.5
    first.to_csv(data / "a.csv", index=False)
    second.to_csv(data / "b.csv", index=False)
    third, fourth = df.iloc[:50].copy(), df.iloc[50:100].copy()
    third["note"], fourth["note"] = None, "checked"
    third.to_parquet(data / "c.parquet")
    fourth.to_parquet(data / "d.parquet")
    score(fitted_onnx / "model.onnx", data, tmp_path / "o.parquet")
    scored = pd.read_parquet(tmp_path / "o.parquet")
    assert len(scored) == 700
    assert scored["extra"].dtype == np.float64
    assert scored["extra"].iloc[300] == 0.5 and scored["extra"].iloc[1] == 1.0
    assert scored["note"].iloc[650:].eq("checked").all() and scored["note"].iloc[:600].isna().all()


def test_a_parquet_bool_column_keeps_its_type(fitted_onnx, table, tmp_path):
    df, _ = table
    df.assign(flag=df["x0"] > 0).to_parquet(tmp_path / "d.parquet")
    score(fitted_onnx / "model.onnx", tmp_path / "d.parquet", tmp_path / "o.parquet")
    assert pd.read_parquet(tmp_path / "o.parquet")["flag"].dtype == bool


def test_score_reports_the_flagged_share_and_warns_of_drift_only_on_a_shifted_table(
    table, tmp_path, capsys
):
    df, _ = table
    normal = df.iloc[20:]  # the planted outliers left out: normal rows
    normal.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    argv = ["fit", str(tmp_path / "train.csv"), "-o", str(tmp_path / "m.onnx"), "-q"]
    assert main([*argv, "--false-alarm-rate", "0.05", "--columns", *X_COLUMNS]) == 0
    capsys.readouterr()
    new = normal.iloc[400:]
    new.to_csv(tmp_path / "new.csv", index=False)
    score(tmp_path / "m.onnx", tmp_path / "new.csv", tmp_path / "o.csv")
    err = capsys.readouterr().err
    assert f"{len(new)} rows" in err and "false-alarm rate 5.00%: on average over fits" in err
    assert "drift" not in err
    assert pd.read_csv(tmp_path / "o.csv")["p_value"].between(0, 1).all()
    shifted = new.assign(x1=new["x1"] + 2.0)
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    score(tmp_path / "m.onnx", tmp_path / "shifted.csv", tmp_path / "o2.csv")
    err = capsys.readouterr().err
    assert "drift" in err and "x1" in err


def test_fit_refuses_both_a_contamination_and_a_false_alarm_rate(table, tmp_path, capsys):
    df, _ = table
    df.to_csv(tmp_path / "d.csv", index=False)
    argv = ["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "m.onnx")]
    fails([*argv, "--contamination", "0.1", "--false-alarm-rate", "0.01"], capsys, "Give one")


def test_dash_writes_csv_to_stdout_and_notes_to_stderr(fitted_onnx, table, tmp_path, capsys):
    df, _ = table
    df.iloc[:50].to_csv(tmp_path / "d.csv", index=False)
    assert main(["score", str(fitted_onnx / "model.onnx"), str(tmp_path / "d.csv"), "-o", "-"]) == 0
    captured = capsys.readouterr()
    scored = pd.read_csv(io.StringIO(captured.out))
    assert list(scored.columns) == [*df.columns, "score", "label", "p_value", "top_feature"]
    assert len(scored) == 50
    assert "wrote CSV to standard output" in captured.err and "skae score:" not in captured.out
    assert not (tmp_path / "-").exists()


def test_score_help_names_every_column_and_both_thresholds(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for column in ("score", "label", "p_value", "top_feature"):
        assert column in text
    assert "- for CSV on standard output" in text
    assert "contamination threshold, or for a model fitted with --false-alarm-rate" in text
