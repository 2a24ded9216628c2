"""Tables in and out for the command line: skae._io (reading) and skae._output (writing)."""

import bz2
import gzip
import lzma
import os
import stat
import zipfile

import numpy as np
import pandas as pd
import pytest

from skae._io import (
    Dialect,
    decimal_points,
    detect_dialect,
    infer_csv_dtypes,
    iter_table,
    read_table,
    split_name,
    table_files,
    total_rows,
)
from skae._output import OutputError, TableWriter, atomic_path, check_output, write_bytes

TEXT_SUFFIXES = [
    f"{base}{comp}"
    for base in (".csv", ".tsv", ".txt")
    for comp in ("", ".gz", ".bz2", ".zip", ".xz")
]
MAGIC = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".zip": b"PK", ".xz": b"\xfd7zXZ"}


def frame(n=7, start=0):
    return pd.DataFrame(
        {
            "a": np.arange(start, start + n, dtype=float) / 4,
            "b": [f"t{i}" for i in range(start, start + n)],
            "c": np.arange(start, start + n),
        }
    )


@pytest.mark.parametrize("suffix", TEXT_SUFFIXES + [".parquet"])
def test_every_accepted_suffix_round_trips_through_the_writer(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    writer = TableWriter(str(path), str(path))
    writer.write(frame(5))
    writer.write(frame(4, start=5))
    writer.close()
    raw = path.read_bytes()
    for ending, magic in MAGIC.items():
        if suffix.endswith(ending):
            assert raw.startswith(magic), suffix
    if suffix in (".csv", ".tsv", ".txt"):
        first = raw.decode().splitlines()[0]
        assert first == ("a\tb\tc" if suffix == ".tsv" else "a,b,c")
    back = read_table(str(path))
    pd.testing.assert_frame_equal(back, frame(9), check_dtype=False)


def test_split_name_knows_formats_and_compressions():
    assert split_name("x.CSV.GZ") == ("csv", ".csv", "gzip")
    assert split_name("x.tsv.zip") == ("csv", ".tsv", "zip")
    assert split_name("x.parquet") == ("parquet", ".parquet", None)
    for bad in ("x.xlsx", "x.gz", "x.json.gz", "x"):
        with pytest.raises(ValueError, match="unknown table format"):
            split_name(bad)


def test_detect_dialect_finds_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("a;b;c\n1,5;2,25;x\n3,0;-4,5;y z\n")
    assert detect_dialect(str(path)) == Dialect(";", ",")
    assert detect_dialect(str(path), sep=";", decimal=".") == Dialect(";", ".")
    df = read_table(str(path))
    assert list(df.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(df["a"], [1.5, 3.0])
    (tmp_path / "plain.csv").write_text('a,b\n1.5,"x;y"\n2,z\n')
    assert detect_dialect(str(tmp_path / "plain.csv")) == Dialect(",", ".")
    (tmp_path / "t.tsv").write_text("a\tb\n1,5\t2\n")
    assert detect_dialect(str(tmp_path / "t.tsv")) == Dialect("\t", ",")


def test_detect_dialect_refuses_a_one_column_file_with_semicolons(tmp_path):
    path = tmp_path / "uneven.csv"
    path.write_text("a;b;c\n1;2\n3;4;5;6\n")
    with pytest.raises(ValueError, match="--sep"):
        detect_dialect(str(path))


def test_a_corrupt_gzip_csv_is_named_in_one_unnested_error(tmp_path):
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(b"a,b\n1,2\n")  # not gzip data
    for read in (lambda: detect_dialect(str(path)), lambda: read_table(str(path))):
        with pytest.raises(ValueError) as error:
            read()
        message = str(error.value)
        assert message.startswith(f"{path}: could not read it as CSV (Not a gzipped file")
        assert message.count("could not read it") == 1, message


def test_a_corrupt_xz_csv_gives_the_could_not_read_error(tmp_path):
    path = tmp_path / "bad.csv.xz"
    path.write_bytes(b"a,b\n1,2\n")  # not xz data
    for read in (lambda: detect_dialect(str(path)), lambda: read_table(str(path))):
        with pytest.raises(ValueError, match="bad.csv.xz: could not read it as CSV"):
            read()


def test_a_zip_of_several_files_is_refused_naming_it(tmp_path):
    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "a\n1\n")
        archive.writestr("b.csv", "a\n1\n")
    with pytest.raises(ValueError, match=r"two\.csv\.zip: the zip archive holds 2 files"):
        detect_dialect(str(path))


def test_decimal_points_rewrites_only_numbers():
    df = pd.DataFrame({"a": ["1,5", "a,b", "-2,5e3", "7"]}, dtype=str)
    assert list(decimal_points(df)["a"]) == ["1.5", "a,b", "-2.5e3", "7"]


def test_infer_csv_dtypes_hold_every_chunk(tmp_path):
    n = 120
    df = pd.DataFrame(
        {
            "int_then_float": np.arange(n).astype(object),
            "empty_then_text": [None] * n,
            "ids_then_text": np.arange(n).astype(object),
            "flag": [True, False] * (n // 2),
        }
    )
    df.loc[100, "int_then_float"] = 1.5
    df.loc[110, "empty_then_text"] = "late"
    df.loc[115, "ids_then_text"] = "A99"
    df.to_csv(tmp_path / "d.csv", index=False)
    dtypes, rows = infer_csv_dtypes(str(tmp_path / "d.csv"), 50)
    assert rows == n
    assert dtypes["int_then_float"] == "float64" and dtypes["flag"] == "boolean"
    assert dtypes["empty_then_text"] == "str" and dtypes["ids_then_text"] == "str"
    chunks = list(iter_table(str(tmp_path / "d.csv"), 50, dtypes=dtypes))
    assert len({tuple(map(str, c.dtypes)) for c in chunks}) == 1
    back = pd.concat(chunks, ignore_index=True)
    assert back.loc[115, "ids_then_text"] == "A99" and back.loc[3, "ids_then_text"] == "3"
    assert back.loc[100, "int_then_float"] == 1.5


def test_text_chunks_are_the_exact_fields(tmp_path):
    (tmp_path / "d.csv").write_text("id,x\n007,1.50\nNA,\n")
    chunk = next(iter(iter_table(str(tmp_path / "d.csv"), 10, text=True)))
    assert chunk.to_numpy().tolist() == [["007", "1.50"], ["NA", ""]]


def test_parquet_chunks_keep_their_index(tmp_path):
    stored = pd.DataFrame({"id": [10, 20, 30], "a": [1.0, 2.0, 3.0]}).set_index("id")
    stored.to_parquet(tmp_path / "stored.parquet")
    ranged = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.RangeIndex(5, 8, name="row"))
    ranged.to_parquet(tmp_path / "ranged.parquet")
    for name, index in [("stored", stored.index), ("ranged", ranged.index)]:
        chunks = list(iter_table(str(tmp_path / f"{name}.parquet"), 2))
        assert [len(c) for c in chunks] == [2, 1]
        got = pd.concat(chunks).index
        assert got.name == index.name and list(got) == list(index)


def test_chunks_never_exceed_chunk_size(tmp_path):
    df = frame(23)
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_parquet(tmp_path / "b.parquet", row_group_size=10)
    (tmp_path / "folder").mkdir()
    df.to_csv(tmp_path / "folder" / "1.csv.gz", index=False)
    df.to_parquet(tmp_path / "folder" / "2.parquet")
    for source in ("a.csv", "b.parquet", "folder"):
        sizes = [len(c) for c in iter_table(str(tmp_path / source), 4)]
        assert max(sizes) <= 4 and sum(sizes) == 23 * (2 if source == "folder" else 1)
    assert total_rows([str(tmp_path / "b.parquet")]) == 23
    assert total_rows([str(tmp_path / "a.csv")]) is None


def test_table_files_skip_hidden_and_unknown_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["b.csv", "a.parquet", "_SUCCESS", ".x.csv.part", "notes.md", "sub/c.tsv"]:
        (tmp_path / name).write_text("a\n1\n")
    assert [os.path.relpath(p, tmp_path) for p in table_files(str(tmp_path))] == [
        "a.parquet",
        "b.csv",
        os.path.join("sub", "c.tsv"),
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .csv or .parquet"):
        table_files(str(tmp_path / "empty"))


# ------------------------------------------------------------------------ output
def test_new_outputs_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_bytes(str(tmp_path / "new.onnx"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.onnx").stat().st_mode) == 0o640


def test_an_existing_output_keeps_its_mode(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("old")
    path.chmod(0o664)
    write_bytes(str(path), b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_a_symlinked_output_replaces_its_target(tmp_path):
    (tmp_path / "target.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to(tmp_path / "target.csv")
    write_bytes(str(tmp_path / "link.csv"), b"new")
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "target.csv").read_bytes() == b"new"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "out.csv"
    path.write_text("precious")
    expected = type(error) if isinstance(error, Exception) else error
    with pytest.raises(expected), atomic_path(str(path)) as tmp, open(tmp, "w") as fh:
        fh.write("half")
        raise error
    assert path.read_text() == "precious"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_check_output_refuses_the_inputs_whatever_the_links(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(data)
    (tmp_path / "folder").mkdir()
    for out in (data, tmp_path / "hard.csv", tmp_path / "soft.csv"):
        with pytest.raises(OutputError, match="is the input"):
            check_output(str(out), inputs=[str(data)])
    with pytest.raises(OutputError, match="is the input"):
        check_output(str(tmp_path / "folder" / "x.csv"), inputs=[str(tmp_path / "folder")])
    check_output(str(tmp_path / "other.csv"), inputs=[str(data)])  # a new file is fine
    assert data.read_text() == "a\n1\n"


def test_check_output_refuses_what_cannot_be_written(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    ro = tmp_path / "ro.csv"
    ro.write_text("x")
    ro.chmod(0o444)
    cases = [
        (tmp_path / "dir.csv", "is a folder"),
        (tmp_path / "nope" / "x.csv", "does not exist"),
        (tmp_path / "x.xlsx", "unknown table format"),
    ]
    if os.geteuid() != 0:  # root may write anything
        cases.append((ro, "read-only"))
    for out, match in cases:
        with pytest.raises(ValueError, match=match):
            check_output(str(out))
    with pytest.raises(OutputError, match=r"must be a \.onnx file"):
        check_output(str(tmp_path / "m.csv"), suffixes=(".onnx",))


def test_parquet_writer_names_a_column_that_does_not_fit(tmp_path):
    writer = TableWriter(str(tmp_path / "o.parquet"), "o.parquet")
    writer.write(pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(ValueError, match="column 'a'"):
        writer.write(pd.DataFrame({"a": ["x", "y"]}))
    writer.close()


def test_zip_output_holds_one_member_named_after_the_file(tmp_path):
    path = tmp_path / "scored.csv.zip"
    writer = TableWriter(str(path), str(path))
    writer.write(frame(3))
    writer.write(frame(3, start=3))
    writer.close()
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["scored.csv"]
    for opener, suffix in [(gzip, ".gz"), (bz2, ".bz2"), (lzma, ".xz")]:
        path = tmp_path / f"s.csv{suffix}"
        writer = TableWriter(str(path), str(path))
        writer.write(frame(2))
        writer.write(frame(2, start=2))
        writer.close()
        with opener.open(path, "rt") as fh:
            assert fh.read().count("\n") == 5


def test_parquet_chunks_keep_one_type_when_nulls_appear_late(tmp_path):
    df = pd.DataFrame(
        {
            "n": pd.array([1, 2, 3, None], dtype="Int64"),
            "flag": pd.array([True, False, True, None], dtype="boolean"),
        }
    )
    df.to_parquet(tmp_path / "d.parquet", row_group_size=2)
    chunks = list(iter_table(str(tmp_path / "d.parquet"), 2))
    assert [tuple(map(str, c.dtypes)) for c in chunks] == [("Int64", "boolean")] * 2
    writer = TableWriter(str(tmp_path / "o.parquet"), "o.parquet")
    for chunk in chunks:
        writer.write(chunk)
    writer.close()
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "o.parquet")
    assert [str(t) for t in table.schema.types] == ["int64", "bool"]
    assert table.to_pydict() == {"n": [1, 2, 3, None], "flag": [True, False, True, None]}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o.parquet"), df)
