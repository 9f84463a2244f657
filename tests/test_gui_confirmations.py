"""Confirmations on the GUI thread: undo and redo keep the time each decision was made."""

from sqlalchemy import select

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Identification
from whalecat.gui.confirmations import Confirmations
from whalecat.importing import import_paths


def confirmed_rows(catalogue):
    with catalogue.session() as session:
        rows = session.scalars(select(Identification).where(Identification.status == "confirmed"))
        return [(row.photo_id, row.whale_id, row.created_at) for row in rows]


def test_redo_keeps_the_time_of_the_confirmation(qtbot, tmp_path):
    save_fluke(tmp_path / "in" / "a.jpg", individual=1)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [tmp_path / "in"])
        confirmations = Confirmations()
        confirmations.set_catalogue(catalogue)
        confirmations.confirm(1, "w_aaaaaaa")
        confirmed = confirmed_rows(catalogue)
        confirmations.undo_stack.undo()
        assert confirmed_rows(catalogue) == []
        confirmations.undo_stack.redo()
        assert confirmed_rows(catalogue) == confirmed
