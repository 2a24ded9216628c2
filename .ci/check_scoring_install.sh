#!/usr/bin/env bash
# CI: the README's scoring-only install, in a fresh environment that really lacks torch.
#
# 1. The main environment (.venv, the train extra: torch, scikit-learn, skl2onnx) fits a
#    detector on a table with named columns, exports it with skae.onnx.to_onnx and writes
#    its own decision_function / predict as the reference.
# 2. A new venv gets the README's scoring install from this checkout (`pip install .`).
# 3. There torch, scikit-learn and skl2onnx must not be importable; `skae --help`,
#    `skae info`, `skae score` and a `load_onnx` one-liner run and must match step 1;
#    the estimators and `skae fit` must fail with an error that names what is missing.
#
# Run it after .ci/run (whose tests run in .venv-test; the main job's .venv is created
# here if missing). pip's cache is reused; the scoring venv lives in a temporary folder,
# removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

fail() { echo "check_scoring_install: FAIL: $*" >&2; exit 1; }
step() { echo "check_scoring_install: $*"; }

if [ ! -x .venv/bin/python ]; then
  step "no .venv: creating it with the README's main install"
  python3 -m venv .venv && .venv/bin/pip install -q "torch==2.13.0" -e ".[train,plot]"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/skae-scoring.XXXXXX")
trap 'rm -rf "$work"' EXIT

step "1/3 fitting and exporting a detector in the main environment (.venv)"
.venv/bin/python - "$work" <<'EOF'
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, ReconstructionAnomalyDetector, VAETransformer
from skae.onnx import to_onnx

work = sys.argv[1]
warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning: few epochs on purpose
rng = np.random.RandomState(0)
plane = rng.normal(size=(2, 6))
X = rng.normal(size=(400, 2)) @ plane + 0.05 * rng.normal(size=(400, 6))
X[:20] += rng.choice([-4.0, 4.0], size=(20, 6))
train = pd.DataFrame(X, columns=[f"sensor_{i}" for i in range(6)])
members = [AutoencoderTransformer(n_components=2, hidden_layer_sizes=(16,), max_iter=30,
                                  device="cpu", random_state=0),
           VAETransformer(n_components=2, hidden_layer_sizes=(16,), max_iter=30,
                          device="cpu", random_state=0)]
detector = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
    members, contamination=0.05, random_state=0)).fit(train)
with open(f"{work}/model.onnx", "wb") as fh:
    fh.write(to_onnx(detector, train.iloc[:1], feature_errors=True).SerializeToString())

# New rows: an id column first and the sensors in another order (matched by name).
new = pd.DataFrame(rng.normal(size=(300, 2)) @ plane + 0.05 * rng.normal(size=(300, 6)),
                   columns=train.columns)
new.iloc[:10] += 5.0
new = new[train.columns[::-1]]
new.insert(0, "id", np.arange(len(new)))
new.to_csv(f"{work}/new.csv", index=False)
sensors = new[train.columns]
pd.DataFrame({"score": detector.decision_function(sensors),
              "label": detector.predict(sensors)}).to_csv(f"{work}/expected.csv", index=False)
print(f"  exported {detector[-1].__class__.__name__} ({len(members)} networks) on "
      f"{train.shape[1]} columns; {len(new)} rows to score")

# A detector calibrated on held-out normal rows: p-values and the drift check.
calibrated = make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
    members[0], false_alarm_rate=0.05, random_state=0)).fit(train.iloc[20:])
with open(f"{work}/calibrated.onnx", "wb") as fh:
    fh.write(to_onnx(calibrated, train.iloc[:1], feature_errors=True).SerializeToString())
pd.DataFrame({"p_value": calibrated[-1].pvalues(calibrated[0].transform(sensors))}).to_csv(
    f"{work}/expected_p.csv", index=False
)
shifted = new.copy()
shifted[list(train.columns)] += 1.5  # off the plane the model learnt: every row moves
shifted.to_csv(f"{work}/shifted.csv", index=False)
EOF

step "2/3 the README's scoring install in a fresh venv: pip install ."
python3 -m venv "$work/venv"
score_env="$work/venv/bin"
"$score_env/pip" install -q . || fail "pip install . failed"
"$score_env/pip" list --format=freeze | sed 's/^/  /'
"$score_env/python" - <<'EOF' || fail "the scoring install is not torch-free"
import importlib.util
import sys

present = [m for m in ("torch", "sklearn", "skl2onnx", "onnx", "scipy", "joblib")
           if importlib.util.find_spec(m) is not None]
if present:
    sys.exit(f"  these must not be installed by the scoring install: {present}")
print("  torch, sklearn, skl2onnx, onnx, scipy, joblib: not installed")
EOF

