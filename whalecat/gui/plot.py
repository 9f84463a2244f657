"""A small line plot drawn with QPainter, for per-epoch training curves.

QtCharts is not part of PySide6-Essentials, which is what whalecat depends on, so the
training panel draws its loss and accuracy curves with this widget instead.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

log = logging.getLogger(__name__)

MARGIN_LEFT = 48  # pixels, the minimum room for the y-axis labels; wider labels get more
MARGIN_RIGHT = 12
MARGIN_TOP = 22  # room for the title and the legend
MARGIN_BOTTOM = 22  # room for the x-axis labels


@dataclass
class Series:
    """One curve: a y value per epoch, counted from 1."""

    name: str
    colour: QColor
    values: list[float] = field(default_factory=list)
    dashed: bool = False


class LinePlot(QWidget):
    """Curves over epochs, with the y range fitted to the values shown."""

    def __init__(self, title: str, ceiling: float | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self.ceiling = ceiling  # the largest possible value, such as 1 for an accuracy
        self.series: dict[str, Series] = {}
        self.x_max = 1  # epochs on the x axis, so a curve grows into a fixed frame
        self.setMinimumSize(QSize(240, 140))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def add_series(self, key: str, name: str, colour: str, dashed: bool = False) -> None:
        self.series[key] = Series(name, QColor(colour), [], dashed)

    def append(self, key: str, value: float) -> None:
        self.series[key].values.append(float(value))
        self.update()

    def clear(self, x_max: int = 1) -> None:
        for series in self.series.values():
            series.values.clear()
        self.x_max = max(x_max, 1)
        self.update()

    def values(self, key: str) -> list[float]:
        return list(self.series[key].values)

    def margin_left(self, values) -> int:
        """Return the pixels left of the plot area: enough for the widest y-axis label."""
        metrics = self.fontMetrics()
        return max([MARGIN_LEFT] + [metrics.horizontalAdvance(_label(v)) + 8 for v in values])

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        text_pen = QPen(self.palette().text().color())
        painter.setPen(text_pen)
        painter.drawText(QRectF(MARGIN_LEFT, 2, self.width(), MARGIN_TOP - 4), Qt.AlignmentFlag.AlignLeft, self.title)

        shown = [s for s in self.series.values() if any(math.isfinite(v) for v in s.values)]
        low, high = _y_range([v for s in shown for v in s.values if math.isfinite(v)] or [0.0], self.ceiling)
        labels = {high: Qt.AlignmentFlag.AlignTop, low: Qt.AlignmentFlag.AlignBottom}
        margin_left = self.margin_left(labels)
        area = QRectF(
            margin_left,
            MARGIN_TOP,
            max(self.width() - margin_left - MARGIN_RIGHT, 1),
            max(self.height() - MARGIN_TOP - MARGIN_BOTTOM, 1),
        )
        painter.setPen(QPen(self.palette().mid().color()))
        painter.drawRect(area)
        if not shown:
            painter.setPen(text_pen)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "no epochs yet")
            return

        x_max = max(self.x_max, max(len(s.values) for s in shown))
        painter.setPen(text_pen)
        for value, flag in labels.items():
            top = area.top() if flag == Qt.AlignmentFlag.AlignTop else area.bottom() - 16
            label_box = QRectF(0, top, margin_left - 4, 16)
            painter.drawText(label_box, flag | Qt.AlignmentFlag.AlignRight, _label(value))
        below = QRectF(area.left(), area.bottom() + 2, area.width(), MARGIN_BOTTOM - 2)
        painter.drawText(below, Qt.AlignmentFlag.AlignLeft, "epoch 1")
        painter.drawText(below, Qt.AlignmentFlag.AlignRight, f"{x_max}")

        legend_x = area.right()
        for series in reversed(shown):
            width = painter.fontMetrics().horizontalAdvance(series.name) + 8
            legend_x -= width
            painter.setPen(QPen(series.colour))
            painter.drawText(QRectF(legend_x, 2, width, MARGIN_TOP - 4), Qt.AlignmentFlag.AlignLeft, series.name)

        for series in shown:
            points = QPolygonF()
            for index, value in enumerate(series.values):
                if math.isfinite(value):
                    points.append(_to_screen(index + 1, value, x_max, low, high, area))
            pen = QPen(series.colour, 1.6)
            if series.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawPolyline(points)
            for point in points:
                painter.drawEllipse(point, 2, 2)


def _y_range(values: list[float], ceiling: float | None = None) -> tuple[float, float]:
    """Return the y axis' (low, high): the values with a margin, never below zero when none is,
    because losses and accuracies cannot be negative, and never above `ceiling` when none is."""
    low, high = min(values), max(values)
    if high - low < 1e-9:  # a flat curve still gets a visible band around it
        pad = max(abs(high) * 0.1, 1e-3)
    else:
        pad = (high - low) * 0.05
    bottom = low - pad if low < 0 else max(low - pad, 0.0)
    top = high + pad
    if ceiling is not None and high <= ceiling:
        top = min(top, ceiling)
    return bottom, top


def _label(value: float) -> str:
    return f"{value:.3g}"


def _to_screen(epoch: int, value: float, x_max: int, low: float, high: float, area: QRectF) -> QPointF:
    x_fraction = 0.5 if x_max <= 1 else (epoch - 1) / (x_max - 1)
    y_fraction = (value - low) / (high - low)
    return QPointF(area.left() + x_fraction * area.width(), area.bottom() - y_fraction * area.height())
