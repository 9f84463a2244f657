"""Showing and editing a photo's fluke crop: the box that matching cuts the photo to.

`CropView` draws the whole upright photo with the stored crop, and a drag with the left button
draws a new, pending box. With the view in focus, the arrow keys move that box and Shift+arrow
keys move its right or bottom edge, so a crop can be made and adjusted without a mouse.
`CropEditor` stores a pending box, the whole photo, or the box that `locate_fluke` proposes,
through the window's undo stack. Each crop is written on the GUI thread
in one short transaction, as confirmations are. Only the fluke search runs in a worker, because
it decodes the whole photo.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget
from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import open_catalogue_photo, turn_box
from whalecat.catalogue.records import PhotoGoneError, PhotoSummary, RecordError, get_photo, set_crop
from whalecat.gui.undo import GONE_ADVICE, StoredCommand, UndoStack
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.imaging.crop import MIN_SIDE, Box, locate_fluke
from whalecat.progress import Progress
from whalecat.text import error_text

log = logging.getLogger(__name__)

STORED_PEN = QColor(255, 212, 0)  # the stored crop: solid yellow
PENDING_PEN = QColor(0, 229, 255)  # a box not yet saved: dashed cyan
OUTSIDE_SHADE = QColor(0, 0, 0, 110)  # darkens the pixels that matching will not see
FOCUS_FRAME_WIDTH = 2  # pixels of the highlight colour around the view while it has the keyboard
HINT = (
    "Drag on the photo to draw a crop box, or click the photo and use the arrow keys "
    "(Shift: resize, Ctrl or Alt: larger steps). Ctrl+S saves the box and Esc discards it. "
    "Yellow: stored crop; dashed cyan: box not yet saved."
)
KEYS_TIP = (
    "Drag to draw a crop box. With the photo in focus, the arrow keys move the box, and "
    "Shift+arrow keys move its right or bottom edge: Shift+Right and Shift+Down enlarge it, "
    "Shift+Left and Shift+Up shrink it. Each step is 1 % of the photo's longer side, and 10 % "
    "with Ctrl or Alt held. The keys start from the stored crop. On a photo without a crop, the "
    "first arrow key draws a box 10 % of the photo's width and height in from each edge. "
    "Ctrl+S saves the box and Esc discards it."
)
# The message under the crop buttons while a box is on screen or being found.
FINDING_MESSAGE = "Finding the fluke…"
DRAWN_MESSAGE = "Box not saved yet: save it ({save}) or discard it ({discard}). Leaving the photo saves it."
NO_FLUKE_MESSAGE = "No fluke found, so the box covers the whole photo: save it ({save}) or discard it ({discard})."
PROPOSED_MESSAGE = "Box proposed around the fluke: save it ({save}) or discard it ({discard})."
# Keyboard steps, as fractions of the photo's longer side.
KEY_STEP = 0.01
LARGE_KEY_STEP = 0.10
# The box that the first arrow key draws on a photo without a crop lies this fraction of the
# photo's width and height in from each edge.
START_INSET = 0.10
ARROW_DIRECTIONS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


def replace_crop(catalogue: Catalogue, photo_id: int, box: Box | None, rotation: int) -> Box | None:
    """Store `box`, drawn on the photo turned by `rotation`, as its crop, and return the crop it replaces.

    None means the whole photo. Raises RecordError when the photo is missing, has been turned
    since (from the command line, say), or the box does not fit it, and SQLAlchemyError when
    the catalogue cannot be written. Either way nothing is stored.
    """
    with catalogue.session() as session:
        photo = get_photo(session, photo_id)
        if photo.rotation != rotation:
            raise RecordError(f"{photo.original_name} was turned outside this window after the box was drawn")
        set_crop(session, photo_id, box)
    return photo.crop


def moved_box(box: Box, photo_size: tuple[int, int], dx: int, dy: int) -> Box:
    """Return `box` shifted by up to (dx, dy) pixels, stopped at the photo's edges, its size kept."""
    left, top, right, bottom = box
    width, height = photo_size
    dx = min(max(dx, -left), width - right)
    dy = min(max(dy, -top), height - bottom)
    return (left + dx, top + dy, right + dx, bottom + dy)


