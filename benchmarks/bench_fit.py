"""Training speed: skae vs PyOD's AutoEncoder vs skorch on the same network, and scaling.

Network 100 -> 64 -> 32 -> 8 -> 32 -> 64 -> 100 (ReLU, linear code), 10,000 x 100 low-rank
data, batch 256, 20 epochs, Adam 1e-3, one thread each, runs interleaved, medians printed.

    python benchmarks/bench_fit.py                  # comparison + scaling + time-to-quality
    python benchmarks/bench_fit.py --quick          # fewer repeats, smaller scaling table
    python benchmarks/bench_fit.py --device cuda    # the GPU run: 1M x 100, batch 4096
    python benchmarks/bench_fit.py --only threads   # default threads vs 1/2/all, quiet and busy
    python benchmarks/bench_fit.py --only coldstart # a first fit in a fresh process
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import low_rank_data, single_thread, table  # noqa: E402

HIDDEN, CODE = (64, 32), 8
LAYERS = [(100, 64), (64, 32), (32, 8), (8, 32), (32, 64), (64, 100)]
# What PyOD's and skorch's networks compute: ReLU layers, a constant learning rate, no
# weight decay, no code noise, the codes as trained (AutoencoderTransformer's own
# defaults are tanh, an adaptive rate, a prior on the weights, code noise and the
# decoder's metric, chosen for codes: benchmarks/README.md).
SAME_NETWORK = dict(
    activation="relu", alpha=0.0, latent_noise=0.0, code_metric=None, learning_rate="constant"
)


def flops_per_sample(n_features=100, hidden=HIDDEN, code=CODE):
    """Training FLOPs per sample: forward 2*in*out per layer, backward twice that."""
    widths = [n_features, *hidden, code, *reversed(hidden), n_features]
    return 6 * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def matmul_peak(device="cpu", n=1024, repeats=20):
    """Measured float32 matmul rate (FLOP/s) on this device and thread setting."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def fit_skae(X, epochs, batch_size=256, device="cpu", **extra):
    from skae import AutoencoderTransformer

    ae = AutoencoderTransformer(
        n_components=CODE,
        hidden_layer_sizes=HIDDEN,
        batch_size=batch_size,
        max_iter=epochs,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=epochs,
        learning_rate_init=1e-3,
        random_state=0,
        device=device,
        **{**SAME_NETWORK, **extra},
    )
    start = time.perf_counter()
    ae.fit(X)
    return time.perf_counter() - start


def fit_pyod(X, epochs):
    from pyod.models.auto_encoder import AutoEncoder

    # PyOD's builder puts a ReLU on the code layer too (it cannot make a linear code);
    # otherwise the same layers. Its fit also scores the training set: timed and removed.
    model = AutoEncoder(
        epoch_num=epochs,
        batch_size=256,
        lr=1e-3,
        hidden_neuron_list=[*HIDDEN, CODE],
        batch_norm=False,
        dropout_rate=0.0,
        optimizer_params={"weight_decay": 0.0},
        preprocessing=False,
        verbose=0,
        device="cpu",
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X)
    total = time.perf_counter() - start
    start = time.perf_counter()
    model.decision_function(X)
    return total - (time.perf_counter() - start)


def fit_skorch(X, epochs):
    import torch
    from skorch import NeuralNetRegressor

    from skae._nn.networks import Autoencoder

    net = NeuralNetRegressor(
        Autoencoder,
        module__n_features=X.shape[1],
        module__hidden_layer_sizes=HIDDEN,
        module__n_components=CODE,
        max_epochs=epochs,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        batch_size=256,
        train_split=None,
        verbose=0,
        device="cpu",
    )
    start = time.perf_counter()
    net.fit(X, X)
    return time.perf_counter() - start


