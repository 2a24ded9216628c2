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
