"""skae._tables.reading: tables in, whole or in chunks, one type per column."""

import os

import numpy as np
import pandas as pd
import pytest

from skae._tables.reading import (
    conform,
    infer_dtypes,
    iter_table,
    read_table,
    table_files,
    total_rows,
)
from skae._tables.writing import TableWriter

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


def test_inferred_dtypes_hold_every_chunk(tmp_path):
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
    dtypes, rows = infer_dtypes([str(tmp_path / "d.csv")], 50)
    assert rows == n
    assert dtypes["int_then_float"] == "float64" and dtypes["flag"] == "bool"
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


@pytest.mark.parametrize("text", [False, True])
def test_rows_with_more_fields_than_the_header_are_refused_not_dropped(tmp_path, text):
    """pandas would make the unnamed leading field an index, which is then dropped."""
    path = tmp_path / "extra.csv"
    path.write_text("a,b,c\nid0,1.76,0.40,0.98\nid1,2.2,1.8,-0.9\n")
    with pytest.raises(ValueError, match="data row 1 has 4 fields but the header names 3"):
        list(iter_table(str(path), 10, text=text))
    with pytest.raises(ValueError, match="name every column in the header"):
        read_table(str(path))


def test_a_folder_of_files_is_typed_as_one_table(tmp_path):
    """Integers in one CSV and floats in the next give float; a Parquet column all-null in
    one file and text in the next gives text; a column one file lacks is missing there."""
    pd.DataFrame({"n": [1, 2], "t": [None, None], "only_a": [1, 2]}).to_parquet(
        tmp_path / "a.parquet"
    )
    pd.DataFrame({"n": [1.5, 2.5], "t": ["x", "y"]}).to_parquet(tmp_path / "b.parquet")
    pd.DataFrame({"n": [3, 4], "t": ["z", None]}).to_csv(tmp_path / "c.csv", index=False)
    files = table_files(str(tmp_path))
    dtypes, rows = infer_dtypes(files, 10)
    assert rows == 6
    assert dtypes == {"n": "float64", "t": "str", "only_a": "Int64"}
    frames = [conform(c, dtypes) for f in files for c in iter_table(f, 10, dtypes=dtypes)]
    assert len({tuple(map(str, f.dtypes)) for f in frames}) == 1
    back = pd.concat(frames, ignore_index=True)
    assert back["t"].isna().tolist() == [True, True, False, False, False, True]
    assert back["only_a"].isna().tolist() == [False, False, True, True, True, True]


def test_parquet_columns_without_nulls_keep_their_plain_types(tmp_path):
    pd.DataFrame({"flag": [True, False], "k": [1, 2], "gap": [1, None]}).astype(
        {"gap": "Int64"}
    ).to_parquet(tmp_path / "p.parquet")
    chunk = next(iter(iter_table(str(tmp_path / "p.parquet"), 10)))
    assert str(chunk["flag"].dtype) == "bool" and str(chunk["k"].dtype) == "int64"
    assert str(chunk["gap"].dtype) == "Int64"


def test_a_column_named_twice_is_refused_by_every_reader(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skae._tables.formats import TableError

    (tmp_path / "d.csv").write_text("a,b,a\n1,2,3\n")
    table = pa.table([pa.array([1.0]), pa.array([2.0]), pa.array([3.0])], names=["a", "b", "a"])
    pq.write_table(table, tmp_path / "d.parquet")
    for name, where in (("d.csv", "header"), ("d.parquet", "schema")):
        path = str(tmp_path / name)
        message = f"the {where} names the column 'a' more than once"
        with pytest.raises(TableError, match=message):
            read_table(path)
        with pytest.raises(TableError, match=message):
            list(iter_table(path, 10))
