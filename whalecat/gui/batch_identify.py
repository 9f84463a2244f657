"""Identifying every unidentified photo in a worker, shown as a status-bar strip with Cancel.

A card of several hundred photos takes minutes, so it runs in the background while the
researcher works. Each photo's top candidates are stored as suggestions as soon as it is done,
and the Unidentified list shows each photo's first suggestion, so the researcher can start on
the likely matches before the run ends.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from whalecat.gui.progress_strip import ProgressStrip
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.identification import BatchReport, Identifier, identify_unidentified, require_known_whales
from whalecat.text import counted

log = logging.getLogger(__name__)

SHOW_SUGGESTIONS_EVERY = 10  # photos identified between two reloads of the Unidentified list


class BatchIdentifyPanel(ProgressStrip):
    """Runs one identification of all unidentified photos at a time; hidden while idle."""

    suggestions_stored = Signal()  # sent as more photos get suggestions, and once when the run ends
    error = Signal(str, str)  # (what failed, what to do)
    reported = Signal(str)  # a line for the status bar, such as after a cancel
    running_changed = Signal(bool)

    def __init__(
        self,
        pool: WorkerPool,
        identifier_for: Callable[[], Identifier | None],
        lock: threading.Lock,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._pool = pool
        self._identifier_for = identifier_for
        # The identify panel's lock, so the photo on show is identified between two photos of the run.
        self._lock = lock
        self.last_report: BatchReport | None = None
        self.summary_box: QMessageBox | None = None
        self._shown_at = 0  # photos done when the list was last reloaded

    def start(self) -> Worker | None:
        """Identify every unidentified photo; return the worker, or None when it cannot start."""
        identifier = self._identifier_for()
        if identifier is None:
            self.error.emit("No catalogue is open.", "Open a catalogue (File menu), then identify again.")
            return None
        if self.worker is not None:
            return self.worker
        try:
            require_known_whales(identifier.catalogue)
        except ValueError as exc:
            self.error.emit(
                f"Cannot identify all photos: {exc}.",
                "Confirm a photo of each known whale with Whale ID… (Ctrl+Shift+N), or import labelled "
                "photos with File → Import Photos with Labels…, then identify all photos again.",
            )
            return None

        lock = self._lock
        worker = self._pool.run(
            lambda progress: identify_unidentified(identifier, progress, lock), "identification of all photos"
        )
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.done.connect(self._on_done)
        self._shown_at = 0
        loading = "" if identifier.method_loaded else " (loading the model first)"
        self.show_started(worker, f"Identifying all unidentified photos…{loading}")
        self.running_changed.emit(True)
        return worker.start()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        identifying = message.startswith("Identifying ")
        if identifying and done - self._shown_at >= SHOW_SUGGESTIONS_EVERY:
            self._shown_at = done
            self.suggestions_stored.emit()
        # The catalogue's own preparation (embedding, keypoints, calibration) reports first,
        # with its own totals, then the photos. Each message names its stage. The first report
        # has no total, and the first text, which notes a model still loading, stays.
        number = done + 1 if identifying else done  # the photo in hand counts
        self.show_progress(done, total, f"{message} ({number} of {total})" if total else None)

    def _on_finished(self, report: BatchReport) -> None:
        self.last_report = report
        box = QMessageBox(self.window())
        box.setWindowTitle("Identification finished")
        box.setIcon(QMessageBox.Icon.Warning if report.failed else QMessageBox.Icon.Information)
        box.setText(summary_text(report))
        if report.failed:
            box.setDetailedText("\n".join(f"{name}: {reason}" for name, reason in report.failed))
        self.summary_box = box
        box.open()  # not exec(): the window keeps working behind it

    def _on_failed(self, message: str) -> None:
        self.error.emit(
            f"Identification of all photos stopped: {message}",
            "The suggestions stored before the error are kept. Fix the cause named above, or check the "
            "device setting (Settings → Device), then identify all photos again.",
        )

    def _on_cancelled(self) -> None:
        log.info("Identification of all photos cancelled")
        self.reported.emit("Identification of all photos cancelled. The photos identified before keep their candidates.")

    def _on_done(self) -> None:
        self.show_ended()
        self.suggestions_stored.emit()
        self.running_changed.emit(False)


def summary_text(report: BatchReport) -> str:
    """Return the summary shown in a box when a run ends."""
    text = report.summary()
    if report.identified or report.up_to_date:
        text += " The Unidentified list shows each photo's first candidate. Select a photo to see all five and confirm one."
    if report.failed:
        text += (
            f"\n{counted(len(report.failed), 'photo')} could not be read and got no candidates; "
            "the details say why and what to do."
        )
    if report.skipped:
        verb = "was" if report.skipped == 1 else "were"
        text += f"\n{counted(report.skipped, 'photo')} confirmed or removed during the run {verb} left out."
    return text
