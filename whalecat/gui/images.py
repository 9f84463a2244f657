"""Turn photos and arrays into QImage, the one image type that may cross threads.

QPixmap is tied to the GUI thread, so workers return QImage (or numpy arrays) and widgets
call `QPixmap.fromImage` themselves.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap

log = logging.getLogger(__name__)

# The diverging scale runs from blue (negative) through white (zero) to red (positive).
# Values are clipped at this many standard deviations, so one bright glint cannot wash out
# the rest of the preview.
DIVERGING_LIMIT = 3.0
_BLUE = np.array([33, 102, 172], dtype=np.float32)
_WHITE = np.array([247, 247, 247], dtype=np.float32)
_RED = np.array([178, 24, 43], dtype=np.float32)


def pil_to_qimage(image: Image.Image) -> QImage:
    """Copy a PIL image into a QImage that owns its pixels (RGB or 8-bit grayscale)."""
    if image.mode == "L":
        pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        height, width = pixels.shape
        view = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
        return view.copy()  # the view borrows numpy's buffer, which is freed on return
    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    height, width, _ = pixels.shape
    view = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return view.copy()


def diverging_rgb(values: np.ndarray, limit: float = DIVERGING_LIMIT) -> np.ndarray:
    """Map a 2-D array to uint8 RGB: blue below 0, white at 0, red above, clipped at ±`limit`."""
    scaled = np.clip(values.astype(np.float32) / limit, -1.0, 1.0)[..., np.newaxis]
    negative = _WHITE + (_BLUE - _WHITE) * (-np.minimum(scaled, 0.0))
    positive = _WHITE + (_RED - _WHITE) * np.maximum(scaled, 0.0)
    rgb = np.where(scaled < 0, negative, positive)
    return np.rint(rgb).astype(np.uint8)


def diverging_qimage(values: np.ndarray, limit: float = DIVERGING_LIMIT) -> QImage:
    rgb = np.ascontiguousarray(diverging_rgb(values, limit))
    height, width, _ = rgb.shape
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def diverging_legend(width: int = 256, height: int = 12, limit: float = DIVERGING_LIMIT) -> QImage:
    """A horizontal colour bar from -`limit` (left) to +`limit` (right)."""
    row = np.linspace(-limit, limit, width, dtype=np.float32)
    return diverging_qimage(np.tile(row, (height, 1)), limit)


def load_thumbnail(path: Path) -> QImage:
    """Read a thumbnail file; a missing or broken one gives a null QImage and a log line."""
    image = QImage(str(path))
    if image.isNull():
        log.warning("Thumbnail %s is missing or unreadable", path)
    return image


def centred(pixmap: QPixmap, size: QSize) -> QPixmap:
    """Return `pixmap` scaled to fit `size` and centred on a transparent pixmap of exactly that size.

    Every thumbnail then has the same size. The whale list sizes all rows by its first, so a
    wide first fluke made every row too short for the taller thumbnails below it.
    """
    scaled = pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    canvas = QPixmap(size)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawPixmap((size.width() - scaled.width()) // 2, (size.height() - scaled.height()) // 2, scaled)
    painter.end()
    return canvas
