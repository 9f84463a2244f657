"""Seeing and adjusting a photo's fluke crop in the main window, on a real SQLite catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QToolButton

from tests.helpers import save_fluke
from tests.test_gui_support import WAIT_MS, make_identifier, no_thread_left  # noqa: F401  (fixtures)
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Photo
from whalecat.catalogue.orientation import turn_photo
from whalecat.catalogue.records import get_photo
from whalecat.gui.crop_editor import HINT, moved_box, resized_box, starting_box
from whalecat.gui.main_window import MainWindow
from whalecat.gui.photo_view import PREVIEW_SIDE
from whalecat.gui.settings import Settings
from whalecat.imaging.crop import MIN_SIDE, locate_fluke
from whalecat.imaging.io import open_photo
from whalecat.imaging.synthetic import fluke_photo
from whalecat.importing import import_paths

# Larger than PREVIEW_SIDE, so the preview is shrunk and the view must undo that scale.
LARGE_SIZE = (2000, 1250)
IDENTIFY_WAIT_MS = 120_000  # the first identification loads TensorFlow and the model


@pytest.fixture
def catalogue_folder(tmp_path) -> Path:
    """A catalogue with two imported synthetic flukes: large.jpg (2000x1250) and small.jpg."""
    photos = tmp_path / "in"
    photos.mkdir()
    fluke_photo(3, 0, size=LARGE_SIZE).save(photos / "large.jpg", format="JPEG")
    save_fluke(photos / "small.jpg", individual=4)
    folder = tmp_path / "cat"
    with Catalogue.open(folder) as catalogue:
        report = import_paths(catalogue, [photos])
    assert report.imported == 2
    return folder


@pytest.fixture
def window(qtbot, tmp_path, catalogue_folder, no_thread_left):  # noqa: F811
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    settings.device = "cpu"  # as make_identifier does, so the window keeps one identifier
    main = MainWindow(settings, identifier_factory=make_identifier)
    qtbot.addWidget(main)
    assert main.open_catalogue(catalogue_folder)
    main.show()
    qtbot.waitExposed(main)
    yield main
    main.quit_anyway()


def photo_id_of(window: MainWindow, name: str) -> int:
    return next(p.id for p in window.browser.unidentified_model.photos if p.original_name == name)


def select_photo(qtbot, window: MainWindow, name: str) -> int:
    """Select a photo in the browser and wait until the Photo tab shows it."""
    photo_id = photo_id_of(window, name)
    assert window.browser.select_unidentified_photo(photo_id)
    editor = window.photo_view.crop_editor
    qtbot.waitUntil(lambda: editor.photo is not None and editor.photo.id == photo_id, timeout=WAIT_MS)
    return photo_id


def wait_for_reload(qtbot, window: MainWindow, crop) -> None:
    """Wait until the panel's preview was loaded again with `crop` stored."""
    panel = window.photo_view
    qtbot.waitUntil(lambda: panel.preview is not None and panel.preview.crop == crop and not window.pool.workers, timeout=WAIT_MS)


def stored_crop(window: MainWindow, photo_id: int):
    with window.catalogue.session() as session:
        return get_photo(session, photo_id).crop


def widget_point(view, photo_size, x: float, y: float) -> QPoint:
    """Map upright photo pixels to the view, worked out here rather than by the view itself."""
    width, height = photo_size
    factor = min(view.width() / width, view.height() / height)
    left = (view.width() - width * factor) / 2
    top = (view.height() - height * factor) / 2
    return QPoint(round(left + x * factor), round(top + y * factor))


def tolerance(view, photo_size) -> float:
    """Photo pixels that one widget pixel of rounding, and the outward rounding, may shift a side."""
    width, height = photo_size
    return max(width / view.width(), height / view.height()) + 2


def drag(view, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view, (start + end) / 2)
    QTest.mouseMove(view, end)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def button_for(window: MainWindow, action) -> QToolButton:
    buttons = [b for b in window.photo_view.crop_editor.buttons.findChildren(QToolButton) if b.defaultAction() is action]
    assert len(buttons) == 1
    return buttons[0]


def assert_close(box, expected, slack: float) -> None:
    assert box is not None
    for side, (got, wanted) in enumerate(zip(box, expected)):
        assert abs(got - wanted) <= slack, f"side {side} of {box} is not within {slack:.1f} px of {expected}"


