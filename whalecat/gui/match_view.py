"""The query photo beside a candidate's best photo, with the verified keypoint pairs drawn between them.

Keypoint coordinates are pixels of the images the method was given: the upright photo, cut to
its crop box when it has one. Each image here is scaled down for display, so every point is
scaled by the same factor as its image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

log = logging.getLogger(__name__)

GAP = 12  # pixels between the two images
CAPTION_HEIGHT = 20  # pixels above the images for what each one is
PAIR_COLOURS = [QColor("#e41a1c"), QColor("#377eb8"), QColor("#4daf4a"), QColor("#984ea3"), QColor("#ff7f00")]


@dataclass(frozen=True)
class ShownImage:
    """A display copy of an image and the size, in pixels, of the image the method saw."""

    image: QImage
    source_size: tuple[int, int]  # (width, height)
    # The upright photo's pixel at this image's top-left corner: the crop box's left and top.
    origin: tuple[int, int] = (0, 0)


Pair = tuple[tuple[float, float], tuple[float, float]]


class MatchView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.query: ShownImage | None = None
        self.candidate: ShownImage | None = None
        self.pairs: list[Pair] = []
        self.candidate_label = ""
        self.show_pairs = False
        self.placeholder = "Identify a photo to compare it with its candidates"
        self.setMinimumSize(QSize(240, 160))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_images(self, query: ShownImage | None, candidate: ShownImage | None, pairs: list[Pair],
                   candidate_label: str = "") -> None:
        self.query = query
        self.candidate = candidate
        self.pairs = list(pairs)
        self.candidate_label = candidate_label
        self.update()

    def captions(self) -> tuple[str, str]:
        """Return the texts drawn above the query and the candidate."""
        if not self.candidate_label:
            return "This photo", ""
        return "This photo", f"{self.candidate_label}: its most similar photo"

    def set_show_pairs(self, show: bool) -> None:
        self.show_pairs = show
        self.update()

    def drawn_pair_count(self) -> int:
        """How many lines the next paint draws."""
        if not self.show_pairs or self.query is None or self.candidate is None:
            return 0
        return len(self.pairs)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # A small photo is enlarged to fill its half; without this its pixels show as blocks.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), self.palette().base())
        if self.query is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        half = (self.width() - GAP) / 2
        height = max(self.height() - CAPTION_HEIGHT, 1)
        query_caption, candidate_caption = self.captions()
        painter.setPen(QPen(self.palette().text().color()))
        painter.drawText(QRectF(0, 0, half, CAPTION_HEIGHT), Qt.AlignmentFlag.AlignCenter, query_caption)
        candidate_caption = fit_caption(candidate_caption, self.candidate_label, painter.fontMetrics(), half)
        painter.drawText(QRectF(half + GAP, 0, half, CAPTION_HEIGHT), Qt.AlignmentFlag.AlignCenter,
                         candidate_caption)
        left = _fit(self.query.image, QRectF(0, CAPTION_HEIGHT, half, height))
        painter.drawImage(left, self.query.image)
        if self.candidate is None:
            right_area = QRectF(half + GAP, CAPTION_HEIGHT, half, height)
            painter.drawText(right_area, Qt.AlignmentFlag.AlignCenter, "no photo for this candidate")
            return
        right = _fit(self.candidate.image, QRectF(half + GAP, CAPTION_HEIGHT, half, height))
        painter.drawImage(right, self.candidate.image)
        if self.drawn_pair_count() == 0:
            return
        for number, (query_point, candidate_point) in enumerate(self.pairs):
            pen = QPen(PAIR_COLOURS[number % len(PAIR_COLOURS)], 1.5)
            painter.setPen(pen)
            start = _map_point(query_point, self.query.source_size, left)
            end = _map_point(candidate_point, self.candidate.source_size, right)
            painter.drawLine(start, end)
            painter.drawEllipse(start, 3, 3)
            painter.drawEllipse(end, 3, 3)


def fit_caption(caption: str, label: str, metrics: QFontMetrics, width: float) -> str:
    """Return `caption` within `width` pixels, shortening only `label`, in its middle.

    A long id such as flukebook's differs in the middle, and the words after it name what
    the photo is, so neither end is cut.
    """
    if not label or metrics.horizontalAdvance(caption) <= width:
        return caption
    rest = caption[len(label):] if caption.startswith(label) else ""
    room = max(int(width - metrics.horizontalAdvance(rest)), 0)
    return metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, room) + rest


def _fit(image: QImage, area: QRectF) -> QRectF:
    """The largest rectangle with the image's aspect ratio, centred in `area`."""
    if image.width() == 0 or image.height() == 0:
        return area
    scale = min(area.width() / image.width(), area.height() / image.height())
    width, height = image.width() * scale, image.height() * scale
    return QRectF(area.x() + (area.width() - width) / 2, area.y() + (area.height() - height) / 2, width, height)


def _map_point(point: tuple[float, float], source_size: tuple[int, int], target: QRectF) -> QPointF:
    x, y = point
    return QPointF(
        target.x() + x * target.width() / max(source_size[0], 1),
        target.y() + y * target.height() / max(source_size[1], 1),
    )
