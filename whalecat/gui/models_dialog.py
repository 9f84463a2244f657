"""The Models dialog, which lists and switches model versions, and the re-embedding that follows.

When the active model changes, the identifier must embed the catalogue again with the new
model. `ReembedStatus` runs `Identifier.reembed` in a worker and shows its progress in the
status bar. The identifier matches with the previous model's vectors until the new ones are
complete, so identification goes on meanwhile.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from whalecat.catalogue import Catalogue
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.identification import Identifier
from whalecat.matching.versions import (
    BUNDLED_VERSION,
    active_version,
    bundled_figures,
    bundled_input,
    input_description,
    set_active_version,
    version_records,
)

log = logging.getLogger(__name__)

COLUMNS = ("Active", "Version", "Kind", "Input", "Created", "Epochs", "Device", "MAP@5", "top-1", "top-5")
VERSION_COLUMN = 1


class ModelsDialog(QDialog):
    """Lists the bundled model and every trained version with its figures; marks the active one."""

    active_model_changed = Signal(str)  # the version now active
    error = Signal(str, str)  # (what failed, what to do)

    def __init__(self, catalogue: Catalogue, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalogue = catalogue
        self.setWindowTitle("Models")
        self.resize(900, 360)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        # Tab leaves the table for the buttons instead of walking its cells, and Enter on a
        # row makes that version active (see eventFilter), so the dialog works from the keyboard.
        self.table.setTabKeyNavigation(False)
        self.table.installEventFilter(self)
        note = QLabel(
            "Figures are MAP@5, top-1 and top-5 on the photos held back when each version was trained. "
            "Versions trained at different times were scored on different photos. * The bundled model's "
            "figures come from `whalecat evaluate` on right whales it was not trained on, so they do not "
            "compare with this catalogue's. A trained version's tooltip gives the model that was active "
            "then, scored on the same photos."
        )
        note.setWordWrap(True)
        self.activate_button = QPushButton("Make &Active")
        self.activate_button.clicked.connect(self.activate_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.activate_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.refresh()

    def eventFilter(self, watched, event) -> bool:
        # Taken here, so that the dialog's own Enter handling does not also close it.
        if (
            watched is self.table
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.activate_selected()
            return True
        return super().eventFilter(watched, event)

    def refresh(self) -> None:
        """Reload the versions from the catalogue's models folder, keeping the selected one."""
        selected = self.selected_version()
        active = active_version(self.catalogue)
        rows = [_bundled_row(active == BUNDLED_VERSION)] + [_version_row(r) for r in version_records(self.catalogue)]
        self.table.setRowCount(len(rows))
        for row, (cells, tooltip) in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tooltip)
                if column >= COLUMNS.index("Epochs"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        if selected is not None:
            self.select_version(selected)
        self._update_buttons()

    def versions(self) -> list[str]:
        return [self.table.item(row, VERSION_COLUMN).text() for row in range(self.table.rowCount())]

    def marked_active(self) -> list[str]:
        """Return the versions whose row shows the active mark."""
        return [self.table.item(row, VERSION_COLUMN).text() for row in range(self.table.rowCount()) if self.table.item(row, 0).text()]

    def selected_version(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), VERSION_COLUMN).text() if rows else None

    def select_version(self, version: str) -> bool:
        if version not in self.versions():
            return False
        self.table.selectRow(self.versions().index(version))
        return True

    def activate_selected(self) -> None:
        """Make the selected version active, for example to roll back to an earlier one."""
        version = self.selected_version()
        if version is None or version == active_version(self.catalogue):
            return
        try:
            set_active_version(self.catalogue, version)
        except (ValueError, OSError) as exc:
            log.error("Cannot make %s active: %s", version, exc)
            self.refresh()
            self.error.emit(f"Cannot make model {version} active: {exc}", "Choose another version, or retrain.")
            return
        self.refresh()
        self.active_model_changed.emit(version)

    def _update_buttons(self) -> None:
        version = self.selected_version()
        self.activate_button.setEnabled(version is not None and version not in self.marked_active())


