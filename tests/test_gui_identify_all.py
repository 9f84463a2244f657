"""Identify → Identify All Unidentified Photos in the real window, on synthetic flukes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from tests.helpers import save_fluke, save_labelled_flukes
from tests.test_gui_support import no_thread_left, quit_while_running, window  # noqa: F401  (fixtures)
from tests.test_gui_window import IDENTIFY_WAIT_MS, import_and_wait
from whalecat.catalogue.records import PhotoSummary, Suggestion, confirm_label, first_suggestions
from whalecat.gui.batch_identify import summary_text
from whalecat.gui.browser import by_first_candidate, suggestion_text
from whalecat.gui.worker import running_threads
from whalecat.identification import BatchReport
from whalecat.matching.base import NEW_WHALE


def import_known_and_card(qtbot, window, tmp_path, card_size: int = 3) -> None:
    # Twelve photos with a partner, so the new_whale threshold is fitted and confidences exist.
    images, labels = save_labelled_flukes(tmp_path / "known", whales=4, photos_per_whale=3)
    assert import_and_wait(qtbot, window, [images], labels).labelled == 12
    # Individual 4 is not in the catalogue, so a card of five or more has a new whale.
    card = [save_fluke(tmp_path / "card" / f"card{n}.jpg", individual=n % 5, sighting=5 + n) for n in range(card_size)]
    assert import_and_wait(qtbot, window, card).imported == card_size


def test_list_shows_first_candidates(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path)
    window.identify_all_action.trigger()
    worker = window.batch_panel.worker
    assert worker is not None and window.batch_panel.isVisible()
    assert not window.identify_all_action.isEnabled()
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    assert window.error_box is None, window.error_box.text()
    assert window.batch_panel.summary_box.text().startswith("3 photos identified: ")
    assert not window.batch_panel.isVisible()
    assert window.identify_all_action.isEnabled()

    with window.catalogue.session() as session:
        stored = first_suggestions(session)
    model = window.browser.unidentified_model
    assert len(model.photos) == 3
    for row, photo in enumerate(model.photos):
        suggestion = stored[photo.id]
        index = model.index(row)
        name, second_line = model.data(index, Qt.ItemDataRole.DisplayRole).split("\n")
        assert name == photo.original_name
        assert second_line == f"{suggestion.label} {suggestion.confidence:.0%}"
        assert suggestion.label in {f"w_{whale:07d}" for whale in range(4)} | {NEW_WHALE}
        assert "First candidate when last identified, by the default method: " in model.data(index, Qt.ItemDataRole.ToolTipRole)


def test_out_of_date_suggestions_in_italics(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path)
    with qtbot.waitSignal(window.batch_panel.start().done, timeout=IDENTIFY_WAIT_MS):
        pass
    model = window.browser.unidentified_model
    first = model.index(0)
    assert model.data(first, Qt.ItemDataRole.FontRole) is None
    assert "In italics" not in model.data(first, Qt.ItemDataRole.ToolTipRole)

    with window.catalogue.session() as session:
        confirm_label(session, model.photos[0].id, "w_0000001", "manual")  # the gallery changes
    window.reload_catalogue()

    assert len(model.photos) == 2
    for row in range(2):
        assert model.data(model.index(row), Qt.ItemDataRole.FontRole).italic()
        assert model.data(model.index(row), Qt.ItemDataRole.ToolTipRole).endswith(
            "Identify → Identify All Unidentified Photos (Ctrl+Shift+R) finds them again."
        )


def test_cancel_ends_run_cancelled(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=1)
    worker = window.batch_panel.start()
    with qtbot.waitSignal(worker.cancelled, timeout=IDENTIFY_WAIT_MS):
        window.batch_panel.cancel_button.click()
        assert window.batch_panel.label.text() == "Cancelling…"
    qtbot.waitUntil(lambda: window.batch_panel.worker is None, timeout=IDENTIFY_WAIT_MS)
    assert window.batch_panel.summary_box is None
    assert window.error_box is None
    assert window.identify_all_action.isEnabled()
    assert window.statusBar().currentMessage().startswith("Identification of all photos cancelled.")


def test_quit_during_run_asks_then_stops_it(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=1)
    worker = window.batch_panel.start()

    window.close()
    assert window.quit_box.text() == "Identification of all photos is still running. Quit anyway?"
    assert window.quit_box.informativeText().startswith("The photos identified so far keep their suggestions.")
    assert not worker.token.cancelled
    window.quit_anyway()

    assert running_threads() == []
    assert worker.token.cancelled
    assert window.catalogue is None


def test_quit_question_closes_when_run_ends(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=1)
    quit_while_running(qtbot, window, window.batch_panel.start(), IDENTIFY_WAIT_MS)


def test_no_whales_error_advises(qtbot, window, tmp_path):
    save_fluke(tmp_path / "card" / "card0.jpg", individual=0)
    assert import_and_wait(qtbot, window, [tmp_path / "card"]).imported == 1
    assert window.batch_panel.start() is None  # before TensorFlow takes seconds to load
    text = window.error_box.text()
    assert text.startswith("Cannot identify all photos: the catalogue at ")
    assert "no confirmed whales to match against" in text
    assert "Whale ID… (Ctrl+Shift+N)" in window.error_box.informativeText()
    assert "device" not in window.error_box.informativeText()


def test_order_by_first_candidate(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=6)
    model = window.browser.unidentified_model
    import_order = [photo.id for photo in model.photos]
    worker = window.batch_panel.start()
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    window.order_action.setChecked(True)
    suggestions = model.suggestions
    keys = [
        (suggestions[photo.id].label == NEW_WHALE, -suggestions[photo.id].confidence) for photo in model.photos
    ]
    assert keys == sorted(keys)
    assert [photo.id for photo in model.photos] != import_order  # an unchanged order would prove nothing
    window.order_action.setChecked(False)
    assert [photo.id for photo in model.photos] == import_order


def test_photos_never_identified_come_last():
    photos = [_summary(photo_id) for photo_id in range(1, 6)]
    suggestions = {
        1: Suggestion(NEW_WHALE, 0.9, "default"),
        2: Suggestion("w_a", 0.6, "default"),
        4: Suggestion("w_b", None, "default"),  # stored before confidences were
        5: Suggestion("w_c", 0.8, "default"),
    }
    assert [photo.id for photo in by_first_candidate(photos, suggestions)] == [5, 2, 4, 1, 3]


def _summary(photo_id: int) -> PhotoSummary:
    return PhotoSummary(photo_id, f"{photo_id:064d}", "x.jpg", f"p{photo_id}.jpg", "/card", 10, 10, None, None, None, None)


def test_selected_photo_shows_its_candidates(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=2)
    worker = window.batch_panel.start()
    with qtbot.waitSignal(worker.done, timeout=IDENTIFY_WAIT_MS):
        pass
    window.batch_panel.summary_box.accept()
    assert not window.settings.identify_on_select
    window.browser.show_tab(1)
    running = window.identify_panel.worker
    assert running is not None  # the photo had suggestions, so it is matched again at once
    with qtbot.waitSignal(running.done, timeout=IDENTIFY_WAIT_MS):
        pass
    stored = window.browser.unidentified_model.suggestions[window.identify_panel.photo_id]
    assert window.identify_panel.result.candidates[0].label == stored.label


def test_suggestion_line_fits_its_cell():
    metrics = QFontMetrics(QApplication.font())
    width = 120
    long_id = Suggestion("HW-MN-0412-StellwagenBank", 0.82, "default")
    text = suggestion_text(long_id, (metrics, width))
    assert text.endswith(" 82%")
    assert "…" in text
    assert metrics.horizontalAdvance(text) <= width
    assert suggestion_text(Suggestion("w_0000000", None, "default")) == "w_0000000?"


@pytest.mark.parametrize("skipped, line", [(1, "1 photo confirmed or removed during the run was left out."),
                                           (2, "2 photos confirmed or removed during the run were left out.")])
def test_summary_counts_left_out_photos(skipped, line):
    assert summary_text(BatchReport(identified=3, skipped=skipped)).endswith("\n" + line)