step "3/3 scoring there with skae score and load_onnx"
cd "$work"
"$score_env/skae" --help >/dev/null || fail "skae --help"
"$score_env/skae" info model.onnx || fail "skae info"
"$score_env/skae" score model.onnx new.csv -o scored.csv || fail "skae score"
"$score_env/skae" score calibrated.onnx new.csv -o scored_p.csv -q 2>summary.txt \
  || fail "skae score of a calibrated model"
echo "  $(cut -c1-160 summary.txt)"
"$score_env/skae" score calibrated.onnx shifted.csv -o scored_s.csv -q 2>drift.txt \
  || fail "skae score of a shifted table"
grep -q "drift" drift.txt || { cat drift.txt >&2; fail "no drift warning on a shifted table"; }
echo "  $(head -n 1 drift.txt | cut -c1-160)..."
"$score_env/python" -c "import pandas as pd; from skae.onnx import load_onnx; \
m = load_onnx('model.onnx'); X = pd.read_csv('new.csv'); \
pd.DataFrame({'score': m.decision_function(X), 'label': m.predict(X)}).to_csv('loaded.csv', index=False)" \
  || fail "load_onnx"

"$score_env/python" - <<'EOF' || fail "scores differ from the main environment's estimator"
import sys

import numpy as np
import pandas as pd

from skae.onnx import load_onnx

expected = pd.read_csv("expected.csv")
new = pd.read_csv("new.csv")
scored = pd.read_csv("scored.csv")
loaded = pd.read_csv("loaded.csv")
problems = []
if list(scored.columns[:len(new.columns)]) != list(new.columns) or len(scored) != len(new):
    problems.append(f"skae score changed the input table: {list(scored.columns)}")
if not np.array_equal(scored["id"], new["id"]):
    problems.append("skae score reordered or lost rows")
for name, got in [("skae score", scored), ("load_onnx", loaded)]:
    # DESIGN: within 1e-4 relative to |score| + 1 (float32 graph); labels may differ
    # only for rows whose score is within that tolerance of the threshold.
    tol = 1e-4 * (np.abs(expected["score"]) + 1)
    worst = float(np.max(np.abs(got["score"] - expected["score"]) / tol))
    if worst > 1:
        problems.append(f"{name}: scores off by up to {worst:.2g}x the 1e-4 tolerance")
    flips = (got["label"] != expected["label"]) & (np.abs(expected["score"]) > tol)
    if flips.any():
        problems.append(f"{name}: {int(flips.sum())} labels differ")
    print(f"  {name}: {len(got)} rows, {int((got['label'] == -1).sum())} flagged, "
          f"scores within {worst * 1e-4:.1e} (relative) of the estimator")
p_ours = pd.read_csv("scored_p.csv")["p_value"].to_numpy()
p_expected = pd.read_csv("expected_p.csv")["p_value"].to_numpy()
if np.mean(np.abs(p_ours - p_expected) > 1e-5) > 0.01:
    problems.append("skae score: p-values differ from the estimator's")
print(f"  skae score: p_value within 1e-5 of the estimator's for "
      f"{np.mean(np.abs(p_ours - p_expected) <= 1e-5):.1%} of rows")
model = load_onnx("model.onnx")
model.decision_function(new)
from skae.drift import check_drift  # noqa: E402  (torch-free too)

if not check_drift(load_onnx("calibrated.onnx"), pd.read_csv("scored_s.csv")).drift:
    problems.append("check_drift: no drift on the shifted table")
heavy = sorted({m.partition(".")[0] for m in sys.modules} & {"torch", "sklearn", "tqdm"})
if heavy:
    problems.append(f"load_onnx imported {heavy}")
if problems:
    sys.exit("  " + "\n  ".join(problems))
EOF

# Without the train extra, training fails with an error that names what is missing.
"$score_env/python" -c "from skae import AutoencoderTransformer" 2>err.txt \
  && fail "the estimators imported without torch"
grep -q 'skae\[train\]' err.txt || { cat err.txt >&2; fail "the ImportError does not name skae[train]"; }
echo "  from skae import AutoencoderTransformer: $(tail -n 1 err.txt)"
"$score_env/python" -c "import numpy as np; from skae.onnx import to_onnx; to_onnx(None, np.zeros((1, 2)))" \
  2>err.txt && fail "to_onnx ran without the train extra"
grep -q 'skae\[train\]' err.txt || { cat err.txt >&2; fail "to_onnx's ImportError does not name skae[train]"; }
new_fit=0; "$score_env/skae" fit new.csv -o fitted.onnx 2>err.txt || new_fit=$?
[ "$new_fit" -ne 0 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q 'skae\[train\]' err.txt \
  || { cat err.txt >&2; fail "skae fit without the train extra must fail with one line naming it"; }
echo "  $(cat err.txt)"
step "OK: the scoring install has no torch, scikit-learn or skl2onnx and scores like the estimator"
