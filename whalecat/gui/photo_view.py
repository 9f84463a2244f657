"""One photo as the matching code sees it: upright original, grayscale, and the network input.

The network input is the seed CNN's 100x100 grayscale image after normalization to zero mean
and unit variance, drawn on a diverging blue-white-red scale centred at 0, so contrast that
the network cannot use shows up as a pale, washed-out preview.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFormLayout, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import PhotoSummary, get_photo
from whalecat.gui.images import DIVERGING_LIMIT, diverging_legend, diverging_qimage, pil_to_qimage
from whalecat.gui.worker import WorkerPool
from whalecat.imaging.io import open_photo
from whalecat.imaging.preprocess import seed_input, thumbnail, to_grayscale
from whalecat.progress import Progress

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1024  # pixels; the panel never shows more, so the worker shrinks first


@dataclass(frozen=True)
class PhotoPreview:
    """What the worker prepares for one photo; only QImage and numpy cross back."""

    photo: PhotoSummary
    file_size: int | None
    original: QImage
    grayscale: QImage
    network_input: np.ndarray  # (100, 100) float32, normalized

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
    upright = open_photo(path)
    progress.check()
    if photo.crop:
        upright = upright.crop(photo.crop)
    small = thumbnail(upright, PREVIEW_SIDE)
    network_input = seed_input(upright)[:, :, 0]
    try:
        file_size = path.stat().st_size
    except OSError:
        file_size = None
    return PhotoPreview(photo, file_size, pil_to_qimage(small), pil_to_qimage(to_grayscale(small)), network_input)


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
    """Shows the selected photo; `show_photo` loads it in a worker and drops stale results."""

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None):
        super().__init__(parent)
        self._pool = pool
        self.catalogue: Catalogue | None = None
        self.photo_id: int | None = None
        self.preview: PhotoPreview | None = None

        self.original_view = ScaledImage("Select a photo")
        self.grayscale_view = ScaledImage()
        self.input_view = ScaledImage(smooth=False)
        self.input_stats = QLabel()
        legend = QLabel()
        legend.setPixmap(QPixmap.fromImage(diverging_legend(160, 10)))
        legend.setToolTip(f"blue: -{DIVERGING_LIMIT:g} σ, white: 0, red: +{DIVERGING_LIMIT:g} σ")
        self.status = QLabel()

        grid = QGridLayout()
        grid.addWidget(_caption("Original (upright)"), 0, 0)
        grid.addWidget(_caption("Grayscale"), 0, 1)
        grid.addWidget(_caption("Network input, normalized (100×100)"), 0, 2)
        grid.addWidget(self.original_view, 1, 0)
        grid.addWidget(self.grayscale_view, 1, 1)
        grid.addWidget(self.input_view, 1, 2)
        scale = QVBoxLayout()
        scale.addWidget(legend, alignment=Qt.AlignmentFlag.AlignCenter)
        scale.addWidget(self.input_stats, alignment=Qt.AlignmentFlag.AlignCenter)
        grid.addLayout(scale, 2, 2)
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
        self.clear()

    def clear(self) -> None:
        self.photo_id = None
        self.preview = None
        for view in (self.original_view, self.grayscale_view, self.input_view):
            view.set_image(None)
        self.original_view.setText("Select a photo")
        self.input_stats.clear()
        self.status.clear()
        for label in self.metadata.values():
            label.clear()

    def show_photo(self, photo_id: int):
        """Start loading `photo_id`; returns the worker (None without a catalogue)."""
        if self.catalogue is None:
            return None
        self.photo_id = photo_id
        self.status.setText("Loading…")
        catalogue = self.catalogue
        worker = self._pool.run(lambda progress: load_preview(catalogue, photo_id, progress), f"preview of photo {photo_id}")
        worker.finished.connect(self._on_loaded)
        worker.failed.connect(lambda message: self._on_failed(photo_id, message))
        return worker.start()

    def _on_loaded(self, preview: PhotoPreview) -> None:
        if preview.photo.id != self.photo_id:
            return  # the user moved on to another photo
        self.preview = preview
        self.status.clear()
        self.original_view.set_image(preview.original)
        self.grayscale_view.set_image(preview.grayscale)
        self.input_view.set_image(diverging_qimage(preview.network_input))
        self.input_stats.setText(f"mean {preview.input_mean:+.3f}, std {preview.input_std:.3f}")
        self._show_metadata(preview)

    def _on_failed(self, photo_id: int, message: str) -> None:
        if photo_id != self.photo_id:
            return
        self.clear()
        self.status.setText(
            f"Photo {photo_id} could not be shown: {message}. "
            "Check that the catalogue folder is complete and readable."
        )

    def _show_metadata(self, preview: PhotoPreview) -> None:
        photo = preview.photo
        size = f"{photo.width} × {photo.height} px"
        if preview.file_size is not None:
            size += f", {preview.file_size / 1e6:.1f} MB"
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
    return label
