"""Confirming a photo's identification, with undo and redo through a QUndoStack.

Confirmations are written on the GUI thread with its own session: each is one small
transaction, and the browser must show it before the user's next click.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import utc_now
from whalecat.catalogue.records import ConfirmedState, confirm_label, get_photo, restore_confirmation
from whalecat.gui.undo import StoredCommand, UndoStack

log = logging.getLogger(__name__)


class ConfirmCommand(StoredCommand):
    """One confirmation that was already written; `reapply` writes it again after an undo."""

    def __init__(self, confirmations: Confirmations, photo_id: int, photo_name: str, label: str,
                 method: str, score: float | None, before: ConfirmedState, confirmed_at: datetime):
        super().__init__(f"Confirm {photo_name} as {label}")
        self._confirmations = confirmations
        self.photo_id = photo_id
        self.label = label
        self.method = method
        self.score = score
        self.before = before
        self.confirmed_at = confirmed_at  # a redo keeps the time the user decided

    def reapply(self) -> bool:
        catalogue = self._confirmations.require_catalogue()
        with catalogue.session() as session:
            before = confirm_label(session, self.photo_id, self.label, self.method, self.score,
                                   confirmed_at=self.confirmed_at)
        if before.label != self.before.label:
            self.add_note(_replaced_text(before.label) + "; Ctrl+Z takes it back")
        self.before = before
        log.info("Redid confirmation of photo %d as %s", self.photo_id, self.label)
        self._confirmations.changed.emit(self.photo_id)
        return True

    def revert(self) -> bool:
        catalogue = self._confirmations.require_catalogue()
        with catalogue.session() as session:
            current = get_photo(session, self.photo_id).confirmed_label
            restore_confirmation(session, self.before)
        if current != self.label:
            self.add_note(_replaced_text(current))
        log.info("Undid confirmation of photo %d as %s (back to %s)", self.photo_id, self.label, self.before.label)
        self._confirmations.changed.emit(self.photo_id)
        return True


def _replaced_text(label: str | None) -> str:
    """Name a confirmation stored outside this window (from the command line, say) that a step replaced."""
    if label is None:
        return ", although its confirmation had been taken away outside this window"
    return f", replacing {label}, stored outside this window"


class Confirmations(QObject):
    """Writes confirmations for the open catalogue and keeps them undoable."""

    changed = Signal(int)  # photo id whose confirmation changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.catalogue: Catalogue | None = None
        self.undo_stack = UndoStack(self)

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        # Undo entries refer to photo ids of the previous catalogue.
        self.undo_stack.clear()
        self.catalogue = catalogue

    def require_catalogue(self) -> Catalogue:
        if self.catalogue is None:
            raise RuntimeError("no catalogue is open")
        return self.catalogue

    def confirm(self, photo_id: int, label: str, method: str = "manual", score: float | None = None) -> str | None:
        """Confirm `photo_id` as whale `label` or NEW_WHALE, and return the label it had before.

        Raises RecordError on an invalid id.
        """
        catalogue = self.require_catalogue()
        if score is not None and not math.isfinite(score):
            score = None
        confirmed_at = utc_now()
        with catalogue.session() as session:
            before = confirm_label(session, photo_id, label, method=method, score=score,
                                   confirmed_at=confirmed_at)
            # The Edit menu names the photo as the browser does, by its file name.
            photo_name = get_photo(session, photo_id).original_name
        log.info("Confirmed photo %d as %s (%s)", photo_id, label, method)
        self.undo_stack.push(
            ConfirmCommand(self, photo_id, photo_name, label, method, score, before, confirmed_at)
        )
        self.changed.emit(photo_id)
        return before.label
