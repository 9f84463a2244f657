"""The window's undo stack, which rejects a push while one of its commands runs, and steps over outside changes."""

from __future__ import annotations

from tests.helpers import save_fluke
from tests.test_gui_support import WAIT_MS, no_thread_left, window  # noqa: F401  (fixtures)
from tests.test_gui_window import import_and_wait
from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import confirm_label, get_photo, unidentified_photos
from whalecat.catalogue.removal import remove_photo
from whalecat.gui.undo import StoredCommand, UndoStack


class CallingCommand(StoredCommand):
    """A command that stores nothing and calls `during` each time it is undone or redone."""

    def __init__(self, text: str, during=lambda: None):
        super().__init__(text)
        self.during = during

    def reapply(self) -> bool:
        self.during()
        return True

    def revert(self) -> bool:
        self.during()
        return True


def test_push_during_undo_rejected(qapp):
    stack = UndoStack()
    rejected = []

    def push_inner() -> None:
        try:
            stack.push(CallingCommand("inner"))
        except RuntimeError as exc:
            rejected.append(str(exc))

    stack.push(CallingCommand("outer", push_inner))
    assert rejected == []  # the first redo, inside push, stores nothing

    stack.undo()
    assert rejected == ["cannot push 'inner' onto the undo stack while 'outer' is being undone or redone"]
    assert (stack.count(), stack.index()) == (1, 0)
    assert stack.running is None

    stack.redo()
    assert len(rejected) == 2
    assert (stack.count(), stack.index()) == (1, 1)

    stack.push(CallingCommand("after"))
    assert (stack.count(), stack.index()) == (2, 2)


def test_failed_undo_clears_running(qapp):
    stack = UndoStack()
    failed = CallingCommand("failing")
    stack.push(failed)
    failed.revert = lambda: False  # storing failed and was reported

    stack.undo()

    assert stack.running is None
    assert stack.count() == 0  # obsolete, so dropped


# -- steps over changes made outside the window, as by the command line ---------------------------


def window_with_photo(qtbot, window, tmp_path) -> int:
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    assert import_and_wait(qtbot, window, [tmp_path / "card"]).imported == 1
    with window.catalogue.session() as session:
        return unidentified_photos(session)[0].id


def confirm_outside(window, photo_id: int, label: str) -> None:
    with Catalogue.open(window.catalogue.folder) as other, other.session() as session:
        confirm_label(session, photo_id, label)


def label_of(window, photo_id: int) -> str | None:
    with window.catalogue.session() as session:
        return get_photo(session, photo_id).confirmed_label


def test_redo_names_label_stored_outside(qtbot, window, tmp_path):
    photo_id = window_with_photo(qtbot, window, tmp_path)
    window.confirmations.confirm(photo_id, "w_gui0002")
    window.undo_actions.undo()
    confirm_outside(window, photo_id, "w_cli0002")

    window.undo_actions.redo()
    assert label_of(window, photo_id) == "w_gui0002"
    assert window.statusBar().currentMessage() == (
        "Redone: Confirm a.jpg as w_gui0002, replacing w_cli0002, stored outside this window; Ctrl+Z takes it back"
    )

    window.undo_actions.undo()
    assert label_of(window, photo_id) == "w_cli0002"
    assert window.statusBar().currentMessage() == "Undone: Confirm a.jpg as w_gui0002"


def test_undo_after_outside_removal_reports(qtbot, window, tmp_path):
    photo_id = window_with_photo(qtbot, window, tmp_path)
    window.confirmations.confirm(photo_id, "w_gui0004")
    with Catalogue.open(window.catalogue.folder) as other:
        remove_photo(other, photo_id)
    window.statusBar().clearMessage()

    window.undo_actions.undo()

    assert window.error_box.text() == "Cannot undo “Confirm a.jpg as w_gui0004”: the photo is no longer in this catalogue."
    assert window.error_box.informativeText().endswith("Press F5 to show the catalogue as it is now.")
    assert window.statusBar().currentMessage() == ""
    assert not window.confirmations.undo_stack.canUndo()  # taken off the history


def test_photo_removed_outside_is_named_with_advice(qtbot, window, tmp_path):
    photo_id = window_with_photo(qtbot, window, tmp_path)
    assert window.browser.select_unidentified_photo(photo_id)
    qtbot.waitUntil(lambda: window.photo_view.crop_editor.photo is not None, timeout=WAIT_MS)  # the Photo tab loads it
    with Catalogue.open(window.catalogue.folder) as other:
        remove_photo(other, photo_id)
    # Removing comes last, since it first takes the photo off the Photo tab.
    attempts = {
        "rotate": lambda: window.photo_view.turner.turn(clockwise=True),
        "confirm": lambda: window.identify_panel._confirm("w_0000001", "manual"),
        "remove": window.remover.remove,
    }

    for verb, attempt in attempts.items():
        window.error_box = None
        attempt()
        assert window.error_box.text() == f"Cannot {verb} a.jpg: it is no longer in this catalogue."
        assert window.error_box.informativeText() == (
            "It was removed outside this window, perhaps from the command line. Press F5 to show the "
            "catalogue as it is now."
        )
