"""The main window end to end, on real fluke photos and a real SQLite catalogue."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from PySide6.QtCore import QEvent, QItemSelectionModel, QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage, QKeyEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog, QMessageBox
from sqlalchemy import event, select

from tests.helpers import save_fluke, save_labelled_flukes
from tests.test_gui_support import (  # noqa: F401  (fixtures)
    WAIT_MS,
    labelled_sample,
    no_thread_left,
    quit_while_running,
    window,
    write_labels,
)
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Photo
from whalecat.catalogue.records import confirm_label, list_whales
from whalecat.cli import main
from whalecat.gui.identify_panel import CANDIDATE_ICON
from whalecat.gui.match_view import MatchView, ShownImage
from whalecat.gui.main_window import EXPORT_FILTERS
from whalecat.gui.worker import running_threads
from whalecat.importing import import_paths

IDENTIFY_WAIT_MS = 120_000  # the first identification loads TensorFlow and the model


def import_and_wait(qtbot, window, paths, labels_csv=None):
    worker = window.import_paths(paths, labels_csv)
    assert worker is not None
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass
    return window.import_panel.last_report


def test_import_lists_corrupt_file(qtbot, window, fluke_data, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("0000e88ab.jpg", "000a6daec.jpg"):
        shutil.copy(fluke_data / "images" / name, batch / name)
    truncated = (fluke_data / "images" / "0e6abdd05.jpg").read_bytes()[:2000]
    (batch / "broken.jpg").write_bytes(truncated)

    report = import_and_wait(qtbot, window, [batch])

    assert report.imported == 2
    assert report.duplicates == 0
    assert [path.endswith("broken.jpg") for path, _ in report.failed] == [True]
    assert "Already in the catalogue" not in window.import_panel.summary_box.detailedText()
    box = window.import_panel.summary_box
    assert box is not None and box.isVisible()
    assert "2 imported" in box.text()
    assert "1 failed" in box.text()
    assert "broken.jpg" in box.detailedText()
    assert report.failed[0][1] in box.detailedText()
    assert len(window.browser.unidentified_model.photos) == 2
    assert "2 photos" in window.catalogue_label.text()
    # A temporary status-bar message would cover the counts.
    assert window.statusBar().currentMessage() == ""
    tabs = window.browser.tabs
    assert tabs.tabText(2) == "new_whale (0)"
    window.splitter.setSizes([120, 1160])  # the user drags the browser narrow
    qtbot.waitUntil(lambda: window.browser.width() < 340, timeout=WAIT_MS)
    assert window.browser.width() >= tabs.tabBar().sizeHint().width()
    # The next import dialog opens where the cards are.
    assert window.settings.last_import_folder == str(tmp_path)
    assert window.import_panel.isHidden()

    labels = write_labels(tmp_path / "labels.csv", {"0000e88ab.jpg": "w_f48451c", "elsewhere.jpg": "w_1287fbc"})
    again = import_and_wait(qtbot, window, [batch / "0000e88ab.jpg"], labels)
    assert again.duplicates == 1
    box = window.import_panel.summary_box
    assert "Labels CSV rows for files not in this import: 1." in box.text()
    details = box.detailedText().splitlines()
    assert details[details.index("Already in the catalogue:") + 1].startswith("0000e88ab.jpg, as 0000e88ab.jpg")
    assert details[details.index("In the CSV but not in this import:") + 1] == "elsewhere.jpg"


def test_open_folder_without_catalogue_refused(qtbot, window, tmp_path, fluke_data):
    card = tmp_path / "card"
    card.mkdir()
    shutil.copy(fluke_data / "images" / "0000e88ab.jpg", card)
    current = window.catalogue
    assert not window.open_catalogue(card)
    assert sorted(p.name for p in card.iterdir()) == ["0000e88ab.jpg"]
    assert window.catalogue is current
    assert "No catalogue in" in window.error_box.text()
    assert window.statusBar().currentMessage() == ""  # it covered the catalogue's counts
    assert not window.open_catalogue(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()
    assert window.error_box.text() == f"The catalogue folder {tmp_path / 'typo'} is not there."
    assert "moved or renamed" in window.error_box.informativeText()


def test_open_folder_that_lost_its_database_names_it(window, tmp_path):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    with Catalogue.open(tmp_path / "other") as other:
        import_paths(other, [tmp_path / "card"])
    (tmp_path / "other" / "catalogue.sqlite").unlink()

    assert not window.open_catalogue(tmp_path / "other")
    assert window.error_box.text().startswith(
        f"Cannot open the catalogue {tmp_path / 'other'}: {tmp_path / 'other'} has imported photos in photos/ but "
        "no catalogue.sqlite, so its database is missing; restore catalogue.sqlite from a backup of the folder"
    )
    assert not (tmp_path / "other" / "catalogue.sqlite").exists()


def test_unreadable_catalogue_not_kept_open(window, tmp_path):
    """A table dropped by hand passes SQLite's check on opening but fails the first query."""
    Catalogue.open(tmp_path / "edited").close()
    with sqlite3.connect(tmp_path / "edited" / "catalogue.sqlite") as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("DROP TABLE whale")

    assert not window.open_catalogue(tmp_path / "edited")

    assert window.catalogue is None
    assert "Cannot read the catalogue" in window.error_box.text()
    assert "no such table: whale" in window.error_box.text()
    assert "SELECT" not in window.error_box.text()
    assert window.settings.last_catalogue == (tmp_path / "catalogue").resolve()


def test_other_catalogue_lists_start_at_the_top(qtbot, window, tmp_path):
    images, labels = save_labelled_flukes(tmp_path, whales=30, photos_per_whale=1)
    with Catalogue.open(tmp_path / "many") as other:
        import_paths(other, [images], labels, find_fluke=False)
    assert window.open_catalogue(tmp_path / "many")
    scroll_bar = window.browser.whale_view.verticalScrollBar()
    qtbot.waitUntil(lambda: scroll_bar.maximum() > 0, timeout=WAIT_MS)  # laid out
    scroll_bar.setValue(scroll_bar.maximum())
    assert scroll_bar.value() > 0

    assert window.open_catalogue(tmp_path / "many")

    assert scroll_bar.value() == 0


