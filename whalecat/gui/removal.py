"""Photo → Remove from Catalogue: take a wrong or unusable photo out, with undo.

The photo's files go to the catalogue's `removed/` folder and its rows are deleted (see
`whalecat.catalogue.removal`), so an undo puts it back exactly as it was.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QWidget
from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import PhotoGoneError, RecordError
from whalecat.catalogue.removal import REMOVED_FOLDER, RemovedPhoto, remove_photo, restore_photo
from whalecat.gui.undo import GONE_ADVICE, StoredCommand
from whalecat.text import error_text

log = logging.getLogger(__name__)


class RemoveCommand(StoredCommand):
    """One removal that was already stored. Undo puts the photo back."""

    def __init__(self, remover: PhotoRemover, removed: RemovedPhoto):
        super().__init__(f"Remove {removed.original_name}")
        self._remover = remover
        self.removed = removed

    def reapply(self) -> bool:
        removed = self._remover.store_removal(self.removed.photo_id, self.removed.original_name)
        if removed is None:
            return False
        self.removed = removed
        return True

    def revert(self) -> bool:
        return self._remover.store_restore(self.removed)


class PhotoRemover(QObject):
    """The Remove from Catalogue action for the photo whose id `current_photo` returns, named by `name_of`."""

    about_to_remove = Signal(int)  # photo id, before its files move
    changed = Signal(int)  # photo id, after it was removed or put back
    removed = Signal(str)  # what was removed, in words, shown by the window
    error = Signal(str, str)  # (what failed, what to do)

    def __init__(self, undo_stack: QUndoStack, window: QWidget, current_photo: Callable[[], int | None],
                 name_of: Callable[[int], str]):
        super().__init__(window)
        self._undo_stack = undo_stack
        self._current_photo = current_photo
        self._name_of = name_of
        self.catalogue: Catalogue | None = None
        self.action = QAction("Re&move from Catalogue", window)
        self.action.setShortcut(QKeySequence.StandardKey.Delete)
        tip = "Move the photo to the catalogue's removed/ folder, out of matching and exports (undo puts it back)"
        self.action.setStatusTip(tip)
        self.action.setToolTip(tip)
        self.action.triggered.connect(lambda _checked=False: self.remove())

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue

    def remove(self) -> bool:
        """Remove the current photo, put the removal on the undo stack, and return whether it is stored."""
        photo_id = self._current_photo()
        removed = self.store_removal(photo_id, self._name_of(photo_id)) if photo_id is not None else None
        if removed is None:
            return False
        self._undo_stack.push(RemoveCommand(self, removed))
        message = f"Removed {removed.original_name}. Its copy is kept in the catalogue's {REMOVED_FOLDER} folder."
        if removed.left_empty:
            message += f" {', '.join(removed.left_empty)} had no other photo and left the whale list; Ctrl+Z brings it back."
        self.removed.emit(message)
        return True

    def store_removal(self, photo_id: int, name: str) -> RemovedPhoto | None:
        """Remove the photo imported as `name`. On failure, report it and return None."""
        if self.catalogue is None:
            return None
        self.about_to_remove.emit(photo_id)
        try:
            removed = remove_photo(self.catalogue, photo_id)
        except PhotoGoneError:
            self.error.emit(f"Cannot remove {name}: it is no longer in this catalogue.", GONE_ADVICE)
            return None
        except (RecordError, SQLAlchemyError, OSError) as exc:
            log.error("Cannot remove photo %d: %s", photo_id, exc)
            self.error.emit(
                f"Cannot remove {name}: {error_text(exc)}",
                "Check that the catalogue folder is writable and not locked by another program, then try again.",
            )
            return None
        self.changed.emit(photo_id)
        return removed

    def store_restore(self, removed: RemovedPhoto) -> bool:
        """Put a removed photo back. On failure, report it and return False."""
        if self.catalogue is None:
            return False
        try:
            restore_photo(self.catalogue, removed)
        except (RecordError, SQLAlchemyError, OSError) as exc:
            log.error("Cannot put back photo %d: %s", removed.photo_id, exc)
            self.error.emit(
                f"Cannot put back {removed.original_name}: {error_text(exc)}",
                f"Nothing was deleted: its files are kept in {self.catalogue.folder / REMOVED_FOLDER}.",
            )
            return False
        self.changed.emit(removed.photo_id)
        return True
