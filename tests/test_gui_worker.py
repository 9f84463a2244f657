"""The worker ends in exactly one of finished, failed or cancelled, on the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QThread

from tests.test_gui_support import WAIT_MS, no_thread_left  # noqa: F401  (fixture)
from whalecat.gui.worker import Worker, WorkerPool, running_threads
from whalecat.progress import writes_nothing

pytestmark = pytest.mark.usefixtures("no_thread_left")


def record_outcomes(worker: Worker) -> list[tuple[str, object, bool]]:
    """Collect (signal, value, emitted on the GUI thread) for each outcome signal."""
    outcomes: list[tuple[str, object, bool]] = []

    def on_gui_thread() -> bool:
        return QThread.currentThread() is worker.thread()

    worker.finished.connect(lambda result: outcomes.append(("finished", result, on_gui_thread())))
    worker.failed.connect(lambda message: outcomes.append(("failed", message, on_gui_thread())))
    worker.cancelled.connect(lambda: outcomes.append(("cancelled", None, on_gui_thread())))
    return outcomes


def test_worker_finished_once(qtbot):
    def count_to_three(progress):
        for done in range(1, 4):
            progress.report(done, 3, f"step {done}")
        return {"answer": 42}

    worker = Worker(count_to_three, "count")
    outcomes = record_outcomes(worker)
    reported = []
    worker.progress.connect(lambda done, total, message: reported.append((done, total, message)))
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        worker.start()
    assert worker.wait(WAIT_MS)
    qtbot.wait(50)  # let any stray queued signal arrive before counting

    assert outcomes == [("finished", {"answer": 42}, True)]
    assert reported == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert worker.ended


def test_worker_failed_once(qtbot):
    def explode(_progress):
        raise ValueError("labels CSV is missing the Id column")

    worker = Worker(explode, "explode")
    outcomes = record_outcomes(worker)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        worker.start()
    assert worker.wait(WAIT_MS)
    qtbot.wait(50)

    assert outcomes == [("failed", "labels CSV is missing the Id column", True)]


def test_worker_cancelled_once(qtbot):
    started = threading.Event()

    def wait_for_cancel(progress):
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            progress.check()  # raises Cancelled once the token is set
            time.sleep(0.005)
        return "not cancelled"

    worker = Worker(wait_for_cancel, "cancellable")
    outcomes = record_outcomes(worker)
    worker.start()
    assert started.wait(WAIT_MS / 1000)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        worker.cancel()
    assert worker.wait(WAIT_MS)
    qtbot.wait(50)

    assert outcomes == [("cancelled", None, True)]


def test_worker_abandoned_drops_result(qtbot):
    release = threading.Event()

    def finish_when_released(_progress):
        release.wait(10)
        return "late result"

    worker = Worker(finish_when_released, "late")
    outcomes = record_outcomes(worker)
    worker.start()
    worker.abandon()
    release.set()
    qtbot.waitUntil(lambda: worker.ended, timeout=WAIT_MS)
    assert worker.wait(WAIT_MS)

    assert outcomes == [("cancelled", None, True)]


def test_worker_error_after_cancel_counts_as_cancelled(qtbot):
    """Cancelling can take away what the work reads, as removing the photo being identified does."""
    release = threading.Event()

    def read_removed_file(_progress):
        release.wait(10)
        raise FileNotFoundError("photos/a4/a428.jpg")

    worker = Worker(read_removed_file, "identification")
    outcomes = record_outcomes(worker)
    worker.start()
    worker.cancel()
    release.set()
    qtbot.waitUntil(lambda: worker.ended, timeout=WAIT_MS)
    assert worker.wait(WAIT_MS)

    assert outcomes == [("cancelled", None, True)]


def test_worker_cancel_keeps_returned_result(qtbot):
    """A function that returns after a cancel (as an import does with its partial report) still finishes."""
    release = threading.Event()

    def partial_report(progress):
        release.wait(10)
        return {"cancelled": progress.cancelled}

    worker = Worker(partial_report, "partial")
    outcomes = record_outcomes(worker)
    worker.start()
    worker.cancel()
    release.set()
    qtbot.waitUntil(lambda: worker.ended, timeout=WAIT_MS)
    assert worker.wait(WAIT_MS)

    assert outcomes == [("finished", {"cancelled": True}, True)]


def test_pool_joins_and_forgets_workers(qtbot):
    pool = WorkerPool()
    release = threading.Event()
    workers = [pool.run(lambda _progress: str(release.wait(10)), f"waiting {n}") for n in range(3)]
    for worker in workers:
        worker.start()
    assert len(pool.workers) == 3

    pool.abandon_all()
    release.set()
    assert pool.join_all(WAIT_MS)
    assert running_threads() == []
    qtbot.waitUntil(lambda: not pool.workers, timeout=WAIT_MS)



def test_join_grace_skips_threads_writing_nothing(qtbot):
    pool = WorkerPool()
    entered, release = threading.Event(), threading.Event()

    def loading(_progress):
        with writes_nothing("loading a library"):
            entered.set()
            release.wait(WAIT_MS / 1000)

    def working(_progress):
        release.wait(WAIT_MS / 1000)

    loader = pool.run(loading, "loader").start()
    assert entered.wait(WAIT_MS / 1000)
    assert loader.writing_nothing() == "loading a library"
    started = time.perf_counter()
    assert not pool.join_all(WAIT_MS, grace_ms=200)
    assert 0.15 < time.perf_counter() - started < 2.0

    # A thread that may be writing is waited for until the timeout, grace or not.
    worker = pool.run(working, "worker").start()
    assert worker.writing_nothing() is None
    started = time.perf_counter()
    assert not pool.join_all(600, grace_ms=100)
    assert time.perf_counter() - started >= 0.55

    release.set()
    assert pool.join_all(WAIT_MS)
    assert loader.writing_nothing() is None
    qtbot.waitUntil(lambda: not pool.workers, timeout=WAIT_MS)