def starting_box(photo_size: tuple[int, int]) -> Box:
    """Return the box that the first arrow key draws on a photo without a crop."""
    width, height = photo_size
    # Rounded down, so even a photo a few pixels wide gets a box of at least one pixel.
    dx, dy = math.floor(width * START_INSET), math.floor(height * START_INSET)
    return (dx, dy, width - dx, height - dy)


def resized_box(box: Box, photo_size: tuple[int, int], dx: int, dy: int) -> Box:
    """Return `box` with its right edge moved by dx and its bottom edge by dy pixels.

    The edges stop at the photo's edges, and shrinking stops at a side of MIN_SIDE pixels. A
    side that is already shorter, as a small photo's may be, is left as it is.
    """
    left, top, right, bottom = box
    width, height = photo_size
    right = min(max(right + dx, min(left + MIN_SIDE, right)), width)
    bottom = min(max(bottom + dy, min(top + MIN_SIDE, bottom)), height)
    return (left, top, right, bottom)


def find_fluke(catalogue: Catalogue, photo_id: int, progress: Progress) -> Box:
    """Return `locate_fluke`'s box for the whole upright photo. Runs in a worker."""
    with catalogue.session() as session:
        photo = get_photo(session, photo_id)
    upright = open_catalogue_photo(catalogue, photo)
    progress.check()
    return locate_fluke(upright)


