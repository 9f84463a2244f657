"""The browser's current photo and whale list in the real window, on synthetic flukes."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.helpers import save_fluke, save_labelled_flukes
from tests.test_gui_support import WAIT_MS, no_thread_left, window  # noqa: F401  (fixtures)
from whalecat.catalogue.records import RecordError, get_photo, record_suggestions
from whalecat.gui.browser import NO_WHALE_HEADING
from whalecat.matching.base import NEW_WHALE, Candidate


def import_whales_and_card(qtbot, window, tmp_path) -> list[int]:
    """Import whales w_0000000 and w_0000001 with one photo each, then a card of two new photos.

    Returns the card's photo ids, in the order the Unidentified tab lists them.
    """
    images, labels = save_labelled_flukes(tmp_path / "known", whales=2, photos_per_whale=1)
    card = [save_fluke(tmp_path / "card" / f"card{n}.jpg", individual=2 + n, sighting=1) for n in range(2)]
    for paths, labels_csv in (([images], labels), (card, None)):
        worker = window.import_paths(paths, labels_csv)
        with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
            pass
        window.import_panel.summary_box.accept()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window
    return [photo.id for photo in window.browser.unidentified_model.photos]


def press(qtbot, window, key, modifiers=Qt.KeyboardModifier.ControlModifier) -> None:
    qtbot.keyClick(window, key, modifiers)


def click_photo(qtbot, view, photo_id: int) -> None:
    index = view.model().index(view.model().row_of(photo_id))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())


def click_whale(qtbot, browser, whale_id: str) -> None:
    row = next(row for row, whale in enumerate(browser.whale_model.rows) if whale.summary.id == whale_id)
    index = browser.whale_proxy.mapFromSource(browser.whale_model.index(row))
    view = browser.whale_view
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center())


def shown_photos(window) -> tuple[int | None, int | None]:
    """Return the photo ids that the Photo and Identify tabs show."""
    return window.photo_view.photo_id, window.identify_panel.photo_id


def photo_exists(window, photo_id: int) -> bool:
    with window.catalogue.session() as session:
        try:
            get_photo(session, photo_id)
        except RecordError:
            return False
    return True


def test_tab_switch_makes_its_photo_current(qtbot, window, tmp_path):
    card = import_whales_and_card(qtbot, window, tmp_path)
    browser = window.browser
    press(qtbot, window, Qt.Key.Key_2)
    click_photo(qtbot, browser.unidentified_view, card[1])
    press(qtbot, window, Qt.Key.Key_1)
    click_whale(qtbot, browser, "w_0000000")
    whale_photo = browser.whale_photo_model.photos[0].id
    click_photo(qtbot, browser.whale_photos_view, whale_photo)
    assert shown_photos(window) == (whale_photo, whale_photo)

    press(qtbot, window, Qt.Key.Key_2)

    assert shown_photos(window) == (card[1], card[1])
    assert browser.current_photo_id == card[1]
    # The actions act on the highlighted photo, not on the whale's photo shown before.
    press(qtbot, window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    with window.catalogue.session() as session:
        assert get_photo(session, card[1]).confirmed_label == NEW_WHALE
        assert get_photo(session, whale_photo).confirmed_label == "w_0000000"
    assert shown_photos(window) == (card[0], card[0])  # the photo that took its place
    qtbot.keyClick(browser.unidentified_view, Qt.Key.Key_Delete)
    assert not photo_exists(window, card[0])
    assert photo_exists(window, whale_photo)
    assert browser.whale_counts() == {"w_0000000": 1, "w_0000001": 1}


def test_tab_without_selected_photo_shows_none(qtbot, window, tmp_path):
    card = import_whales_and_card(qtbot, window, tmp_path)
    browser = window.browser
    press(qtbot, window, Qt.Key.Key_2)
    click_photo(qtbot, browser.unidentified_view, card[0])
    assert shown_photos(window) == (card[0], card[0])

    press(qtbot, window, Qt.Key.Key_1)  # selects the first whale, but none of its photos

    assert browser.whale_photo_model.photos
    assert shown_photos(window) == (None, None)
    assert browser.current_photo_id is None
    assert not window.remover.remove()
    window.identify_panel.mark_new_whale()
    assert [photo.id for photo in browser.unidentified_model.photos] == card
    assert photo_exists(window, card[0])
    # Back in the Unidentified tab, by a click on the tab, its highlighted photo is current again.
    tab_bar = browser.tabs.tabBar()
    qtbot.mouseClick(tab_bar, Qt.MouseButton.LeftButton, pos=tab_bar.tabRect(1).center())
    assert browser.tabs.currentWidget() is browser.unidentified_view
    assert shown_photos(window) == (card[0], card[0])


def test_refresh_keeps_whale_photo_current(qtbot, window, tmp_path):
    import_whales_and_card(qtbot, window, tmp_path)
    browser = window.browser
    press(qtbot, window, Qt.Key.Key_1)
    click_whale(qtbot, browser, "w_0000001")
    whale_photo = browser.whale_photo_model.photos[0].id
    click_photo(qtbot, browser.whale_photos_view, whale_photo)
    sent = []
    browser.current_photo_changed.connect(sent.append)

    browser.refresh()  # as after an import or a confirmation

    assert browser.whale_photos_view.selectionModel().selectedRows()[0].row() == 0
    assert browser.current_photo_id == whale_photo
    assert shown_photos(window) == (whale_photo, whale_photo)
    assert sent == []  # the panes were not reloaded


def test_whale_without_photos_leaves_list(qtbot, window, tmp_path):
    card = import_whales_and_card(qtbot, window, tmp_path)
    browser = window.browser
    # An identification of a card photo named the whale, so its row outlives its last photo.
    with window.catalogue.session() as session:
        record_suggestions(session, card[0], [Candidate("w_0000000", 0.9)], "test", "test")
    press(qtbot, window, Qt.Key.Key_1)
    click_whale(qtbot, browser, "w_0000000")
    whale_photo = browser.whale_photo_model.photos[0].id
    click_photo(qtbot, browser.whale_photos_view, whale_photo)

    window.remover.action.trigger()

    assert browser.whale_counts() == {"w_0000001": 1}
    assert browser.tabs.tabText(0) == "Whales (1)"
    assert "1 whale, 3 photos" in window.catalogue_label.text()
    assert browser.whale_photos_label.text() == NO_WHALE_HEADING
    assert shown_photos(window) == (None, None)

    window.undo_action.trigger()

    assert browser.whale_counts() == {"w_0000000": 1, "w_0000001": 1}
    assert browser.tabs.tabText(0) == "Whales (2)"
    assert "2 whales, 4 photos" in window.catalogue_label.text()
    # The photo put back is selected among its whale's photos, as an undone removal of an
    # unidentified photo is in its tab.
    assert browser.selected_whale_id() == "w_0000000"
    assert browser.current_photo_id == whale_photo
    assert shown_photos(window) == (whale_photo, whale_photo)


def test_catalogue_change_resets_whale_heading(qtbot, window, tmp_path):
    import_whales_and_card(qtbot, window, tmp_path)
    browser = window.browser
    press(qtbot, window, Qt.Key.Key_1)
    click_whale(qtbot, browser, "w_0000001")
    assert browser.whale_photos_label.text() == "Photos of w_0000001"

    assert window.create_catalogue(tmp_path / "other catalogue")

    assert browser.whale_photos_label.text() == NO_WHALE_HEADING
    assert browser.whale_photo_model.photos == []
    assert browser.current_photo_id is None


def test_wide_thumbnail_fills_a_whole_row(qtbot, window, tmp_path):
    from whalecat.gui.browser import ICON_SIZE
    from whalecat.imaging.synthetic import fluke_photo

    folder = tmp_path / "in"
    folder.mkdir()
    fluke_photo(0).resize((900, 120)).save(folder / "wide.jpg")  # a panorama crop, 7.5:1
    fluke_photo(1).save(folder / "plain.jpg")
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\nwide.jpg,w_0000000\nplain.jpg,w_0000001\n")
    worker = window.import_paths([folder], labels)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass
    window.import_panel.summary_box.accept()

    # A decoration's size is the pixmap's, and the whale list sizes every row by its first.
    rows = window.browser.whale_model.rows
    assert [row.summary.id for row in rows] == ["w_0000000", "w_0000001"]
    sizes = [window.browser.thumbnails.get(row.representative_sha256).size() for row in rows]
    assert sizes == [ICON_SIZE, ICON_SIZE]


def test_reload_keeps_scroll_position(qtbot, tmp_path):
    from PIL import Image

    from whalecat.catalogue import Catalogue
    from whalecat.gui.browser import CataloguePanel
    from whalecat.importing import import_paths

    card = tmp_path / "card"
    card.mkdir()
    for number in range(60):
        Image.new("RGB", (120, 60), (number * 4, 10, 200 - number * 3)).save(card / f"IMG_{number:04d}.jpg")
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [card], find_fluke=False)
        browser = CataloguePanel()
        qtbot.addWidget(browser)
        browser.resize(340, 500)
        browser.show()
        browser.set_catalogue(catalogue)
        browser.show_tab(1)
        view = browser.unidentified_view
        view.setCurrentIndex(browser.unidentified_model.index(0))
        scroll = view.verticalScrollBar()
        scroll.setValue(scroll.maximum() // 2)
        before = scroll.value()
        browser.refresh()
        after = scroll.value()
        browser.set_catalogue(None)
    assert before > 0
    assert after == before
