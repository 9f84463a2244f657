"""Small dialogs: a new whale id, and the summary at the end of an import."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Whale
from whalecat.catalogue.records import RecordError, suggest_whale_id, validate_whale_id
from whalecat.importing.importer import ImportReport

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 200  # the detailed text lists this many; the rest are counted


class NewWhaleIdDialog(QDialog):
    """Asks for an id for a whale not yet in the catalogue; OK is enabled only for a usable id."""

    def __init__(self, catalogue: Catalogue, photo_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New Whale ID")
        self._catalogue = catalogue
        with catalogue.session() as session:
            suggestion = suggest_whale_id(session)
        self.id_edit = QLineEdit(suggestion)
        self.id_edit.selectAll()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Id of the new whale in {photo_name}:"))
        layout.addWidget(self.id_edit)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.id_edit.textChanged.connect(self._check)
        self._check(suggestion)

    def whale_id(self) -> str:
        return self.id_edit.text().strip()

    def accept(self) -> None:
        if self._problem(self.id_edit.text()) is None:
            super().accept()

    def _check(self, text: str) -> None:
        problem = self._problem(text)
        self.message.setText(problem or "")
        self.message.setStyleSheet("color: #b2182b;" if problem else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _problem(self, text: str) -> str | None:
        try:
            whale_id = validate_whale_id(text)
        except RecordError as exc:
            return str(exc)
        with self._catalogue.session() as session:
            exists = session.get(Whale, whale_id) is not None
        if exists:
            return f"{whale_id} is already in the catalogue: pick it from the candidates, or type another id."
        return None


def import_summary_box(report: ImportReport, parent: QWidget | None) -> QMessageBox:
    """Build (but do not show) the end-of-import message; failed files go in the details."""
    box = QMessageBox(parent)
    box.setWindowTitle("Import finished" if not report.cancelled else "Import cancelled")
    box.setIcon(QMessageBox.Icon.Warning if report.failed else QMessageBox.Icon.Information)
    text = f"{report.imported} imported, {report.duplicates} already in the catalogue"
    if report.labelled:
        text += f", {report.labelled} labelled from the CSV"
    text += f", {len(report.failed)} failed."
    if report.cancelled:
        text += "\nThe import was cancelled; the photos imported before that are kept."
    if report.failed:
        text += "\nThe failed files were not changed or copied; see the details for each reason."
        lines = [f"{Path(path).name}: {reason}  ({path})" for path, reason in report.failed[:MAX_LISTED_FAILURES]]
        if len(report.failed) > MAX_LISTED_FAILURES:
            lines.append(f"… and {len(report.failed) - MAX_LISTED_FAILURES} more; see the log")
        box.setDetailedText("\n".join(lines))
    box.setText(text)
    return box
