"""Retraining in a worker: the Retrain dialog, and a panel with progress, curves and the outcome.

Training runs in a child process (`whalecat.training_process`), which a worker thread starts
and listens to, so identification and browsing go on meanwhile. The worker passes each batch on
through its progress signal and each epoch's metrics through a relay object that lives on the
GUI thread: Qt queues a signal emitted on another thread to the receiver's thread, so only
plain floats cross.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from whalecat.catalogue import Catalogue
from whalecat.gui.plot import LinePlot
from whalecat.gui.settings import Settings
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.matching.versions import active_version, set_active_version
from whalecat.progress import Progress, TimeLeft, clock_text
from whalecat.identification import build_gallery
from whalecat.training import DEFAULT_EPOCHS, TrainingError, TrainingResult, check_trainable
from whalecat.training_process import train_in_child

log = logging.getLogger(__name__)

KINDS = {"embedding": "Fine-tune the embedding model", "seed": "Train the seed CNN classifier"}
MAX_EPOCHS = 1000
FIGURES = (("map5", "MAP@5"), ("top1", "top-1"), ("top5", "top-5"))
# Below this many held-back photos the outcome warns that the comparison is rough. An
# estimate: with 20, one photo moves top-1 by 0.05.
FEW_HELD_OUT = 20
TRAINING_COLOUR, VALIDATION_COLOUR = "#377eb8", "#ff7f00"


class _RunRelay(QObject):
    """Signals a training thread emits for the panel; the object itself lives on the GUI thread."""

    device_chosen = Signal(str)
    epoch_ended = Signal(int, int, object)  # epoch, epochs, {metric name: float}


def run_training(catalogue: Catalogue, kind: str, epochs: int, device: str, relay: _RunRelay,
                 progress: Progress, activate: str = "if-better") -> TrainingResult:
    """Train in a child process (see whalecat.training_process) and relay its reports."""
    # Checked here, before the child loads TensorFlow, which takes seconds, so that a
    # catalogue too small to train on is reported at once. The child checks again.
    check_trainable(build_gallery(catalogue))
    tracked = Progress(progress.callback, progress.token, relay.epoch_ended.emit)
    return train_in_child(catalogue, kind, epochs, device, tracked, activate, relay.device_chosen.emit)


def advice_for(message: str) -> str:
    """Return what the user can do about a failed training, judged from its message."""
    if "too few whales" in message:
        return "Confirm at least two photos each of two or more whales (Identify → Confirm), then retrain."
    if "missing" in message:
        return "Restore the catalogue folder from a backup, or remove the photos whose files are missing, then retrain."
    if "out of memory" in message:
        return "Train on the CPU (Settings → Device → CPU) or close other programs that use the GPU, then retrain."
    if "device 'gpu'" in message:
        return "Choose Settings → Device → Auto or CPU, then retrain."
    return "See the log for details, then retrain."


class RetrainDialog(QDialog):
    """Chooses the model kind and the number of epochs for one training run."""

    def __init__(self, device: str, epochs: dict[str, int] | None = None, kind: str = "embedding",
                 parent: QWidget | None = None):
        """`epochs` maps each kind to its last chosen number; other kinds start at the default."""
        super().__init__(parent)
        self.setWindowTitle("Retrain")
        self._epochs = dict(DEFAULT_EPOCHS) | (epochs or {})
        self.kind_box = QComboBox()
        for name, label in KINDS.items():
            self.kind_box.addItem(label, name)
        self.epochs_box = QSpinBox()
        self.epochs_box.setRange(1, MAX_EPOCHS)
        self.kind_box.setCurrentIndex(list(KINDS).index(kind))
        self.epochs_box.setValue(self._epochs[self.kind()])
        self.kind_box.currentIndexChanged.connect(lambda _index: self.epochs_box.setValue(self._epochs[self.kind()]))
        explanation = QLabel(
            "Trains on the confirmed photos. The last photo of each whale with two or more is held back to "
            "compare the new model with the active one; the new model is adopted when it scores at least "
            f"as well (MAP@5). Device: {device} (Settings → Device)."
        )
        explanation.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start Training")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Model", self.kind_box)
        form.addRow("Epochs", self.epochs_box)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def kind(self) -> str:
        return str(self.kind_box.currentData())

    def epochs(self) -> int:
        return self.epochs_box.value()


class TrainingPanel(QWidget):
    """Runs one training at a time and shows its progress, curves and outcome."""

    error = Signal(str, str)  # (what failed, what to do), shown by the window
    active_model_changed = Signal(str)  # the version now active
    running_changed = Signal(bool)

    def __init__(self, pool: WorkerPool, device_for: Callable[[], str], settings: Settings | None = None,
                 parent: QWidget | None = None):
        """`settings`, when given, keeps the Retrain dialog's last choice between sessions."""
        super().__init__(parent)
        self._pool = pool
        self._device_for = device_for
        self._settings = settings
        self.catalogue: Catalogue | None = None
        self.worker: Worker | None = None
        self.result: TrainingResult | None = None
        self.dialog: RetrainDialog | None = None
        self.epochs = 0
        # The Retrain dialog's last choice: a kind, and epochs per kind.
        self.chosen_epochs: dict[str, int] = settings.retrain_epochs() if settings else {}
        self.chosen_kind = settings.retrain_kind if settings else "embedding"
        self.previous_version = ""  # the active version when the current or last run started
        self._clock = QElapsedTimer()
        self._time_left = TimeLeft()
        self._eta_seconds: float | None = None
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._show_times)

        self.status_label = QLabel("Catalogue → Retrain… trains a new model from the confirmed photos.")
        self.status_label.setWordWrap(True)
        self.active_label = _Line()
        self.device_label = _Line()
        self.epoch_label = _Line()
        self.time_label = _Line()
        self.bar = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.loss_plot = LinePlot("Loss")
        self.accuracy_plot = LinePlot("Accuracy", ceiling=1.0)
        self.accuracy_plot.setToolTip(
            "The share of photos that the training head assigns to their own whale. The outcome "
            "below ranks the held-back photos against the whole catalogue instead, so the two can differ."
        )
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.add_series("training", "training", TRAINING_COLOUR)
            plot.add_series("validation", "validation", VALIDATION_COLOUR, dashed=True)
        self.validation_note = QLabel(
            "Validation: the last photo of each whale with two or more, held back from training. "
            "The new model is adopted only if it ranks them as well as the active one."
        )
        self.validation_note.setWordWrap(True)
        self.outcome_label = QLabel()
        self.outcome_label.setWordWrap(True)
        self.outcome_label.setTextFormat(Qt.TextFormat.RichText)
        self.use_anyway_button = QPushButton("Use It Anyway")
        self.use_anyway_button.setToolTip("Make the kept-back model active although it scored lower")
        self.use_anyway_button.clicked.connect(self.use_anyway)

        progress_row = QHBoxLayout()
        progress_row.addWidget(self.bar, stretch=1)
        progress_row.addWidget(self.cancel_button)
        outcome_row = QHBoxLayout()
        outcome_row.addWidget(self.outcome_label, stretch=1)
        outcome_row.addWidget(self.use_anyway_button, alignment=Qt.AlignmentFlag.AlignTop)
        # The dock sits under the photo, where height is scarce and width is not, so the
        # text and the plots stand side by side.
        text_box = QWidget()
        text = QVBoxLayout(text_box)
        text.setContentsMargins(0, 0, 0, 0)
        text.addWidget(self.status_label)
        text.addWidget(self.active_label)
        text.addWidget(self.device_label)
        text.addWidget(self.epoch_label)
        text.addLayout(progress_row)
        text.addWidget(self.time_label)
        text.addWidget(self.validation_note)
        text.addLayout(outcome_row)
        text.addStretch(1)
        # Scrolled rather than squeezed, so the dock can stay low and leave the photo its room.
        self.text_area = QScrollArea()
        self.text_area.setWidget(text_box)
        self.text_area.setWidgetResizable(True)
        self.text_area.setFrameShape(QFrame.Shape.NoFrame)
        self.text_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QHBoxLayout(self)
        layout.addWidget(self.text_area, stretch=4)
        layout.addWidget(self.loss_plot, stretch=3)
        layout.addWidget(self.accuracy_plot, stretch=3)
        self._reset_progress()
        self.use_anyway_button.hide()

    # -- starting and stopping -------------------------------------------------------------

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        """Switch catalogues. The window has already abandoned and joined any running training."""
        self.worker = None
        self.catalogue = catalogue
        self.result = None
        self.outcome_label.clear()
        self.use_anyway_button.hide()
        self._reset_progress()
        self.show_active_version(active_version(catalogue) if catalogue is not None else "")
        self.running_changed.emit(False)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def ask_retrain(self) -> RetrainDialog | None:
        """Open the Retrain dialog without blocking; accepting it starts the training."""
        if self._start_blocked():
            return None
        try:
            # Before the dialog, so that a catalogue too small to train on is not asked for epochs.
            check_trainable(build_gallery(self.catalogue))
        except TrainingError as exc:
            self.error.emit(f"Cannot retrain: {exc}.", advice_for(str(exc)))
            return None
        dialog = RetrainDialog(self._device_for(), self.chosen_epochs, self.chosen_kind, self)
        dialog.accepted.connect(lambda: self._start_chosen(dialog.kind(), dialog.epochs()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _start_chosen(self, kind: str, epochs: int) -> None:
        self.chosen_kind = kind
        self.chosen_epochs[kind] = epochs
        if self._settings is not None:
            self._settings.retrain_kind = kind
            self._settings.set_retrain_epochs(kind, epochs)
        self.start(kind, epochs)

    def start(self, kind: str = "embedding", epochs: int | None = None, activate: str = "if-better") -> Worker | None:
        """Start training a `kind` model in a worker and return it, or None when it cannot start.

        `activate` is the rule of `whalecat train --activate`.
        """
        if self._start_blocked():
            return None
        catalogue = self.catalogue
        epochs = epochs or DEFAULT_EPOCHS[kind]
        device = self._device_for()
        relay = _RunRelay(self)
        worker = self._pool.run(
            lambda progress: run_training(catalogue, kind, epochs, device, relay, progress, activate),
            f"training the {kind} model",
        )
        worker.progress.connect(lambda done, total, message: self._if_current(worker, self.show_progress, done, total, message))
        relay.epoch_ended.connect(lambda epoch, total, metrics: self._if_current(worker, self.show_epoch, epoch, total, metrics))
        relay.device_chosen.connect(lambda name: self._if_current(worker, self.show_device, name))
        worker.finished.connect(lambda result: self._if_current(worker, self._on_finished, result))
        worker.failed.connect(lambda message: self._if_current(worker, self._on_failed, message))
        worker.cancelled.connect(lambda: self._if_current(worker, self._on_cancelled))
        worker.done.connect(lambda: self._on_done(worker, relay))

        self.previous_version = active_version(catalogue)
        log.info("Starting training the %s model for %d epochs on device %s in %s", kind, epochs, device, catalogue.folder)
        self.worker = worker
        self.result = None
        self.begin_display(epochs)
        self.status_label.setText(f"{KINDS[kind]}: loading TensorFlow and the catalogue photos…")
        self.device_label.setText(f"Device: {device} (choosing…)")
        self.running_changed.emit(True)
        return worker.start()

    def cancel(self) -> None:
        """Stop the training after the current batch; the active model stays as it is."""
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling after the current batch…")

    def use_anyway(self) -> None:
        """Make the last kept-back model active."""
        result = self.result
        if result is None or result.activated or self.catalogue is None:
            return
        try:
            set_active_version(self.catalogue, result.version)
        except ValueError as exc:
            self.error.emit(f"Cannot make {result.version} active: {exc}", "Open Catalogue → Models… to choose another version.")
            return
        log.info("Model %s made active on request, after it was kept back", result.version)
        self.outcome_label.setText(
            self.outcome_label.text() + f"<p><b>Then made active on your request:</b> {result.version}.</p>"
        )
        self.show_active_version(result.version)
        self.active_model_changed.emit(result.version)

    def show_active_version(self, version: str) -> None:
        """Show which model is active now, however it became so (training, Use It Anyway, Models)."""
        self.active_label.setText(f"Active model: {version}" if version else "")
        result = self.result
        self.use_anyway_button.setVisible(result is not None and not result.activated and version != result.version)

    def _start_blocked(self) -> bool:
        """Emit `error` and return True when no catalogue is open or a training is running."""
        if self.catalogue is None:
            self.error.emit("No catalogue is open.", "Open or create a catalogue (File menu), then retrain.")
            return True
        if self.worker is not None:
            self.error.emit("Training is already running.", "Wait for it to finish or cancel it, then retrain.")
            return True
        return False

    # -- display; public so a benchmark can drive it from its own worker -------------------

    def begin_display(self, epochs: int) -> None:
        self.epochs = epochs
        self.outcome_label.clear()
        self.use_anyway_button.hide()
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.clear(epochs)
        self._time_left = TimeLeft()
        self._eta_seconds = None
        self._clock.start()
        self._ticker.start()
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.epoch_label.setText(f"Epochs: {epochs}")
        self._show_times()

    def show_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def show_progress(self, done: int, total: int, message: str) -> None:
        if not self.cancel_button.isEnabled():
            return  # keep "Cancelling…" visible until the worker ends
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        if message:
            self.status_label.setText(message)
        training = message.startswith("Training")
        # A stage before training, such as loading photos, filled the bar to 100 % before
        # epoch 1, so those stages show their own count instead of a percentage. Between a
        # finished stage and the next, which can take 20 s, the bar shows it is busy.
        self.bar.setFormat("%p%" if training else f"{message}: %v of %m")
        if not training and done >= total:
            self.bar.setRange(0, 0)
            self.status_label.setText(f"{message}: done. Preparing the next step…")
        if not training or self.epochs < 1 or total % self.epochs:
            return
        steps = total // self.epochs
        epoch, batch = (done - 1) // steps + 1, (done - 1) % steps + 1
        self.epoch_label.setText(f"Epoch {epoch} of {self.epochs}, batch {batch} of {steps}")
        self._eta_seconds = self._time_left.update(done, total)
        self._show_times()

    def show_epoch(self, epoch: int, epochs: int, metrics: dict) -> None:
        for plot, name in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
            if name in metrics:
                plot.append("training", metrics[name])
            if f"val_{name}" in metrics:
                plot.append("validation", metrics[f"val_{name}"])

    # -- outcomes ---------------------------------------------------------------------------

    def _if_current(self, worker: Worker, slot, *args) -> None:
        if worker is self.worker:
            slot(*args)

    def _on_finished(self, result: TrainingResult) -> None:
        self.result = result
        self.show_device(result.device)
        # The elapsed time shown while it ran includes loading photos and TensorFlow.
        self.status_label.setText(
            f"Training finished: {clock_text(self._clock.elapsed() / 1000)} in all, "
            f"{result.seconds:.0f} s of it training."
        )
        self.outcome_label.setText(describe_outcome(result, self.previous_version))
        self.show_active_version(result.version if result.activated else self.previous_version)
        if result.activated:
            self.active_model_changed.emit(result.version)

    def _on_failed(self, message: str) -> None:
        self.status_label.setText("Training failed, so it changed no model.")
        self.error.emit(f"Training failed: {message}", advice_for(message))

    def _on_cancelled(self) -> None:
        self.status_label.setText("Training cancelled, so it changed no model.")

    def _on_done(self, worker: Worker, relay: _RunRelay) -> None:
        relay.deleteLater()
        if worker is self.worker:
            self.worker = None
            self._reset_progress()
            self.running_changed.emit(False)

    def _reset_progress(self) -> None:
        self._ticker.stop()
        self.bar.hide()
        self.cancel_button.hide()
        self.epoch_label.clear()
        self.time_label.clear()

    def _show_times(self) -> None:
        text = f"Elapsed {clock_text(self._clock.elapsed() / 1000)}"
        if self._eta_seconds is not None:
            text += f", about {clock_text(self._eta_seconds)} left in training"
        self.time_label.setText(text)


class _Line(QLabel):
    """A one-line label that takes no room in the layout while it is empty."""

    def __init__(self) -> None:
        super().__init__()
        self.hide()

    def setText(self, text: str) -> None:
        super().setText(text)
        # Shown only inside the panel, since a label without a parent would open as a window.
        self.setVisible(bool(text) and self.parentWidget() is not None)

    def clear(self) -> None:
        super().clear()
        self.hide()


def describe_outcome(result: TrainingResult, previous_version: str) -> str:
    """Return rich text: adopted or kept back, why, and the figures of the new and the previous model."""
    if result.activated:
        verdict = f"<b>Adopted:</b> {result.version} became the active model."
    else:
        verdict = f"<b>Kept back:</b> {result.version} is saved, and the previous model stayed active."
    rows = "".join(
        f"<tr><td>{label}</td><td align='right'>{_figure(result.metrics, key)}</td>"
        f"<td align='right'>{_figure(result.baseline, key)}</td></tr>"
        for key, label in FIGURES
    )
    held_out = result.counts.get("held_out", 0)
    few = ""
    if 0 < held_out < FEW_HELD_OUT:
        few = (
            f" So few that one photo moves top-1 by {1 / held_out:.2f}: confirm more whales with two"
            " or more photos for a firmer comparison."
        )
    return (
        f"<p>{verdict}<br>Reason: {result.reason}.</p>"
        f"<table cellspacing='6'><tr><th></th><th>new</th><th>{previous_version} (was active)</th></tr>{rows}</table>"
        f"<p>On {held_out} held-back photos.{few} {result.epochs} epochs in {result.seconds:.0f} s on {result.device}.</p>"
    )


def _figure(metrics: dict, key: str) -> str:
    return f"{metrics[key]:.3f}" if key in metrics else "—"
