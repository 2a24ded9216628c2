"""skae._tables.writing: outputs checked first and written atomically."""

import bz2
import gzip
import lzma
import os
import stat
import zipfile

import numpy as np
import pandas as pd
import pytest

from skae._tables.reading import read_table
from skae._tables.writing import OutputError, TableWriter, atomic_path, check_output, write_bytes

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
