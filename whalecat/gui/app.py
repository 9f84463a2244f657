"""Start the desktop window: `whalecat` with no command calls `run_gui`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from whalecat.catalogue import default_catalogue_path
from whalecat.gui.main_window import MainWindow
from whalecat.gui.settings import APPLICATION, DEVICES, ORGANISATION, Settings
from whalecat.gui.worker import running_threads

log = logging.getLogger(__name__)


def run_gui(catalogue_path: Path | None, device: str) -> int:
    """Show the main window on `catalogue_path` (default: the per-user catalogue); return the exit code.

    `device` is the command line's choice. "auto", the command line's default, leaves the
    device stored in the settings as it is; any other value is stored.
    """
    app = QApplication.instance() or QApplication(sys.argv)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    settings = Settings()
    if device not in DEVICES:
        raise ValueError(f"invalid device {device!r}: use one of {', '.join(DEVICES)}")
    if device != "auto":
        settings.device = device

    window = MainWindow(settings)
    folder = Path(catalogue_path or settings.last_catalogue or default_catalogue_path())
    # Only the per-user default is made unasked, as the place a first run's photos go. Any
    # other folder without a catalogue is reported, so a mistyped path stays a typo.
    window.open_catalogue(folder, create=folder == default_catalogue_path())
    window.show()
    opened = window.catalogue.folder if window.catalogue is not None else "no catalogue"
    log.info("Window started on %s with device %s", opened, settings.device)
    code = app.exec()
    log.info("Window closed with exit code %d", code)
    return end_process(code)


def end_process(code: int) -> int:
    """Return `code`, or end the process now when a worker thread is still running.

    The window stops waiting for a thread that writes nothing, such as one loading TensorFlow,
    which cannot be interrupted. Returning would let Python destroy its QThread while it
    runs, which Qt reports and may abort on, so the process ends here after flushing the log.
    """
    threads = running_threads()
    if not threads:
        return code
    log.info("Exiting without waiting for %s", ", ".join(thread.objectName() for thread in threads))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