def compare(args):
    X = low_rank_data(10_000)
    epochs, n = 20, len(X)
    runners = {"skae": fit_skae, "PyOD AutoEncoder": fit_pyod, "skorch": fit_skorch}
    times = {name: [] for name in runners}
    for _ in range(args.repeats):  # interleaved: machine noise hits everyone alike
        for name, fn in runners.items():
            times[name].append(fn(X, epochs))
    peak = matmul_peak()
    per_sample = flops_per_sample()
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = []
    for name in runners:
        rate = n * epochs / med[name]
        rows.append(
            [
                name,
                f"{med[name]:.2f}",
                f"{rate / 1e3:,.0f}k",
                f"{med['PyOD AutoEncoder'] / med[name]:.2f}x",
                f"{med['skorch'] / med[name]:.2f}x",
                f"{100 * rate * per_sample / peak:.0f}%",
            ]
        )
    print(
        f"\nSame network, 10,000 x 100, batch 256, 20 epochs, Adam 1e-3, 1 thread, "
        f"median of {args.repeats} interleaved runs; matmul peak {peak / 1e9:.0f} GFLOP/s, "
        f"{per_sample / 1e3:.0f} kFLOP per sample"
    )
    print(
        table(
            rows,
            ["library", "fit (s)", "samples/s", "speed vs PyOD", "vs skorch", "of matmul peak"],
        )
    )
    return med


def _measure_point(n_samples, width_mult, epochs):
    """One scaling point, run in a fresh process so its peak RSS is its own."""
    from skae import AutoencoderTransformer

    # Warm up on 500 rows first: the first fit in a process pays one-off library start-up
    # costs (~0.9 s here) that would otherwise hide the scaling.
    AutoencoderTransformer(max_iter=1, device="cpu").fit(low_rank_data(500, seed=3))
    X = low_rank_data(n_samples)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    hidden = tuple(h * width_mult for h in HIDDEN)

    ae = AutoencoderTransformer(
        n_components=CODE,
        hidden_layer_sizes=hidden,
        batch_size=256,
        max_iter=epochs,
        early_stopping=True,
        tol=0.0,
        n_iter_no_change=epochs,
        random_state=0,
        device="cpu",
        **SAME_NETWORK,
    )
    start = time.perf_counter()
    ae.fit(X)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {"seconds": seconds, "extra_bytes": max(after - before, 0), "data_bytes": X.nbytes}
        )
    )