def activate(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window


def test_original_view_shows_whole_photo(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    preview = window.photo_view.preview
    crop = stored_crop(window, photo_id)

    assert (preview.original.width(), preview.original.height()) == (PREVIEW_SIDE, 640)
    assert preview.scale == pytest.approx(PREVIEW_SIDE / LARGE_SIZE[0])
    assert preview.crop == crop
    assert window.photo_view.original_view.stored_box == crop
    assert window.photo_view.original_view.source_pixmap().width() == PREVIEW_SIDE


def test_actions_disabled_without_photo(qtbot, window):
    editor = window.photo_view.crop_editor
    for action in editor.crop_actions():
        assert not action.isEnabled(), action.text()

    photo_id = select_photo(qtbot, window, "large.jpg")

    assert editor.find_fluke_action.isEnabled()
    assert not editor.save_action.isEnabled()
    assert not editor.discard_action.isEnabled()
    assert editor.whole_photo_action.isEnabled() == (stored_crop(window, photo_id) is not None)
    assert not button_for(window, editor.save_action).isEnabled()


def test_drawn_box_saved_undo_redo(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    editor = window.photo_view.crop_editor
    before = stored_crop(window, photo_id)
    target = (400, 300, 1200, 900)  # under PREVIEW_SIDE, so the grayscale preview is the crop itself
    slack = tolerance(view, LARGE_SIZE)

    drag(view, widget_point(view, LARGE_SIZE, *target[:2]), widget_point(view, LARGE_SIZE, *target[2:]))
    assert_close(view.pending_box, target, slack)
    assert editor.save_action.isEnabled()
    with qtbot.waitSignal(window.photo_view.crop_changed, timeout=WAIT_MS) as changed:
        qtbot.mouseClick(button_for(window, editor.save_action), Qt.MouseButton.LeftButton)

    assert changed.args == [photo_id]
    saved = stored_crop(window, photo_id)
    assert_close(saved, target, slack)
    assert saved != before
    assert view.pending_box is None
    assert view.stored_box == saved
    assert window.confirmations.undo_stack.undoText() == "Change crop of large.jpg"

    wait_for_reload(qtbot, window, saved)
    grayscale = window.photo_view.preview.grayscale
    assert (grayscale.width(), grayscale.height()) == (saved[2] - saved[0], saved[3] - saved[1])
    assert window.photo_view.preview.original.width() == PREVIEW_SIDE

    window.undo_action.trigger()
    assert stored_crop(window, photo_id) == before
    assert view.stored_box == before
    wait_for_reload(qtbot, window, before)

    window.redo_action.trigger()
    assert stored_crop(window, photo_id) == saved
    assert view.stored_box == saved
    wait_for_reload(qtbot, window, saved)


def test_drawn_box_kept_on_leaving_photo(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    target = (400, 300, 1200, 900)
    slack = tolerance(view, LARGE_SIZE)
    drag(view, widget_point(view, LARGE_SIZE, *target[:2]), widget_point(view, LARGE_SIZE, *target[2:]))

    select_photo(qtbot, window, "small.jpg")

    assert_close(stored_crop(window, photo_id), target, slack)
    assert window.statusBar().currentMessage() == "Saved the crop drawn on large.jpg. Undo (Ctrl+Z) puts back the crop it replaced."
    assert window.confirmations.undo_stack.undoText() == "Change crop of large.jpg"


def test_proposed_box_not_kept_on_leaving_photo(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    before = stored_crop(window, photo_id)
    editor = window.photo_view.crop_editor
    with qtbot.waitSignal(editor.find_fluke().done, timeout=WAIT_MS):
        pass
    assert editor.view.pending_box is not None

    select_photo(qtbot, window, "small.jpg")

    assert stored_crop(window, photo_id) == before
    assert window.confirmations.undo_stack.count() == 0


def test_drawn_box_kept_on_quitting(qtbot, window, catalogue_folder):
    photo_id = select_photo(qtbot, window, "small.jpg")
    view = window.photo_view.original_view
    size = (window.photo_view.crop_editor.photo.width, window.photo_view.crop_editor.photo.height)
    target = (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2)
    drag(view, widget_point(view, size, *target[:2]), widget_point(view, size, *target[2:]))

    window.close()

    with Catalogue.open(catalogue_folder) as catalogue, catalogue.session() as session:
        assert_close(get_photo(session, photo_id).crop, target, tolerance(view, size))


def test_whole_photo_stores_none(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    editor = window.photo_view.crop_editor
    drag(view, widget_point(view, LARGE_SIZE, 200, 200), widget_point(view, LARGE_SIZE, 1200, 900))
    assert editor.save_crop()
    saved = stored_crop(window, photo_id)
    assert saved is not None
    assert editor.whole_photo_action.isEnabled()

    qtbot.mouseClick(button_for(window, editor.whole_photo_action), Qt.MouseButton.LeftButton)

    assert stored_crop(window, photo_id) is None
    assert view.stored_box is None
    assert not editor.whole_photo_action.isEnabled()
    wait_for_reload(qtbot, window, None)
    grayscale = window.photo_view.preview.grayscale
    assert (grayscale.width(), grayscale.height()) == (PREVIEW_SIDE, 640)
    assert window.photo_view.grayscale_caption.text() == "Grayscale, whole photo"

    window.undo_action.trigger()
    assert stored_crop(window, photo_id) == saved
    wait_for_reload(qtbot, window, saved)
    assert window.photo_view.grayscale_caption.text() == "Grayscale, cropped"


def test_find_fluke_proposes_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    before = stored_crop(window, photo_id)

    window.right_tabs.setCurrentWidget(window.identify_panel)
    editor.find_fluke_action.trigger()  # as the Photo menu does
    worker = editor.finder
    assert worker is not None
    assert not editor.find_fluke_action.isEnabled()
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass

    box = editor.view.pending_box
    assert window.right_tabs.currentWidget() is window.photo_view
    assert window.error_box is None
    assert box is not None
    left, top, right, bottom = box
    assert 0 <= left < right <= LARGE_SIZE[0]
    assert 0 <= top < bottom <= LARGE_SIZE[1]
    with window.catalogue.session() as session:
        stored_name = get_photo(session, photo_id).stored_name
    assert box == locate_fluke(open_photo(window.catalogue.folder / stored_name))
    assert stored_crop(window, photo_id) == before  # proposed, not stored
    assert editor.find_fluke_action.isEnabled()

    assert editor.save_crop()
    assert stored_crop(window, photo_id) == box


def test_box_outside_photo_clamped(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    editor = window.photo_view.crop_editor
    slack = tolerance(view, LARGE_SIZE)

    inside = widget_point(view, LARGE_SIZE, 1000, 600)
    drag(view, inside, QPoint(view.width() + 40, view.height() + 40))
    assert_close(view.pending_box, (1000, 600, *LARGE_SIZE), slack)
    assert view.pending_box[2:] == LARGE_SIZE

    drag(view, inside, QPoint(-40, -40))
    assert_close(view.pending_box, (0, 0, 1000, 600), slack)
    assert view.pending_box[:2] == (0, 0)

    assert editor.save_crop()
    assert stored_crop(window, photo_id) == view.stored_box
    assert stored_crop(window, photo_id)[:2] == (0, 0)


def test_click_leaves_no_box(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    point = widget_point(view, LARGE_SIZE, 1000, 600)

    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)

    assert view.pending_box is None
    assert not window.photo_view.crop_editor.save_action.isEnabled()


def test_escape_discards_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "small.jpg")
    view = window.photo_view.original_view
    editor = window.photo_view.crop_editor
    size = (480, 320)
    before = stored_crop(window, photo_id)
    commands = window.confirmations.undo_stack.count()
    drag(view, widget_point(view, size, 50, 40), widget_point(view, size, 300, 250))
    assert view.pending_box is not None
    assert editor.discard_action.isEnabled()

    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Escape)

    assert view.pending_box is None
    assert not editor.save_action.isEnabled()
    assert not editor.discard_action.isEnabled()
    assert stored_crop(window, photo_id) == before
    assert window.confirmations.undo_stack.count() == commands


def test_save_shortcut_stores_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "small.jpg")
    view = window.photo_view.original_view
    size = (480, 320)
    target = (60, 40, 420, 280)
    drag(view, widget_point(view, size, *target[:2]), widget_point(view, size, *target[2:]))

    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)

    assert_close(stored_crop(window, photo_id), target, tolerance(view, size))
    wait_for_reload(qtbot, window, stored_crop(window, photo_id))


def test_save_for_removed_photo_fails(qtbot, window):
    photo_id = select_photo(qtbot, window, "small.jpg")
    view = window.photo_view.original_view
    size = (480, 320)
    drag(view, widget_point(view, size, 50, 40), widget_point(view, size, 300, 250))
    pending = view.pending_box
    with window.catalogue.session() as session:
        session.delete(session.get(Photo, photo_id))
        session.commit()

    assert not window.photo_view.crop_editor.save_crop()

    assert window.error_box is not None
    assert "Cannot change the crop of small.jpg" in window.error_box.text()
    assert window.error_box.informativeText().startswith("It was removed outside this window")
    assert view.pending_box == pending
    assert window.confirmations.undo_stack.count() == 0


def test_failed_undo_drops_command(qtbot, window):
    photo_id = select_photo(qtbot, window, "small.jpg")
    view = window.photo_view.original_view
    editor = window.photo_view.crop_editor
    size = (480, 320)
    drag(view, widget_point(view, size, 50, 40), widget_point(view, size, 300, 250))
    assert editor.save_crop()
    wait_for_reload(qtbot, window, stored_crop(window, photo_id))
    stack = window.confirmations.undo_stack
    assert stack.count() == 1
    with window.catalogue.session() as session:
        session.delete(session.get(Photo, photo_id))
        session.commit()

    window.undo_action.trigger()

    assert window.error_box is not None
    assert "Cannot change the crop of small.jpg" in window.error_box.text()
    assert stack.count() == 0
    assert not stack.canUndo()
    assert not stack.canRedo()


def test_crop_shortcuts_unique(window):
    photo_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Photo")
    assert [a.text() for a in photo_menu.actions()] == [
        "&Save Crop", "&Whole Photo", "&Find Fluke", "&Discard Box", "Rotate &Left", "Rotate &Right",
        "", "Re&move from Catalogue",
    ]
    shortcuts = [
        shortcut.toString()
        for menu_action in window.menuBar().actions()
        for action in menu_action.menu().actions()
        for shortcut in action.shortcuts()
        if not shortcut.isEmpty()
    ]
    duplicates = sorted({s for s in shortcuts if shortcuts.count(s) > 1})
    assert duplicates == []
    assert QKeySequence(Qt.Key.Key_Escape).toString() in shortcuts


def test_crop_change_resets_identification(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    worker = window.identify_selected()
    assert worker is not None
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    assert window.identify_panel.result is not None
    window.right_tabs.setCurrentWidget(window.photo_view)
    view = window.photo_view.original_view
    drag(view, widget_point(view, LARGE_SIZE, 300, 200), widget_point(view, LARGE_SIZE, 1500, 1000))

    assert window.photo_view.crop_editor.save_crop()

    assert window.identify_panel.result is None
    assert window.identify_panel.photo_id == photo_id
    assert window.identify_panel.identify_button.isEnabled()
    wait_for_reload(qtbot, window, stored_crop(window, photo_id))


def test_rotate_turns_photo_and_undoes(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    crop = stored_crop(window, photo_id)
    turner = window.photo_view.turner

    window.photo_view.original_view.set_pending_box((100, 100, 900, 600))
    with qtbot.waitSignal(window.photo_view.crop_changed, timeout=WAIT_MS):
        turner.right_action.trigger()
    # The box not yet saved turns with the photo: 2000x1250 becomes 1250x2000.
    assert window.photo_view.original_view.pending_box == (650, 100, 1150, 900)
    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 90 and not window.pool.workers, timeout=WAIT_MS)
    assert window.photo_view.original_view.pending_box == (650, 100, 1150, 900)
    preview = window.photo_view.preview
    assert (preview.photo.width, preview.photo.height) == (LARGE_SIZE[1], LARGE_SIZE[0])
    assert preview.original.height() > preview.original.width()
    assert window.confirmations.undo_stack.undoText() == "Rotate large.jpg right"
    assert window.statusBar().currentMessage() == "Rotated large.jpg right. Undo (Ctrl+Z) turns it back."
    thumbnail = window.browser.thumbnails.get(preview.photo.sha256).toImage()
    opaque = [(x, y) for x in range(thumbnail.width()) for y in range(thumbnail.height())
              if thumbnail.pixelColor(x, y).alpha() > 0]
    columns = {x for x, _ in opaque}
    rows = {y for _, y in opaque}
    assert len(rows) > len(columns)  # the turned thumbnail is upright in its padded icon

    window.photo_view.crop_editor.discard_action.trigger()
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 0 and not window.pool.workers, timeout=WAIT_MS)
    assert stored_crop(window, photo_id) == crop
    assert window.photo_view.preview.original.width() > window.photo_view.preview.original.height()


def test_two_quick_turns_keep_box(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    window.photo_view.original_view.set_pending_box((100, 100, 900, 600))
    turner = window.photo_view.turner

    turner.right_action.trigger()
    turner.right_action.trigger()  # before the first turn's photo has loaded

    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 180 and not window.pool.workers, timeout=WAIT_MS)
    assert window.photo_view.original_view.pending_box == (1100, 650, 1900, 1150)


def test_box_on_photo_turned_outside_is_refused(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    window.photo_view.original_view.set_pending_box((100, 100, 900, 600))
    with Catalogue.open(window.catalogue.folder) as other:  # as the command line would
        turn_photo(other, photo_id, clockwise=True)
    turned_crop = stored_crop(window, photo_id)

    window.photo_view.crop_editor.save_action.trigger()
    assert window.error_box.text() == (
        "Cannot change the crop of large.jpg: large.jpg was turned outside this window after the box was drawn"
    )
    assert stored_crop(window, photo_id) == turned_crop

    window.reload_action.trigger()  # keeps the box, so the refused box stays on show
    assert window.photo_view.original_view.pending_box == (100, 100, 900, 600)
    window.photo_view.crop_editor.discard_action.trigger()
    window.reload_action.trigger()
    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 90 and not window.pool.workers, timeout=WAIT_MS)
    assert window.photo_view.preview.crop == turned_crop


def test_turn_without_crop_proposes_nothing(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    view = window.photo_view.original_view
    assert editor.use_whole_photo()
    wait_for_reload(qtbot, window, None)
    window.right_tabs.setCurrentWidget(window.identify_panel)

    window.photo_view.turner.right_action.trigger()  # as the Photo menu and Ctrl+] do

    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 90 and not window.pool.workers, timeout=WAIT_MS)
    assert view.pending_box is None
    assert editor.finder is None
    assert editor.message.text() == HINT
    assert stored_crop(window, photo_id) is None
    assert window.right_tabs.currentWidget() is window.identify_panel

    window.undo_action.trigger()

    qtbot.waitUntil(lambda: window.photo_view.preview.photo.rotation == 0 and not window.pool.workers, timeout=WAIT_MS)
    assert view.pending_box is None
    assert editor.finder is None
    assert stored_crop(window, photo_id) is None
    assert window.right_tabs.currentWidget() is window.identify_panel


@pytest.mark.parametrize("change", ["turn", "whole photo"])
def test_new_pixels_identified_again_on_select(qtbot, window, change):
    window.identify_on_select_action.setChecked(True)
    photo_id = select_photo(qtbot, window, "large.jpg")
    panel = window.identify_panel
    with qtbot.waitSignal(panel.worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    assert panel.result is not None

    if change == "turn":
        window.photo_view.turner.right_action.trigger()
    else:
        assert window.photo_view.crop_editor.use_whole_photo()

    # The candidates came from the photo's old pixels or crop, so a new run replaces them.
    assert panel.result is None
    assert panel.photo_id == photo_id
    worker = panel.worker
    assert worker is not None
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    assert panel.result is not None
    assert panel.result.photo_id == photo_id
    qtbot.waitUntil(lambda: not window.pool.workers, timeout=WAIT_MS)


# -- the keyboard ------------------------------------------------------------------------------

SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier
# LARGE_SIZE's longer side is 2000 pixels: a step is 1 % of it, a large step 10 %.
STEP = 20
LARGE_STEP = 200


def store_crop(qtbot, window: MainWindow, photo_id: int, box) -> None:
    """Save `box` as the shown photo's crop and wait for the reload, so the keys start from it."""
    window.photo_view.original_view.set_pending_box(box)
    assert window.photo_view.crop_editor.save_crop()
    assert stored_crop(window, photo_id) == box
    wait_for_reload(qtbot, window, box)


def focus_by_click(qtbot, window: MainWindow):
    """Click the photo, as a user does before using the keys, and return the view."""
    activate(qtbot, window)
    view = window.photo_view.original_view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=widget_point(view, LARGE_SIZE, 1000, 600))
    qtbot.waitUntil(view.hasFocus, timeout=WAIT_MS)
    assert view.pending_box is None  # a click draws no box
    return view


def press(qtbot, view, key, modifiers=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(view, key, modifiers)
    return view.pending_box


def test_arrow_keys_move_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    view = focus_by_click(qtbot, window)

    assert press(qtbot, view, Qt.Key.Key_Right) == (400 + STEP, 300, 1200 + STEP, 900)
    assert press(qtbot, view, Qt.Key.Key_Down) == (420, 300 + STEP, 1220, 900 + STEP)
    assert press(qtbot, view, Qt.Key.Key_Left, CTRL) == (420 - LARGE_STEP, 320, 1220 - LARGE_STEP, 920)
    assert press(qtbot, view, Qt.Key.Key_Up, ALT) == (220, 320 - LARGE_STEP, 1020, 920 - LARGE_STEP)

    assert stored_crop(window, photo_id) == (400, 300, 1200, 900)  # pending until saved
    assert view.stored_box == (400, 300, 1200, 900)
    assert editor.save_action.isEnabled()
    assert editor.discard_action.isEnabled()


def test_shift_arrows_resize_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    view = focus_by_click(qtbot, window)

    assert press(qtbot, view, Qt.Key.Key_Right, SHIFT) == (400, 300, 1200 + STEP, 900)
    assert press(qtbot, view, Qt.Key.Key_Down, SHIFT) == (400, 300, 1220, 900 + STEP)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT | CTRL) == (400, 300, 1220 - LARGE_STEP, 920)
    assert press(qtbot, view, Qt.Key.Key_Up, SHIFT | ALT) == (400, 300, 1020, 920 - LARGE_STEP)


def test_arrow_keys_stop_at_edges(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (1000, 1000, 1990, 1245))
    view = focus_by_click(qtbot, window)

    # Only 10 and 5 pixels are left to the right and bottom edges.
    assert press(qtbot, view, Qt.Key.Key_Right) == (1010, 1000, 2000, 1245)
    assert press(qtbot, view, Qt.Key.Key_Down) == (1010, 1005, 2000, 1250)
    assert press(qtbot, view, Qt.Key.Key_Right, CTRL) == (1010, 1005, 2000, 1250)
    assert press(qtbot, view, Qt.Key.Key_Right, SHIFT) == (1010, 1005, 2000, 1250)
    assert press(qtbot, view, Qt.Key.Key_Down, SHIFT) == (1010, 1005, 2000, 1250)
    for _ in range(6):
        press(qtbot, view, Qt.Key.Key_Left, CTRL)
        press(qtbot, view, Qt.Key.Key_Up, CTRL)
    assert view.pending_box == (0, 0, 990, 245)  # at the top left corner, its size kept


# The box that the first key draws on LARGE_SIZE: 10 % of 2000 and of 1250 in from each edge.
START_BOX = (200, 125, 1800, 1125)


@pytest.mark.parametrize("key, modifiers", [
    (Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier),
    (Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier),
    (Qt.Key.Key_Right, SHIFT),
    (Qt.Key.Key_Down, SHIFT),
    (Qt.Key.Key_Left, SHIFT | CTRL),
    (Qt.Key.Key_Up, ALT),
], ids=["Right", "Down", "Shift+Right", "Shift+Down", "Ctrl+Shift+Left", "Alt+Up"])
def test_first_key_draws_box(qtbot, window, key, modifiers):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    assert editor.use_whole_photo()
    wait_for_reload(qtbot, window, None)
    view = focus_by_click(qtbot, window)

    assert press(qtbot, view, key, modifiers) == START_BOX

    assert editor.save_action.isEnabled()
    assert editor.has_drawn_box()
    assert "not saved" in editor.message.text()
    assert stored_crop(window, photo_id) is None


def test_keys_adjust_first_box(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    assert window.photo_view.crop_editor.use_whole_photo()
    wait_for_reload(qtbot, window, None)
    view = focus_by_click(qtbot, window)
    press(qtbot, view, Qt.Key.Key_Right)

    # Every key now changes the box, which keeps inside the photo.
    assert press(qtbot, view, Qt.Key.Key_Right) == (220, 125, 1820, 1125)
    assert press(qtbot, view, Qt.Key.Key_Down) == (220, 145, 1820, 1145)
    assert press(qtbot, view, Qt.Key.Key_Right, SHIFT) == (220, 145, 1840, 1145)
    assert press(qtbot, view, Qt.Key.Key_Down, SHIFT) == (220, 145, 1840, 1165)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT) == (220, 145, 1820, 1165)
    assert press(qtbot, view, Qt.Key.Key_Up, SHIFT) == (220, 145, 1820, 1145)
    assert press(qtbot, view, Qt.Key.Key_Right, SHIFT | CTRL) == (220, 145, 2000, 1145)
    assert press(qtbot, view, Qt.Key.Key_Down, SHIFT | CTRL) == (220, 145, *LARGE_SIZE)


def test_starting_box_inside_photo():
    assert starting_box(LARGE_SIZE) == START_BOX
    assert starting_box((480, 320)) == (48, 32, 432, 288)
    # A photo a few pixels wide still gets a box of at least one pixel.
    assert starting_box((5, 3)) == (0, 0, 5, 3)
    assert starting_box((1, 1)) == (0, 0, 1, 1)


def test_shift_arrows_stop_at_minimum(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (400, 300, 460, 350))
    view = focus_by_click(qtbot, window)

    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT) == (400, 300, 440, 350)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT) == (400, 300, 420, 350)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT) == (400, 300, 400 + MIN_SIDE, 350)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT | CTRL) == (400, 300, 400 + MIN_SIDE, 350)
    assert press(qtbot, view, Qt.Key.Key_Up, SHIFT | CTRL) == (400, 300, 400 + MIN_SIDE, 300 + MIN_SIDE)

    smallest = (400, 300, 400 + MIN_SIDE, 300 + MIN_SIDE)
    assert window.photo_view.crop_editor.save_crop()
    assert stored_crop(window, photo_id) == smallest
    wait_for_reload(qtbot, window, smallest)
    grayscale = window.photo_view.preview.grayscale
    assert (grayscale.width(), grayscale.height()) == (MIN_SIDE, MIN_SIDE)


