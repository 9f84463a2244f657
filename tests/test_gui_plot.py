"""The training curves' plot: its y range and the room it leaves for the axis labels."""

from __future__ import annotations

from PySide6.QtGui import QImage

from whalecat.gui.plot import MARGIN_LEFT, LinePlot, _y_range


def test_flat_zero_stays_above_zero():
    low, high = _y_range([0.0, 0.0, 0.0])
    assert low == 0.0
    assert high > 0.0


def test_range_pads_both_sides_of_negative_values():
    low, high = _y_range([-2.0, 1.0])
    assert low < -2.0
    assert high > 1.0


def test_positive_range_stops_at_zero():
    low, _ = _y_range([0.01, 4.0])
    assert low == 0.0


def test_accuracy_axis_stops_at_one():
    # The axis read 1.01 above an accuracy of 1.
    assert _y_range([0.75, 1.0], ceiling=1.0)[1] == 1.0
    assert _y_range([1.0, 1.0], ceiling=1.0) == (0.9, 1.0)
    assert _y_range([0.75, 1.0])[1] > 1.0


def test_wide_labels_widen_the_margin(qtbot):
    plot = LinePlot("Loss")
    qtbot.addWidget(plot)
    assert plot.margin_left([0.5, 1.0]) == MARGIN_LEFT
    wide = plot.margin_left([1.23e-05, 123456.0])
    assert wide > MARGIN_LEFT
    assert wide >= plot.fontMetrics().horizontalAdvance("1.23e+05") + 8


def test_plot_paints_with_wide_values(qtbot):
    plot = LinePlot("Loss")
    qtbot.addWidget(plot)
    plot.add_series("training", "training", "#377eb8")
    plot.resize(300, 160)
    for value in (123456.0, 98765.0, 4321.0):
        plot.append("training", value)
    image = QImage(plot.size(), QImage.Format.Format_ARGB32)
    plot.render(image)
    colours = {image.pixel(x, y) for x in range(0, 300, 3) for y in range(0, 160, 3)}
    assert len(colours) > 2  # the frame, labels and curve were drawn on the background
