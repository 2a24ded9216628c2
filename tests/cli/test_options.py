"""skae.cli.options: each command's options, built once from argparse and frozen."""

import dataclasses

import pytest

from skae.cli.options import (
    DEFAULT_CHUNK_ROWS,
    FitOptions,
    ScoreOptions,
    from_namespace,
)
from skae.cli.parser import build_parser


def test_options_come_from_the_parsed_flags_and_cannot_change():
    args = build_parser().parse_args(
        ["fit", "t.csv", "-o", "m.onnx", "--ignore", "id", "note", "--sep", ";"]
    )
    options = from_namespace(FitOptions, args)
    assert options.ignore == ("id", "note") and options.sep == ";"
    assert options.rows_per_chunk == DEFAULT_CHUNK_ROWS
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.epochs = 3


def test_fields_the_flags_do_not_set_keep_their_defaults():
    args = build_parser().parse_args(["score", "m.onnx", "t.csv", "-o", "o.csv"])
    options = from_namespace(ScoreOptions, args)
    assert options == ScoreOptions(model="m.onnx", data="t.csv", output="o.csv")


def test_a_csv_dialect_follows_the_options(tmp_path):
    (tmp_path / "t.csv").write_text("a;b\n1,5;2\n")
    assert FitOptions().dialect(str(tmp_path / "t.csv")).decimal == ","
    assert FitOptions(sep=";", decimal=".").dialect(str(tmp_path / "t.csv")).decimal == "."
