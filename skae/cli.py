"""The ``skae`` command line: ``main(argv=None) -> int``, subcommands via argparse.

Heavy imports (torch, sklearn) happen inside the handlers, so ``skae --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    """Fit StandardScaler -> ReconstructionAnomalyDetector on the bundled digits."""
    import time
    import warnings

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ReconstructionAnomalyDetector

    warnings.filterwarnings("ignore", category=UserWarning)
    X, digit = load_digits(return_X_y=True)
    rng = np.random.RandomState(args.seed)
    # Digit `rare` is the anomaly: keep 5% of the normal rows' count of it.
    normal = np.flatnonzero(digit != args.rare)
    rare = rng.choice(np.flatnonzero(digit == args.rare), size=len(normal) // 20, replace=False)
    idx = np.r_[normal, rare]
    X, y = X[idx], (digit[idx] == args.rare).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.seed)
    print(f"skae demo: digits, {len(X_train)} training rows, digit {args.rare} is the rare "
          f"class ({y.mean():.1%} of rows)")
    for name, detector in [
        ("skae ReconstructionAnomalyDetector",
         make_pipeline(StandardScaler(), ReconstructionAnomalyDetector(
             contamination=0.05, random_state=args.seed))),
        ("sklearn IsolationForest",
         make_pipeline(StandardScaler(), IsolationForest(contamination=0.05,
                                                         random_state=args.seed))),
    ]:
        start = time.perf_counter()
        detector.fit(X_train)
        seconds = time.perf_counter() - start
        auc = roc_auc_score(y_test, -detector.decision_function(X_test))
        print(f"  {name:<36} ROC-AUC {auc:.3f}   fit {seconds:.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skae",
        description="scikit-learn autoencoders: fit, export to ONNX and score outliers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    demo = sub.add_parser("demo", help="run the main job end to end on bundled data",
                          description=_demo.__doc__)
    demo.add_argument("--rare", type=int, default=0, help="digit used as the rare class")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