def test_ctrl_e_exports_from_the_whale_filter(window):
    """On X11 a text box claims Ctrl+E (end of line), which the offscreen platform does not, so
    the override the box would make is accepted here by hand and must be given up."""
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    override.accept()

    assert window.eventFilter(window.browser.filter_edit, override)

    assert not override.isAccepted()
    typing = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_E, Qt.KeyboardModifier.NoModifier)
    assert not window.eventFilter(window.browser.filter_edit, typing)


def test_new_whale_tab_shows_its_underscore(qtbot):
    from whalecat.gui.browser import CataloguePanel

    panel = CataloguePanel()
    qtbot.addWidget(panel)
    panel.show()
    tabs = panel.tabs.tabBar()
    tabs.setTabText(2, "_")
    image = tabs.grab(tabs.tabRect(2)).toImage()
    dark = [
        (x, y)
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).lightness() < 110
    ]
    # Clipped, the underscore left no dark pixel at all in the tab (7 drawn).
    assert len(dark) >= 3


def test_photo_view_shows_network_input(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id

    assert window.browser.select_unidentified_photo(photo_id)
    qtbot.waitUntil(lambda: window.photo_view.preview is not None, timeout=WAIT_MS)

    preview = window.photo_view.preview
    assert preview.photo.id == photo_id
    assert preview.grayscale.format() == QImage.Format.Format_Grayscale8
    assert preview.network_input.shape == (100, 100)
    assert preview.input_mean == pytest.approx(0.0, abs=1e-3)
    assert preview.input_std == pytest.approx(1.0, abs=1e-3)
    assert window.photo_view.input_stats.text() in ("mean +0.000, std 1.000", "mean -0.000, std 1.000")
    shown = window.photo_view.input_view.source_pixmap()
    assert (shown.width(), shown.height()) == (100, 100)
    assert not window.photo_view.original_view.source_pixmap().isNull()
    expected = "Grayscale, cropped" if preview.crop else "Grayscale, whole photo"
    assert window.photo_view.grayscale_caption.text() == expected
    assert window.photo_view.metadata["file"].text() == "0000e88ab.jpg"
    assert "px" in window.photo_view.metadata["size"].text()


def test_identify_confirm_and_undo(qtbot, window, fluke_data, tmp_path):
    sample = labelled_sample(fluke_data)
    target_whale = next(iter(sample))
    held_out = sample[target_whale][1]
    labels = {files[0]: whale for whale, files in sample.items()}
    labels.update({files[1]: whale for whale, files in sample.items() if whale != target_whale})
    csv_path = write_labels(tmp_path / "labels.csv", labels)
    photos = [fluke_data / "images" / name for files in sample.values() for name in files]

    report = import_and_wait(qtbot, window, photos, csv_path)
    assert report.imported == 6
    assert report.labelled == 5
    counts = window.browser.whale_counts()
    assert counts[target_whale] == 1
    assert len(window.browser.unidentified_model.photos) == 1

    query = window.browser.unidentified_model.photos[0]
    assert query.original_name == held_out
    assert window.browser.select_unidentified_photo(query.id)
    assert window.identify_panel.photo_id == query.id
    worker = window.identify_selected()
    assert worker is not None
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    result = window.identify_panel.result
    assert result is not None
    labels_ranked = [c.label for c in result.candidates]
    assert target_whale in labels_ranked
    assert len(labels_ranked) <= 5
    assert window.identify_panel.candidates.count() == len(labels_ranked)
    # Every photo icon has the list's icon size, so the candidates' text lines up.
    icons = [window.identify_panel.candidates.item(row).icon() for row in range(len(labels_ranked))]
    assert {size.toTuple() for icon in icons if not icon.isNull() for size in icon.availableSizes()} == {
        CANDIDATE_ICON.toTuple()
    }

    row = labels_ranked.index(target_whale)
    window.identify_panel.candidates.setCurrentRow(row)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window
    window.identify_panel.candidates.setFocus()
    assert result.candidates[row].details.get("pairs"), "the match should report keypoint pairs"
    window.identify_panel.keypoints_box.setChecked(True)
    assert window.identify_panel.match_view.drawn_pair_count() > 0
    pair_count = len(result.candidates[row].details["pairs"])
    assert window.identify_panel.keypoints_box.text() == f"Show keypoints ({pair_count} verified pairs)"
    assert window.identify_panel.match_view.captions() == ("This photo", f"{target_whale}: its most similar photo")
    qtbot.keyClick(window.identify_panel.candidates, Qt.Key.Key_Return)

    assert window.browser.whale_counts()[target_whale] == 2
    assert window.browser.unidentified_model.photos == []
    assert window.statusBar().currentMessage() == f"Confirmed {held_out} as {target_whale}"
    with window.catalogue.session() as session:
        stored = {w.id: w.photo_count for w in list_whales(session)}
    assert stored[target_whale] == 2

    window.confirmations.undo_stack.undo()
    assert window.browser.whale_counts()[target_whale] == 1
    assert [p.id for p in window.browser.unidentified_model.photos] == [query.id]
    # The candidates come back with the photo, so it need not be identified again.
    assert window.identify_panel.photo_id == query.id
    assert window.identify_panel.result is result
    assert window.identify_panel.candidates.count() == len(labels_ranked)
    window.confirmations.undo_stack.redo()
    window.confirmations.undo_stack.undo()
    assert window.identify_panel.result is result


def open_whale_id_dialog(qtbot, window, fluke_data, tmp_path) -> int:
    """Import w_f48451c's photo and an unlabelled one, select the latter and open Whale ID."""
    csv_path = write_labels(tmp_path / "labels.csv", {"0000e88ab.jpg": "w_f48451c"})
    import_and_wait(qtbot, window, [fluke_data / "images" / n for n in ("0000e88ab.jpg", "000a6daec.jpg")], csv_path)
    photo_id = window.browser.unidentified_model.photos[0].id
    window.browser.select_unidentified_photo(photo_id)
    assert window.identify_panel.ask_whale_id() is not None
    return photo_id


def test_whale_id_dialog(qtbot, window, fluke_data, tmp_path):
    photo_id = open_whale_id_dialog(qtbot, window, fluke_data, tmp_path)
    dialog = window.identify_panel.whale_id_dialog
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.whale_id().startswith("w_")
    assert ok.isEnabled()
    assert "new whale" in dialog.message.text()

    dialog.id_edit.setText("new_whale")
    assert not ok.isEnabled()
    assert "reserved" in dialog.message.text()
    dialog.id_edit.setText("w_\tbad")
    assert not ok.isEnabled()
    assert "invalid whale id" in dialog.message.text()
    dialog.id_edit.setText("")
    assert not ok.isEnabled()
    assert dialog.message.text() == "Type the whale's id."

    dialog.id_edit.setText("w_test001")
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    assert window.browser.whale_counts().get("w_test001") == 1
    assert window.confirmations.undo_stack.undoText() == "Confirm 000a6daec.jpg as w_test001"
    assert window.browser.unidentified_model.photos == []
    window.undo_action.trigger()
    assert "w_test001" not in window.browser.whale_counts()
    assert [p.id for p in window.browser.unidentified_model.photos] == [photo_id]


def test_whale_id_dialog_assigns_catalogued_whale(qtbot, window, fluke_data, tmp_path):
    # A researcher who recognizes a whale the top 5 missed types its id.
    photo_id = open_whale_id_dialog(qtbot, window, fluke_data, tmp_path)
    dialog = window.identify_panel.whale_id_dialog
    assert dialog.id_edit.completer().model().stringList() == ["w_f48451c"]
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.id_edit.setText("W_F48451C")
    assert not ok.isEnabled()
    assert "only in case" in dialog.message.text()
    dialog.id_edit.clear()
    dialog.activateWindow()
    dialog.id_edit.setFocus()
    qtbot.keyClicks(dialog.id_edit, "w_f48")
    popup = dialog.id_edit.completer().popup()
    qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
    qtbot.keyClicks(popup, "451c")  # the list of matching ids passes typing on to the box
    assert dialog.id_edit.text() == "w_f48451c"
    assert ok.isEnabled()
    assert "in the catalogue with 1 photo:" in dialog.message.text()
    # One Enter confirms an existing id, as it does a new one, while the list is still open.
    qtbot.keyClick(popup, Qt.Key.Key_Return)

    assert window.browser.whale_counts() == {"w_f48451c": 2}
    assert window.browser.unidentified_model.photos == []
    window.undo_action.trigger()
    assert window.browser.whale_counts() == {"w_f48451c": 1}


def test_mark_new_whale_leaves_browser(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id
    window.browser.select_unidentified_photo(photo_id)

    window.identify_panel.mark_new_whale()

    assert window.browser.unidentified_model.photos == []
    assert window.browser.whale_counts() == {}
    assert [p.id for p in window.browser.new_whale_model.photos] == [photo_id]
    assert window.statusBar().currentMessage() == "Confirmed 0000e88ab.jpg as new_whale"
    # The message leaves the catalogue's counts in view.
    assert window.catalogue_label.isVisible()
    assert "0 unidentified" in window.catalogue_label.text()
    # No photo is left selected in the tab on show, so the panes show none.
    assert window.identify_panel.photo_id is None
    assert window.photo_view.photo_id is None


def test_confirmation_that_cannot_be_saved_is_reported(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id
    window.browser.select_unidentified_photo(photo_id)
    # SQLite refuses every write on these connections, as with a read-only file or a full disk.
    event.listen(window.catalogue.engine, "connect",
                 lambda connection, _record: connection.execute("PRAGMA query_only=ON"))
    window.catalogue.engine.dispose()

    window.identify_panel.mark_new_whale()

    assert "Cannot save the confirmation of 0000e88ab.jpg: attempt to write a readonly database" in window.error_box.text()
    assert "The photo stays as it was" in window.error_box.informativeText()
    assert [p.id for p in window.browser.unidentified_model.photos] == [photo_id]
    assert not window.undo_action.isEnabled()


def test_lost_copy_message_wraps(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    window.import_panel.summary_box.accept()
    photo = window.browser.unidentified_model.photos[0]
    (window.catalogue.folder / photo.stored_name).unlink()
    width = window.width()

    worker = window.photo_view.show_photo(photo.id)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass

    status = window.photo_view.status.text()
    assert status.startswith("Cannot show the photo: 0000e88ab.jpg: the catalogue's copy (photos/")
    assert "is missing; restore the catalogue folder from a backup" in status
    assert window.minimumSizeHint().width() <= width, "the message widened the window"


def test_go_to_unidentified_selects_the_next_card(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    window.browser.show_tab(1)
    window.identify_panel.mark_new_whale()  # the card is done, and the list empty
    window.browser.show_tab(0)
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in ("000a6daec.jpg", "009a4db9.jpg")])
    # A list view that gains the keyboard makes its first row current without selecting it.
    view = window.browser.unidentified_view
    view.selectionModel().setCurrentIndex(view.model().index(0, 0), QItemSelectionModel.SelectionFlag.NoUpdate)

    window.browser.show_tab(1)

    first = window.browser.unidentified_model.photos[0].id
    assert window.browser.current_photo_id == first
    assert window.identify_panel.photo_id == first


def test_changing_a_confirmed_photo_names_what_it_was(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id
    with window.catalogue.session() as session:
        confirm_label(session, photo_id, "w_only", method="manual")
    window.browser.refresh()
    assert window.browser.select_photo(photo_id)

    window.identify_panel.mark_new_whale()

    assert window.statusBar().currentMessage() == (
        "Confirmed 0000e88ab.jpg as new_whale, no longer w_only, which had no other photo and left "
        "the whale list; Ctrl+Z takes it back"
    )
    window.undo_action.trigger()
    assert window.browser.whale_counts() == {"w_only": 1}


def test_confirming_selects_next_photo(qtbot, window, fluke_data):
    names = ["0000e88ab.jpg", "000a6daec.jpg", "009a4db9.jpg"]
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in names])
    photos = [p.id for p in window.browser.unidentified_model.photos]
    window.browser.select_unidentified_photo(photos[1])

    window.identify_panel.mark_new_whale()

    # The photo that took the confirmed one's place is next, as on a card.
    assert window.identify_panel.photo_id == photos[2]
    assert window.photo_view.photo_id == photos[2]
    window.identify_panel.mark_new_whale()
    assert window.identify_panel.photo_id == photos[0]
    window.identify_panel.mark_new_whale()
    assert window.browser.unidentified_model.photos == []
    assert window.identify_panel.photo_id is None  # no photo is left selected
    # Undo brings the photo back and selects it, so the next confirmation moves on again.
    window.undo_action.trigger()
    assert window.browser.unidentified_view.currentIndex().row() == 0
    assert window.identify_panel.photo_id == photos[0]
    window.undo_action.trigger()
    view = window.browser.unidentified_view
    assert view.model().photos[view.currentIndex().row()].id == photos[2]
    window.identify_panel.mark_new_whale()
    assert window.identify_panel.photo_id == photos[0]


def test_undo_and_redo_keep_scores(qtbot, window, fluke_data):
    from sqlalchemy import select

    from whalecat.catalogue.models import CONFIRMED, Identification

    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id

    def confirmed_score():
        with window.catalogue.session() as session:
            return session.scalar(select(Identification.score).where(
                Identification.photo_id == photo_id, Identification.status == CONFIRMED))

    window.confirmations.confirm(photo_id, "w_aaaaaaa", "confirmed:default", 0.375)
    window.confirmations.confirm(photo_id, "w_bbbbbbb", "confirmed:default", 0.5)
    window.undo_action.trigger()
    assert confirmed_score() == 0.375  # the earlier confirmation's score is back
    window.redo_action.trigger()
    assert confirmed_score() == 0.5


def test_confirm_shortcuts_do_not_repeat(window):
    # Each confirmation selects the next photo, so a held key confirmed photos never seen.
    identify_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Identify")
    actions = {a.text(): a for a in identify_menu.actions()}
    assert not actions["&Confirm Candidate"].autoRepeat()
    assert not actions["Mark as &new_whale"].autoRepeat()


def test_drop_folder_imports(qtbot, window, fluke_data, tmp_path):
    folder = tmp_path / "dropped"
    folder.mkdir()
    shutil.copy(fluke_data / "images" / "0000e88ab.jpg", folder)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)

    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.import_panel.last_report is not None, timeout=WAIT_MS)

    assert window.import_panel.last_report.imported == 1
    assert len(window.browser.unidentified_model.photos) == 1


