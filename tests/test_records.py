from datetime import datetime

import pytest
from sqlalchemy import select

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Identification, Whale
from whalecat.catalogue.records import (
    RecordError,
    confirm_label,
    get_photo,
    list_whales,
    restore_confirmation,
    set_crop,
    suggest_whale_id,
    unidentified_photos,
    validate_whale_id,
)
from whalecat.identification import candidates_key
from whalecat.importing import import_paths


@pytest.fixture
def catalogue_with_two_photos(tmp_path):
    save_fluke(tmp_path / "in" / "a.jpg", individual=1)
    save_fluke(tmp_path / "in" / "b.jpg", individual=2)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [tmp_path / "in"])
        yield catalogue


def test_confirm_then_undo_restores_unidentified(catalogue_with_two_photos):
    with catalogue_with_two_photos.session() as session:
        before = confirm_label(session, 1, "w_1287fbc")
        assert [(w.id, w.photo_count) for w in list_whales(session)] == [("w_1287fbc", 1)]
        assert before.label is None
        restore_confirmation(session, before)
        assert list_whales(session) == []
        assert len(unidentified_photos(session)) == 2


def test_reconfirm_replaces_and_undo_returns_previous(catalogue_with_two_photos):
    with catalogue_with_two_photos.session() as session:
        confirm_label(session, 1, "w_aaaaaaa")
        before = confirm_label(session, 1, "new_whale")
        assert get_photo(session, 1).confirmed_label == "new_whale"
        restore_confirmation(session, before)
        assert get_photo(session, 1).confirmed_label == "w_aaaaaaa"


def test_suggested_id_is_unused_kaggle_style(catalogue_with_two_photos):
    with catalogue_with_two_photos.session() as session:
        confirm_label(session, 1, "w_1287fbc")
        suggestion = suggest_whale_id(session)
    assert suggestion.startswith("w_")
    assert len(suggestion) == 9
    assert suggestion != "w_1287fbc"


@pytest.mark.parametrize("bad", ["", " ", "a\x00b", "x" * 129])
def test_invalid_whale_ids_rejected(catalogue_with_two_photos, bad):
    with catalogue_with_two_photos.session() as session, pytest.raises(RecordError):
        confirm_label(session, 1, bad)


def test_new_whale_is_reserved_as_an_id():
    with pytest.raises(RecordError, match="reserved"):
        validate_whale_id("new_whale")


@pytest.mark.parametrize("bad", ["new whale", "New-Whale", "newwhale"])
def test_near_miss_of_new_whale_rejected(bad):
    with pytest.raises(RecordError, match=f"invalid whale id '{bad}': to mark an unmatched animal, write new_whale exactly"):
        validate_whale_id(bad)


@pytest.mark.parametrize("bad", ["w bad id", "w_1287fbc\u00a0b", "w\tx"])
def test_whale_id_with_space_rejected(bad):
    with pytest.raises(RecordError, match="an id cannot contain spaces, because Kaggle's format"):
        validate_whale_id(bad)


def test_catalogued_id_with_space_still_confirms(catalogue_with_two_photos):
    """A whale catalogued before spaces were rejected keeps taking photos."""
    with catalogue_with_two_photos.session() as session:
        session.add(Whale(id="Old Tom"))
        session.commit()
        confirm_label(session, 1, "Old Tom")
        assert get_photo(session, 1).confirmed_label == "Old Tom"


def test_unknown_photo_rejected(catalogue_with_two_photos):
    with catalogue_with_two_photos.session() as session:
        with pytest.raises(RecordError, match="photo 99"):
            confirm_label(session, 99, "w_1")


def test_crop_stored_and_checked(catalogue_with_two_photos):
    with catalogue_with_two_photos.session() as session:
        set_crop(session, 1, (10, 20, 400, 300))
        assert get_photo(session, 1).crop == (10, 20, 400, 300)
        with pytest.raises(RecordError, match="does not fit"):
            set_crop(session, 1, (10, 20, 900, 300))
        set_crop(session, 1, None)
        assert get_photo(session, 1).crop is None


def test_candidates_key_returns_with_the_catalogue_state(catalogue_with_two_photos):
    catalogue = catalogue_with_two_photos
    with catalogue.session() as session:
        # Import cropped both photos to their flukes; the test puts those crops back.
        located = {photo_id: get_photo(session, photo_id).crop for photo_id in (1, 2)}
    initial = candidates_key(catalogue, 2)
    with catalogue.session() as session:
        before = confirm_label(session, 1, "w_aaaaaaa")
    confirmed = candidates_key(catalogue, 2)
    assert confirmed != initial  # photo 2 is now matched against photo 1
    with catalogue.session() as session:
        set_crop(session, 1, (10, 20, 400, 300))
    assert candidates_key(catalogue, 2) != confirmed  # a gallery photo's crop changed
    with catalogue.session() as session:
        set_crop(session, 1, located[1])
        set_crop(session, 2, (0, 0, 300, 200))
    assert candidates_key(catalogue, 2) != confirmed  # the query's own crop changed
    with catalogue.session() as session:
        set_crop(session, 2, located[2])
    assert candidates_key(catalogue, 2) == confirmed
    with catalogue.session() as session:
        restore_confirmation(session, before)
    assert candidates_key(catalogue, 2) == initial


def test_redo_keeps_the_new_whale_date(catalogue_with_two_photos):
    decided = datetime(2026, 7, 1, 9, 30)
    with catalogue_with_two_photos.session() as session:
        before = confirm_label(session, 1, "w_f48451c", confirmed_at=decided)
        restore_confirmation(session, before)  # undo: the whale had no other photo, so it goes
        assert session.get(Whale, "w_f48451c") is None
        confirm_label(session, 1, "w_f48451c", confirmed_at=decided)  # redo, as ConfirmCommand does
        assert session.get(Whale, "w_f48451c").created_at == decided


def test_undo_keeps_the_time_of_the_earlier_confirmation(catalogue_with_two_photos):
    catalogue = catalogue_with_two_photos
    decided = datetime(2026, 7, 1, 9, 30)
    with catalogue.session() as session:
        confirm_label(session, 1, "w_f48451c", method="labels-csv", confirmed_at=decided)
        before = confirm_label(session, 1, "new_whale")
        restore_confirmation(session, before)
        restored = session.scalars(select(Identification).where(Identification.photo_id == 1)).one()
    assert (restored.whale_id, restored.method, restored.created_at) == ("w_f48451c", "labels-csv", decided)
