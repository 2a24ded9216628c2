import torch

from skae._train import threads as _threads
from skae._train.threads import auto_threads, num_threads, resolve_threads


def test_num_threads_is_restored():
    before = torch.get_num_threads()
    with num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_default_threads_never_exceed_torchs_setting(monkeypatch):
    monkeypatch.setattr(_threads, "_others_running", lambda: 0.0)
    with num_threads(1):
        assert auto_threads(1e12) == 1
    assert auto_threads(1e3) == 1  # tiny steps: one thread
    assert auto_threads(1e12) <= torch.get_num_threads()


def test_default_threads_take_only_idle_cores(monkeypatch):
    monkeypatch.setattr(_threads, "_usable_cores", lambda: 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    for others, expected in [(0.0, 4), (1.0, 3), (3.0, 1), (9.0, 1)]:
        monkeypatch.setattr(_threads, "_others_running", lambda others=others: others)
        assert auto_threads(1e12) == expected


def test_another_process_burning_a_core_is_counted():
    import subprocess
    import sys
    import time

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert _threads._others_running() >= 1
    finally:
        burner.kill()
        burner.wait()


def test_this_processs_own_busy_threads_are_not_counted():
    """torch's intra-op threads at work in this very process are not 'other work'."""
    import threading

    stop, seen = threading.Event(), []
    a = torch.randn(600, 600)

    def work():  # matmuls release the GIL: the thread really runs
        with num_threads(1):
            while not stop.is_set():
                a @ a

    without = min(_threads._others_running() for _ in range(5))
    worker = threading.Thread(target=work)
    worker.start()
    try:
        for _ in range(5):
            seen.append(_threads._others_running())
    finally:
        stop.set()
        worker.join()
    # the busy thread of ours would count in every sample; passing blips are in some
    assert min(seen) <= without + 0.5


def test_explicit_n_jobs():
    assert resolve_threads(3, 0) == 3
    assert resolve_threads(-1, 0) == _threads._usable_cores()


def test_fits_in_two_threads_run_at_once_each_with_its_own_thread_count():
    """No lock is held across a fit: two fits in two threads overlap in time, and each
    trains with the thread count its own n_jobs asked for."""
    import threading
    import time

    import numpy as np

    from skae import AutoencoderTransformer

    class Recording(AutoencoderTransformer):
        def _train_loss(self, module, x, epoch):
            seen[self.n_jobs].add(torch.get_num_threads())
            times[self.n_jobs].append(time.perf_counter())
            return super()._train_loss(module, x, epoch)

    if torch.get_num_threads() < 2:
        with num_threads(2):  # torch's default here decides what new threads start from
            pass
    seen, times = {1: set(), 2: set()}, {1: [], 2: []}
    X = np.random.RandomState(0).normal(size=(1000, 16)).astype(np.float32)
    fits = [
        Recording(max_iter=10, batch_size=64, n_jobs=n, early_stopping=False, random_state=0)
        for n in (1, 2)
    ]
    threads = [threading.Thread(target=f.fit, args=(X,)) for f in fits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {1: {1}, 2: {2}}
    # the two fits' training steps interleave: neither waited for the other to finish
    first_end, second_start = (
        min(max(t) for t in times.values()),
        max(min(t) for t in times.values()),
    )
    assert second_start < first_end