def _drop(window, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    window.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))


def test_dropped_csv_labels_the_dropped_photos(qtbot, window, fluke_data, tmp_path):
    photo = shutil.copy(fluke_data / "images" / "0000e88ab.jpg", tmp_path)
    labels = write_labels(tmp_path / "labels.csv", {"0000e88ab.jpg": "w_dropped"})

    _drop(window, [photo, labels])
    qtbot.waitUntil(lambda: window.import_panel.last_report is not None, timeout=WAIT_MS)

    report = window.import_panel.last_report
    assert (report.imported, report.labelled, report.failed) == (1, 1, [])
    assert window.browser.whale_counts() == {"w_dropped": 1}


def test_two_dropped_csv_files_import_nothing(qtbot, window, fluke_data, tmp_path):
    photo = shutil.copy(fluke_data / "images" / "0000e88ab.jpg", tmp_path)
    first = write_labels(tmp_path / "a.csv", {"0000e88ab.jpg": "w_a"})
    second = write_labels(tmp_path / "b.csv", {"0000e88ab.jpg": "w_b"})

    _drop(window, [photo, first, second])

    assert window.error_box.text() == "2 CSV files were dropped: a.csv, b.csv."
    assert window.import_panel.worker is None
    assert window.browser.unidentified_model.photos == []


