"""The bad-input matrix: every row either works (finite outputs of the right shape) or
raises an error whose message names the problem and the fix. Estimators, load_onnx and
the CLI each get the whole matrix."""

import os
import signal
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skae import (
    ReconstructionAnomalyDetector,
    TrainingDivergedError,
)
from skae.cli import main
from skae.onnx import load_onnx, to_onnx

from .conftest import KINDS, make


def outputs(est, X):
    """Every public inference method on X; returns {name: array}."""
    if isinstance(est, ReconstructionAnomalyDetector):
        return {
            m: getattr(est, m)(X)
            for m in ("predict", "decision_function", "score_samples", "feature_errors")
        }
    codes = est.transform(X)
    return {
        "transform": codes,
        "inverse_transform": est.inverse_transform(codes),
        "score_samples": est.score_samples(X),
    }


def assert_finite_outputs(est, X):
    n = len(X)
    for name, value in outputs(est, X).items():
        value = np.asarray(value)
        assert value.shape[0] == n, name
        assert np.isfinite(value.astype(float)).all(), name


RNG = np.random.RandomState(0)
X = RNG.normal(size=(60, 4))
DF = pd.DataFrame(X, columns=list("abcd"))
with_nan = X.copy()
with_nan[3, 1] = np.nan
with_inf = X.copy()
with_inf[5, 2] = np.inf

# name -> (training data, expected: None = works, else (exception, [message parts]))
FIT_CASES = {
    "nan": (with_nan, (ValueError, ["NaN", "mput"])),
    "inf": (with_inf, (ValueError, ["infinity", "Replace or drop"])),
    "empty": (np.empty((0, 4)), (ValueError, ["0 sample"])),
    "1-D": (X[:, 0], (ValueError, ["2D array", "Reshape"])),
    "3-D": (X.reshape(60, 2, 2), (ValueError, ["dim 3"])),
    "strings": (np.full((60, 4), "a", dtype=object), (ValueError, ["numeric", "Encoder"])),
    "mixed DataFrame": (DF.assign(b="x"), (ValueError, ["numeric", "Encoder"])),
    "sparse": (sp.csr_matrix(X), (TypeError, ["Sparse", "toarray"])),
    "complex": (X.astype(complex), (ValueError, ["Complex", "X.real"])),
    "values around 1e20": (X * 1e20, (TrainingDivergedError, ["non-finite", "Scaler"])),
    "one row": (X[:1], None),
    "two rows": (X[:2], None),
    "one column": (X[:, :1], None),
    "constant columns": (np.c_[X[:, :2], np.ones((60, 2))], None),
    "all columns constant": (np.ones((60, 4)), None),
    "duplicated rows": (np.repeat(X[:5], 12, axis=0), None),
    "integer DataFrame": (pd.DataFrame((X * 10).astype(int), columns=list("abcd")), None),
    "bool DataFrame": (DF > 0, None),
    "mixed numeric dtypes": (DF.astype({"a": int, "b": np.float32, "c": bool}), None),
    "float16": (X.astype(np.float16), None),
    "numeric strings": (X.astype(str), None),
    "list of lists": (X.tolist(), None),
}


def _check_error(exc_info, parts):
    message = str(exc_info.value)
    for part in parts:
        assert part in message, (part, message)
    assert "Traceback" not in message


# A detector calibrates its scores from its training rows: it needs ten of them.
TOO_FEW_TO_CALIBRATE = (ValueError, ["at least 10 rows", "n_samples"])
DETECTOR_FIT_CASES = {"one row": TOO_FEW_TO_CALIBRATE, "two rows": TOO_FEW_TO_CALIBRATE}


