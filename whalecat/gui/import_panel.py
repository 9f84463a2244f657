"""Importing photos in a worker, with a progress bar, a Cancel button and a summary at the end.

Each file is imported in its own transaction by the core importer, so cancelling or a failed
file never undoes the photos already imported.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from whalecat.catalogue import Catalogue
from whalecat.gui.dialogs import import_summary_box
from whalecat.gui.progress_strip import ProgressStrip
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.importing.importer import ImportReport, import_paths

log = logging.getLogger(__name__)

# A long import shows its photos this often; reloading the lists costs the GUI thread a moment.
SHOW_STORED_EVERY_S = 5.0


class ImportPanel(ProgressStrip):
    """A status-bar strip that runs one import at a time; hidden while idle."""

    CANCELLING_TEXT = "Cancelling after the current file…"

    # After every import, also one that failed: the photos stored before an error are kept.
    ended = Signal()
    # Every few seconds during an import, so the lists and counts can show the photos stored so far.
    stored_more = Signal()
    error = Signal(str, str)  # (what failed, what to do)

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None):
        super().__init__(parent)
        self._pool = pool
        self.catalogue: Catalogue | None = None
        self.last_report: ImportReport | None = None
        self.summary_box: QMessageBox | None = None
        self._last_shown = 0.0  # time.monotonic() when `stored_more` was last sent

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue

    def start(
        self, paths: list[Path], labels_csv: Path | None = None, find_fluke: bool = True
    ) -> Worker | None:
        """Import `paths` (files and folders), cropping each photo to its fluke when
        `find_fluke` is set; returns the worker, or None when it cannot start."""
        if self.catalogue is None:
            self.error.emit("No catalogue is open.", "Open or create a catalogue (File menu), then import again.")
            return None
        if self.worker is not None:
            self.error.emit("An import is already running.", "Wait for it to finish or cancel it, then import again.")
            return None
        catalogue = self.catalogue
        paths = [Path(p) for p in paths]
        log.info("Starting import of %d paths into %s", len(paths), catalogue.folder)
        worker = self._pool.run(
            lambda progress: import_paths(catalogue, paths, labels_csv, progress, find_fluke), "import"
        )
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.done.connect(self._on_done)
        self._last_shown = time.monotonic()
        self.show_started(worker, "Importing…")
        return worker.start()

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if done and time.monotonic() - self._last_shown >= SHOW_STORED_EVERY_S:
            self._last_shown = time.monotonic()
            self.stored_more.emit()
        self.show_progress(done, total, f"Importing {message}" if message else None)

    def _on_finished(self, report: ImportReport) -> None:
        self.last_report = report
        self.summary_box = import_summary_box(report, self.window())
        _add_notes(self.summary_box, report)
        self.summary_box.open()  # not exec(): the window keeps working behind it

    def _on_failed(self, message: str) -> None:
        self.error.emit(
            f"Import failed: {message}",
            "Any photos imported before the error are kept. Fix the cause (for example the labels CSV) and "
            "import again; photos already in the catalogue are skipped as duplicates.",
        )

    def _on_done(self) -> None:
        self.show_ended()
        self.ended.emit()


def _add_notes(box: QMessageBox, report: ImportReport) -> None:
    """Add what the import passed over, and why it stopped, to its summary `box`."""
    notes = report.notes()
    if not notes:
        return
    box.setText(box.text() + "".join(f"\n{note[0].upper()}{note[1:]}." for note in notes))
    if report.stopped:
        box.setWindowTitle("Import stopped")
        box.setIcon(QMessageBox.Icon.Warning)
    elif not report.found:
        box.setWindowTitle("No photos found")
        box.setIcon(QMessageBox.Icon.Warning)
