"""Photo → Rotate Left and Rotate Right: quarter turns of the shown photo, with undo.

A camera without an orientation sensor, or a scanned catalogue card, gives photos on their
side. Matching compares flukes the right way up, so such a photo is rarely matched until it
is turned. The turn is stored with the photo, never written into the stored copy.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QWidget
from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import turn_photo
from whalecat.catalogue.records import PhotoGoneError, PhotoSummary, RecordError
from whalecat.gui.undo import GONE_ADVICE, StoredCommand
from whalecat.text import error_text

log = logging.getLogger(__name__)


class TurnCommand(StoredCommand):
    """One quarter turn that was already stored; undo turns the photo back."""

    def __init__(self, turner: PhotoTurner, photo: PhotoSummary, clockwise: bool):
        direction = "right" if clockwise else "left"
        super().__init__(f"Rotate {photo.original_name} {direction}")
        self._turner = turner
        self.photo_id = photo.id
        self.file_name = photo.original_name
        self.clockwise = clockwise
        self.shown_photo = photo.id

    def reapply(self) -> bool:
        return self._turner.store_turn(self.photo_id, self.file_name, self.clockwise)

    def revert(self) -> bool:
        return self._turner.store_turn(self.photo_id, self.file_name, not self.clockwise)


class PhotoTurner(QObject):
    """The two rotate actions for the photo that `current_photo` returns."""

    turned = Signal(int, bool)  # (photo id, whether clockwise), after its turn is stored
    reported = Signal(str)  # a turn the user made, in words, for the status bar
    error = Signal(str, str)  # (what failed, what to do)

    def __init__(self, undo_stack: QUndoStack, panel: QWidget,
                 current_photo: Callable[[], PhotoSummary | None]):
        super().__init__(panel)
        self._undo_stack = undo_stack
        self._current_photo = current_photo
        self.catalogue: Catalogue | None = None
        self.left_action = _action(panel, "Rotate &Left", "Ctrl+[", "Turn the photo a quarter turn anticlockwise")
        self.left_action.triggered.connect(lambda: self.turn(clockwise=False))
        self.right_action = _action(panel, "Rotate &Right", "Ctrl+]", "Turn the photo a quarter turn clockwise")
        self.right_action.triggered.connect(lambda: self.turn(clockwise=True))

    def actions(self) -> list[QAction]:
        return [self.left_action, self.right_action]

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue

    def turn(self, clockwise: bool) -> bool:
        """Turn the current photo and put the turn on the undo stack; return whether it is stored."""
        photo = self._current_photo()
        if photo is None or not self.store_turn(photo.id, photo.original_name, clockwise):
            return False
        self._undo_stack.push(TurnCommand(self, photo, clockwise))
        direction = "right" if clockwise else "left"
        self.reported.emit(f"Rotated {photo.original_name} {direction}. Undo (Ctrl+Z) turns it back.")
        return True

    def store_turn(self, photo_id: int, file_name: str, clockwise: bool) -> bool:
        """Store a quarter turn; on failure report it and return False."""
        if self.catalogue is None:
            return False
        try:
            turn_photo(self.catalogue, photo_id, clockwise)
        except PhotoGoneError:
            self.error.emit(f"Cannot rotate {file_name}: it is no longer in this catalogue.", GONE_ADVICE)
            return False
        except (RecordError, SQLAlchemyError, OSError) as exc:
            log.error("Cannot turn photo %d: %s", photo_id, exc)
            self.error.emit(
                f"Cannot rotate {file_name}: {error_text(exc)}",
                "Check that the catalogue folder is writable and not locked by another program, then try again.",
            )
            return False
        log.info("Turned photo %d %s", photo_id, "clockwise" if clockwise else "anticlockwise")
        self.turned.emit(photo_id, clockwise)
        return True


def _action(panel: QWidget, text: str, shortcut: str, tip: str) -> QAction:
    action = QAction(text, panel)
    action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
    action.setStatusTip(tip)
    panel.addAction(action)  # so the shortcut works wherever the panel is shown
    return action