@pytest.mark.parametrize("case", list(FIT_CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_fit_matrix(kind, case):
    data, expected = FIT_CASES[case]
    if kind == "detector":
        expected = DETECTOR_FIT_CASES.get(case, expected)
    est = make(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if expected is None:
            est.fit(data)
            assert_finite_outputs(est, data)
            return
        exc, parts = expected
        with pytest.raises(exc) as info:
            est.fit(data)
    _check_error(info, parts)
    assert not hasattr(est, "n_features_in_")  # a failed fit leaves nothing behind


def test_batch_size_larger_than_the_data():
    for kind in KINDS:
        est = make(kind)
        inner = est.estimator if kind == "detector" else est
        inner.set_params(batch_size=10_000)
        est.fit(X)
        assert_finite_outputs(est, X)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {kind: make(kind).fit(DF) for kind in KINDS}


PREDICT_CASES = {
    "nan": (pd.DataFrame(with_nan[:5], columns=list("abcd")), (ValueError, ["NaN", "mput"])),
    "inf": (
        pd.DataFrame(with_inf[:6], columns=list("abcd")),
        (ValueError, ["infinity", "Replace or drop"]),
    ),
    "empty": (DF.iloc[:0], (ValueError, ["0 sample"])),
    "1-D": (X[0], (ValueError, ["2D array", "Reshape"])),
    "wrong feature count": (X[:5, :3], (ValueError, ["3 features", "expecting 4"])),
    "a column missing": (DF.iloc[:5, :3], (ValueError, ["missing", "- d"])),
    "wrong names": (DF.rename(columns={"a": "z"}), (ValueError, ["unseen at fit time"])),
    "columns in another order": (DF[list("dcba")], (ValueError, ["same order"])),
    "strings": (np.full((5, 4), "a", dtype=object), (ValueError, ["numeric", "Encoder"])),
    "mixed DataFrame": (DF.assign(b="x"), (ValueError, ["numeric", "Encoder"])),
    "sparse": (sp.csr_matrix(X[:5]), (TypeError, ["Sparse", "toarray"])),
    "values around 1e300": (DF * 1e300, (ValueError, ["not finite", "overflow", "Scale X"])),
    "values around 1e20": (DF * 1e20, None),
    "one row": (DF.iloc[:1], None),
    "duplicated rows": (pd.concat([DF.iloc[:3]] * 4), None),
    "constant rows": (pd.DataFrame(np.ones((5, 4)), columns=list("abcd")), None),
}


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("case", list(PREDICT_CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_predict_matrix(fitted, kind, case):
    data, expected = PREDICT_CASES[case]
    est = fitted[kind]
    if expected is None:
        assert_finite_outputs(est, data)
        return
    exc, parts = expected
    method = "predict" if kind == "detector" else "transform"
    names = (method, "score_samples")
    if kind == "ae" and case == "values around 1e300":
        # tanh layers saturate: the codes stay finite, and so they are returned; the
        # reconstruction error overflows, and says so
        assert np.isfinite(est.transform(data)).all()
        names = ("score_samples",)
    for name in names:
        with pytest.raises(exc) as info:
            getattr(est, name)(data)
        _check_error(info, parts)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_inverse_transform_matrix(fitted, kind):
    est = fitted[kind]
    huge = np.array([[1e300, 1e300]])
    if est.activation == "tanh":  # a saturating decoder: finite, bounded reconstructions
        assert np.isfinite(est.inverse_transform(huge)).all()
    cases = [
        (np.ones((3, 5)), ["n_components=2", "got 5"]),
        (np.array([[np.nan, 0.0]]), ["NaN", "mput"]),
    ]
    if est.activation != "tanh":
        cases.append((huge, ["not finite", "overflow"]))
    for codes, parts in cases:
        with pytest.raises(ValueError) as info:
            est.inverse_transform(codes)
        _check_error(info, parts)


@pytest.mark.parametrize("kind", KINDS)
def test_unfitted_use_names_fit(kind):
    est = make(kind)
    names = (
        ["predict", "decision_function", "score_samples", "feature_errors"]
        if kind == "detector"
        else ["transform", "inverse_transform", "score_samples"]
    )
    for name in names:
        with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
            getattr(est, name)(X)


@pytest.mark.parametrize("kind", KINDS)
def test_every_invalid_parameter_is_named(kind):
    """Each constrained parameter, given a value of the wrong type, fails at fit naming it."""
    est = make(kind)
    for name in est._parameter_constraints:
        bad = make(kind).set_params(**{name: object()})
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            bad.fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_components=0), "n_components"),
        (dict(hidden_layer_sizes=(0,)), "hidden"),
        (dict(learning_rate_init=-1.0), "learning_rate_init"),
        (dict(batch_size=0), "batch_size"),
        (dict(max_iter=0), "max_iter"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(device="tpu"), "device"),
        (dict(noise_std=-0.1), "noise_std"),
        (dict(loss_trim=1.0), "loss_trim"),
        (dict(activation="nope"), "activation"),
    ],
)
def test_invalid_values_name_the_parameter(params, match):
    for kind in ["ae", "vae"]:
        with pytest.raises(ValueError, match=match):
            make(kind, **params).fit(X)


# ------------------------------------------------------------------- ONNX scorer
# Every export option: the sample (one float tensor, or one input per column) and the
# extra outputs. Each model gets the whole matrix, through every method it has.
# "by name": a ColumnTransformer selecting the columns by name, which a DataFrame
# sample turns into one input per column.
EXPORTS = {
    "array sample": ("detector", X[:1], {}),
    "DataFrame sample": ("detector", DF.iloc[:1], {}),
    "feature_errors": ("detector", X[:1], dict(feature_errors=True)),
    "feature_errors transformed": ("detector", X[:1], dict(feature_errors="transformed")),
    "score_samples": ("detector", X[:1], dict(score_samples=True)),
    "column inputs": ("by name", DF.iloc[:1], {}),
    "column inputs, every output": (
        "by name",
        DF.iloc[:1],
        dict(feature_errors=True, score_samples=True),
    ),
}


@pytest.fixture(scope="module")
def onnx_models(fitted):
    from sklearn.compose import ColumnTransformer

    by_name = make_pipeline(
        ColumnTransformer([("all", "passthrough", list("abcd"))]), make("detector")
    ).fit(DF)
    estimators = {"detector": fitted["detector"], "by name": by_name}
    return {
        name: (estimators[kind], load_onnx(to_onnx(estimators[kind], sample, **options)))
        for name, (kind, sample, options) in EXPORTS.items()
    }


ONNX_CASES = {
    "nan": (with_nan[:5], (ValueError, ["NaN", "impute or drop"])),
    "inf": (with_inf[:6], (ValueError, ["infinity", "impute or drop"])),
    "too large for float32": (X[:3] * 1e39, (ValueError, ["too large for float32"])),
    "overflowing the network": (X[:3] * 1e30, (ValueError, ["not finite", "Scale X"])),
    "empty": (np.empty((0, 4), np.float32), (ValueError, ["0 rows"])),
    "1-D": (X[0], (ValueError, ["1-D", "reshape"])),
    "wrong feature count": (X[:5, :3], (ValueError, ["3 features", "expecting 4"])),
    "missing names": (DF.drop(columns="a"), (ValueError, ["missing the columns", "'a'"])),
    "strings": (np.full((5, 4), "a", dtype=object), (ValueError, ["numeric"])),
    "mixed DataFrame": (DF.assign(b="x"), (ValueError, ["numeric", "encode"])),
    "sparse": (sp.csr_matrix(X[:5]), (TypeError, ["Sparse", "toarray"])),
    "a model column twice (anomaly in the second copy)": (
        pd.concat([DF.iloc[:5], DF[["a"]].iloc[:5] + 50], axis=1),
        (ValueError, ["more than one column named 'a'", "rename or drop"]),
    ),
    "complex numbers": (X[:3] + 50j, (ValueError, ["complex", "real part"])),
    "a complex column": (DF.iloc[:3].assign(a=DF["a"][:3] + 50j), (ValueError, ["'a'", "complex"])),
    "a timedelta column": (
        DF.iloc[:3].assign(a=pd.to_timedelta(DF["a"][:3], unit="s")),
        (ValueError, ["'a'", "timedelta64", "total_seconds"]),
    ),
    "a datetime column": (
        DF.iloc[:3].assign(a=pd.Timestamp("2024-01-01")),
        (ValueError, ["'a'", "datetime64"]),
    ),
    "nullable floats": (DF.iloc[:3].astype("Float64"), None),
    "an extra column twice": (
        pd.concat([DF.iloc[:5], DF[["a", "a"]].iloc[:5]], axis=1).set_axis(list("abcdee"), axis=1),
        None,
    ),
    "columns in another order": (DF[list("dcba")], None),
    "extra columns": (DF.assign(e=1.0), None),
    "one row": (X[:1], None),
    "float64 lists": (X[:4].tolist(), None),
    "duplicated rows": (np.repeat(X[:2], 5, axis=0), None),
    "values around 1e10": (X[:3] * 1e10, None),
}


def _onnx_methods(model):
    names = ["predict", "decision_function", "score_samples"]
    return [
        getattr(model, n)
        for n in names + (["feature_errors"] if "feature_errors" in model.output_names else [])
    ]


@pytest.mark.parametrize("case", list(ONNX_CASES))
@pytest.mark.parametrize("export", list(EXPORTS))
def test_onnx_matrix(fitted, onnx_models, export, case):
    data, expected = ONNX_CASES[case]
    estimator, onnx_model = onnx_models[export]
    if expected is None:
        labels, scores = onnx_model.predict(data), onnx_model.decision_function(data)
        assert set(np.unique(labels)) <= {-1, 1}
        assert np.isfinite(scores).all() and len(scores) == len(labels)
        for method in _onnx_methods(onnx_model):
            value = method(data)
            assert len(value) == len(labels) and np.isfinite(value).all(), method.__name__
        if isinstance(data, pd.DataFrame):  # selected by name: the estimator's answer
            reference = estimator.decision_function(data[list("abcd")])
            np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-4)
        return
    exc, parts = expected
    for method in _onnx_methods(onnx_model):
        with pytest.raises(exc) as info:
            method(data)
        _check_error(info, parts)


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix")
    DF.to_csv(folder / "train.csv", index=False)
    assert (
        main(
            [
                "fit",
                str(folder / "train.csv"),
                "-o",
                str(folder / "m.onnx"),
                "--max-iter",
                "3",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return folder / "m.onnx"


CLI_FIT_CASES = {
    "one row": (DF.iloc[:1], "fitting needs at least 10"),
    "nine rows": (DF.iloc[:9], "fitting needs at least 10"),
    "header only": (DF.iloc[:0], "no data rows"),
    "values around 1e300": (DF * 1e300, "too large to standardise"),
    "values around 1e20 (the scaler copes)": (DF * 1e20, None),
    "inf": (pd.DataFrame(with_inf, columns=list("abcd")), "infinite values"),
    "only text, every value distinct": (
        pd.DataFrame({"a": ["x", "y"]}),
        "no column skae fit can use",
    ),
    "only empty columns": (pd.DataFrame({"a": [np.nan] * 4}), "no column skae fit can use"),
    "one column": (DF[["a"]], None),
    "ten rows": (DF.iloc[:10], None),
    "constant columns": (DF.assign(c=1.0, d=1.0), None),
    "duplicated rows": (pd.concat([DF.iloc[:5]] * 6), None),
    "nan (imputed)": (pd.DataFrame(with_nan, columns=list("abcd")), None),
    "mixed dtypes (bool and int used, constant text left out)": (
        DF.assign(flag=DF["a"] > 0, count=(DF["b"] * 10).astype(int), name="x"),
        None,
    ),
    "low-cardinality text (one-hot)": (DF.assign(kind=["u", "v", "w"] * 20), None),
    "only low-cardinality text": (pd.DataFrame({"kind": ["u", "v", "w"] * 20}), None),
    "an ID column (left out)": (DF.assign(user=[f"u{i}" for i in range(60)]), None),
    "dates (left out)": (DF.assign(day=pd.date_range("2024-01-01", periods=60)), None),
    # degenerate columns
    "a constant column": (DF.assign(c=7.0), None),
    "a column beyond float32": (DF.assign(b=DF["b"] * 1e39), "beyond float32"),
    "a column at the float32 limit": (DF.assign(b=DF["b"] / DF["b"].abs().max() * 3e38), None),
    "rows with more fields than the header": ("a,b,c,d\n" + "x,1,2,3,4\n" * 20, "5 fields"),
    # categories
    "a text column with gaps": (DF.assign(kind=["u", "v", None] * 20), None),
    "a column twice in the header": (
        DF.assign(e=DF["a"]).rename(columns={"e": "a"}),
        "names the column 'a' more than once",
    ),
}


def _write(data, path):
    if isinstance(data, str):
        path.write_text(data)
    else:
        data.to_csv(path, index=False)


@pytest.mark.parametrize("case", list(CLI_FIT_CASES))
def test_cli_fit_matrix(case, tmp_path, capsys):
    data, error = CLI_FIT_CASES[case]
    _write(data, tmp_path / "d.csv")
    out = tmp_path / "m.onnx"
    rc = main(
        ["fit", str(tmp_path / "d.csv"), "-o", str(out), "--max-iter", "3", "--device", "cpu"]
    )
    err = capsys.readouterr().err
    if error is None:
        assert rc == 0 and out.exists()
        return
    errors = [line for line in err.splitlines() if "error:" in line]
    assert rc == 1 and len(errors) == 1 and error in errors[0], err
    assert "Traceback" not in err and not out.exists()


CLI_SCORE_CASES = {
    "a model column twice in the header": (
        DF.assign(e=DF["a"] + 50).rename(columns={"e": "a"}),
        "names the column 'a' more than once",
    ),
    "values overflowing the network": (DF * 1e30, "not finite"),
    "text in a model column": (DF.assign(a="x"), "not numeric"),
    "header only": (DF.iloc[:0], "no data rows"),
    "one row": (DF.iloc[:1], None),
    "columns in another order": (DF[list("dcba")], None),
    "one extra text column": (DF.assign(note="hello"), None),
    "a gap in a column complete at fit": (DF.assign(a=[np.nan] + list(DF["a"][1:])), None),
    "rows with more fields than the header": ("a,b,c,d\n" + "x,1,2,3,4\n" * 3, "5 fields"),
}


@pytest.mark.parametrize("case", list(CLI_SCORE_CASES))
def test_cli_score_matrix(cli_model, case, tmp_path, capsys):
    data, error = CLI_SCORE_CASES[case]
    _write(data, tmp_path / "d.csv")
    out = tmp_path / "o.csv"
    rc = main(["score", str(cli_model), str(tmp_path / "d.csv"), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    if error is None:
        assert rc == 0
        scored = pd.read_csv(out)
        assert len(scored) == len(data) and np.isfinite(scored["score"]).all()
        return
    errors = [line for line in err.splitlines() if "error:" in line]
    assert rc == 1 and len(errors) == 1 and error in errors[0], err
    assert not out.exists()


# The output side: names, formats, and what must never be overwritten.
def _link(tmp, target, kind):
    def create(name):
        path = tmp / name
        (os.link if kind == "hard" else os.symlink)(target, path)
        return path

    return create


CLI_OUTPUT_CASES = {
    # name -> (command, output(tmp, data, model) -> path, expected error or None)
    "score onto its input": ("score", lambda t, d, m: d, "is the input"),
    "score onto a hard link to its input": (
        "score",
        lambda t, d, m: _link(t, d, "hard")("h.csv"),
        "is the input",
    ),
    "score onto a symlink to its input": (
        "score",
        lambda t, d, m: _link(t, d, "soft")("s.csv"),
        "is the input",
    ),
    "score onto a symlink to the model": (
        "score",
        lambda t, d, m: _link(t, m, "soft")("m.csv"),
        "is the input",
    ),
    "fit onto its input": ("fit", lambda t, d, m: d, "must be a .onnx file"),
    "fit onto a symlink to its input": (
        "fit",
        lambda t, d, m: _link(t, d, "soft")("s.onnx"),
        "is the input",
    ),
    "fit to a table name": ("fit", lambda t, d, m: t / "m.csv", "must be a .onnx file"),
    "a folder": ("score", lambda t, d, m: (t / "dir.csv").mkdir() or t / "dir.csv", "is a folder"),
    "a missing folder": ("score", lambda t, d, m: t / "no" / "o.csv", "does not exist"),
    "an unknown suffix": ("score", lambda t, d, m: t / "o.xlsx", "unknown table format"),
    "a compressed name": ("score", lambda t, d, m: t / "o.tsv.gz", None),
    "a zip name": ("score", lambda t, d, m: t / "o.csv.zip", None),
    "a parquet name": ("score", lambda t, d, m: t / "o.parquet", None),
    "an existing output (replaced)": (
        "score",
        lambda t, d, m: (t / "old.csv").write_text("old") and t / "old.csv",
        None,
    ),
}


@pytest.mark.parametrize("case", list(CLI_OUTPUT_CASES))
def test_cli_output_matrix(cli_model, case, tmp_path, capsys):
    from skae._tables.reading import read_table

    command, output, error = CLI_OUTPUT_CASES[case]
    data = tmp_path / "d.csv"
    DF.to_csv(data, index=False)
    before, model_before = data.read_bytes(), cli_model.read_bytes()
    out = output(tmp_path, data, cli_model)
    argv = (
        ["score", str(cli_model), str(data)]
        if command == "score"
        else ["fit", str(data), "--max-iter", "2", "--device", "cpu"]
    )
    rc = main([*argv, "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert data.read_bytes() == before and cli_model.read_bytes() == model_before
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    if error is None:
        assert rc == 0, err
        assert len(read_table(str(out))) == len(DF)
        return
    errors = [line for line in err.splitlines() if "error:" in line]
    assert rc == 1 and len(errors) == 1 and error in errors[0], err


# Categories unseen or missing at scoring, on a model fitted with a text column.
@pytest.fixture(scope="module")
def category_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("categories")
    train = DF.assign(kind=["u", "v", "w"] * 20)
    train.to_csv(folder / "train.csv", index=False)
    assert main(["fit", str(folder / "train.csv"), "-o", str(folder / "m.onnx"), "-q"]) == 0
    return folder / "m.onnx", train


@pytest.mark.parametrize(
    "case, values, flagged",
    [
        ("an unseen category", ["z"] * 10, True),
        ("a missing category", [None] * 10, False),
        ("an empty text field", [""] * 10, False),
        ("a category seen at fit", ["u"] * 10, False),
    ],
)
def test_cli_scores_unseen_and_missing_categories(category_model, tmp_path, case, values, flagged):
    model, train = category_model
    rows = train.iloc[:10].assign(kind=values)
    rows.to_csv(tmp_path / "d.csv", index=False)
    assert (
        main(["score", str(model), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.csv"), "-q"])
        == 0
    )
    scored = pd.read_csv(tmp_path / "o.csv")
    assert np.isfinite(scored["score"]).all()
    share = (scored["label"] == -1).mean()
    assert share == 1.0 if flagged else share < 0.5, (case, share)


# Folders whose files differ: one table, one schema.
FOLDER_CASES = {
    "csv ints then floats": [DF.assign(n=np.arange(60)), DF.assign(n=np.arange(60) + 0.5)],
    "an all-null column then text": [DF.assign(t=None), DF.assign(t="x")],
    "a column only some files have": [DF.assign(extra=1.0), DF],
    "a header-only file": [DF, DF.iloc[:0]],
    "csv and parquet together": [DF, DF.assign(n=2)],
}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
@pytest.mark.parametrize("out", ["o.csv", "o.parquet"])
def test_cli_folders_with_mixed_files(cli_model, case, out, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i, frame in enumerate(FOLDER_CASES[case]):
        if case == "csv and parquet together" and i == 1:
            frame.to_parquet(data / f"{i}.parquet")
        else:
            frame.to_csv(data / f"{i}.csv", index=False)
    assert main(["score", str(cli_model), str(data), "-o", str(tmp_path / out), "-q"]) == 0
    read = pd.read_csv if out.endswith("csv") else pd.read_parquet
    scored = read(tmp_path / out)
    assert len(scored) == sum(len(f) for f in FOLDER_CASES[case])
    assert np.isfinite(scored["score"]).all()
    fit = main(["fit", str(data), "-o", str(tmp_path / "m.onnx"), "--epochs", "1", "-q"])
    assert fit == 0


# Signals during every command that writes: no partial file, the conventional code.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("command", ["fit", "score", "export"])
def test_cli_signals_during_every_writing_command(
    cli_model, command, signum, tmp_path, monkeypatch, python_sigint
):
    import joblib

    from skae._tables import writing

    DF.to_csv(tmp_path / "d.csv", index=False)
    joblib.dump(make("detector").fit(DF.to_numpy()), tmp_path / "p.joblib")
    argv = {
        "fit": ["fit", str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.onnx"), "-q"],
        "score": ["score", str(cli_model), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.csv")],
        "export": ["export", str(tmp_path / "p.joblib"), "-o", str(tmp_path / "o.onnx")],
    }[command]
    original = writing.atomic_path

    def signalled(path):  # the signal arrives while the temporary file exists
        manager = original(path)
        tmp = manager.__enter__()
        os.kill(os.getpid(), signum)
        return manager, tmp

    class Arriving:
        def __init__(self, path):
            self.manager, self.tmp = signalled(path)

        def __enter__(self):
            return self.tmp

        def __exit__(self, *exc):
            return self.manager.__exit__(*exc)

    for module in ("skae.cli.score", "skae._tables.writing"):
        monkeypatch.setattr(f"{module}.atomic_path", Arriving)
    # under nohup SIGHUP starts ignored, and skae leaves an ignored signal ignored
    previous = signal.getsignal(signum)
    if previous is signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
    try:
        rc = main(argv)
    finally:
        signal.signal(signum, previous)
    assert rc == 128 + signum
    assert sorted(os.listdir(tmp_path)) == sorted(["d.csv", "p.joblib"])


# ------------------------------------------------------ tied scores and discrete tables
def _log_table(n, seed):
    """A log-like table of three binary columns: eight distinct rows, every score tied."""
    rng = np.random.RandomState(seed)
    values = (rng.random_sample((n, 3)) < [0.3, 0.5, 0.2]).astype(np.float64)
    return pd.DataFrame(values, columns=["port", "proto", "flag"])


@pytest.fixture(scope="module")
def discrete_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("discrete")
    train = _log_table(3000, 0)
    det = ReconstructionAnomalyDetector(
        false_alarm_rate=0.2, max_iter=3, random_state=0, verbose=0
    ).fit(train)
    path = folder / "m.onnx"
    path.write_bytes(to_onnx(det, train.iloc[:1]).SerializeToString())
    return det, path


def test_tied_scores_give_one_label_and_p_value_in_python_onnx_cli_and_dask(
    discrete_model, tmp_path, capsys
):
    import dask
    import dask.dataframe as dd

    from skae.distributed import score_dask

    det, path = discrete_model
    new = _log_table(20_000, 1)  # drawn like the training rows
    labels, p = det.predict(new), det.pvalues(new)
    model = load_onnx(path)
    np.testing.assert_array_equal(model.predict(new), labels)
    np.testing.assert_allclose(model.pvalues(new), p, rtol=1e-6)  # float32 of the same count
    # valid p-values under ties: for rows drawn like the held-out rows, P(p <= t) <= t
    for t in (0.05, 0.2, 0.5):
        assert np.mean(p <= t) <= t + 0.01
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "o.csv"
    assert main(["score", str(path), str(tmp_path / "new.csv"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Kolmogorov-Smirnov" in err and "drift" not in err  # an undrifted table is quiet
    cli = pd.read_csv(out)
    np.testing.assert_array_equal(cli["label"], labels)
    np.testing.assert_allclose(cli["p_value"], p, rtol=1e-6)
    with dask.config.set(scheduler="synchronous"):
        scored = score_dask(dd.from_pandas(new, npartitions=3), str(path)).compute()
    np.testing.assert_array_equal(scored["label"], labels)
    np.testing.assert_allclose(scored["p_value"], p, rtol=1e-6)


def test_a_multi_pass_streamed_fit_with_a_false_alarm_rate_holds_its_rows_out_once():
    """Ten passes of partial_fit over the same chunks: the calibration scores are those of
    about 20% of the rows, once each (not 20% of every pass), and a table drawn like the
    training rows is flagged at about the rate."""
    rng = np.random.RandomState(7)
    X = rng.normal(size=(2500, 4))
    det = ReconstructionAnomalyDetector(
        make("ae"), false_alarm_rate=0.1, random_state=0, reservoir_size=500
    )
    for _ in range(10):
        for chunk in np.array_split(X, 5):
            det.partial_fit(chunk)
    held = det._calibration_sample.held_out
    assert len(det.calibration_scores_) == len(held) == len({r.tobytes() for r in held})
    assert 0.16 * len(X) < len(held) < 0.24 * len(X)
    assert (det.predict(rng.normal(size=(4000, 4))) == -1).mean() < 0.1 + 0.03


# Duplicated column names: every scorer refuses them by name (which copy is meant cannot
# be known), as the estimator does.
def test_every_scorer_refuses_a_model_column_given_twice(cli_model):
    dd = pytest.importorskip("dask.dataframe")
    from skae.distributed import score_dask
    from skae.scoring import score_frame

    frame = pd.concat([DF.iloc[:8], DF[["b"]].iloc[:8] + 50], axis=1)
    model = load_onnx(str(cli_model))
    scorers = {
        "load_onnx": model.predict,
        "score_frame": lambda f: score_frame(model, f),
        "score_dask": lambda f: score_dask(dd.from_pandas(f, npartitions=2), str(cli_model)),
    }
    for name, score in scorers.items():
        with pytest.raises(ValueError, match="more than one column named 'b'") as info:
            score(frame)
        assert type(info.value) is not AttributeError, name


# Model files are untrusted input: a crafted value of any metadata key is refused at load,
# naming the key, by load_onnx, `skae info` and `skae score` alike.
CRAFTED_METADATA = {
    "skae_version": [""],
    "estimator_class": [""],
    "estimator_params": ["{not json", "[1, 2]"],
    "feature_names_in": ['["a", "a", "b", "c"]', "[]", "[1, 2, 3, 4]", '"abcd"'],
    "n_features_in": ["0", "four", "7"],
    "contamination": ["nan", "0.9", "-0.1"],
    "offset": ["nan", "inf", "", "one"],
    "inputs": ["matrix"],
    "input_columns": ["[]", '["a", "b", "c", "zz"]', '["a", "b", "c"]'],
    "feature_errors_names": ['["a"]', "{}"],
    "feature_errors_space": ["output"],
    "skae_cli_columns": ['{"numeric columns": 3}', "[]"],
    "calibration_scores": ["[]", "{}", '[1, "a"]', "[NaN, 1]", "[2, 1]", "[true]"],
    "calibration": ["maybe"],
    "false_alarm_rate": ["nan", "0", "1.5"],
    "calibration_top_features": ['{"a": 2}', '{"a": 0.7, "b": 0.7}', '{"a": "x"}', "[]"],
    "novelty": ["yes"],
    "missing_text": ['{"zz": "None"}', '{"a": 1}', "[]"],
    "training_rows": ["-1", "many", "1.5"],
}


def test_every_metadata_key_of_the_contract_is_checked_at_load():
    from skae import _schema

    keys = {v for k, v in vars(_schema).items() if k.startswith("META_")}
    assert set(_schema.METADATA_CHECKS) == keys  # a new key needs its check
    assert set(CRAFTED_METADATA) == keys  # and crafted values here


def _crafted(path, key, value):
    import onnx

    model = onnx.load(str(path))
    entry = next((p for p in model.metadata_props if p.key == key), None)
    if entry is None:
        entry = model.metadata_props.add()
        entry.key = key
    entry.value = value
    return model.SerializeToString()


@pytest.mark.parametrize(
    "key, value", [(k, v) for k, values in CRAFTED_METADATA.items() for v in values]
)
def test_crafted_metadata_is_refused_at_load_naming_the_key(
    cli_model, tmp_path, capsys, key, value
):
    from skae._schema import ModelFileError

    crafted = tmp_path / "crafted.onnx"
    crafted.write_bytes(_crafted(cli_model, key, value))
    with pytest.raises(ModelFileError, match=f"not a model skae can load: its metadata '{key}'"):
        load_onnx(str(crafted))
    DF.iloc[:5].to_csv(tmp_path / "d.csv", index=False)
    for argv in (
        ["info", str(crafted)],
        ["score", str(crafted), str(tmp_path / "d.csv"), "-o", str(tmp_path / "o.csv")],
    ):
        rc = main(argv)
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if "error:" in line]
        assert rc == 1 and len(errors) == 1, err
        assert "not a model skae can load" in errors[0] and repr(key) in errors[0], err
        assert "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()
