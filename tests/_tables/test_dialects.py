"""skae._tables.dialects: CSV separators and decimal marks."""

import numpy as np
import pandas as pd
import pytest

from skae._tables.dialects import Dialect, decimal_points, detect_dialect
from skae._tables.reading import read_table

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


def test_decimal_points_rewrites_only_numbers():
    df = pd.DataFrame({"a": ["1,5", "a,b", "-2,5e3", "7"]}, dtype=str)
    assert list(decimal_points(df)["a"]) == ["1.5", "a,b", "-2.5e3", "7"]