def test_reload_shows_photos_imported_from_the_command_line(qtbot, window, fluke_data):
    assert main(["--catalogue", str(window.catalogue.folder), "import", str(fluke_data / "images" / "0000e88ab.jpg")]) == 0
    assert window.browser.unidentified_model.photos == []

    window.reload_action.trigger()

    assert [p.original_name for p in window.browser.unidentified_model.photos] == ["0000e88ab.jpg"]
    assert "1 photo, 1 unidentified" in window.catalogue_label.text()


def test_long_import_shows_photos_before_it_ends(qtbot, window, fluke_data, monkeypatch):
    monkeypatch.setattr("whalecat.gui.import_panel.SHOW_STORED_EVERY_S", 0.0)
    names = ["0000e88ab.jpg", "000a6daec.jpg", "009a4db9.jpg"]

    with qtbot.waitSignal(window.import_panel.stored_more, timeout=WAIT_MS):
        worker = window.import_paths([fluke_data / "images" / name for name in names])

    assert window.browser.unidentified_model.photos
    assert "0 photos" not in window.catalogue_label.text()
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass
    assert len(window.browser.unidentified_model.photos) == 3


def test_close_during_import_joins(qtbot, window, fluke_data):
    worker = window.import_paths([fluke_data / "images"])
    qtbot.waitUntil(lambda: window.import_panel.bar.value() > 0, timeout=WAIT_MS)

    window.close()
    assert window.quit_box.text() == "An import is still running. Quit anyway?"
    assert window.quit_box.informativeText().startswith("An import that stops keeps the photos")
    assert not worker.token.cancelled
    window.quit_anyway()

    assert running_threads() == []
    assert worker.token.cancelled
    assert window.catalogue is None


