"""Identify → Identify All Unidentified Photos in the real window, on synthetic flukes."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.helpers import save_fluke, save_labelled_flukes
from tests.test_gui_support import no_thread_left, window  # noqa: F401  (fixtures)
from tests.test_gui_window import IDENTIFY_WAIT_MS, import_and_wait
from whalecat.catalogue.records import PhotoSummary, Suggestion, first_suggestions
from whalecat.gui.browser import by_first_candidate
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
        assert "First candidate when last identified (default)" in model.data(index, Qt.ItemDataRole.ToolTipRole)


def test_cancel_ends_run_cancelled(qtbot, window, tmp_path):
    import_known_and_card(qtbot, window, tmp_path, card_size=1)
    worker = window.batch_panel.start()
    with qtbot.waitSignal(worker.cancelled, timeout=IDENTIFY_WAIT_MS):
        window.batch_panel.cancel_button.click()
        assert window.batch_panel.label.text() == "Cancelling after the current photo…"
    qtbot.waitUntil(lambda: window.batch_panel.worker is None, timeout=IDENTIFY_WAIT_MS)
    assert window.batch_panel.summary_box is None
    assert window.error_box is None
    assert window.identify_all_action.isEnabled()


def test_no_whales_error_advises(qtbot, window, tmp_path):
    save_fluke(tmp_path / "card" / "card0.jpg", individual=0)
    assert import_and_wait(qtbot, window, [tmp_path / "card"]).imported == 1
    worker = window.batch_panel.start()
    with qtbot.waitSignal(worker.failed, timeout=IDENTIFY_WAIT_MS):
        pass
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=IDENTIFY_WAIT_MS)
    text = window.error_box.text()
    assert "Identification of all photos stopped" in text
    assert "no confirmed whales" in text
    assert "confirm photos of known whales first" in text


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
