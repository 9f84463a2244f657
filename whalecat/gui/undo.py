"""The base of the window's undo commands: changes that are stored before they are pushed."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


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

    def redo(self) -> None:
        if not self._pushed:
            self._pushed = True
            return
        if not self.reapply():
            self.setObsolete(True)

    def undo(self) -> None:
        if not self.revert():
            self.setObsolete(True)

    def reapply(self) -> bool:
        raise NotImplementedError

    def revert(self) -> bool:
        raise NotImplementedError
