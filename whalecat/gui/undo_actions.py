"""Edit → Undo and Redo, which count a crop box not yet saved as the newest edit.

A box on screen is an edit the stack does not contain yet. Undo discards it before it undoes
any stored step, as an editor undoes unsaved typing first. Redo does nothing while a box drawn
by hand waits, and the status bar says to save or discard it first. A redo that selects
another photo would save the box in the middle of the history, and discarding the box would
lose work. A box that a fluke search proposed is not saved on leaving its photo, so it does
not hold Redo back.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from whalecat.gui.crop_editor import CropEditor
from whalecat.gui.undo import UndoStack


class UndoActions(QObject):
    """The Undo and Redo actions for `stack` and the crop box of `crop_editor`."""

    reported = Signal(str)  # the step undone, redone or held back, in words, for the status bar

    def __init__(self, stack: UndoStack, crop_editor: CropEditor, parent: QObject):
        super().__init__(parent)
        self._stack = stack
        self._editor = crop_editor
        self.undo_action = QAction("&Undo", parent)
        self.undo_action.triggered.connect(lambda _checked=False: self.undo())
        self.redo_action = QAction("&Redo", parent)
        self.redo_action.triggered.connect(lambda _checked=False: self.redo())
        for signal in (stack.canUndoChanged, stack.canRedoChanged, stack.undoTextChanged, stack.redoTextChanged,
                       crop_editor.view.pending_changed):
            signal.connect(lambda *_args: self._update())
        self._update()

    def undo(self) -> None:
        """Discard the box not yet saved, or undo the newest stored step when there is none."""
        photo = self._editor.photo
        if self._editor.discard_box():
            name = photo.original_name if photo is not None else "the photo"
            self.reported.emit(f"Discarded the unsaved crop box on {name}.")
            return
        if not self._stack.canUndo():
            return
        self._stack.undo()
        if self._stack.stored:
            self._report("Undone", self._stack.redoText())

    def redo(self) -> None:
        """Redo the newest undone step, unless a box drawn by hand waits to be saved or discarded."""
        if self._editor.has_drawn_box():
            name = self._editor.photo.original_name
            self.reported.emit(f"Save the crop box on {name} (Ctrl+S) or discard it (Esc) before Redo.")
            return
        if not self._stack.canRedo():
            return
        self._stack.redo()
        if self._stack.stored:
            self._report("Redone", self._stack.undoText())

    def _report(self, done: str, text: str) -> None:
        # A redo changes no selection, so without this nothing shows which photo it changed.
        # The step just taken is the one that the stack now offers the other way.
        if text:
            self.reported.emit(f"{done}: {text}{self._stack.note}")

    def _update(self) -> None:
        # As QUndoStack.createUndoAction names them, and an unsaved box is the newest edit.
        if self._editor.view.pending_box is not None:
            self.undo_action.setText("&Undo Unsaved Crop Box")
            self.undo_action.setEnabled(True)
        else:
            self.undo_action.setText(_prefixed("&Undo", self._stack.undoText()))
            self.undo_action.setEnabled(self._stack.canUndo())
        self.redo_action.setText(_prefixed("&Redo", self._stack.redoText()))
        self.redo_action.setEnabled(self._stack.canRedo())


def _prefixed(prefix: str, step: str) -> str:
    return f"{prefix} {step}" if step else prefix