def test_resized_box_keeps_short_sides():
    # A 10-pixel photo, or a stored crop below the minimum, is never shrunk, nor grown by a shrinking key.
    assert resized_box((0, 0, 10, 10), (10, 10), -5, -5) == (0, 0, 10, 10)
    assert resized_box((100, 100, 108, 150), (400, 300), -4, -40) == (100, 100, 108, 100 + MIN_SIDE)
    assert resized_box((100, 100, 108, 150), (400, 300), 400, 400) == (100, 100, 400, 300)
    assert moved_box((100, 100, 108, 150), (400, 300), -400, 400) == (0, 250, 8, 300)


def test_keyboard_box_saved_and_undone(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    view = focus_by_click(qtbot, window)
    press(qtbot, view, Qt.Key.Key_Right)
    adjusted = press(qtbot, view, Qt.Key.Key_Down, SHIFT)
    assert adjusted == (420, 300, 1220, 920)

    with qtbot.waitSignal(window.photo_view.crop_changed, timeout=WAIT_MS):
        qtbot.keyClick(view, Qt.Key.Key_S, CTRL)

    assert stored_crop(window, photo_id) == adjusted
    assert view.pending_box is None
    assert view.stored_box == adjusted
    assert window.confirmations.undo_stack.undoText() == "Change crop of large.jpg"
    wait_for_reload(qtbot, window, adjusted)

    window.undo_action.trigger()
    assert stored_crop(window, photo_id) == (400, 300, 1200, 900)
    wait_for_reload(qtbot, window, (400, 300, 1200, 900))
    window.redo_action.trigger()
    assert stored_crop(window, photo_id) == adjusted
    wait_for_reload(qtbot, window, adjusted)


def test_keyboard_box_kept_on_leaving_photo(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    assert window.photo_view.crop_editor.use_whole_photo()
    wait_for_reload(qtbot, window, None)
    view = focus_by_click(qtbot, window)
    assert press(qtbot, view, Qt.Key.Key_Left, SHIFT | CTRL) == START_BOX
    press(qtbot, view, Qt.Key.Key_Left, SHIFT | CTRL)
    press(qtbot, view, Qt.Key.Key_Up, SHIFT | CTRL)

    select_photo(qtbot, window, "small.jpg")

    assert stored_crop(window, photo_id) == (200, 125, 1600, 925)
    assert window.statusBar().currentMessage() == "Saved the crop drawn on large.jpg. Undo (Ctrl+Z) puts back the crop it replaced."


def test_box_moved_back_not_saved(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    commands = window.confirmations.undo_stack.count()
    view = focus_by_click(qtbot, window)
    press(qtbot, view, Qt.Key.Key_Right)
    assert press(qtbot, view, Qt.Key.Key_Left) == (400, 300, 1200, 900)

    select_photo(qtbot, window, "small.jpg")

    assert stored_crop(window, photo_id) == (400, 300, 1200, 900)
    assert window.confirmations.undo_stack.count() == commands
    assert "Saved the crop drawn" not in window.statusBar().currentMessage()


def test_keys_adjust_proposed_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    view = editor.view
    with qtbot.waitSignal(editor.find_fluke().done, timeout=WAIT_MS):
        pass
    proposed = view.pending_box
    assert proposed is not None
    activate(qtbot, window)
    view.setFocus(Qt.FocusReason.TabFocusReason)  # a click would start a new box instead

    adjusted = press(qtbot, view, Qt.Key.Key_Left, SHIFT)
    assert adjusted == (proposed[0], proposed[1], proposed[2] - STEP, proposed[3])
    select_photo(qtbot, window, "small.jpg")

    # Adjusted by hand, the proposal became the user's box, which is kept like a drawn one.
    assert stored_crop(window, photo_id) == adjusted


def test_key_stops_fluke_search(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    editor = window.photo_view.crop_editor
    view = focus_by_click(qtbot, window)
    worker = editor.find_fluke()
    assert worker is not None

    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        press(qtbot, view, Qt.Key.Key_Right)
        assert editor.finder is None

    assert view.pending_box == (420, 300, 1220, 900)  # the search's late box was dropped
    assert editor.find_fluke_action.isEnabled()


def test_focus_frame_shows_keyboard_focus(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    view = window.photo_view.original_view
    highlight = view.palette().color(QPalette.ColorRole.Highlight)
    edges = [(0, view.height() // 2), (view.width() - 1, view.height() // 2), (view.width() // 2, 0)]
    assert view.focusPolicy() == Qt.FocusPolicy.StrongFocus  # both click and Tab

    activate(qtbot, window)
    window.browser.unidentified_view.setFocus()
    qtbot.waitUntil(lambda: not view.hasFocus(), timeout=WAIT_MS)
    unfocused = view.grab().toImage()
    focus_by_click(qtbot, window)
    focused = view.grab().toImage()

    for x, y in edges:
        assert unfocused.pixelColor(x, y) != highlight, (x, y)
        assert focused.pixelColor(x, y) == highlight, (x, y)


def test_crop_keys_explained(qtbot, window):
    editor = window.photo_view.crop_editor
    for words in ("arrow keys", "Shift", "Ctrl or Alt", "Ctrl+S saves", "Esc discards"):
        assert words in editor.message.text(), words
    assert "Shift+Right and Shift+Down enlarge it" in editor.view.toolTip()
    assert "first arrow key draws a box 10 %" in editor.view.toolTip()
    assert "Ctrl+S saves the box and Esc discards it" in editor.view.toolTip()

    box = window.show_shortcuts()

    assert "Shift+arrow keys on the photo" in box.text()
    assert "right or bottom edge" in box.text()
    box.accept()


# -- the message under the buttons --------------------------------------------------------------


def settle_layout() -> None:
    """Let the pending layout requests of a changed message resize the widgets."""
    for _ in range(3):
        QApplication.processEvents()


def test_message_describes_current_box(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    view = focus_by_click(qtbot, window)
    assert editor.message.text() == HINT

    press(qtbot, view, Qt.Key.Key_Right)
    assert "not saved" in editor.message.text()
    with qtbot.waitSignal(window.photo_view.crop_changed, timeout=WAIT_MS):
        qtbot.keyClick(view, Qt.Key.Key_S, CTRL)
    assert editor.message.text() == HINT
    assert window.statusBar().currentMessage() == "Saved the crop of large.jpg."
    wait_for_reload(qtbot, window, (420, 300, 1220, 900))

    window.undo_action.trigger()
    assert editor.message.text() == HINT
    assert window.statusBar().currentMessage() == "Undone: Change crop of large.jpg"
    wait_for_reload(qtbot, window, (400, 300, 1200, 900))

    press(qtbot, view, Qt.Key.Key_Down)
    assert "not saved" in editor.message.text()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert editor.message.text() == HINT

    with qtbot.waitSignal(editor.find_fluke().done, timeout=WAIT_MS):
        assert editor.message.text() == "Finding the fluke…"
    assert "save it (Ctrl+S) or discard it (Esc)" in editor.message.text()


def test_message_keeps_photo_still(qtbot, window):
    photo_id = select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    store_crop(qtbot, window, photo_id, (400, 300, 1200, 900))
    view = focus_by_click(qtbot, window)
    settle_layout()
    geometry = view.geometry()

    press(qtbot, view, Qt.Key.Key_Right)
    settle_layout()
    assert view.geometry() == geometry
    with qtbot.waitSignal(window.photo_view.crop_changed, timeout=WAIT_MS):
        qtbot.keyClick(view, Qt.Key.Key_S, CTRL)
    wait_for_reload(qtbot, window, (420, 300, 1220, 900))
    settle_layout()
    assert view.geometry() == geometry
    assert editor.use_whole_photo()
    wait_for_reload(qtbot, window, None)
    settle_layout()
    assert view.geometry() == geometry


def test_message_fits_narrow_window(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    message = window.photo_view.crop_editor.message
    window.resize(800, 700)
    settle_layout()

    # Measured by a plain QLabel, so the message's own arithmetic is not checked against itself.
    reference = QLabel(HINT)
    reference.setWordWrap(True)
    assert message.height() >= reference.heightForWidth(message.width())
    assert message.text() == HINT


# -- undo and redo with a box on screen ---------------------------------------------------------


def mark_new_whale_and_move_on(qtbot, window: MainWindow) -> tuple[int, int]:
    """Mark large.jpg as new_whale with its shortcut, and wait until small.jpg is shown next.

    Returns the two photos' ids.
    """
    first = select_photo(qtbot, window, "large.jpg")
    second = photo_id_of(window, "small.jpg")
    activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_M, CTRL | SHIFT)
    editor = window.photo_view.crop_editor
    qtbot.waitUntil(lambda: editor.photo is not None and editor.photo.id == second, timeout=WAIT_MS)
    assert window.confirmations.undo_stack.undoText() == "Confirm large.jpg as new_whale"
    return first, second


def adjust_box_by_hand(qtbot, window: MainWindow):
    """Click the photo and press Shift+Left three times, Shift+Up twice and Right; return the box."""
    view = focus_by_click(qtbot, window)
    for key, modifiers in [(Qt.Key.Key_Left, SHIFT)] * 3 + [(Qt.Key.Key_Up, SHIFT)] * 2 + [(Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier)]:
        press(qtbot, view, key, modifiers)
    assert window.photo_view.crop_editor.has_drawn_box()
    return view.pending_box


def unidentified_ids(window: MainWindow) -> list[int]:
    return [photo.id for photo in window.browser.unidentified_model.photos]


def test_undo_discards_unsaved_box(qtbot, window):
    first, second = mark_new_whale_and_move_on(qtbot, window)
    stack = window.confirmations.undo_stack
    editor = window.photo_view.crop_editor
    crop = stored_crop(window, second)
    adjust_box_by_hand(qtbot, window)
    assert window.undo_action.text() == "&Undo Unsaved Crop Box"

    qtbot.keyClick(editor.view, Qt.Key.Key_Z, CTRL)

    assert editor.view.pending_box is None
    assert window.statusBar().currentMessage() == "Discarded the unsaved crop box on small.jpg."
    assert editor.photo.id == second
    assert stored_crop(window, second) == crop
    assert first not in unidentified_ids(window)
    assert (stack.count(), stack.index()) == (1, 1)
    assert window.undo_action.text() == "&Undo Confirm large.jpg as new_whale"

    # The next Undo takes back the confirmation, and nothing was saved on the way.
    qtbot.keyClick(editor.view, Qt.Key.Key_Z, CTRL)

    assert window.statusBar().currentMessage() == "Undone: Confirm large.jpg as new_whale"
    assert first in unidentified_ids(window)
    assert (stack.count(), stack.index()) == (1, 0)
    assert stack.redoText() == "Confirm large.jpg as new_whale"
    assert stored_crop(window, second) == crop
    qtbot.waitUntil(lambda: not window.pool.workers, timeout=WAIT_MS)


def test_undo_discards_box_without_history(qtbot, window):
    select_photo(qtbot, window, "large.jpg")
    editor = window.photo_view.crop_editor
    assert window.confirmations.undo_stack.count() == 0
    assert not window.undo_action.isEnabled()
    adjust_box_by_hand(qtbot, window)
    assert window.undo_action.isEnabled()

    window.undo_action.trigger()

    assert editor.view.pending_box is None
    assert window.statusBar().currentMessage() == "Discarded the unsaved crop box on large.jpg."
    assert not window.undo_action.isEnabled()


def test_redo_waits_for_drawn_box(qtbot, window):
    first, second = mark_new_whale_and_move_on(qtbot, window)
    stack = window.confirmations.undo_stack
    editor = window.photo_view.crop_editor
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: editor.photo is not None and editor.photo.id == first, timeout=WAIT_MS)
    crop = stored_crop(window, first)
    box = adjust_box_by_hand(qtbot, window)

    window.redo_action.trigger()

    assert window.statusBar().currentMessage() == "Save the crop box on large.jpg (Ctrl+S) or discard it (Esc) before Redo."
    assert editor.view.pending_box == box
    assert first in unidentified_ids(window)
    assert (stack.count(), stack.index()) == (1, 0)
    assert stored_crop(window, first) == crop

    qtbot.keyClick(editor.view, Qt.Key.Key_Escape)
    window.redo_action.trigger()

    assert window.statusBar().currentMessage() == "Redone: Confirm large.jpg as new_whale"
    assert first not in unidentified_ids(window)
    assert (stack.count(), stack.index()) == (1, 1)
    assert stored_crop(window, first) == crop
    qtbot.waitUntil(lambda: not window.pool.workers, timeout=WAIT_MS)


def test_stack_undo_saves_no_box(qtbot, window, caplog):
    first, second = mark_new_whale_and_move_on(qtbot, window)
    stack = window.confirmations.undo_stack
    crop = stored_crop(window, second)
    adjust_box_by_hand(qtbot, window)

    # Past the Edit menu's actions: the undo selects large.jpg again, which leaves small.jpg.
    stack.undo()

    assert first in unidentified_ids(window)
    assert (stack.count(), stack.index()) == (1, 0)
    assert stack.redoText() == "Confirm large.jpg as new_whale"
    assert stored_crop(window, second) == crop
    assert "Dropped the unsaved crop box" in caplog.text
    qtbot.waitUntil(lambda: not window.pool.workers, timeout=WAIT_MS)


def test_undo_shows_the_photo_whose_crop_it_changes(qtbot, window):
    large = select_photo(qtbot, window, "large.jpg")
    located = stored_crop(window, large)  # the fluke box found at import
    store_crop(qtbot, window, large, (400, 300, 1200, 900))
    select_photo(qtbot, window, "small.jpg")
    window.right_tabs.setCurrentWidget(window.identify_panel)

    window.undo_action.trigger()

    assert stored_crop(window, large) == located
    assert window.browser.current_photo_id == large
    assert window.right_tabs.currentWidget() is window.photo_view
    wait_for_reload(qtbot, window, located)
    window.redo_action.trigger()
    assert stored_crop(window, large) == (400, 300, 1200, 900)
    assert window.browser.current_photo_id == large
