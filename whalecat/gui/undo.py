"""The window's undo stack and its commands: changes that are stored before they are pushed."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue.records import PhotoGoneError, RecordError
from whalecat.text import error_text

GONE_ADVICE = (
    "It was removed outside this window, perhaps from the command line. Press F5 to show the "
    "catalogue as it is now."
)
OUTSIDE_ADVICE = (
    "The catalogue was changed outside this window, perhaps from the command line, so the step was "
    "taken off the undo history. Press F5 to show the catalogue as it is now."
)


class UndoStack(QUndoStack):
    """A QUndoStack that rejects a push while one of its commands is being undone or redone.

    An undo or redo can change the selection, and leaving a photo stores a crop box drawn on
    it. QUndoStack.push deletes the steps that can be redone, which during an undo include the
    step being undone, so the history would no longer match the catalogue. `push` raises
    instead, and code that stores a change checks `running` first.
    """

    # A photo whose crop or turn an undo or redo just changed. The window shows that photo,
    # because the step may concern a photo selected long ago.
    photo_stepped = Signal(int)
    step_failed = Signal(str, str)  # (what failed, what to do) when an undo or redo cannot be stored

    def __init__(self, parent=None):
        super().__init__(parent)
        self.running: StoredCommand | None = None  # the command whose undo or redo is running
        # The outcome of the last undo or redo: whether it was stored, and a note for its report,
        # such as the label it replaced.
        self.stored = True
        self.note = ""

    def push(self, command: QUndoCommand) -> None:
        if self.running is not None:
            raise RuntimeError(
                f"cannot push {command.text()!r} onto the undo stack while {self.running.text()!r} "
                "is being undone or redone"
            )
        if isinstance(command, StoredCommand):
            command.stack = self
        super().push(command)


class StoredCommand(QUndoCommand):
    """An undoable change that the caller has already stored in the catalogue.

    QUndoStack.push calls `redo` at once, so the first `redo` does nothing. Subclasses store
    the change again in `reapply` and take it back in `revert`. When either returns False
    (storing failed and was reported), the command marks itself obsolete, so the stack drops
    it and stays in step with the catalogue.
    """

    def __init__(self, text: str):
        super().__init__(text)
        self._pushed = False
        self.stack: UndoStack | None = None  # set by `UndoStack.push`
        # The photo to show after an undo or redo, or None where the command selects one itself.
        self.shown_photo: int | None = None

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        self._run(self.reapply)

    def undo(self) -> None:
        self._run(self.revert)

    def _run(self, step) -> None:
        stack = self.stack
        if stack is not None:
            stack.running, stack.note = self, ""
        try:
            stored = step()
        except (RecordError, SQLAlchemyError) as exc:
            # Such as a photo removed from the command line since this step was taken.
            stored = False
            if stack is not None:
                doing = "redo" if step == self.reapply else "undo"
                # The step's text names the photo by its file name already.
                reason = "the photo is no longer in this catalogue" if isinstance(exc, PhotoGoneError) else error_text(exc)
                stack.step_failed.emit(f"Cannot {doing} “{self.text()}”: {reason}.", OUTSIDE_ADVICE)
        finally:
            if stack is not None:
                stack.running = None
                stack.stored = bool(stored)
        if not stored:
            self.setObsolete(True)
        elif stack is not None and self.shown_photo is not None:
            stack.photo_stepped.emit(self.shown_photo)

    def add_note(self, text: str) -> None:
        """Add `text` to the status-bar report of the undo or redo running now."""
        if self.stack is not None:
            self.stack.note += text

    def reapply(self) -> bool:
        raise NotImplementedError

    def revert(self) -> bool:
        raise NotImplementedError