def test_quit_question_closes_when_import_ends(qtbot, window, fluke_data):
    names = ["0000e88ab.jpg", "000a6daec.jpg", "009a4db9.jpg"]
    worker = window.import_paths([fluke_data / "images" / name for name in names])
    quit_while_running(qtbot, window, worker, WAIT_MS)
    assert window.import_panel.summary_box.isVisible()


@pytest.mark.parametrize("find_fluke", [True, False])
def test_fluke_crop_setting_applies_to_import(qtbot, window, fluke_data, find_fluke):
    from whalecat.catalogue.records import get_photo

    if window.find_fluke_action.isChecked() != find_fluke:
        window.find_fluke_action.trigger()
    assert window.settings.find_fluke is find_fluke
    import_and_wait(qtbot, window, [fluke_data / "images" / "0000e88ab.jpg"])
    photo_id = window.browser.unidentified_model.photos[0].id
    with window.catalogue.session() as session:
        crop = get_photo(session, photo_id).crop
    assert (crop is not None) is find_fluke


def test_undo_from_whales_tab(qtbot, window, fluke_data):
    names = ["0000e88ab.jpg", "000a6daec.jpg"]
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in names])
    first = window.browser.unidentified_model.photos[0]
    window.browser.select_unidentified_photo(first.id)
    window.identify_panel._confirm("w_aaaaaaa", "manual")
    # The researcher looks at the whale just made, then undoes from the Whales tab.
    window.browser.tabs.setCurrentIndex(0)
    assert window.browser.select_whale("w_aaaaaaa")

    window.undo_action.trigger()

    assert window.browser.tabs.currentWidget() is window.browser.unidentified_view
    view = window.browser.unidentified_view
    assert view.model().photos[view.currentIndex().row()].id == first.id
    assert window.identify_panel.photo_id == first.id
    assert window.statusBar().currentMessage() == f"Undone: Confirm {first.original_name} as w_aaaaaaa"

    window.redo_action.trigger()

    assert window.browser.whale_counts() == {"w_aaaaaaa": 1}
    assert window.statusBar().currentMessage() == f"Redone: Confirm {first.original_name} as w_aaaaaaa"


def test_import_shows_time_left(qtbot, window, tmp_path):
    from tests.helpers import save_fluke

    for sighting in range(5):
        save_fluke(tmp_path / "card" / f"s{sighting}.jpg", individual=1, sighting=sighting)
    panel = window.import_panel
    labels = []
    show_progress = panel._on_progress

    def record(*report):
        show_progress(*report)
        labels.append(panel.label.text())

    panel._on_progress = record  # connected when the import starts, before its first report
    worker = window.import_paths([tmp_path / "card"])
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        pass

    assert labels[0] == "Importing s0.jpg"
    assert labels[3].startswith("Importing s3.jpg, about 0:")
    assert labels[3].endswith(" left")


def test_new_catalogue_in_typed_folder(window, tmp_path):
    typed = tmp_path / "surveys" / "gulf 2026"

    assert window.create_catalogue(typed)

    assert (typed / "catalogue.sqlite").is_file()
    assert window.catalogue.folder == typed


def test_new_catalogue_where_no_folder_can_be_made(window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("survey notes", encoding="utf-8")
    before = window.catalogue.folder

    assert not window.create_catalogue(notes / "catalogue")

    assert window.error_box.text() == f"{notes} is a file, so no folder can be made in it."
    assert window.catalogue.folder == before


def test_new_catalogue_refuses_busy_folder(window, tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    (card / "IMG_0001.jpg").write_bytes(b"not needed")
    before = window.catalogue.folder

    assert not window.create_catalogue(card)

    assert window.error_box.text() == f"{card} is not empty."
    assert window.catalogue.folder == before
    assert not (card / "catalogue.sqlite").exists()


def test_new_catalogue_dialog(window, tmp_path):
    dialog = window._choose_new_catalogue()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    suggested = dialog.folder()
    assert not suggested.exists()
    assert dialog.folder_edit.selectedText() == suggested.name  # typing replaces the name only
    assert ok.isEnabled()

    card = tmp_path / "card"
    card.mkdir()
    (card / "IMG_0001.jpg").write_bytes(b"a photo")
    dialog.folder_edit.setText(str(card))
    assert not ok.isEnabled()
    assert dialog.message.text() == (
        f"{card} is not empty. Choose an empty folder for a new catalogue, or open an existing one."
    )
    dialog.folder_edit.setText("surveys/gulf")
    assert not ok.isEnabled()

    # An existing empty folder, which Qt's own dialogs could not return.
    empty = tmp_path / "gulf 2026"
    empty.mkdir()
    dialog.folder_edit.setText(str(empty))
    assert dialog.message.text() == "An empty folder: OK makes the catalogue in it."
    ok.click()

    assert window.catalogue.folder == empty
    assert (empty / "catalogue.sqlite").is_file()
    assert window._choose_new_catalogue().folder() == tmp_path / "new catalogue"
    window.new_catalogue_dialog.reject()


def test_tab_shortcuts_focus_lists(qtbot, window, fluke_data):
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in ("0000e88ab.jpg", "000a6daec.jpg")])
    window.import_panel.summary_box.accept()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window
    browser = window.browser
    browser.tabs.setCurrentIndex(0)

    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)

    assert browser.tabs.currentWidget() is browser.unidentified_view
    assert browser.unidentified_view.hasFocus()
    first = browser.unidentified_model.photos[0].id
    assert window.identify_panel.photo_id == first
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert browser.tabs.currentWidget() is browser.new_whale_view
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert browser.tabs.currentIndex() == 0
    assert browser.whale_view.hasFocus()


