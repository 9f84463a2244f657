import os
import random
import sqlite3

import pytest

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue, CatalogueError
from whalecat.catalogue.records import confirm_label, ensure_whale, list_whales
from whalecat.catalogue.store import DATABASE_NAME, MIGRATIONS, new_catalogue_problem
from whalecat.importing import import_paths


def _alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _catalogue_at(folder, revision: str) -> None:
    """Create a catalogue database at an old schema revision with one photo and whale."""
    folder.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{folder / DATABASE_NAME}")
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
        connection.exec_driver_sql(
            "INSERT INTO photo (id, sha256, stored_name, original_name, original_folder, format,"
            " width, height, imported_at) VALUES (1, 'abc', 'photos/ab/abc.jpg', 'DSC_0001.JPG',"
            " '/cards/a', 'JPEG', 640, 480, '2024-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO whale (id, created_at) VALUES ('w_1287fbc', '2024-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO identification (photo_id, whale_id, is_new_whale, status, method, created_at)"
            " VALUES (1, 'w_1287fbc', 0, 'confirmed', 'manual', '2024-01-02 00:00:00')"
        )
    engine.dispose()


def test_every_old_revision_upgrades_with_backup(tmp_path):
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    old_revisions = [r.revision for r in script.walk_revisions() if r.revision != head]
    assert old_revisions, "expected at least one migration before the newest"
    for revision in old_revisions:
        folder = tmp_path / f"at-{revision}"
        _catalogue_at(folder, revision)
        with Catalogue.open(folder) as catalogue:
            columns = {c["name"] for c in inspect(catalogue.engine).get_columns("photo")}
            with catalogue.engine.connect() as connection:
                version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                names = connection.exec_driver_sql("SELECT original_name FROM photo").scalars().all()
                confirmed = connection.exec_driver_sql("SELECT photo_id, whale_id FROM identification").all()
        assert version == head
        assert confirmed == [(1, "w_1287fbc")]  # a copied photo table keeps the rows that refer to it
        assert {"encounter", "notes"} <= columns
        assert names == ["DSC_0001.JPG"]
        backups = list(folder.glob(f"catalogue-before-{revision}-*.sqlite"))
        assert len(backups) == 1
        with sqlite3.connect(backups[0]) as backup:
            assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == (revision,)
            assert backup.execute("SELECT count(*) FROM photo").fetchone() == (1,)


