"""Small dialogs: a new catalogue's folder, a whale id, an import's summary and the shortcut list."""

from __future__ import annotations

import logging
from pathlib import Path

from html import escape

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMenuBar,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import RecordError, list_whales, suggest_whale_id, validate_whale_id
from whalecat.catalogue.store import DATABASE_NAME, new_catalogue_problem
from whalecat.importing.importer import ImportReport
from whalecat.text import counted

log = logging.getLogger(__name__)

MAX_LISTED = 200  # the detailed text lists this many files of each kind; the rest are counted
PROBLEM_STYLE = "color: #b2182b;"


def _message_label() -> QLabel:
    """Return a wrapping label with room for two lines, because a dialog does not grow when its text wraps."""
    label = QLabel()
    label.setWordWrap(True)
    label.setMinimumHeight(2 * label.fontMetrics().lineSpacing() + 4)
    return label


class NewCatalogueDialog(QDialog):
    """A dialog asking for the folder of a new catalogue, typed or chosen with Browse….

    Qt's folder chooser cannot return a folder that does not exist yet, and its save dialog
    opens an existing folder instead of returning it, so the path is typed here and Browse…
    only fills it in. OK is enabled for a new folder, an empty one, or one with a catalogue.
    """

    def __init__(self, suggestion: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New Catalogue")
        self.setMinimumWidth(560)
        self.folder_edit = QLineEdit(str(suggestion))
        # Selected, so typing replaces the suggested name and keeps the folder around it.
        self.folder_edit.setSelection(len(str(suggestion.parent)) + 1, len(suggestion.name))
        browse = QPushButton("&Browse…")
        browse.clicked.connect(self._browse)
        self.message = _message_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, stretch=1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Folder for the new catalogue: a new folder, or an empty one."))
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.folder_edit.textChanged.connect(self._check)
        self._check(self.folder_edit.text())

    def folder(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def accept(self) -> None:
        if self._problem() is None:
            super().accept()
        else:
            self._check(self.folder_edit.text())  # the folder changed on disk since the last key

    def _browse(self) -> None:
        start = self.folder()
        while not start.is_dir() and start != start.parent:
            start = start.parent
        chosen = QFileDialog.getExistingDirectory(self, "Choose a Folder for the New Catalogue", str(start))
        if chosen:
            self.folder_edit.setText(chosen)

    def _problem(self) -> str | None:
        if not self.folder_edit.text().strip():
            return "Type the path of a folder."
        problem = new_catalogue_problem(self.folder())
        return " ".join(problem) if problem else None

    def _check(self, _text: str) -> None:
        problem = self._problem()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
        self.message.setStyleSheet(PROBLEM_STYLE if problem else "")
        folder = self.folder()
        if problem:
            self.message.setText(problem)
        elif (folder / DATABASE_NAME).exists():
            self.message.setText("This folder contains a catalogue already: OK opens it.")
        elif folder.is_dir():
            self.message.setText("An empty folder: OK makes the catalogue in it.")
        else:
            self.message.setText("OK makes this folder and the catalogue in it.")


class WhaleIdDialog(QDialog):
    """A dialog asking for the whale in a photo: a new id, or a catalogued whale the top 5 missed.

    A researcher often recognizes an animal that the network did not rank in its top 5, so an
    existing id is accepted too, and the completer lists the catalogue's ids. OK is enabled
    only for a valid id.
    """

    def __init__(self, catalogue: Catalogue, photo_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Whale ID")
        # Wide enough that a message naming a long id wraps onto two lines instead of clipping.
        self.setMinimumWidth(460)
        with catalogue.session() as session:
            suggestion = suggest_whale_id(session)
            self._photo_counts = {whale.id: whale.photo_count for whale in list_whales(session)}
        self.id_edit = QLineEdit(suggestion)
        self.id_edit.selectAll()
        completer = QCompleter(sorted(self._photo_counts), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.id_edit.setCompleter(completer)
        self._completions = completer.popup()
        self._completions.installEventFilter(self)
        self.message = _message_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Whale in {photo_name}: type a new id, or the id of a catalogued whale."))
        layout.addWidget(self.id_edit)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.id_edit.textChanged.connect(self._check)
        self._check(suggestion)

    def whale_id(self) -> str:
        return self.id_edit.text().strip()

    def eventFilter(self, watched, event) -> bool:
        # Enter in the list of matching ids, with none of them chosen, would only close the
        # list, so an existing id took two Enters where a new one takes one.
        if (
            watched is self._completions
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and not self._completions.currentIndex().isValid()
        ):
            self._completions.hide()
            self.accept()
            return True
        return super().eventFilter(watched, event)

    def accept(self) -> None:
        if self._problem(self.id_edit.text()) is None:
            super().accept()

    def _check(self, text: str) -> None:
        problem = self._problem(text)
        if not text.strip():
            # Nothing typed yet is not a mistake, so it gets a hint, not an error.
            self.message.setText("Type the whale's id.")
            self.message.setStyleSheet("")
        elif problem is not None:
            self.message.setText(problem)
            self.message.setStyleSheet(PROBLEM_STYLE)
        else:
            self.message.setStyleSheet("")
            count = self._photo_counts.get(text.strip())
            if count is None:
                self.message.setText("A new whale: OK adds it to the catalogue with this photo.")
            else:
                self.message.setText(
                    f"{text.strip()} is in the catalogue with {count} photo{'s' if count != 1 else ''}: "
                    "OK confirms this photo as that whale."
                )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _problem(self, text: str) -> str | None:
        try:
            whale_id = validate_whale_id(text)
        except RecordError as exc:
            return str(exc)
        if whale_id not in self._photo_counts:
            # Ids are case-sensitive, so W_1287FBC would become a second whale beside w_1287fbc.
            same = next((known for known in self._photo_counts if known.casefold() == whale_id.casefold()), None)
            if same is not None:
                return f"{whale_id} differs from the catalogued {same} only in case: type {same} to assign this photo to it."
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
    if report.unmatched_labels:
        text += f"\nLabels CSV rows for files not in this import: {len(report.unmatched_labels)}."
    if report.conflicts:
        text += (
            f"\n{counted(len(report.conflicts), 'photo')} kept the whale confirmed before, "
            "although the CSV names another (see the details)."
        )
    if report.ambiguous_labels:
        text += (
            f"\n{counted(len(report.ambiguous_labels), 'CSV row')} not applied, because each file "
            "name belongs to several different photos in this import. Confirm those photos by hand."
        )
    if report.removed_before:
        text += (
            f"\n{len(report.removed_before)} of the imported photos had been removed from the catalogue "
            "before (see the details). Remove them again if they are still unwanted."
        )
    lines = []
    if report.failed:
        text += "\nThe failed files were not changed or copied; see the details for each reason."
        lines += _listed([f"{Path(path).name}: {reason}  ({path})" for path, reason in report.failed])
    if report.duplicate_of:
        lines += ["Already in the catalogue:"]
        lines += _listed([f"{Path(path).name}, as {existing}  ({path})" for path, existing in report.duplicate_of])
    if report.unmatched_labels:
        lines += ["In the CSV but not in this import:"] + _listed(report.unmatched_labels)
    if report.conflicts:
        lines += ["Kept as confirmed:"]
        lines += _listed([f"{Path(path).name}: confirmed as {confirmed}, the CSV says {label}  ({path})"
                          for path, label, confirmed in report.conflicts])
    if report.ambiguous_labels:
        lines += ["Not labelled, the name belongs to several photos:"]
        lines += _listed([f"{name}: {', '.join(paths)}" for name, paths in report.ambiguous_labels])
    if report.removed_before:
        lines += ["Removed before, imported again:"] + _listed(report.removed_before)
    if lines:
        box.setDetailedText("\n".join(lines))
    box.setText(text)
    return box


def _listed(lines: list[str]) -> list[str]:
    """Return the first MAX_LISTED lines, and a count of the rest."""
    if len(lines) <= MAX_LISTED:
        return lines
    return lines[:MAX_LISTED] + [f"… and {len(lines) - MAX_LISTED} more"]


# Keys that work without a menu action, so the menus cannot list them.
KEYS_WITHOUT_ACTION = [
    ("Arrow keys", "Select the next photo, whale or candidate in the list that has focus"),
    ("Tab, Shift+Tab", "Move between the photo lists, the candidates and the buttons"),
    ("Ctrl+Tab", "Switch between the Photo and Identify tabs while the keyboard is in one of them"),
    ("Enter in the Unidentified list", "Confirm the selected candidate of the photo shown"),
    ("Space", "Select the photo the keyboard is on"),
    ("Drag on the photo", "Draw a crop box in the Photo tab"),
    ("Arrow keys on the photo",
     "Move the crop box by 1 % of the photo, starting from the stored crop. Without a crop, the "
     "first key draws a box 10 % in from each edge"),
    ("Shift+arrow keys on the photo", "Move the crop box's right or bottom edge"),
    ("Ctrl or Alt with those keys", "Take steps of 10 % of the photo"),
]


def shortcut_rows(menu_bar: QMenuBar, names: dict[QAction, str] | None = None) -> list[tuple[str, str]]:
    """Return (keys, menu path) for every menu action with a shortcut, in menu order.

    Read from the menus themselves, so the list always matches the shortcuts that work.
    `names` gives fixed names for actions whose text changes, such as Undo, which names the
    step it undoes. Keys that standard keyboards lack (F13 and above) are left out.
    """
    names = names or {}
    rows = []

    def visit(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            text = names.get(action, action.text()).replace("&", "")
            if action.menu() is not None:
                visit(action.menu(), f"{path} → {text}")
            elif action.shortcuts():
                shortcuts = [key for key in action.shortcuts() if not _needs_extended_keyboard(key)]
                keys = [key.toString(QKeySequence.SequenceFormat.NativeText) for key in shortcuts]
                # A keyboard's own Undo or Redo key goes without saying.
                keys = [key for key in keys if key != text]
                rows.append((", ".join(keys), f"{path} → {text}"))

    for action in menu_bar.actions():
        if action.menu() is not None:
            visit(action.menu(), action.text().replace("&", ""))
    return rows


def _needs_extended_keyboard(sequence: QKeySequence) -> bool:
    """Return True when a key sequence uses F13 or above, as Qt's Undo keys on Linux include F14."""
    return any(Qt.Key.Key_F13.value <= sequence[i].key().value <= Qt.Key.Key_F35.value for i in range(sequence.count()))


def shortcuts_box(menu_bar: QMenuBar, parent: QWidget | None, names: dict[QAction, str] | None = None) -> QMessageBox:
    """Build (but do not show) the Help → Keyboard Shortcuts message; `names` as in `shortcut_rows`."""
    rows = shortcut_rows(menu_bar, names) + KEYS_WITHOUT_ACTION
    cells = "".join(
        f"<tr><td><b>{escape(keys)}</b>&nbsp;&nbsp;</td><td>{escape(what)}</td></tr>" for keys, what in rows
    )
    box = QMessageBox(parent)
    box.setWindowTitle("Keyboard Shortcuts")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(f"<table>{cells}</table>")
    return box
