"""skae.cli.parser: the commands, their options and option types."""

import pytest

from skae.cli import main

from .conftest import COMMANDS


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_unknown_options_are_one_line_usage_errors(capsys):
    for argv, match in [
        (["fit", "a.csv", "-o", "m.onnx", "--bogus"], "unrecognized"),
        (["frobnicate"], "invalid choice"),
        (["fit", "a.csv"], "required"),
        (["fit", "a.csv", "-o", "m", "--contamination", "0.9"], "(0, 0.5]"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=nan"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=inf"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--threshold=-inf"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--chunk-size", "0"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--chunk-size", "1.5"],
        ["score", "m.onnx", "d.csv", "-o", "o.csv", "--sep", "ab"],
        ["fit", "d.csv", "-o", "m.onnx", "--contamination", "nan"],
        ["fit", "d.csv", "-o", "m.onnx", "--contamination", "inf"],
        ["fit", "d.csv", "-o", "m.onnx", "--max-iter", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--seed", "-1"],
        ["fit", "d.csv", "-o", "m.onnx", "--seed", "nan"],
        ["fit", "d.csv", "-o", "m.onnx", "--n-jobs", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--chunk-rows", "-5"],
        ["fit", "d.csv", "-o", "m.onnx", "--epochs", "0"],
        ["fit", "d.csv", "-o", "m.onnx", "--max-categories", "0"],
        ["demo", "--seed", "1e3"],
    ],
)
def test_numeric_options_reject_nan_infinity_and_out_of_range(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0]
