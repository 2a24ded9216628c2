"""The package's lazy exports: the torch-free core and the ``train`` extra (skae/__init__.py).

Environments without torch are simulated in a subprocess by an import hook that makes
``import torch`` fail as if it were not installed; .ci/check_scoring_install.sh checks a
real one.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import skae
from skae import _train_import_error

ESTIMATORS = [
    "AutoencoderTransformer",
    "VAETransformer",
    "ReconstructionAnomalyDetector",
    "TrainingDivergedError",
    "TrainingOutOfMemoryError",
]


NOT_INSTALLED = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {missing!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""


def _python(code, *, without=()):
    """Run ``code`` in a fresh interpreter where the modules ``without`` cannot be imported."""
    prelude = NOT_INSTALLED.format(missing=set(without))
    proc = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_skae_and_skae_onnx_load_no_training_stack():
    out = _python(
        "import skae, skae.onnx\n"
        "print(sorted({m.partition('.')[0] for m in sys.modules}\n"
        "             & {'torch', 'sklearn', 'skl2onnx', 'onnx', 'tqdm', 'pandas'}))"
    )
    assert out.strip() == "[]"


@pytest.mark.parametrize("missing", ["torch", "sklearn"])
def test_estimators_without_the_train_extra_raise_an_import_error_naming_it(missing):
    out = _python(
        f"""
import json
messages = {{}}
for name in {ESTIMATORS!r}:
    try:
        exec(f"from skae import {{name}}")
    except ImportError as exc:
        messages[name] = str(exc)
print(json.dumps(messages))
""",
        without=[missing],
    )
    messages = json.loads(out)
    # the estimators need both; the exceptions (skae.exceptions) neither
    needs = ESTIMATORS[:3]
    assert sorted(messages) == sorted(needs)  # each one raised ImportError
    for name, message in messages.items():
        assert f"skae.{name} needs" in message
        assert 'pip install "skae[train]"' in message
        assert ("PyTorch" if missing == "torch" else "scikit-learn") in message


def test_load_onnx_scores_without_torch_sklearn_or_skl2onnx(tmp_path):
    from skae import AutoencoderTransformer, ReconstructionAnomalyDetector
    from skae.onnx import to_onnx

    X = np.random.RandomState(0).normal(size=(200, 5))
    det = ReconstructionAnomalyDetector(
        AutoencoderTransformer(max_iter=3, device="cpu"), random_state=0
    ).fit(X)
    (tmp_path / "model.onnx").write_bytes(to_onnx(det, X[:1]).SerializeToString())
    np.save(tmp_path / "X.npy", X)
    out = _python(
        f"""
import json
import numpy as np
from skae.onnx import load_onnx
model = load_onnx({str(tmp_path / "model.onnx")!r})
print(json.dumps(model.decision_function(np.load({str(tmp_path / "X.npy")!r})).tolist()))
""",
        without=["torch", "sklearn", "skl2onnx"],
    )
    scores = np.array(json.loads(out))
    expected = det.decision_function(X)
    np.testing.assert_array_less(np.abs(scores - expected) / (np.abs(expected) + 1), 1e-4)


def test_only_missing_train_dependencies_are_translated():
    assert _train_import_error("x", ModuleNotFoundError("no", name="pyarrow")) is None
    assert _train_import_error("x", ImportError("broken build", name="torch")) is None
    error = _train_import_error("skae fit", ModuleNotFoundError("no", name="skl2onnx.common"))
    assert isinstance(error, ImportError) and error.name == "skl2onnx"
    assert str(error).startswith("skae fit needs skl2onnx, which is not installed")


def test_unknown_attributes_and_dir():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        skae.Nope  # noqa: B018
    assert set(skae.__all__) <= set(dir(skae))


def test_require_train_fails_before_any_work(tmp_path):
    out = _python(
        f"""
from skae.cli.demo import run_demo
try:
    run_demo({str(tmp_path / "demo")!r}, quick=True)
except ImportError as exc:
    print(exc)
""",
        without=["skl2onnx"],
    )
    assert out.startswith("skae demo needs skl2onnx, which is not installed")
    assert 'pip install "skae[train]"' in out
    assert not (tmp_path / "demo").exists()  # nothing written, nothing trained
    skae._require_train("anything")  # everything is installed here


def test_to_onnx_without_the_train_extra_names_it():
    """skae.onnx is importable on a scoring machine; exporting there says what is missing."""
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'skl2onnx':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from skae.onnx import register_converters, to_onnx\n"
        "for call in (lambda: to_onnx(None, np.zeros((1, 2))), register_converters):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all("skae[train]" in line for line in lines), out


def test_plotting_without_matplotlib_names_the_plot_extra():
    out = _python(
        """
try:
    import skae.plotting
except ImportError as exc:
    print(exc)
""",
        without=["matplotlib"],
    )
    assert "skae.plotting needs matplotlib" in out and 'pip install "skae[plot]"' in out