class CropView(QWidget):
    """The whole upright photo, scaled to fit, with its stored crop and a box drawn by dragging
    or with the arrow keys."""

    edit_started = Signal()  # the user began a drag or pressed a key that changes the box
    pending_changed = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._placeholder = placeholder
        self._source: QPixmap | None = None
        self._fitted: QPixmap | None = None  # `_source` scaled to fit the widget, made on resize
        self._scale = 1.0  # preview pixels per photo pixel
        self._photo_size: tuple[int, int] = (0, 0)
        self.stored_box: Box | None = None
        self.pending_box: Box | None = None
        self._drag_from: QPointF | None = None
        self.setMinimumSize(QSize(120, 90))
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        # Click or Tab gives the view the keyboard, for the arrow keys.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(KEYS_TIP)

    def set_photo(self, image: QImage, scale: float, photo_size: tuple[int, int], stored_box: Box | None) -> None:
        """Show `image`, a copy of the whole photo of `photo_size` pixels shrunk by `scale`."""
        self._source = QPixmap.fromImage(image) if not image.isNull() else None
        self._scale = scale
        self._photo_size = photo_size
        self.stored_box = stored_box
        self.setCursor(Qt.CursorShape.CrossCursor if self._source is not None else Qt.CursorShape.ArrowCursor)
        self._rescale()

    def clear(self, placeholder: str = "") -> None:
        """Remove the photo and both boxes, and show `placeholder` instead."""
        self._placeholder = placeholder
        self._source = None
        self._fitted = None
        self._drag_from = None
        self.stored_box = None
        self.unsetCursor()
        self.set_pending_box(None)
        self.update()

    def source_pixmap(self) -> QPixmap | None:
        return self._source

    def set_stored_box(self, box: Box | None) -> None:
        self.stored_box = box
        self.update()

    def set_pending_box(self, box: Box | None) -> None:
        if box == self.pending_box:
            return
        self.pending_box = box
        self.update()
        self.pending_changed.emit()

    def image_rect(self) -> QRect:
        """Return where the photo is drawn: centred, scaled to fit, aspect ratio kept."""
        if self._source is None:
            return QRect()
        size = self._source.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2, size.width(), size.height())

    def to_photo(self, point: QPointF) -> tuple[float, float]:
        """Map a widget position to upright photo pixels, clamped to the photo."""
        rect = self.image_rect()
        widget_per_photo = self._widget_per_photo()
        width, height = self._photo_size
        x = (point.x() - rect.x()) / widget_per_photo
        y = (point.y() - rect.y()) / widget_per_photo
        return min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))

    def to_widget(self, box: Box) -> QRectF:
        """Map a box in upright photo pixels to widget coordinates."""
        rect = self.image_rect()
        widget_per_photo = self._widget_per_photo()
        left, top, right, bottom = box
        return QRectF(
            rect.x() + left * widget_per_photo,
            rect.y() + top * widget_per_photo,
            (right - left) * widget_per_photo,
            (bottom - top) * widget_per_photo,
        )

    def _widget_per_photo(self) -> float:
        # The preview is the photo shrunk by `_scale`, and the widget shrinks it again to fit.
        return self._scale * self.image_rect().width() / self._source.width()

    # -- drawing a box ----------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._source is None:
            super().mousePressEvent(event)
            return
        self._drag_from = event.position()
        self.edit_started.emit()
        self._drag_to(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None:
            super().mouseMoveEvent(event)
            return
        self._drag_to(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._drag_from is None:
            super().mouseReleaseEvent(event)
            return
        is_click = (event.position() - self._drag_from).manhattanLength() < QApplication.startDragDistance()
        self._drag_to(event.position())
        self._drag_from = None
        if is_click:  # a click leaves no box, so a stray click cannot propose a sliver
            self.set_pending_box(None)

    def _drag_to(self, point: QPointF) -> None:
        x0, y0 = self.to_photo(self._drag_from)
        x1, y1 = self.to_photo(point)
        width, height = self._photo_size
        # Round outwards so the box keeps every pixel the user dragged over.
        left, top = max(math.floor(min(x0, x1)), 0), max(math.floor(min(y0, y1)), 0)
        right, bottom = min(math.ceil(max(x0, x1)), width), min(math.ceil(max(y0, y1)), height)
        self.set_pending_box((left, top, right, bottom) if left < right and top < bottom else None)

    # -- adjusting the box with the keyboard ------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        direction = ARROW_DIRECTIONS.get(event.key())
        if direction is None or self._source is None or self._drag_from is not None:
            super().keyPressEvent(event)
            return
        event.accept()
        modifiers = event.modifiers()
        large = modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
        step = self.key_step(LARGE_KEY_STEP if large else KEY_STEP)
        dx, dy = direction[0] * step, direction[1] * step
        start = self.pending_box or self.stored_box
        if start is None:
            # The whole photo can neither move nor grow, so Right, Down, Shift+Right and
            # Shift+Down would do nothing from it. The first key draws a box inside it instead,
            # which the next keys move and resize.
            self.edit_started.emit()
            self.set_pending_box(starting_box(self._photo_size))
            return
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            box = resized_box(start, self._photo_size, dx, dy)
        else:
            box = moved_box(start, self._photo_size, dx, dy)
        # A key that changes nothing, at an edge or at the minimum size, starts no pending box,
        # so it cannot propose saving the stored crop again.
        if box == start:
            return
        self.edit_started.emit()
        self.set_pending_box(box)

    def key_step(self, fraction: float) -> int:
        """Return `fraction` of the photo's longer side in whole pixels, at least 1."""
        return max(1, round(max(self._photo_size) * fraction))

    # -- painting ---------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        rect = self.image_rect()
        if self._source is None or rect.isEmpty():
            self._fitted = None
        else:
            self._fitted = self._source.scaled(rect.size(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._fitted is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
        else:
            self._paint_photo(painter)
        if self.hasFocus():
            # Over the photo's outer pixels, because the photo often fills the view to its edges.
            inset = FOCUS_FRAME_WIDTH / 2
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), FOCUS_FRAME_WIDTH))
            painter.drawRect(QRectF(self.rect()).adjusted(inset, inset, -inset, -inset))

    def _paint_photo(self, painter: QPainter) -> None:
        rect = self.image_rect()
        painter.drawPixmap(rect.topLeft(), self._fitted)
        active = self.pending_box or self.stored_box
        if active is not None:
            outside = QPainterPath()
            outside.addRect(QRectF(rect))
            inside = QPainterPath()
            inside.addRect(self.to_widget(active))
            painter.fillPath(outside.subtracted(inside), OUTSIDE_SHADE)
        if self.stored_box is not None:
            painter.setPen(QPen(STORED_PEN, 2))
            painter.drawRect(self.to_widget(self.stored_box))
        if self.pending_box is not None:
            painter.setPen(QPen(PENDING_PEN, 2, Qt.PenStyle.DashLine))
            painter.drawRect(self.to_widget(self.pending_box))


class CropCommand(StoredCommand):
    """One crop change that was already stored; `reapply` stores it again after an undo."""

    def __init__(self, editor: CropEditor, photo: PhotoSummary, before: Box | None, after: Box | None):
        super().__init__(f"Change crop of {photo.original_name}")
        self._editor = editor
        self.photo = photo
        self.before = before
        self.after = after
        self.shown_photo = photo.id

    def reapply(self) -> bool:
        return self._editor.restore_crop(self.photo, self.after)

    def revert(self) -> bool:
        return self._editor.restore_crop(self.photo, self.before)


class CropEditor(QObject):
    """The crop actions of the photo panel, the `CropView` they act on, and a row of buttons."""

    crop_changed = Signal(int)  # photo id whose stored crop changed
    reported = Signal(str)  # a crop saved, removed or left unchanged, in words, for the status bar
    error = Signal(str, str)  # (what failed, what to do), shown by the window

    def __init__(self, pool: WorkerPool, undo_stack: UndoStack, panel: QWidget):
        super().__init__(panel)
        self._pool = pool
        self._undo_stack = undo_stack
        self.catalogue: Catalogue | None = None
        self.photo: PhotoSummary | None = None  # the photo shown, once its preview has loaded
        self.finder: Worker | None = None  # the running fluke search, if any
        # Whether the pending box was drawn or adjusted by hand, not only proposed by a fluke search.
        self._box_drawn = False

        self.view = CropView("Select a photo")
        self.view.pending_changed.connect(self._update_actions)
        self.view.edit_started.connect(self._on_edit_started)

        self.save_action = _crop_action(panel, "&Save Crop", "Ctrl+S", "Store the drawn box as the photo's crop; matching then uses only the pixels inside it")
        self.save_action.triggered.connect(self.save_crop)
        self.whole_photo_action = _crop_action(panel, "&Whole Photo", "Ctrl+Shift+W", "Remove the crop, so matching uses the whole photo")
        self.whole_photo_action.triggered.connect(self.use_whole_photo)
        self.find_fluke_action = _crop_action(panel, "&Find Fluke", "Ctrl+Shift+F", "Propose a box around the fluke, to save or discard")
        self.find_fluke_action.triggered.connect(self.find_fluke)
        self.discard_action = _crop_action(panel, "&Discard Box", QKeySequence(Qt.Key.Key_Escape), "Discard the box that is not yet saved")
        self.discard_action.triggered.connect(self.discard_box)

        # The message describes the box on screen. Saves and removals go to the status bar,
        # where they cannot go stale.
        self._messages = {
            template: template.format(save=_shortcut_text(self.save_action), discard=_shortcut_text(self.discard_action))
            for template in (DRAWN_MESSAGE, NO_FLUKE_MESSAGE, PROPOSED_MESSAGE)
        }
        self.message = MessageLabel([HINT, FINDING_MESSAGE, *self._messages.values()])
        self.buttons = QWidget()
        column = QVBoxLayout(self.buttons)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        for action in self.crop_actions():
            button = QToolButton()
            button.setDefaultAction(action)
            row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        column.addWidget(self.message)
        self._update_actions()

    def crop_actions(self) -> list[QAction]:
        return [self.save_action, self.whole_photo_action, self.find_fluke_action, self.discard_action]

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.keep_drawn_box()
        self.catalogue = catalogue
        self.set_photo(None)

    def set_photo(self, photo_id: int | None) -> None:
        """Leave the shown photo unless it is `photo_id`, saving a box drawn on it."""
        if self.photo is not None and self.photo.id == photo_id:
            return
        self.keep_drawn_box()
        self._abandon_search()
        self._box_drawn = False
        self.photo = None
        self.view.clear("Loading…" if photo_id is not None else "Select a photo")
        self._update_actions()

    def show_photo(self, photo: PhotoSummary, image: QImage, scale: float) -> None:
        """Show a loaded preview. A box drawn on the same photo before a reload stays pending."""
        if self.photo is None or self.photo.id != photo.id:
            self.view.set_pending_box(None)
        self.photo = photo
        self.view.set_photo(image, scale, (photo.width, photo.height), photo.crop)
        self._update_actions()

    # -- actions ----------------------------------------------------------------------------

    def save_crop(self) -> bool:
        """Store the pending box as the crop, and return whether the catalogue now contains it."""
        box = self.view.pending_box
        if box is None or self.photo is None:
            return False
        return self._change_crop(box, f"Saved the crop of {self.photo.original_name}.")

    def use_whole_photo(self) -> bool:
        """Remove the stored crop, and return whether the catalogue now contains the change."""
        if self.photo is None:
            return False
        return self._change_crop(None, f"Removed the crop of {self.photo.original_name}: matching uses the whole photo.")

    def has_drawn_box(self) -> bool:
        """Return whether a box drawn or adjusted by hand is waiting, which leaving the photo saves."""
        return self._box_drawn and self.view.pending_box is not None and self.photo is not None

    def keep_drawn_box(self) -> bool:
        """Save a box drawn by hand and not yet saved, and return whether one was saved.

        Called when its photo is left, so that a box drawn with care is not lost. The save is
        one undo step. During an undo or redo the box is dropped instead, with a warning in the
        log. A box that a fluke search proposed is not saved, because the user has not chosen
        it, unless the user then adjusted it with the arrow keys.
        """
        box = self.view.pending_box
        if not self._box_drawn or box is None or self.photo is None or self.catalogue is None:
            return False
        if box == self.photo.crop:
            return False  # the same as the stored crop, so there is nothing to save or undo
        running = self._undo_stack.running
        if running is not None:
            # The undo stack rejects a push now. `UndoActions` discards the box before an undo
            # and holds back a redo, so only a direct call of the stack's undo or redo gets here.
            log.warning("Dropped the unsaved crop box %s of photo %d, because %r was being undone or redone",
                        box, self.photo.id, running.text())
            return False
        name = self.photo.original_name
        return self._change_crop(box, f"Saved the crop drawn on {name}. Undo (Ctrl+Z) puts back the crop it replaced.")

    def discard_box(self) -> bool:
        """Discard the pending box, and return whether there was one."""
        if self.view.pending_box is None:
            return False
        self.view.set_pending_box(None)
        return True

    def find_fluke(self) -> Worker | None:
        """Start a fluke search in the shown photo, and return the worker (None when it cannot start)."""
        if self.photo is None or self.catalogue is None or self.finder is not None:
            return None
        catalogue = self.catalogue
        photo = self.photo
        worker = self._pool.run(
            lambda progress: find_fluke(catalogue, photo.id, progress), f"fluke search in photo {photo.id}", photo.id
        )
        worker.finished.connect(lambda box: self._on_fluke_found(worker, box))
        worker.failed.connect(lambda message: self._on_search_failed(worker, photo, message))
        worker.done.connect(lambda: self._on_search_done(worker))
        self.finder = worker
        self._update_actions()
        return worker.start()

    def restore_crop(self, photo: PhotoSummary, box: Box | None) -> bool:
        """Store `box` for an undo or redo of a crop drawn on `photo`.

        Return False, after reporting the error, when storing failed.
        """
        if self.catalogue is None:
            return False
        try:
            # The undo history is linear, so the photo has the turn it had when the box was drawn.
            replace_crop(self.catalogue, photo.id, box, photo.rotation)
        except (RecordError, SQLAlchemyError) as exc:
            self._report_store_failure(photo.id, photo.original_name, box, exc)
            return False
        self._on_stored(photo.id, box)
        return True

    # -- storing ----------------------------------------------------------------------------

    def _change_crop(self, box: Box | None, report: str) -> bool:
        """Store `box` for the shown photo as one undo step, and send `report` to the status bar."""
        photo = self.photo
        try:
            before = replace_crop(self.catalogue, photo.id, box, photo.rotation)
        except (RecordError, SQLAlchemyError) as exc:
            self._report_store_failure(photo.id, photo.original_name, box, exc)
            return False
        self.view.set_pending_box(None)
        if before == box:
            self.reported.emit(f"The crop of {photo.original_name} is unchanged.")
            return True
        self._undo_stack.push(CropCommand(self, photo, before, box))
        self._on_stored(photo.id, box)
        self.reported.emit(report)
        return True

    def _on_stored(self, photo_id: int, box: Box | None) -> None:
        log.info("Stored crop %s for photo %d", box, photo_id)
        if self.photo is not None and self.photo.id == photo_id:
            # Shown at once, and the panel's reload after `crop_changed` redraws the cropped views.
            self.photo = dataclasses.replace(self.photo, crop=box)
            self.view.set_stored_box(box)
            self._update_actions()
        self.crop_changed.emit(photo_id)

    def _report_store_failure(self, photo_id: int, file_name: str, box: Box | None, exc: Exception) -> None:
        log.error("Cannot store crop %s for photo %d: %s", box, photo_id, exc)
        if isinstance(exc, PhotoGoneError):
            advice = GONE_ADVICE
        elif isinstance(exc, RecordError):
            advice = "Select the photo again in the catalogue and draw a box inside it."
        else:
            advice = "Check that the catalogue folder is writable and not locked by another program, then try again."
        self.error.emit(f"Cannot change the crop of {file_name}: {error_text(exc)}", advice)

    # -- fluke search -----------------------------------------------------------------------

    def _on_fluke_found(self, worker: Worker, box: Box) -> None:
        if worker is not self.finder:
            return  # the user moved on, or started drawing a box
        self._box_drawn = False
        self.view.set_pending_box(box)

    def _on_search_failed(self, worker: Worker, photo: PhotoSummary, message: str) -> None:
        if worker is not self.finder:
            return
        self.error.emit(
            f"Finding the fluke in {photo.original_name} failed: {message}",
            "Check that the photo file in the catalogue folder is readable, or drag on the photo to draw the box.",
        )

    def _on_search_done(self, worker: Worker) -> None:
        if worker is self.finder:
            self.finder = None
            self._update_actions()

    def turn_pending(self, clockwise: bool) -> None:
        """Turn a box not yet saved with its photo, and drop a running fluke search.

        Called once the turn is stored, before the turned photo is loaded, so the box is still
        in the photo's old pixels here. The shown photo's size and crop turn with it at once,
        so a second turn before the load ends turns the box from the right size. A search would
        give a box in the old pixels.
        """
        self._abandon_search()
        photo = self.photo
        if photo is not None:
            box = self.view.pending_box
            if box is not None:
                self.view.set_pending_box(turn_box(box, photo.width, photo.height, clockwise))
            crop = turn_box(photo.crop, photo.width, photo.height, clockwise) if photo.crop else None
            self.photo = dataclasses.replace(photo, width=photo.height, height=photo.width, crop=crop,
                                 rotation=(photo.rotation + (90 if clockwise else 270)) % 360)
        self._update_actions()

    def _on_edit_started(self) -> None:
        self._abandon_search()
        self._box_drawn = True

    def _abandon_search(self) -> None:
        if self.finder is not None:
            self.finder.abandon()
            self.finder = None
            self._update_actions()

    def _update_actions(self) -> None:
        if self.view.pending_box is None:
            self._box_drawn = False
        has_photo = self.photo is not None
        self.save_action.setEnabled(has_photo and self.view.pending_box is not None)
        self.whole_photo_action.setEnabled(has_photo and self.photo.crop is not None)
        self.find_fluke_action.setEnabled(has_photo and self.finder is None)
        self.discard_action.setEnabled(self.view.pending_box is not None)
        self.message.setText(self._message_text())

    def _message_text(self) -> str:
        """Describe the box on screen, or how to draw one."""
        box = self.view.pending_box
        if self.finder is not None:
            return FINDING_MESSAGE
        if box is None or self.photo is None:
            return HINT
        if self._box_drawn:
            return self._messages[DRAWN_MESSAGE]
        if box == (0, 0, self.photo.width, self.photo.height):
            return self._messages[NO_FLUKE_MESSAGE]
        return self._messages[PROPOSED_MESSAGE]


class MessageLabel(QLabel):
    """A word-wrapped label as high as the longest of `texts` needs at its width.

    Its height depends on its width only, never on the text it shows, so a change of message
    does not move the photo above it.
    """

    def __init__(self, texts: list[str]):
        super().__init__(texts[0])
        self._texts = texts
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def needed_height(self, text: str) -> int:
        """Return the height that `text` takes at the label's width, wrapped as QLabel wraps it."""
        width = max(self.contentsRect().width(), 1)
        flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
        margins = self.contentsMargins()
        text_height = self.fontMetrics().boundingRect(QRect(0, 0, width, 100_000), flags, text).height()
        return text_height + margins.top() + margins.bottom()

    def _fit_height(self) -> None:
        # Only a new width changes the height, so this sets off no further resize.
        self.setFixedHeight(max(self.needed_height(text) for text in self._texts))


def _crop_action(panel: QWidget, text: str, shortcut: str | QKeySequence, tip: str) -> QAction:
    action = QAction(text, panel)
    action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip} ({_shortcut_text(action)})")
    action.setStatusTip(tip)
    # Added to the panel as well as to a menu, so the shortcuts work wherever the panel is shown.
    panel.addAction(action)
    return action


def _shortcut_text(action: QAction) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
