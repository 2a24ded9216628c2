"""skae._tables.formats: table names, compression, and the one error for unreadable files."""

import zipfile

import numpy as np
import pandas as pd
import pytest

from skae._tables.dialects import detect_dialect
from skae._tables.formats import split_name
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


def test_split_name_knows_formats_and_compressions():
    assert split_name("x.CSV.GZ") == ("csv", ".csv", "gzip")
    assert split_name("x.tsv.zip") == ("csv", ".tsv", "zip")
    assert split_name("x.parquet") == ("parquet", ".parquet", None)
    for bad in ("x.xlsx", "x.gz", "x.json.gz", "x"):
        with pytest.raises(ValueError, match="unknown table format"):
            split_name(bad)


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