def test_remove_photo_and_undo(qtbot, window, fluke_data):
    names = ["0000e88ab.jpg", "000a6daec.jpg", "009a4db9.jpg"]
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in names])
    window.import_panel.summary_box.accept()
    photos = [p.id for p in window.browser.unidentified_model.photos]
    window.browser.select_unidentified_photo(photos[1])
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window

    qtbot.keyClick(window.browser.unidentified_view, Qt.Key.Key_Delete)

    assert [p.id for p in window.browser.unidentified_model.photos] == [photos[0], photos[2]]
    assert window.photo_view.photo_id == photos[2]  # the next photo, as after a confirmation
    assert "2 photos" in window.catalogue_label.text()
    assert any((window.catalogue.folder / "removed").rglob("*.jpg"))
    assert window.confirmations.undo_stack.undoText() == f"Remove {names[1]}"
    assert window.statusBar().currentMessage() == (
        f"Removed {names[1]}. Its copy is kept in the catalogue's removed folder."
    )

    window.undo_action.trigger()

    assert [p.id for p in window.browser.unidentified_model.photos] == photos
    assert window.photo_view.photo_id == photos[1]
    assert window.statusBar().currentMessage() == f"Undone: Remove {names[1]}"
    window.redo_action.trigger()
    assert len(window.browser.unidentified_model.photos) == 2
    # Delete still edits text where text is typed.
    window.browser.tabs.setCurrentIndex(0)
    edit = window.browser.filter_edit
    edit.setText("w_x")
    edit.setFocus()
    edit.setCursorPosition(0)
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    assert edit.text() == "_x"
    assert len(window.browser.unidentified_model.photos) == 2


def test_identify_on_select_setting(qtbot, window, fluke_data):
    names = ["0000e88ab.jpg", "000a6daec.jpg"]
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in names])
    photos = [p.id for p in window.browser.unidentified_model.photos]
    window.browser.select_unidentified_photo(photos[0])
    assert window.identify_panel.worker is None  # off by default

    window.activateWindow()
    window.browser.unidentified_view.setFocus()
    window.browser.select_unidentified_photo(photos[1])
    window.identify_on_select_action.setChecked(True)

    # Turning the setting on identifies the photo shown, as selecting it would have.
    assert window.settings.identify_on_select
    worker = window.identify_panel.worker
    assert worker is not None
    assert window.identify_panel.busy_label.text() == "Identifying… (loading the model first)"
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.identify_panel.result.photo_id == photos[1]
    # The candidates did not take the keys from the photo list the user is moving down.
    assert QApplication.focusWidget() is window.browser.unidentified_view
    # Enter in the list confirms the first candidate, so a card takes one key per photo.
    first = window.identify_panel.result.candidates[0].label
    qtbot.keyClick(window.browser.unidentified_view, Qt.Key.Key_Return)
    assert window.statusBar().currentMessage() == f"Confirmed 000a6daec.jpg as {first}"
    window.undo_action.trigger()
    window.browser.select_unidentified_photo(photos[0])
    assert window.identify_panel.busy_label.text() == "Identifying…"  # the model is loaded now
    with qtbot.waitSignal(window.identify_panel.worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    window.identify_on_select_action.setChecked(False)
    assert not window.settings.identify_on_select


def test_removing_photo_being_identified(qtbot, window, fluke_data, caplog):
    names = ["0000e88ab.jpg", "000a6daec.jpg", "009a4db9.jpg"]
    import_and_wait(qtbot, window, [fluke_data / "images" / name for name in names])
    window.import_panel.summary_box.accept()
    photos = [p.id for p in window.browser.unidentified_model.photos]
    window.browser.select_unidentified_photo(photos[0])
    worker = window.identify_selected()
    outcomes = []
    worker.finished.connect(lambda _result: outcomes.append("finished"))
    worker.failed.connect(lambda message: outcomes.append(message))
    worker.cancelled.connect(lambda: outcomes.append("cancelled"))

    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        window.remover.action.trigger()

    # The removed photo's identification stops quietly: nothing to show and nothing wrong.
    assert outcomes == ["cancelled"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert window.error_box is None
    assert window.identify_panel.photo_id == photos[1]
    # The cancelled run left the shared matching method usable.
    worker = window.identify_selected()
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.identify_panel.result.photo_id == photos[1]


def test_shortcuts_listed_from_menus(window):
    box = window.show_shortcuts()

    text = box.text()
    assert "<b>Ctrl+R</b>&nbsp;&nbsp;</td><td>Identify → Identify Selected Photo" in text
    assert "Edit → Undo" in text
    assert "Ctrl+Shift+Z" in text  # the redo key the README names
    assert "Photo → Remove from Catalogue" in text
    assert "Catalogue → Go to Whales" in text
    assert "Arrow keys" in text
    box.accept()


def import_synthetic_photo(qtbot, window, tmp_path) -> int:
    from tests.helpers import save_fluke

    import_and_wait(qtbot, window, [save_fluke(tmp_path / "card" / "a.jpg", individual=1)])
    window.import_panel.summary_box.accept()
    return window.browser.unidentified_model.photos[0].id


def test_redo_keys_include_ctrl_y(qtbot, window, tmp_path):
    from PySide6.QtGui import QKeySequence

    from whalecat.gui.main_window import redo_shortcuts

    def names(keys):
        return [key.toString() for key in keys]

    # Platform keys without Ctrl+Y, as on Linux, and with it, as on Windows.
    linux = [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Shift+F14")]
    assert names(redo_shortcuts(linux)) == ["Ctrl+Shift+Z", "Shift+F14", "Ctrl+Y"]
    windows = [QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]
    assert names(redo_shortcuts(windows)) == ["Ctrl+Y", "Ctrl+Shift+Z"]
    keys = names(window.redo_action.shortcuts())
    assert "Ctrl+Y" in keys
    assert len(keys) == len(set(keys))

    photo_id = import_synthetic_photo(qtbot, window, tmp_path)
    window.confirmations.confirm(photo_id, "w_aaaaaaa", "manual", None)
    window.undo_action.trigger()
    assert window.browser.whale_counts() == {}
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)  # shortcuts fire only in the active window
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert window.browser.whale_counts() == {"w_aaaaaaa": 1}


def test_shortcut_list_names_undo_and_redo(qtbot, window, tmp_path):
    from PySide6.QtGui import QKeySequence

    photo_id = import_synthetic_photo(qtbot, window, tmp_path)
    window.confirmations.confirm(photo_id, "w_aaaaaaa", "manual", None)
    window.confirmations.confirm(photo_id, "w_bbbbbbb", "manual", None)
    window.undo_action.trigger()
    assert window.undo_action.text() == "&Undo Confirm a.jpg as w_aaaaaaa"
    assert window.redo_action.text() == "&Redo Confirm a.jpg as w_bbbbbbb"
    # Qt on Linux binds F14, a key that few keyboards have, to Undo.
    window.undo_action.setShortcuts([*window.undo_action.shortcuts(), QKeySequence("F14")])

    box = window.show_shortcuts()

    text = box.text()
    assert "<td>Edit → Undo</td>" in text
    assert "<td>Edit → Redo</td>" in text
    assert "Confirm a.jpg" not in text
    assert "F14" not in text
    assert "Ctrl+Z" in text
    box.accept()


def test_export_identifications(qtbot, window, fluke_data, tmp_path):
    csv_path = write_labels(tmp_path / "labels.csv", {"0000e88ab.jpg": "w_f48451c"})
    import_and_wait(qtbot, window, [fluke_data / "images" / n for n in ("0000e88ab.jpg", "000a6daec.jpg")], csv_path)
    out = tmp_path / "survey sightings.csv"

    assert window.export_to(out, "sightings")

    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("image,whale_id,taken_at,")
    assert len(lines) == 2
    assert lines[1].startswith("0000e88ab.jpg,w_f48451c,")
    assert window.statusBar().currentMessage() == f"Exported 1 confirmed photo to {out}"

    missing = tmp_path / "gone" / "x.csv"
    assert not window.export_to(missing, "kaggle")
    assert window.error_box.text().startswith(f"Cannot export to {missing}: cannot write")


def test_export_notes_shared_file_names(window, tmp_path):
    for card, individual in (("card1", 1), ("card2", 2)):
        save_fluke(tmp_path / card / "IMG_0001.JPG", individual=individual)
    import_paths(window.catalogue, [tmp_path / "card1", tmp_path / "card2"])
    with window.catalogue.session() as session:
        confirm_label(session, 1, "w_alpha")
        confirm_label(session, 2, "w_beta")
    out = tmp_path / "labels.csv"

    assert window.export_to(out, "kaggle")

    assert window.error_box.text() == (
        f"Exported to {out}, but 1 file name (IMG_0001.JPG) is shared by several confirmed photos, so importing "
        "the labels rows again would label none of those photos; the sightings format names each photo's "
        "original folder."
    )


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes])
def test_export_asks_before_replacing_suffixed_name(window, tmp_path, monkeypatch, answer):
    existing = tmp_path / "report.csv"
    existing.write_text("notes kept here\n", encoding="utf-8")
    questions = []
    # The dialog returns the name as typed: it found no file called "report", so it asked nothing.
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args: (str(tmp_path / "report"), EXPORT_FILTERS["kaggle"])))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args: questions.append(args[2]) or answer))

    window.export_action.trigger()

    assert questions == [f"report.csv already exists in {tmp_path}. Replace it?"]
    unchanged = existing.read_text(encoding="utf-8") == "notes kept here\n"
    assert unchanged == (answer == QMessageBox.StandardButton.Cancel)


