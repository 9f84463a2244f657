"""Progress reporting and cancellation for long core operations.

Core functions (import, identification of many photos, training, re-embedding) take a
`Progress` object instead of knowing about threads or Qt. The GUI's worker wraps one in
signals; the command line prints it; tests use the default, which does nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator


class Cancelled(Exception):
    """Raised inside a core operation when its cancel token was set."""


@dataclass
class CancelToken:
    """A flag a caller on another thread sets to ask a running operation to stop."""

    _event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


ProgressCallback = Callable[[int, int, str], None]
# (epoch counted from 1, epochs, that epoch's metrics such as "loss" or "val_accuracy")
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass
class Progress:
    """Carries a progress callback `(done, total, message)` and a cancel token together.

    Training also reports each finished epoch's metrics to `epoch_callback`, so a window can
    plot them; the metrics arrive as a new dict of plain floats, safe to send to another thread.
    """

    callback: ProgressCallback | None = None
    token: CancelToken = field(default_factory=CancelToken)
    epoch_callback: EpochCallback | None = None

    def report(self, done: int, total: int, message: str = "") -> None:
        if self.callback is not None:
            self.callback(done, total, message)

    def report_epoch(self, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        if self.epoch_callback is not None:
            self.epoch_callback(epoch, epochs, metrics)

    def check(self) -> None:
        self.token.raise_if_cancelled()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled


# Reports before an estimate of the time left is given: the first items of a batch include
# start-up work (opening the catalogue, loading a model), which would make it jump.
TIME_LEFT_AFTER = 3


class TimeLeft:
    """Estimates the seconds left in one stage of work from its rate since the first report.

    The rate is measured from the first report, not from the start, so set-up before it
    (loading TensorFlow, say) does not count. A new total starts a new estimate.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start: tuple[float, int, int] | None = None  # (time, done, total) at the first report

    def update(self, done: int, total: int) -> float | None:
        """Record that `done` of `total` are done, and return the seconds left, or None for now."""
        now = self._clock()
        if self._start is None or self._start[2] != total or done < self._start[1]:
            self._start = (now, done, total)
            return None
        start_time, start_done, _ = self._start
        if done - start_done < TIME_LEFT_AFTER:
            return None
        return (now - start_time) / (done - start_done) * max(total - done, 0)


def clock_text(seconds: float) -> str:
    """Format a duration as m:ss, or h:mm:ss from an hour on."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


# Threads in a step that cannot be cancelled but writes nothing, such as importing TensorFlow:
# {thread ident: what it is doing}. A window that closes need not wait for them.
_writing_nothing: dict[int, str] = {}
_writing_nothing_lock = threading.Lock()


@contextlib.contextmanager
def writes_nothing(activity: str) -> Iterator[None]:
    """Mark the calling thread as busy with `activity`, which cannot be cancelled and writes
    nothing, so a process that ends meanwhile loses no work."""
    ident = threading.get_ident()
    with _writing_nothing_lock:
        outer = _writing_nothing.get(ident)
        _writing_nothing[ident] = activity
    try:
        yield
    finally:
        with _writing_nothing_lock:
            if outer is None:
                _writing_nothing.pop(ident, None)
            else:
                _writing_nothing[ident] = outer


def writing_nothing(ident: int | None) -> str | None:
    """Return what thread `ident` is doing inside `writes_nothing`, or None."""
    with _writing_nothing_lock:
        return _writing_nothing.get(ident) if ident is not None else None
