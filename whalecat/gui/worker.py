"""Run core functions off the GUI thread and deliver exactly one outcome back on it.

A core function takes a `Progress` and returns a result. `Worker` runs it on its own QThread
and always ends with exactly one of `finished(result)`, `failed(message)` or `cancelled()`.
All signals are emitted on the GUI thread: the thread only emits private relay signals, which
Qt queues to slots of the `Worker`, because the `Worker` object itself lives on the GUI thread.

Only ids, frozen dataclasses, numpy arrays or QImage should cross: results are handed over
as they are, so a function that returns a QPixmap or an ORM object breaks that rule.

NOTE: PySide6 6.12.0 drops a reference to True each time it is emitted through a
`Signal(object)`, and Python then aborts with "bool_dealloc". pyproject.toml keeps PySide6
below 6.12; the thread also sends its result inside a tuple, which that bug does not touch.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QElapsedTimer, QObject, QThread, Signal, Slot

from whalecat.progress import Cancelled, CancelToken, Progress, writing_nothing

log = logging.getLogger(__name__)

CoreFunction = Callable[[Progress], Any]
JOIN_POLL_MS = 20

# Threads started and not yet joined by their worker, so tests and shutdown can find stragglers.
_started_threads: set[QThread] = set()


def running_threads() -> list[QThread]:
    """Return the worker threads that are still running."""
    return [thread for thread in list(_started_threads) if thread.isRunning()]


class _Thread(QThread):
    """Calls the function and reports through relay signals; never touches widgets."""

    relay_progress = Signal(int, int, str)
    relay_result = Signal(object)
    relay_error = Signal(str)
    relay_cancelled = Signal()

    def __init__(self, fn: CoreFunction, token: CancelToken, name: str):
        super().__init__()
        self._fn = fn
        self._token = token
        self.ident: int | None = None  # the Python thread id, once running
        self.setObjectName(name)

    def run(self) -> None:
        self.ident = threading.get_ident()
        progress = Progress(self.relay_progress.emit, self._token)
        try:
            result = self._fn(progress)
        except Cancelled:
            self.relay_cancelled.emit()
        except Exception as exc:  # every error must reach the GUI, whatever its type
            if self._token.cancelled:
                # Stopping can pull the ground from under the work, as removing the photo
                # being identified does, so an error after a cancel counts as the cancel.
                log.debug("%s stopped with %s after it was cancelled", self.objectName(), _describe(exc))
                self.relay_cancelled.emit()
                return
            log.error("%s failed:\n%s", self.objectName(), traceback.format_exc())
            self.relay_error.emit(_describe(exc))
        else:
            self.relay_result.emit((result,))


class Worker(QObject):
    """One run of a core function on a QThread; start it with `start()`."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    # Emitted after the outcome signal, so a pool can forget the worker.
    done = Signal()

    def __init__(self, fn: CoreFunction, name: str = "worker", parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self.photo_id: int | None = None  # set by WorkerPool.run for work on one photo
        self.token = CancelToken()
        self._discard_result = False
        self._ended = False
        self._thread = _Thread(fn, self.token, name)
        self._thread.relay_progress.connect(self._on_progress)
        self._thread.relay_result.connect(self._on_result)
        self._thread.relay_error.connect(self._on_error)
        self._thread.relay_cancelled.connect(self._on_cancelled)

    def start(self) -> Worker:
        log.debug("Starting %s", self.name)
        _started_threads.add(self._thread)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the function to stop at its next `progress.check()`.

        A function may return a value anyway, as an import returns its partial report, and
        then the worker ends with `finished`. An error raised after a cancel ends it with
        `cancelled`. Use `abandon` when no result may be delivered.
        """
        self.token.cancel()

    def abandon(self) -> None:
        """Cancel and drop any late result: the worker then ends with `cancelled` or `failed`."""
        self._discard_result = True
        self.token.cancel()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread has stopped; return False if it is still running after the timeout.

        The outcome signal is queued to the GUI thread, so it arrives after this returns, on
        the next turn of the event loop.
        """
        return self._thread.wait(timeout_ms)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def writing_nothing(self) -> str | None:
        """Return the step the thread is in when it cannot be cancelled but writes nothing."""
        return writing_nothing(self._thread.ident) if self._thread.isRunning() else None

    @property
    def ended(self) -> bool:
        """Whether the outcome signal has been emitted."""
        return self._ended

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        if not self._ended:
            self.progress.emit(done, total, message)

    @Slot(object)
    def _on_result(self, boxed: tuple) -> None:
        (result,) = boxed
        if self._discard_result:
            log.debug("Dropping the late result of %s", self.name)
            self._end(self.cancelled.emit)
        else:
            self._end(lambda: self.finished.emit(result))

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._end(lambda: self.failed.emit(message))

    @Slot()
    def _on_cancelled(self) -> None:
        self._end(self.cancelled.emit)

    def _end(self, emit: Callable[[], None]) -> None:
        if self._ended:  # the thread sends one relay signal, so this is only a safety net
            log.error("%s tried to end twice; ignoring the second outcome", self.name)
            return
        self._ended = True
        # Join before emitting, so that a handler may start new work or close the window
        # without a running QThread being dropped. The thread has already left run().
        self._thread.wait()
        _started_threads.discard(self._thread)
        log.debug("%s ended", self.name)
        emit()
        self.done.emit()


class WorkerPool(QObject):
    """The workers of one window: keeps them alive until they end, and joins them on shutdown."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._workers: list[Worker] = []

    def run(self, fn: CoreFunction, name: str, photo_id: int | None = None) -> Worker:
        """Create a worker for `fn`, keep it until it ends; connect its signals, then `start()`.

        `photo_id` names the one catalogue photo the work reads, so that `abandon_photo` can
        stop it before that photo is removed.
        """
        worker = Worker(fn, name, parent=self)
        worker.photo_id = photo_id
        self._workers.append(worker)
        worker.done.connect(lambda: self._forget(worker))
        return worker

    @property
    def workers(self) -> list[Worker]:
        return list(self._workers)

    def abandon_all(self) -> None:
        for worker in self._workers:
            worker.abandon()

    def abandon_photo(self, photo_id: int) -> None:
        """Abandon every worker that reads `photo_id`; they end cancelled, even if its files vanish."""
        for worker in self._workers:
            if worker.photo_id == photo_id:
                worker.abandon()

    def join_all(self, timeout_ms: int, grace_ms: int | None = None) -> bool:
        """Wait for every thread to stop; return False if one is still running when waiting ends.

        Waiting ends at `timeout_ms`, or after `grace_ms` when every thread still running is
        in a step that writes nothing (such as loading TensorFlow), so a process that exits
        then loses no work.
        """
        clock = QElapsedTimer()
        clock.start()
        while True:
            running = [worker for worker in self._workers if worker.is_running()]
            if not running:
                return True
            if clock.elapsed() >= timeout_ms:
                for worker in running:
                    log.error("%s did not stop within %d ms", worker.name, timeout_ms)
                return False
            steps = [worker.writing_nothing() for worker in running]
            if grace_ms is not None and clock.elapsed() >= grace_ms and all(steps):
                for worker, step in zip(running, steps):
                    log.warning("Not waiting for %s, which is %s and writes nothing", worker.name, step)
                return False
            running[0].wait(JOIN_POLL_MS)

    def _forget(self, worker: Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        worker.deleteLater()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__
