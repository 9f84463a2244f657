"""One photo as matching uses it: the whole upright photo with its fluke crop, and the cropped
photo in grayscale and as the network input.

The network input is the seed CNN's 100x100 grayscale image after normalization to zero mean
and unit variance, drawn on a diverging blue-white-red scale centred at 0, so contrast that
the network cannot use shows up as a pale, washed-out preview. The crop is edited on the whole
photo through `CropEditor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFormLayout, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import open_catalogue_photo
from whalecat.catalogue.records import PhotoSummary, get_photo
from whalecat.gui.crop_editor import CropEditor
from whalecat.gui.images import DIVERGING_LIMIT, diverging_legend, diverging_qimage, pil_to_qimage
from whalecat.gui.rotation import PhotoTurner
from whalecat.gui.undo import UndoStack
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.imaging.crop import Box
from whalecat.imaging.preprocess import seed_input, thumbnail, to_grayscale
from whalecat.progress import Progress

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1024  # pixels; the panel never shows more, so the worker shrinks first


@dataclass(frozen=True)
class PhotoPreview:
    """What the worker prepares for one photo; only QImage and numpy cross back."""

    photo: PhotoSummary
    file_size: int | None
    original: QImage  # the whole upright photo, at most PREVIEW_SIDE on its longer side
    scale: float  # pixels of `original` per upright photo pixel
    grayscale: QImage  # the photo cut to its crop
    network_input: np.ndarray  # (100, 100) float32, normalized, from the photo cut to its crop

    @property
    def crop(self) -> Box | None:
        return self.photo.crop

    @property
    def input_mean(self) -> float:
        return float(self.network_input.mean())

    @property
    def input_std(self) -> float:
        return float(self.network_input.std())


def load_preview(catalogue: Catalogue, photo_id: int, progress: Progress) -> PhotoPreview:
    """Read a photo and build its three previews; runs in a worker."""
    with catalogue.session() as session:
        photo = get_photo(session, photo_id)
    path = catalogue.folder / photo.stored_name
    upright = open_catalogue_photo(catalogue, photo)
    progress.check()
    whole = thumbnail(upright, PREVIEW_SIDE)
    cropped = upright.crop(photo.crop) if photo.crop else upright
    small = thumbnail(cropped, PREVIEW_SIDE)
    network_input = seed_input(cropped)[:, :, 0]
    try:
        file_size = path.stat().st_size
    except OSError:
        file_size = None
    return PhotoPreview(
        photo,
        file_size,
        pil_to_qimage(whole),
        whole.width / upright.width,
        pil_to_qimage(to_grayscale(small)),
        network_input,
    )


class ScaledImage(QLabel):
    """A QLabel that keeps its pixmap scaled to fit, aspect ratio kept."""

    def __init__(self, placeholder: str = "", smooth: bool = True):
        super().__init__(placeholder)
        self._pixmap: QPixmap | None = None
        self._smooth = smooth
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(120, 90))
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage | None) -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._pixmap is None:
            self.clear()
        self._rescale()

    def source_pixmap(self) -> QPixmap | None:
        return self._pixmap

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        mode = (
            Qt.TransformationMode.SmoothTransformation
            if self._smooth
            else Qt.TransformationMode.FastTransformation  # keep the 100x100 input's pixels visible
        )
        self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, mode))


class PhotoViewPanel(QWidget):
    """Shows the selected photo; `show_photo` loads it in a worker and drops stale results.

    Crop changes go on `undo_stack`, the window's one stack for Edit → Undo.
    """

    crop_changed = Signal(int)  # photo id whose stored crop or turn changed
    turned = Signal(int)  # photo id whose turn changed, so its thumbnail did too
    error = Signal(str, str)  # (what failed, what to do), shown by the window

    def __init__(self, pool: WorkerPool, undo_stack: UndoStack, parent: QWidget | None = None):
        super().__init__(parent)
        self._pool = pool
        self.catalogue: Catalogue | None = None
        self.photo_id: int | None = None
        self.preview: PhotoPreview | None = None
        self.loader: Worker | None = None  # the newest preview load, until it ends

        self.crop_editor = CropEditor(pool, undo_stack, self)
        self.crop_editor.crop_changed.connect(self._on_crop_changed)
        self.crop_editor.error.connect(self.error)
        self.turner = PhotoTurner(undo_stack, self, lambda: self.crop_editor.photo)
        self.turner.turned.connect(self._on_turned)
        self.turner.error.connect(self.error)
        self.original_view = self.crop_editor.view
        self.grayscale_view = ScaledImage()
        self.input_view = ScaledImage(smooth=False)
        self.input_stats = QLabel()
        legend = QLabel()
        legend.setPixmap(QPixmap.fromImage(diverging_legend(160, 10)))
        legend.setToolTip(f"blue: -{DIVERGING_LIMIT:g} σ, white: 0, red: +{DIVERGING_LIMIT:g} σ")
        self.status = QLabel()
        # A long message would otherwise widen the whole window past the screen.
        self.status.setWordWrap(True)

        grid = QGridLayout()
        grid.addWidget(_caption("Original (upright) with its crop"), 0, 0)
        self.grayscale_caption = _caption("Grayscale, cropped")
        grid.addWidget(self.grayscale_caption, 0, 1)
        # Keypoints are found on this grayscale crop. The bundled embedding model takes the
        # crop in colour, and this panel shows the seed CNN's square input.
        grid.addWidget(_caption("Seed CNN input, normalized (100×100)"), 0, 2)
        grid.addWidget(self.original_view, 1, 0)
        grid.addWidget(self.grayscale_view, 1, 1)
        grid.addWidget(self.input_view, 1, 2)
        scale = QVBoxLayout()
        scale.addWidget(legend, alignment=Qt.AlignmentFlag.AlignCenter)
        scale.addWidget(self.input_stats, alignment=Qt.AlignmentFlag.AlignCenter)
        grid.addLayout(scale, 2, 2)
        grid.addWidget(self.crop_editor.buttons, 2, 0, 1, 2, alignment=Qt.AlignmentFlag.AlignTop)
        grid.setRowStretch(1, 1)

        self.metadata = {key: QLabel() for key in ("file", "folder", "size", "taken", "camera", "label")}
        form = QFormLayout()
        for key, caption in (
            ("file", "File name"),
            ("folder", "Imported from"),
            ("size", "Size"),
            ("taken", "Taken"),
            ("camera", "Camera"),
            ("label", "Identification"),
        ):
            self.metadata[key].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(caption, self.metadata[key])

        layout = QVBoxLayout(self)
        layout.addLayout(grid, stretch=1)
        layout.addLayout(form)
        layout.addWidget(self.status)

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self.crop_editor.set_catalogue(catalogue)
        self.turner.set_catalogue(catalogue)
        self.clear()

    def clear(self) -> None:
        self.photo_id = None
        self.preview = None
        self.loader = None
        self.crop_editor.set_photo(None)
        for view in (self.grayscale_view, self.input_view):
            view.set_image(None)
        self.input_stats.clear()
        self.status.clear()
        for label in self.metadata.values():
            label.clear()

    def show_photo(self, photo_id: int):
        """Start loading `photo_id`; returns the worker (None without a catalogue)."""
        if self.catalogue is None:
            return None
        self.photo_id = photo_id
        self.crop_editor.set_photo(photo_id)
        self.status.setText("Loading…")
        # A reload of the same photo after a crop change may finish before an older load,
        # so only the newest load's outcome is shown.
        if self.loader is not None:
            self.loader.abandon()
        catalogue = self.catalogue
        worker = self._pool.run(
            lambda progress: load_preview(catalogue, photo_id, progress), f"preview of photo {photo_id}", photo_id
        )
        worker.finished.connect(lambda preview: self._on_loaded(worker, preview))
        worker.failed.connect(lambda message: self._on_failed(worker, photo_id, message))
        self.loader = worker
        return worker.start()

    def _on_loaded(self, worker: Worker, preview: PhotoPreview) -> None:
        if worker is not self.loader:
            return  # the user moved on to another photo, or the photo is loading again
        self.loader = None
        self.preview = preview
        self.status.clear()
        self.crop_editor.show_photo(preview.photo, preview.original, preview.scale)
        self.grayscale_view.set_image(preview.grayscale)
        self.grayscale_caption.setText("Grayscale, cropped" if preview.crop else "Grayscale, whole photo")
        self.input_view.set_image(diverging_qimage(preview.network_input))
        self.input_stats.setText(f"mean {preview.input_mean:+.3f}, std {preview.input_std:.3f}")
        self._show_metadata(preview)

    def _on_failed(self, worker: Worker, photo_id: int, message: str) -> None:
        if worker is not self.loader:
            return
        self.clear()
        # The message names the photo file and what to do about it.
        self.status.setText(f"Cannot show the photo: {message}.")

    def _on_turned(self, photo_id: int, clockwise: bool) -> None:
        # A photo without a crop keeps none, and no box is proposed, because the user did not
        # request one. `turn_photo` turns a stored crop with the photo.
        if photo_id == self.photo_id:
            self.crop_editor.turn_pending(clockwise)
        self._on_crop_changed(photo_id)  # the previews, the crop and the identification turn too
        # After `crop_changed`, so that a receiver finds the identification already reset.
        self.turned.emit(photo_id)

    def _on_crop_changed(self, photo_id: int) -> None:
        if photo_id == self.photo_id:
            self.show_photo(photo_id)  # the grayscale and network input show the new crop
        self.crop_changed.emit(photo_id)

    def _show_metadata(self, preview: PhotoPreview) -> None:
        photo = preview.photo
        size = f"{photo.width} × {photo.height} px"
        if preview.file_size is not None:
            size += f", {file_size_text(preview.file_size)}"
        if photo.crop:
            size += f" (cropped to {photo.crop[2] - photo.crop[0]} × {photo.crop[3] - photo.crop[1]})"
        self.metadata["file"].setText(photo.original_name)
        self.metadata["folder"].setText(photo.original_folder)
        self.metadata["size"].setText(size)
        self.metadata["taken"].setText(photo.taken_at.strftime("%Y-%m-%d %H:%M") if photo.taken_at else "unknown")
        self.metadata["camera"].setText(photo.camera or "unknown")
        self.metadata["label"].setText(photo.confirmed_label or "unidentified")


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)  # a narrow window wraps the captions instead of widening itself
    return label


def file_size_text(size: int) -> str:
    """Return a file size for people: "740 kB" or "2.4 MB", never "0.0 MB"."""
    if size < 1_000_000:
        return f"{max(round(size / 1000), 1)} kB"
    return f"{size / 1e6:.1f} MB"