def test_export_suffix_after_dotted_name(window, tmp_path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args: (str(tmp_path / "survey.2024"), EXPORT_FILTERS["kaggle"])))

    window.export_action.trigger()

    assert (tmp_path / "survey.2024.csv").read_text(encoding="utf-8") == "Image,Id\n"


# -- candidates after an undo and a redo -------------------------------------------------------


def import_synthetic_card(qtbot, window, tmp_path) -> list[int]:
    """Import two catalogued synthetic whales and a card of three new sightings of them.

    Returns the card's photo ids, in the order the Unidentified tab lists them.
    """
    from tests.helpers import save_fluke, save_labelled_flukes

    images, labels = save_labelled_flukes(tmp_path / "known", whales=2, photos_per_whale=1)
    assert import_and_wait(qtbot, window, [images], labels).labelled == 2
    card = [save_fluke(tmp_path / "card" / f"card{n}.jpg", individual=n % 2, sighting=1 + n) for n in range(3)]
    assert import_and_wait(qtbot, window, card).imported == 3
    photos = window.browser.unidentified_model.photos
    assert [p.original_name for p in photos] == ["card0.jpg", "card1.jpg", "card2.jpg"]
    return [p.id for p in photos]


def wait_for_candidates(qtbot, window, worker):
    assert worker is not None
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    result = window.identify_panel.result
    assert result is not None
    return result