def test_current_catalogue_opens_without_backup(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    Catalogue.open(tmp_path / "c").close()
    assert not list((tmp_path / "c").glob("catalogue-before-*"))


def test_models_match_newest_migration(tmp_path):
    """Autogenerate finds no difference: the ORM models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from whalecat.catalogue.models import Base

    with Catalogue.open(tmp_path / "c") as catalogue, catalogue.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_unopenable_database_is_a_catalogue_error(tmp_path):
    (tmp_path / "c" / DATABASE_NAME).mkdir(parents=True)  # SQLite cannot open a folder

    with pytest.raises(CatalogueError) as raised:
        Catalogue.open(tmp_path / "c")

    assert str(raised.value).startswith(f"cannot open the database {(tmp_path / 'c' / DATABASE_NAME).resolve()} (")
    assert "check that the folder is writable" in str(raised.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
def test_read_only_catalogue_is_named(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    (tmp_path / "c").chmod(0o555)
    try:
        with pytest.raises(CatalogueError, match="is read-only, and whalecat writes to a catalogue"):
            Catalogue.open(tmp_path / "c")
    finally:
        (tmp_path / "c").chmod(0o755)


def test_new_catalogue_under_a_file_is_refused(tmp_path):
    notes = tmp_path / "notes.csv"
    notes.write_text("Image,Id\n")

    assert new_catalogue_problem(notes / "catalogue" / "2026") == (
        f"{notes} is a file, so no folder can be made in it.", "Type a path in another folder."
    )
    assert new_catalogue_problem(tmp_path / "new" / "catalogue") is None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
def test_new_catalogue_in_read_only_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    tmp_path.chmod(0o555)
    (tmp_path / "empty").chmod(0o555)
    try:
        assert new_catalogue_problem(tmp_path / "new") == (f"{tmp_path} is read-only.", "Choose a folder you can write to.")
        with pytest.raises(CatalogueError, match="is read-only, so no catalogue can be made in it"):
            Catalogue.open(tmp_path / "empty")
    finally:
        (tmp_path / "empty").chmod(0o755)
        tmp_path.chmod(0o755)


def test_upgraded_catalogue_never_reuses_photo_ids(tmp_path):
    _catalogue_at(tmp_path / "c", "0003")
    with Catalogue.open(tmp_path / "c") as catalogue, catalogue.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM photo WHERE id = 1")
        connection.exec_driver_sql(
            "INSERT INTO photo (sha256, stored_name, original_name, original_folder, format,"
            " width, height, imported_at) VALUES ('def', 'photos/de/def.jpg', 'DSC_0002.JPG',"
            " '/cards/a', 'JPEG', 640, 480, '2024-01-01 00:00:00')"
        )
        ids = connection.exec_driver_sql("SELECT id FROM photo").scalars().all()
    assert ids == [2]


def test_new_catalogue_name_too_long_is_refused(tmp_path):
    folder = tmp_path / ("a" * 300)

    assert new_catalogue_problem(folder) == (
        f"{folder} cannot be used: File name too long.", "Type a shorter or simpler path."
    )


def _damage(database, first_page: int, pages: int) -> None:
    """Overwrite whole 4 KiB pages in the middle of a database file with random bytes, as a
    failing disk or an interrupted copy would."""
    noise = random.Random(7).randbytes(4096 * pages)
    with open(database, "r+b") as handle:
        handle.seek(4096 * first_page)
        handle.write(noise)


def _catalogue_with_whales(folder, count: int = 2000) -> None:
    with Catalogue.open(folder) as catalogue, catalogue.session() as session:
        for number in range(count):
            ensure_whale(session, f"w_{number:07d}", name=f"a whale with a long enough name {number}")
        session.commit()


def test_damaged_database_is_refused_with_its_backup_named(tmp_path):
    _catalogue_with_whales(tmp_path / "c")
    (tmp_path / "c" / "catalogue-before-0003-20261201-101500.sqlite").write_bytes(b"")
    _damage(tmp_path / "c" / DATABASE_NAME, first_page=3, pages=4)

    with pytest.raises(CatalogueError) as raised:
        Catalogue.open(tmp_path / "c")

    message = str(raised.value)
    assert str((tmp_path / "c" / DATABASE_NAME).resolve()) in message
    assert "damaged" in message or "malformed" in message
    assert "restore" in message
    assert "backup" in message


def test_damaged_database_names_upgrade_copy(tmp_path):
    _catalogue_with_whales(tmp_path / "c")
    (tmp_path / "c" / "catalogue-before-0003-20261201-101500.sqlite").write_bytes(b"")
    _damage(tmp_path / "c" / DATABASE_NAME, first_page=3, pages=1)

    with pytest.raises(CatalogueError, match="catalogue-before-0003-20261201-101500.sqlite, the copy saved"):
        Catalogue.open(tmp_path / "c")


def test_emptied_database_beside_photos_is_refused(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    (tmp_path / "c" / "photos" / "ab").mkdir()
    (tmp_path / "c" / "photos" / "ab" / "ab12.jpg").write_bytes(b"a photo")
    (tmp_path / "c" / DATABASE_NAME).write_bytes(b"")

    with pytest.raises(CatalogueError, match=r"is empty \(0 bytes\), although photos/ contains imported photos"):
        Catalogue.open(tmp_path / "c")
    assert (tmp_path / "c" / DATABASE_NAME).stat().st_size == 0  # left for the user to restore


def test_missing_database_beside_photos_is_refused(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    (tmp_path / "c" / "photos" / "ab").mkdir()
    (tmp_path / "c" / "photos" / "ab" / "ab12.jpg").write_bytes(b"a photo")
    (tmp_path / "c" / DATABASE_NAME).unlink()

    with pytest.raises(CatalogueError, match=r"has imported photos in photos/ but no catalogue.sqlite"):
        Catalogue.open(tmp_path / "c")
    assert not (tmp_path / "c" / DATABASE_NAME).exists()  # no new, empty database beside the photos


def test_empty_database_without_photos_opens(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / DATABASE_NAME).write_bytes(b"")

    with Catalogue.open(tmp_path / "c") as catalogue, catalogue.session() as session:
        assert list_whales(session) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any file")
def test_read_only_database_file_is_named(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    (tmp_path / "c" / DATABASE_NAME).chmod(0o444)

    with pytest.raises(CatalogueError, match=r"catalogue.sqlite is read-only.*make the file writable"):
        Catalogue.open(tmp_path / "c")


def test_read_only_open_refuses_waiting_changes(tmp_path):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    with Catalogue.open(tmp_path / "c") as writer:
        import_paths(writer, [tmp_path / "card"])
        with writer.session() as session:
            confirm_label(session, 1, "w_1287fbc")  # the open writer keeps a -wal file
            with pytest.raises(CatalogueError, match="contains catalogue.sqlite-wal, changes not yet written"):
                Catalogue.open_read_only(tmp_path / "c")
    with Catalogue.open_read_only(tmp_path / "c") as reader, reader.session() as session:
        assert [whale.id for whale in list_whales(session)] == ["w_1287fbc"]