def scaling(args):
    sizes = [1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    points = [(n, 1) for n in sizes] + [(10_000, m) for m in (2, 4, 8)]
    rows = []
    for n, mult in points:
        out = subprocess.run(
            [sys.executable, __file__, "--point", str(n), str(mult), str(args.scaling_epochs)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        hidden = tuple(h * mult for h in HIDDEN)
        rows.append(
            [
                f"{n:,}",
                str(hidden),
                f"{r['seconds']:.2f}",
                f"{r['seconds'] / n * 1e6 / args.scaling_epochs:.2f}",
                f"{r['data_bytes'] / 2**20:.0f}",
                f"{r['extra_bytes'] / 2**20:.0f}",
                f"{r['extra_bytes'] / r['data_bytes']:.2f}x",
            ]
        )
    print(
        f"\nScaling (skae, {args.scaling_epochs} epochs with a 10% validation split, "
        "1 thread, after a warm-up fit; peak extra = growth of the process's max RSS "
        "during fit, above the float32 data)"
    )
    print(
        table(
            rows,
            [
                "n_samples",
                "hidden",
                "fit (s)",
                "us / sample / epoch",
                "data (MiB)",
                "peak extra (MiB)",
                "extra / data",
            ],
        )
    )


def time_to_quality(args):
    """skae's defaults vs PyOD's defaults: time to reach PyOD's final held-out error."""
    import torch
    from pyod.models.auto_encoder import AutoEncoder

    from skae import AutoencoderTransformer

    data = low_rank_data(12_000)  # one distribution: the held-out rows share the subspace
    X, X_val = data[:10_000], data[10_000:]
    # Warm-ups: the first fit in a process pays one-off start-up costs, for both.
    AutoEncoder(epoch_num=1, verbose=0, device="cpu").fit(X[:500])
    AutoencoderTransformer(max_iter=1, device="cpu").fit(X[:500])
    pyod = AutoEncoder(verbose=0, device="cpu", random_state=0)  # PyOD's defaults
    start = time.perf_counter()
    pyod.fit(X)
    pyod_total = time.perf_counter() - start
    start = time.perf_counter()
    pyod.decision_function(X)
    pyod_time = pyod_total - (time.perf_counter() - start)
    pyod.model.eval()
    with torch.no_grad():
        z = (X_val - pyod.X_mean) / pyod.X_std
        recon = pyod.model(torch.as_tensor(z, dtype=torch.float32)).numpy()
    target = float(np.mean((recon * pyod.X_std + pyod.X_mean - X_val) ** 2))

    # skae with its default batch size and learning rate on the layers of PyOD's default
    # network (100-64-32-64-100), one epoch per call (warm start keeps the optimiser
    # state), timing only the training calls.
    ae = AutoencoderTransformer(
        n_components=32,
        hidden_layer_sizes=(64,),
        max_iter=1,
        warm_start=True,
        early_stopping=False,
        random_state=0,
        device="cpu",
    )
    elapsed, reached = 0.0, None
    for epoch in range(1, 101):
        start = time.perf_counter()
        ae.fit(X)
        elapsed += time.perf_counter() - start
        if -ae.score(X_val) <= target:
            reached = (epoch, elapsed)
            break
    print(
        f"\nTime to quality: PyOD defaults (batch 32, 10 epochs, BN, dropout 0.2) reach "
        f"held-out MSE {target:.4f} in {pyod_time:.2f} s"
    )
    if reached:
        print(
            f"skae defaults (batch 256, Adam 1e-3, same layers without BN/dropout) reach "
            f"it after {reached[0]} epochs in "
            f"{reached[1]:.2f} s: {pyod_time / reached[1]:.1f}x faster"
        )
    else:
        print(f"skae defaults did not reach it in 100 epochs ({elapsed:.1f} s)")


COLD_START = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from skae import AutoencoderTransformer  # torch, scikit-learn
t1 = time.perf_counter()
X = np.random.RandomState(0).normal(size=(2000, 20))
AutoencoderTransformer(max_iter=1, early_stopping=False, device="cpu", random_state=0).fit(X)
t2 = time.perf_counter()
AutoencoderTransformer(max_iter=1, early_stopping=False, device="cpu", random_state=0).fit(X)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def cold_start(args):
    """A first fit in a fresh process: the import, then what the first fit costs beyond
    a second, identical one (library start-up skae pays once per process)."""
    runs = []
    for _ in range(args.repeats):
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", COLD_START],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append([float(v) for v in out.split()])
    imp, first, second = np.median(np.array(runs), axis=0)
    print(
        f"\nCold start (median of {args.repeats} fresh processes): import of the "
        f"estimators {imp:.2f} s; first 1-epoch fit {first:.2f} s, an identical second "
        f"one {second:.3f} s: {first - second:.2f} s of one-off start-up in the first fit"
    )


def gpu(args):
    import torch

    if not torch.cuda.is_available():
        print("--device cuda: no CUDA device here")
        return 1
    X = low_rank_data(1_000_000)
    epochs = 5
    fit_skae(X[:50_000], 1, batch_size=4096, device="cuda")  # warm-up (context, kernels)
    seconds = fit_skae(X, epochs, batch_size=4096, device="cuda")
    rate = len(X) * epochs / seconds
    peak = matmul_peak("cuda", n=8192)
    print(
        f"GPU {torch.cuda.get_device_name()}: 1M x 100, batch 4096, {epochs} epochs: "
        f"{seconds:.2f} s, {rate / 1e6:.2f}M samples/s, "
        f"{100 * rate * flops_per_sample() / peak:.2f}% of the measured float32 matmul "
        f"rate ({peak / 1e12:.1f} TFLOP/s)"
    )
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no 1M point")
    parser.add_argument("--scaling-epochs", type=int, default=2)
    parser.add_argument("--point", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        choices=["compare", "scaling", "quality", "threads", "coldstart"],
        help="run one part",
    )
    parser.add_argument("--threads-point", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.threads_point:  # a condition of the threads benchmark: torch's own threads
        import _threads

        _threads.measure(args.quick)
        return 0
    if args.only == "threads":
        import _threads

        return 0 if _threads.run(args.quick) else 1
    limits = single_thread()  # noqa: F841
    if args.point:
        _measure_point(*args.point)
        return 0
    if args.device == "cuda":
        return gpu(args)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    if args.only == "scaling":
        return scaling(args)
    if args.only == "quality":
        return time_to_quality(args)
    if args.only == "coldstart":
        return cold_start(args)
    med = compare(args)
    if args.only is None:
        scaling(args)
        time_to_quality(args)
        cold_start(args)
        import _threads

        _threads.run(args.quick)
    ok = med["PyOD AutoEncoder"] / med["skae"] >= 2.0 and med["skorch"] / med["skae"] >= 3.0
    print(f"\ntargets (>= 2.0x PyOD and >= 3.0x skorch samples/s): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
