"""The catalogue's gallery version, which identification reads to decide whether to rebuild its gallery.

Triggers in the database raise it, so these tests make each kind of change on a real SQLite
catalogue, and once from a second connection, as the command line would while the window runs.
"""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import turn_photo
from whalecat.catalogue.records import (
    confirm_label,
    first_suggestions,
    gallery_version,
    get_photo,
    has_current_suggestions,
    record_suggestions,
    restore_confirmation,
    set_crop,
)
from whalecat.catalogue.removal import remove_photo, restore_photo
from whalecat.catalogue.store import MIGRATIONS
from whalecat import identification
from whalecat.identification import Identifier, build_gallery
from whalecat.importing import import_paths
from whalecat.matching.base import NEW_WHALE, Candidate, Gallery, Method


@pytest.fixture
def catalogue(tmp_path):
    for individual in (1, 2, 3):
        save_fluke(tmp_path / "card" / f"w{individual}.jpg", individual=individual)
    with Catalogue.open(tmp_path / "catalogue") as opened:
        import_paths(opened, [tmp_path / "card"])
        with opened.session() as session:
            confirm_label(session, 1, "w_aaaaaaa")
        yield opened


def version_of(catalogue: Catalogue) -> int:
    with catalogue.session() as session:
        return gallery_version(session)


def test_newest_schema_has_triggers(catalogue):
    path = MIGRATIONS / "versions" / "0006_gallery_version.py"
    spec = importlib.util.spec_from_file_location("gallery_version_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with sqlite3.connect(catalogue.database_path) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert set(migration.TRIGGERS) <= names


def confirm(catalogue):
    with catalogue.session() as session:
        confirm_label(session, 2, "w_bbbbbbb")


def unconfirm(catalogue):
    with catalogue.session() as session:
        restore_confirmation(session, confirm_label(session, 3, "w_ccccccc"))


def crop(catalogue):
    with catalogue.session() as session:
        set_crop(session, 1, (0, 0, 200, 100))


def turn(catalogue):
    turn_photo(catalogue, 1, clockwise=True)


def remove_and_restore(catalogue):
    restore_photo(catalogue, remove_photo(catalogue, 1))


def delete_whale(catalogue):
    # The window never deletes a whale that has photos, but a repair by hand in SQL might.
    with catalogue.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM whale WHERE id = 'w_aaaaaaa'")


@pytest.mark.parametrize("change", [confirm, unconfirm, crop, turn, remove_and_restore, delete_whale])
def test_gallery_change_raises_version(catalogue, change):
    before = version_of(catalogue)
    change(catalogue)
    assert version_of(catalogue) > before


def test_suggestions_keep_version(catalogue):
    before = version_of(catalogue)
    with catalogue.session() as session:
        record_suggestions(session, 2, [Candidate("w_aaaaaaa", 0.9), Candidate(NEW_WHALE, 0.5)], "default", "bundled")
        confirm_label(session, 3, NEW_WHALE)  # new_whale photos are not matched against
    assert version_of(catalogue) == before


def test_other_connection_change_seen(catalogue):
    before = version_of(catalogue)
    with sqlite3.connect(catalogue.database_path) as connection:
        connection.execute("UPDATE photo SET rotation = 90 WHERE id = 1")
    assert version_of(catalogue) == before + 1


class CountingMethod(Method):
    """A method that records the galleries it is prepared on and returns their first whale for every query."""

    name = "counting"
    version = "1"

    def __init__(self):
        self.prepared: list[list[str]] = []

    def prepare(self, gallery: Gallery, progress) -> None:
        self.prepared.append(sorted(photo.whale_id for photo in gallery.photos))

    def query(self, image, top=5, exclude_keys=frozenset()):
        return [Candidate(self.prepared[-1][0], 1.0)]


def test_gallery_rebuilt_only_after_change(catalogue, monkeypatch):
    builds = []
    monkeypatch.setattr(identification, "build_gallery", lambda c: builds.append(c) or build_gallery(c))
    method = CountingMethod()
    identifier = Identifier(catalogue, method=method)
    identifier.identify_photo(2)
    identifier.identify_photo(3)
    assert method.prepared == [["w_aaaaaaa"]]
    assert len(builds) == 1

    with sqlite3.connect(catalogue.database_path) as connection:  # as the command line would
        connection.execute("UPDATE identification SET whale_id = NULL, is_new_whale = 1 WHERE photo_id = 1")
        connection.execute("INSERT INTO whale (id, created_at) VALUES ('w_ccccccc', '2026-12-06')")
        connection.execute("INSERT INTO identification (photo_id, whale_id, is_new_whale, status, method, created_at) "
                           "VALUES (3, 'w_ccccccc', 0, 'confirmed', 'manual', '2026-12-06')")
    identifier.identify_photo(2)
    assert method.prepared == [["w_aaaaaaa"], ["w_ccccccc"]]
    assert len(builds) == 2


def test_returned_copy_rejoins_gallery(catalogue):
    with catalogue.session() as session:
        stored = catalogue.folder / get_photo(session, 1).stored_name
    hidden = stored.with_name("hidden")
    stored.rename(hidden)
    method = CountingMethod()
    identifier = Identifier(catalogue, method=method)
    with catalogue.session() as session:
        confirm_label(session, 3, "w_ccccccc")
    identifier.identify_photo(2)
    assert method.prepared == [["w_ccccccc"]]

    hidden.rename(stored)  # as importing the original again puts the copy back, with no change to the rows
    identifier.identify_photo(2)
    assert method.prepared == [["w_ccccccc"], ["w_aaaaaaa", "w_ccccccc"]]


def test_suggestion_without_version_shows_as_current(catalogue):
    """Suggestions stored before migration 0006 have no gallery version: shown plainly, found again by Identify All."""
    with catalogue.session() as session:
        record_suggestions(session, 2, [Candidate("w_aaaaaaa", 0.9)], "default", "bundled")
        suggestion = first_suggestions(session)[2]
        current = has_current_suggestions(session, 2, "default", "bundled")
    assert suggestion.current
    assert not current