def _bundled_row(active: bool) -> tuple[list[str], str]:
    figures = bundled_figures()
    cells = [
        "✓" if active else "", BUNDLED_VERSION, "embedding", bundled_input(), "shipped with whalecat",
        "", "",
        # Marked, because they come from another test than the trained versions' figures.
        *(f"{figures[key]:.3f} *" if key in figures else "" for key in ("map5", "top1", "top5")),
    ]
    tooltip = (
        "The embedding model shipped with whalecat. Its figures come from `whalecat evaluate` on "
        "right whales it was not trained on (docs/evaluation.md), not from this catalogue."
    )
    return cells, tooltip


def _version_row(record: dict) -> tuple[list[str], str]:
    evaluation = record.get("evaluation", {})
    metrics = evaluation.get("metrics", {})
    figures = [f"{metrics[key]:.3f}" if key in metrics else "" for key in ("map5", "top1", "top5")]
    cells = [
        "✓" if record.get("active") else "",
        record["version"],
        str(record.get("kind", "?")),
        input_description(record),
        str(record.get("created_at", "")),
        str(record.get("epochs", "")),
        str(record.get("device", "")),
        *figures,
    ]
    previous = evaluation.get("active_metrics", {}).get("map5")
    compared = f" (the then active {evaluation.get('active_model', '?')}: MAP@5 {previous:.3f})" if previous is not None else ""
    tooltip = f"{'Adopted' if record.get('activated') else 'Kept back'}: {record.get('activation_reason', '')}{compared}"
    chosen = record.get("made_active_at") or []
    if chosen and not record.get("activated"):
        tooltip += f". Made active on request at {chosen[-1]}"
    if record.get("missing"):
        cells[1] += " (file missing)"
        tooltip += f". Its model file models/{record['version']}/model.keras is missing, so it cannot be made active"
    return cells, tooltip


class ReembedStatus(QWidget):
    """A status-bar strip that re-embeds the catalogue for the new active model; hidden while idle."""

    error = Signal(str, str)  # (what failed, what to do)
    finished = Signal(str)  # the version identification now uses

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None):
        super().__init__(parent)
        self._pool = pool
        self.worker: Worker | None = None
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(200)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()

    def start(self, identifier: Identifier | None) -> Worker | None:
        """Re-embed for the active model if `identifier` uses another one; return the worker or None.

        A re-embedding already running is abandoned first, because it prepares a model that
        is no longer active.
        """
        if identifier is None or not identifier.needs_reembedding():
            return None
        if self.worker is not None:
            # NOTE: an abandoned re-embedding that has already embedded every photo still
            # swaps its model in; if it does so after this newer one, the older model stays.
            self.worker.abandon()
        version = active_version(identifier.catalogue)
        worker = self._pool.run(identifier.reembed, f"re-embedding for model {version}")
        worker.progress.connect(lambda done, total, message: self._if_current(worker, self._on_progress, done, total, message))
        worker.finished.connect(lambda used: self._if_current(worker, self.finished.emit, used))
        worker.failed.connect(lambda message: self._if_current(worker, self._on_failed, version, message))
        worker.done.connect(lambda: self._on_done(worker))
        self.worker = worker
        log.info("Re-embedding %s for model %s", identifier.catalogue.folder, version)
        self.label.setText(f"Re-embedding for model {version}… (identification uses the previous model meanwhile)")
        self.bar.setRange(0, 0)
        self.show()
        return worker.start()

    def _if_current(self, worker: Worker, slot: Callable, *args) -> None:
        if worker is self.worker:
            slot(*args)

    def _on_progress(self, done: int, total: int, _message: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)

    def _on_failed(self, version: str, message: str) -> None:
        self.error.emit(
            f"Re-embedding the catalogue for model {version} failed: {message}",
            "Identification still uses the previous model. Choose another version in Catalogue → Models…, "
            "or check the device setting, then make the model active again.",
        )

    def _on_done(self, worker: Worker) -> None:
        if worker is self.worker:
            self.worker = None
            self.hide()
