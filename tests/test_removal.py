"""Removing a photo from a catalogue and putting it back, on a real SQLite catalogue."""

import pytest

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Whale
from whalecat.catalogue.records import (
    RecordError,
    all_photos,
    confirm_label,
    get_photo,
    list_whales,
    record_suggestions,
    set_crop,
)
from whalecat.catalogue.removal import REMOVED_FOLDER, remove_photo, restore_photo
from whalecat.importing import import_paths
from whalecat.importing.importer import thumbnail_path
from whalecat.matching.base import NEW_WHALE, Candidate


@pytest.fixture
def catalogue(tmp_path):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    save_fluke(tmp_path / "card" / "b.jpg", individual=2)
    with Catalogue.open(tmp_path / "catalogue") as opened:
        import_paths(opened, [tmp_path / "card"])
        yield opened


def test_remove_moves_files_and_rows(catalogue):
    with catalogue.session() as session:
        photo = get_photo(session, 1)
        confirm_label(session, 1, "w_1287fbc", "manual", 0.75)
    stored = catalogue.folder / photo.stored_name
    thumbnail = thumbnail_path(catalogue, photo.sha256)

    removed = remove_photo(catalogue, 1)

    with catalogue.session() as session:
        assert [p.id for p in all_photos(session)] == [2]
        assert list_whales(session) == []  # its only photo left with it
    assert not stored.exists()
    assert not thumbnail.exists()
    assert (catalogue.folder / REMOVED_FOLDER / photo.stored_name).is_file()
    assert removed.original_name == "a.jpg"
    assert removed.left_empty == ("w_1287fbc",)


def test_whale_with_other_photos_is_not_left_empty(catalogue):
    with catalogue.session() as session:
        confirm_label(session, 1, "w_1287fbc", "manual")
        confirm_label(session, 2, "w_1287fbc", "manual")

    assert remove_photo(catalogue, 1).left_empty == ()


def test_restore_puts_back_crop_and_confirmation(catalogue):
    with catalogue.session() as session:
        set_crop(session, 1, (10, 20, 300, 200))
        confirm_label(session, 1, "w_1287fbc", "manual", 0.75)
        photo = get_photo(session, 1)
    removed = remove_photo(catalogue, 1)

    restore_photo(catalogue, removed)

    with catalogue.session() as session:
        back = get_photo(session, 1)
        assert back.crop == (10, 20, 300, 200)
        assert back.confirmed_label == "w_1287fbc"
        assert [(w.id, w.photo_count) for w in list_whales(session)] == [("w_1287fbc", 1)]
    assert (catalogue.folder / photo.stored_name).is_file()
    assert thumbnail_path(catalogue, photo.sha256).is_file()
    assert not any((catalogue.folder / REMOVED_FOLDER).rglob("*.jpg"))


def test_whale_left_without_photos_not_listed(catalogue):
    with catalogue.session() as session:
        confirm_label(session, 1, "w_1287fbc", "manual", 0.75)
        # An identification of photo 2 named the whale, so its row outlives its only photo.
        record_suggestions(session, 2, [Candidate("w_1287fbc", 0.5)], "test", "test")
    removed = remove_photo(catalogue, 1)

    with catalogue.session() as session:
        assert session.get(Whale, "w_1287fbc") is not None
        assert list_whales(session) == []

    restore_photo(catalogue, removed)

    with catalogue.session() as session:
        assert [(w.id, w.photo_count) for w in list_whales(session)] == [("w_1287fbc", 1)]


def test_restore_takes_place_of_reimported_copy(catalogue, tmp_path):
    with catalogue.session() as session:
        set_crop(session, 1, (10, 20, 300, 200))
    removed = remove_photo(catalogue, 1)
    import_paths(catalogue, [tmp_path / "card" / "a.jpg"])

    restore_photo(catalogue, removed)

    with catalogue.session() as session:
        assert [p.id for p in all_photos(session)] == [1, 2]
        back = get_photo(session, 1)
        assert back.crop == (10, 20, 300, 200)
    assert (catalogue.folder / back.stored_name).is_file()
    assert not any((catalogue.folder / REMOVED_FOLDER).rglob("*.jpg"))
    assert not any((catalogue.folder / REMOVED_FOLDER).iterdir())  # no empty folders left behind


def test_restore_refused_after_reimport_confirmed(catalogue, tmp_path):
    removed = remove_photo(catalogue, 1)
    report = import_paths(catalogue, [tmp_path / "card" / "a.jpg"])
    with catalogue.session() as session:
        confirm_label(session, report.photo_ids[0], "w_1287fbc")

    with pytest.raises(RecordError, match="a.jpg was imported again after it was removed, and that copy is confirmed as w_1287fbc"):
        restore_photo(catalogue, removed)

    with catalogue.session() as session:
        assert len(all_photos(session)) == 2
    assert (catalogue.folder / REMOVED_FOLDER / removed.moved[0][0]).is_file()


def test_remove_unknown_photo(catalogue):
    with pytest.raises(RecordError, match="photo 99 is not in this catalogue"):
        remove_photo(catalogue, 99)


def test_failed_move_keeps_photo(catalogue, monkeypatch):
    # A failing move is simulated: tests run as root here, which no file permission stops.
    import whalecat.catalogue.removal as removal

    moves = []
    real_replace = removal.os.replace

    def replace_then_fail(source, target):
        moves.append(source)
        if len(moves) == 2:
            raise PermissionError(13, "Permission denied", str(source))
        real_replace(source, target)

    monkeypatch.setattr(removal.os, "replace", replace_then_fail)
    with pytest.raises(PermissionError):
        remove_photo(catalogue, 1)
    monkeypatch.undo()

    with catalogue.session() as session:
        photo = get_photo(session, 1)
    assert (catalogue.folder / photo.stored_name).is_file()
    assert thumbnail_path(catalogue, photo.sha256).is_file()


def test_reimport_names_removed_photo(catalogue, tmp_path):
    remove_photo(catalogue, 1)

    report = import_paths(catalogue, [tmp_path / "card"])

    assert (report.imported, report.duplicates) == (1, 1)
    assert report.removed_before == [str(tmp_path / "card" / "a.jpg")]
    assert report.summary() == "1 imported, 1 already in the catalogue, 0 failed, 1 imported again after removal"


def test_restore_after_ids_were_given_again(catalogue, tmp_path):
    candidates = [Candidate("w_aaaaaaa", 0.9, None, {}), Candidate(NEW_WHALE, 0.5, None, {})]
    with catalogue.session() as session:
        confirm_label(session, 1, "w_aaaaaaa", "manual", 0.75)
        confirm_label(session, 2, "w_1287fbc", "manual", 0.75)
        record_suggestions(session, 2, candidates, "default", "embedding-test")
    removed = remove_photo(catalogue, 2)  # the newest photo, with the newest identification rows
    with catalogue.session() as session:
        record_suggestions(session, 1, candidates, "default", "embedding-test")
    save_fluke(tmp_path / "later" / "c.jpg", individual=3)
    later = import_paths(catalogue, [tmp_path / "later"])

    restore_photo(catalogue, removed)

    assert later.photo_ids == [3]  # photo 2's id was not given to the later import
    with catalogue.session() as session:
        assert get_photo(session, 2).confirmed_label == "w_1287fbc"
        assert get_photo(session, 3).original_name == "c.jpg"