def test_photo_with_damaged_copy_left_out_and_noted(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    with window.catalogue.session() as session:
        known = session.scalar(select(Photo.stored_name).where(Photo.original_name == "w0_s0.jpg"))
    stored = window.catalogue.folder / known
    stored.write_bytes(stored.read_bytes()[:300])  # cut short
    shutil.rmtree(window.catalogue.cache_dir)  # so matching must read the copy
    assert window.browser.select_unidentified_photo(card[1])

    result = wait_for_candidates(qtbot, window, window.identify_panel.identify_current())

    assert result.candidates
    assert window.statusBar().currentMessage() == (
        "1 confirmed photo left out of matching, since the catalogue's copy is missing or cannot be read: "
        "w0_s0.jpg. Import the original photos again to repair the copies."
    )


def confirm_as_whale(window, result) -> str:
    """Confirm the shown photo as its best candidate that is a catalogued whale, so the gallery grows."""
    from whalecat.matching.base import NEW_WHALE

    panel = window.identify_panel
    row = next(row for row, candidate in enumerate(result.candidates) if candidate.label != NEW_WHALE)
    panel.candidates.setCurrentRow(row)
    panel.confirm_selected()
    return result.candidates[row].label


def test_redo_shows_next_photo_candidates(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    panel = window.identify_panel
    assert window.browser.select_unidentified_photo(card[0])
    first = wait_for_candidates(qtbot, window, window.identify_selected())
    whale = confirm_as_whale(window, first)
    assert panel.photo_id == card[1]
    following = wait_for_candidates(qtbot, window, window.identify_selected())
    assert following.photo_id == card[1]

    window.undo_action.trigger()
    assert panel.photo_id == card[0]
    assert panel.result is first
    window.redo_action.trigger()

    assert window.statusBar().currentMessage() == f"Redone: Confirm card0.jpg as {whale}"
    assert panel.photo_id == card[1]
    assert window.photo_view.photo_id == card[1]
    assert panel.result is following
    assert panel.candidates.count() == len(following.candidates)
    assert panel.candidates.currentRow() == 0
    assert panel.confirm_button.isEnabled()
    assert panel.worker is None  # shown again, not identified again


def test_redo_with_identify_on_select(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    panel = window.identify_panel
    window.identify_on_select_action.setChecked(True)
    window.browser.select_unidentified_photo(card[0])
    first = wait_for_candidates(qtbot, window, panel.worker)
    confirm_as_whale(window, first)
    following = wait_for_candidates(qtbot, window, panel.worker)
    assert following.photo_id == card[1]

    window.undo_action.trigger()
    assert panel.result is first
    assert panel.worker is None  # the kept candidates need no second run
    window.redo_action.trigger()

    assert panel.photo_id == card[1]
    assert panel.result is following
    assert panel.worker is None


def test_redo_before_candidates_arrive(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    panel = window.identify_panel
    window.identify_on_select_action.setChecked(True)
    window.browser.select_unidentified_photo(card[0])
    first = wait_for_candidates(qtbot, window, panel.worker)
    confirm_as_whale(window, first)
    left = panel.worker
    assert left is not None

    # Undone before the next photo's candidates arrive, so the redo has none to show again.
    window.undo_action.trigger()
    assert panel.result is first
    window.redo_action.trigger()

    assert panel.photo_id == card[1]
    assert panel.worker is not None
    assert panel.worker is not left
    assert wait_for_candidates(qtbot, window, panel.worker).photo_id == card[1]
    qtbot.waitUntil(lambda: not window.pool.workers, timeout=IDENTIFY_WAIT_MS)


def test_kept_candidates_need_same_catalogue(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    panel = window.identify_panel
    window.browser.select_unidentified_photo(card[1])
    early = wait_for_candidates(qtbot, window, window.identify_selected())
    window.browser.select_unidentified_photo(card[0])
    first = wait_for_candidates(qtbot, window, window.identify_selected())

    # A photo confirmed as a whale joins the gallery, so card1's earlier candidates are stale.
    confirm_as_whale(window, first)
    assert panel.photo_id == card[1]
    assert panel.result is None
    assert panel.candidates.count() == 0

    window.undo_action.trigger()
    assert panel.result is first
    window.browser.select_unidentified_photo(card[1])
    assert panel.result is early  # the catalogue is as it was when they were found

    # new_whale photos are not in the gallery, so marking one leaves the candidates valid.
    window.browser.select_unidentified_photo(card[0])
    panel.mark_new_whale()
    assert panel.photo_id == card[1]
    assert panel.result is early


def test_new_catalogue_dialog_offers_failed_path_again(window, tmp_path):
    broken = tmp_path / "broken"
    (broken / "catalogue.sqlite").mkdir(parents=True)  # accepted as a catalogue, but SQLite cannot open it
    dialog = window._choose_new_catalogue()
    dialog.folder_edit.setText(str(broken))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert window.error_box.text().startswith(f"Cannot create a catalogue in {broken}: cannot open the database")
    window.error_box.accept()

    assert window._choose_new_catalogue().folder() == broken
    window.new_catalogue_dialog.reject()


def test_candidates_found_after_leaving_are_kept(qtbot, window, tmp_path):
    card = import_synthetic_card(qtbot, window, tmp_path)
    panel = window.identify_panel
    window.browser.select_unidentified_photo(card[0])
    left = window.identify_selected()
    assert left is not None
    window.browser.select_unidentified_photo(card[1])  # before its candidates arrive
    with qtbot.waitSignal(left.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert panel.photo_id == card[1]
    assert panel.result is None  # not shown over another photo

    window.browser.select_unidentified_photo(card[0])

    assert panel.result is not None
    assert panel.result.photo_id == card[0]
    assert panel.candidates.count() == len(panel.result.candidates)
    assert panel.worker is None


def test_new_catalogue_ok_rechecks_the_folder(window, tmp_path):
    dialog = window._choose_new_catalogue()
    target = tmp_path / "race" / "catalogue"
    dialog.folder_edit.setText(str(target))
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    (tmp_path / "race").write_text("made by another program meanwhile")

    ok.click()

    assert dialog.isVisible()
    assert dialog.message.text() == f"{tmp_path / 'race'} is a file, so no folder can be made in it. Type a path in another folder."
    assert not ok.isEnabled()
    dialog.reject()


def test_match_view_enlarges_small_photos_smoothly(qtbot):
    checker = QImage(2, 2, QImage.Format.Format_RGB32)
    for x in range(2):
        for y in range(2):
            checker.setPixel(x, y, 0xFFFFFFFF if (x + y) % 2 else 0xFF000000)
    view = MatchView()
    qtbot.addWidget(view)
    view.resize(400, 240)
    view.set_images(ShownImage(checker, (2, 2)), None, [])

    drawn = view.grab().toImage()

    # Blocky enlargement draws only black and white; a smooth one blends them between the four squares.
    grays = {drawn.pixelColor(x, 120).red() for x in range(20, 180)}
    assert any(30 < gray < 225 for gray in grays), sorted(grays)
