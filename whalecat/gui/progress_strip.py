"""A status-bar strip for one long run at a time: a label, a progress bar and a Cancel button.

Import and the identification of all photos show themselves this way. Each subclass starts
its own worker and hands it to `show_started`, then reports progress with `show_progress`.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from whalecat.gui.worker import Worker
from whalecat.progress import TimeLeft, clock_text


class ProgressStrip(QWidget):
    """Shows one running worker with its progress and a Cancel button; hidden while idle."""

    CANCELLING_TEXT = "Cancelling…"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker: Worker | None = None
        self._time_left = TimeLeft()

        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(240)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.hide()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def show_started(self, worker: Worker, text: str) -> None:
        """Show `worker` as the run in progress, with `text` until its first report."""
        self.worker = worker
        self._time_left = TimeLeft()
        self.label.setText(text)
        self.bar.setRange(0, 0)  # a busy indicator until the total is known
        self.cancel_button.setEnabled(True)
        self.show()

    def show_progress(self, done: int, total: int, text: str | None) -> None:
        """Show how far the run is, with `text` and the time left once it can be estimated.

        With `text` None, or while the run is cancelling, the label stays as it is.
        """
        self.bar.setRange(0, total)  # a total of 0 makes the bar a busy indicator
        self.bar.setValue(done)
        left = self._time_left.update(done, total)
        if text is None or not self.cancel_button.isEnabled():
            return
        if left is not None:
            text += f", about {clock_text(left)} left"
        self.label.setText(text)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(self.CANCELLING_TEXT)

    def show_ended(self) -> None:
        """Forget the worker and hide the strip, once the run has ended."""
        self.worker = None
        self.hide()
