"""How many CPU threads torch uses for a training or inference call.

``n_jobs`` as a thread count: by default one thread for small steps and whenever other
processes keep the cores busy, else torch's own setting; the setting applied for the
duration of a call, then restored.
"""

from __future__ import annotations

import contextlib
import os
import time

import torch

# Below this many floating-point operations per training step, a second thread costs more
# in synchronisation than it saves (measured with benchmarks/bench_fit.py --threads).
SINGLE_THREAD_FLOPS = 2e7


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _own_running():
    """This process's threads that are running or runnable, by thread id."""
    running = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat") as fh:
                if fh.read().rpartition(")")[2].split()[0] == "R":
                    running.add(task)
        except OSError:  # the thread ended meanwhile
            pass
    return running


def _others_running():
    """Tasks of other processes running or waiting for a core right now.

    On Linux from /proc: the least of three snapshots a quarter of a millisecond apart
    (under a millisecond in all), so that a passing kernel thread does not count and a
    lasting load does. This process's own
    threads are read just before and just after the system-wide count, and a thread
    running at either read is ours. Elsewhere, the 1-minute load average.
    """
    try:
        samples = []
        for i in range(3):
            before = _own_running()
            with open("/proc/stat") as fh:
                total = next(
                    int(line.split()[1]) for line in fh if line.startswith("procs_running")
                )
            own = before | _own_running()
            samples.append(max(0, total - len(own)))
            if i < 2:
                time.sleep(0.00025)
        return float(min(samples))
    except (OSError, StopIteration, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0


def auto_threads(flops_per_step):
    """The default thread count for a step of ``flops_per_step`` floating-point operations.

    One thread below :data:`SINGLE_THREAD_FLOPS`, where synchronising threads costs more
    than it saves, and whenever other processes keep the cores busy (spin-waiting threads
    that cannot all run make every step wait for the slowest); otherwise torch's own
    setting (which ``OMP_NUM_THREADS``, ``torch.set_num_threads`` and Dask's workers
    cap), at most one thread per idle core. Never more than torch's setting.
    """
    cap = max(1, torch.get_num_threads())
    if cap == 1 or flops_per_step < SINGLE_THREAD_FLOPS:
        return 1
    idle = _usable_cores() - _others_running()
    return int(max(1, min(cap, idle)))


def resolve_threads(n_jobs, flops_per_step):
    """``n_jobs`` as a thread count: None -> :func:`auto_threads`, -k -> cores + 1 - k."""
    if n_jobs is None:
        return auto_threads(flops_per_step)
    if n_jobs > 0:
        return int(n_jobs)
    return max(1, _usable_cores() + 1 + int(n_jobs))  # joblib's convention


@contextlib.contextmanager
def num_threads(n):
    """Run with ``n`` torch CPU threads in the calling thread, then restore its setting.

    torch keeps its thread count per calling thread (OpenMP's and MKL's per-thread
    settings), so fits in several threads run at the same time, each with its own count;
    no lock is held. torch also keeps one process-wide default that threads using torch
    for the first time start from: a thread that starts using torch while a call here
    has changed it starts with that call's count. threadpoolctl cannot do this for torch:
    torch links MKL statically (invisible to it) and resets OpenMP's count in each new
    thread.
    """
    previous = torch.get_num_threads()
    if n == previous:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def mlp_flops(widths, batch_size, n_members=1):
    """Training FLOPs of one step of an MLP through ``widths`` (forward + backward)."""
    pairs = zip(widths[:-1], widths[1:], strict=True)
    return 6.0 * batch_size * n_members * sum(a * b for a, b in pairs)
