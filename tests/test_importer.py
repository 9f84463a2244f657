import errno
import logging
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import warnings
import zlib

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from tests.helpers import save_fluke
from tests.test_crop import draw_fluke, sea
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Identification, Photo, Whale
from whalecat.catalogue.records import list_whales, unidentified_photos
from whalecat.catalogue.check import check_catalogue
from whalecat.catalogue.removal import remove_photo
from whalecat.importing import import_paths
from whalecat.importing.files import collect_files, supported_formats_sentence
from whalecat.importing.importer import ImportInterrupted, thumbnail_path
from whalecat.importing.labels import LabelsError
from whalecat.progress import CancelToken, Progress


@pytest.fixture
def catalogue(tmp_path):
    with Catalogue.open(tmp_path / "catalogue") as opened:
        yield opened


def _count(catalogue, model) -> int:
    with catalogue.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_copies_under_content_name(catalogue, tmp_path):
    source = save_fluke(tmp_path / "card" / "DSC_0001.JPG", individual=1)
    report = import_paths(catalogue, [source])
    assert report.imported == 1
    with catalogue.session() as session:
        photo = session.scalars(select(Photo)).one()
    stored = catalogue.folder / photo.stored_name
    assert stored.read_bytes() == source.read_bytes()
    assert photo.sha256 in stored.name
    assert photo.original_name == "DSC_0001.JPG"
    assert (photo.width, photo.height) == (480, 320)
    assert thumbnail_path(catalogue, photo.sha256).is_file()


def test_duplicate_reported_not_copied(catalogue, tmp_path):
    first = save_fluke(tmp_path / "a" / "one.jpg", individual=1)
    second = tmp_path / "b" / "renamed.jpg"
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())
    report = import_paths(catalogue, [first, second])
    assert (report.imported, report.duplicates) == (1, 1)
    assert report.duplicate_of == [(str(second), "one.jpg")]
    assert report.photo_ids[0] == report.photo_ids[1]
    assert _count(catalogue, Photo) == 1
    again = import_paths(catalogue, [tmp_path / "a"])
    assert (again.imported, again.duplicates) == (0, 1)
    assert len(list(catalogue.photos_dir.rglob("*.jpg"))) == 1


def test_same_name_from_two_cards_both_kept(catalogue, tmp_path):
    card_a = save_fluke(tmp_path / "card_a" / "DSC_0001.JPG", individual=1)
    card_b = save_fluke(tmp_path / "card_b" / "DSC_0001.JPG", individual=2)
    report = import_paths(catalogue, [tmp_path / "card_a", tmp_path / "card_b"])
    assert report.imported == 2
    with catalogue.session() as session:
        folders = sorted(session.scalars(select(Photo.original_folder)))
    assert folders == sorted([str(card_a.parent), str(card_b.parent)])


def test_corrupt_file_does_not_stop_batch(catalogue, tmp_path):
    good_before = save_fluke(tmp_path / "batch" / "a.jpg", individual=1)
    broken = tmp_path / "batch" / "b.jpg"
    broken.write_bytes(good_before.read_bytes()[:300])
    (tmp_path / "batch" / "c.jpg").write_text("this is not a photo")
    save_fluke(tmp_path / "batch" / "d.jpg", individual=2)
    report = import_paths(catalogue, [tmp_path / "batch"])
    assert report.imported == 2
    failed = dict(report.failed)
    assert set(failed) == {str(broken), str(tmp_path / "batch" / "c.jpg")}
    assert "decode" in failed[str(broken)]
    assert _count(catalogue, Photo) == 2
    assert len(list(catalogue.photos_dir.rglob("*.*"))) == 2
    assert not list(catalogue.folder.rglob(".importing-*"))


def png_header_only(path, width, height):
    """Write a PNG that declares its size but contains no pixels, which is enough for Pillow to reject it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_huge_photo_fails_alone(catalogue, tmp_path):
    save_fluke(tmp_path / "batch" / "a.jpg", individual=1)
    huge = png_header_only(tmp_path / "batch" / "b_huge.png", 30_000, 30_000)
    save_fluke(tmp_path / "batch" / "c.jpg", individual=2)

    report = import_paths(catalogue, [tmp_path / "batch"])

    assert report.imported == 2
    assert dict(report.failed) == {
        str(huge): "has 900 megapixels, more than the 179 that whalecat opens safely; import a smaller copy"
    }
    assert _count(catalogue, Photo) == 2


@pytest.mark.parametrize("size", [(10, 10), (2000, 5), (1, 1)])
def test_photo_too_small_to_identify_fails_alone(catalogue, tmp_path, size):
    save_fluke(tmp_path / "batch" / "a.jpg", individual=1)
    tiny = tmp_path / "batch" / "b_tiny.png"
    Image.new("RGB", size, (90, 90, 90)).save(tiny)

    report = import_paths(catalogue, [tmp_path / "batch"])

    assert report.imported == 1
    width, height = size
    assert dict(report.failed) == {
        str(tiny): f"too small to identify a whale ({width}x{height} pixels); use a photo at least 16 pixels on each side"
    }
    assert _count(catalogue, Photo) == 1


def test_label_reaches_name_with_space(catalogue, tmp_path):
    photo = save_fluke(tmp_path / "card" / "IMG_0001.jpg ", individual=1)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\nIMG_0001.jpg ,w_space\n")

    report = import_paths(catalogue, [photo], labels)

    assert (report.imported, report.labelled, report.unmatched_labels) == (1, 1, [])


def test_folder_import_skips_non_photo_files(tmp_path):
    save_fluke(tmp_path / "survey" / "x.jpg", individual=1)
    (tmp_path / "survey" / "labels.csv").write_text("Image,Id\n")
    (tmp_path / "survey" / ".hidden").mkdir()
    save_fluke(tmp_path / "survey" / ".hidden" / "y.jpg", individual=2)
    assert [p.name for p in collect_files([tmp_path / "survey"])] == ["x.jpg"]


def test_labels_create_whales_and_confirmations(catalogue, tmp_path):
    for name, individual in [("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3), ("d.jpg", 4)]:
        save_fluke(tmp_path / "photos" / name, individual=individual)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_1287fbc\nb.jpg,w_1287fbc\nc.jpg,new_whale\nd.jpg,\n")
    report = import_paths(catalogue, [tmp_path / "photos"], labels)
    assert report.labelled == 3
    with catalogue.session() as session:
        whales = list_whales(session)
        assert [(w.id, w.photo_count) for w in whales] == [("w_1287fbc", 2)]
        assert [p.original_name for p in unidentified_photos(session)] == ["d.jpg"]
        new = session.scalar(select(func.count()).where(Identification.is_new_whale))
    assert new == 1



def test_label_naming_two_different_photos_applies_to_neither(catalogue, tmp_path):
    card_a = save_fluke(tmp_path / "card_a" / "IMG_0001.JPG", individual=1)
    card_b = save_fluke(tmp_path / "card_b" / "IMG_0001.JPG", individual=2)
    copy = tmp_path / "card_c" / "IMG_0002.JPG"
    save_fluke(copy, individual=3)
    (tmp_path / "card_d").mkdir()
    (tmp_path / "card_d" / "IMG_0002.JPG").write_bytes(copy.read_bytes())  # the same photo twice
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\nIMG_0001.JPG,w_dupe\nIMG_0002.JPG,w_copy\n")
    report = import_paths(catalogue, [tmp_path / f"card_{letter}" for letter in "abcd"], labels)
    assert report.ambiguous_labels == [("IMG_0001.JPG", [str(card_a), str(card_b)])]
    assert report.labelled == 1  # the copy is one photo, so its label is not ambiguous
    assert "1 label naming several photos not applied" in report.summary()
    with catalogue.session() as session:
        assert [(w.id, w.photo_count) for w in list_whales(session)] == [("w_copy", 1)]


def test_file_reached_twice_is_imported_once(catalogue, tmp_path):
    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    report = import_paths(catalogue, [tmp_path / "card", photo, tmp_path / "card" / ".." / "card" / "a.jpg"])
    assert (report.imported, report.duplicates, report.photo_ids) == (1, 0, [1])


@pytest.mark.parametrize(
    "content, message",
    [
        ("Name,Whale\na.jpg,w_1\n", "header row"),
        ("Image,Id\n,w_1\n", "line 2"),
        ("Image,Id\na.jpg,bad\x07id\n", "invalid whale id"),
        ("Image,Id\na.jpg,w_1\nbadrow\n", "line 3: expected two columns 'Image,Id', found 'badrow'"),
    ],
)
def test_invalid_labels_rejected_before_import(catalogue, tmp_path, content, message):
    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(LabelsError, match=message):
        import_paths(catalogue, [tmp_path / "photos"], labels)
    assert _count(catalogue, Photo) == 0


def test_labels_folder_rejected_with_advice(catalogue, tmp_path):
    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    with pytest.raises(LabelsError, match="is a folder; give the labels CSV file inside it"):
        import_paths(catalogue, [tmp_path / "photos"], tmp_path / "photos")
    assert _count(catalogue, Photo) == 0


def test_cancel_keeps_finished_files(catalogue, tmp_path):
    for index in range(5):
        save_fluke(tmp_path / "batch" / f"{index}.jpg", individual=index)
    token = CancelToken()

    def cancel_after_two(done, total, message):
        if done == 2:
            token.cancel()

    report = import_paths(catalogue, [tmp_path / "batch"], progress=Progress(cancel_after_two, token))
    assert report.cancelled
    assert report.imported == 2
    assert _count(catalogue, Photo) == 2


def test_catalogue_uses_wal_and_foreign_keys(catalogue):
    with catalogue.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with sqlite3.connect(catalogue.database_path) as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"whale", "photo", "identification", "alembic_version"} <= tables
    assert _count(catalogue, Whale) == 0


def test_heic_imported_under_heic_suffix(catalogue, tmp_path):
    pytest.importorskip("pillow_heif", reason="HEIC needs the heic extra")
    from PIL import Image

    source = tmp_path / "card" / "IMG_0001.HEIC"
    source.parent.mkdir()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(source, format="HEIF")
    report = import_paths(catalogue, [source])
    assert report.imported == 1
    with catalogue.session() as session:
        photo = session.scalars(select(Photo)).one()
    assert photo.format == "HEIF"
    assert photo.stored_name.endswith(".heic")


def _stored_crop(catalogue):
    with catalogue.session() as session:
        photo = session.scalars(select(Photo)).one()
    return (photo.crop_left, photo.crop_top, photo.crop_right, photo.crop_bottom)


def test_import_crops_to_the_fluke(catalogue, tmp_path):
    fluke = (200, 100, 440, 220)
    source = tmp_path / "fluke_on_sea.png"
    draw_fluke(sea(), fluke).save(source)
    import_paths(catalogue, [source])
    left, top, right, bottom = _stored_crop(catalogue)
    assert left <= fluke[0] + 8
    assert top <= fluke[1] + 8
    assert right >= fluke[2] - 8
    assert bottom >= fluke[3] - 8
    assert (right - left) * (bottom - top) < 0.5 * 600 * 400


def test_import_whole_photo_keeps_no_crop(catalogue, tmp_path):
    source = tmp_path / "fluke_on_sea.png"
    draw_fluke(sea(), (200, 100, 440, 220)).save(source)
    import_paths(catalogue, [source], find_fluke=False)
    assert _stored_crop(catalogue) == (None, None, None, None)


def test_catalogue_folder_not_searched(catalogue, tmp_path):
    save_fluke(tmp_path / "card" / "DCIM" / "a.jpg", individual=1)
    inner_folder = tmp_path / "card" / "whalecat"
    with Catalogue.open(inner_folder) as inner:
        assert import_paths(inner, [tmp_path / "card" / "DCIM"]).imported == 1

    report = import_paths(catalogue, [tmp_path / "card"])

    assert report.imported == 1
    assert report.failed == []
    assert report.catalogue_folders == [(str(inner_folder), "to import the photos in it, name its photos folder")]
    assert report.notes() == [
        f"skipped the catalogue folder {inner_folder}; to import the photos in it, name its photos folder"
    ]

    itself = import_paths(catalogue, [catalogue.folder])

    assert (itself.imported, itself.duplicates, itself.found) == (0, 0, 0)
    assert [folder for folder, _ in itself.catalogue_folders] == [str(catalogue.folder)]
    assert itself.notes()[-1] == f"no photos found in {catalogue.folder}; {supported_formats_sentence()}"
    assert _count(catalogue, Photo) == 1


def test_removed_photos_import_again(catalogue, tmp_path):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    save_fluke(tmp_path / "card" / "b.jpg", individual=2)
    first, second = import_paths(catalogue, [tmp_path / "card"]).photo_ids
    removed = catalogue.folder / "removed"

    remove_photo(catalogue, first)
    named = import_paths(catalogue, [removed / "photos"])

    assert (named.imported, named.failed, named.catalogue_folders) == (1, [], [])

    remove_photo(catalogue, second)
    assert len(list((removed / "thumbnails").iterdir())) == 2
    whole = import_paths(catalogue, [removed])

    assert (whole.imported, whole.duplicates, whole.failed) == (1, 1, [])
    assert whole.catalogue_folders == [(str(removed / "thumbnails"), "it holds previews or cached data, not photos")]
    assert _count(catalogue, Photo) == 2


def test_unsupported_formats_counted(catalogue, tmp_path):
    card = save_fluke(tmp_path / "card" / "a.jpg", individual=1).parent
    Image.new("RGB", (64, 48)).save(card / "b.webp", format="WEBP")
    (card / "c.CR2").write_bytes(b"II*\x00 stands in for a Canon RAW file")
    (card / "notes.txt").write_text("two whales at the bow")
    (card / "labels.csv").write_text("Image,Id\n")

    report = import_paths(catalogue, [card])

    assert report.imported == 1
    assert report.failed == []
    assert report.unsupported == [str(card / "b.webp"), str(card / "c.CR2")]
    assert report.notes() == [
        "skipped 2 files in formats whalecat cannot import (b.webp, c.CR2); convert them to JPEG or TIFF to import them"
    ]
    assert report.summary() == "1 imported, 0 already in the catalogue, 0 failed, 2 in unsupported formats skipped"


def test_named_unsupported_file_names_formats(catalogue, tmp_path):
    source = tmp_path / "b.webp"
    Image.new("RGB", (64, 48)).save(source, format="WEBP")

    report = import_paths(catalogue, [source])

    assert report.failed == [
        (str(source), f"unsupported image format WEBP; {supported_formats_sentence()}, so convert it to JPEG or TIFF")
    ]


def test_unreadable_folder_and_broken_link_fail(catalogue, tmp_path, monkeypatch):
    """Listing the folder is made to fail, because root (as in a container) ignores chmod."""
    card = save_fluke(tmp_path / "card" / "a.jpg", individual=1).parent
    locked = card / "locked"
    save_fluke(locked / "b.jpg", individual=2)
    os.symlink(tmp_path / "gone.jpg", card / "link.jpg")
    list_folder = os.scandir

    def scandir_denied(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))
        return list_folder(path)

    monkeypatch.setattr(os, "scandir", scandir_denied)

    report = import_paths(catalogue, [card])

    assert report.imported == 1
    assert dict(report.failed) == {
        str(locked): "cannot read the folder (Permission denied); check its read permission",
        str(card / "link.jpg"): f"link to {tmp_path / 'gone.jpg'}, which is not there",
    }


@pytest.mark.skipif(sys.platform != "linux", reason="macOS and Windows reject file names that are not valid UTF-8")
def test_undecodable_file_name_imports(catalogue, tmp_path):
    card = save_fluke(tmp_path / "card" / "a.jpg", individual=1).parent
    latin1_name = os.fsencode(card / "caf") + b"\xe9.jpg"
    os.rename(card / "a.jpg", latin1_name)

    report = import_paths(catalogue, [card])

    assert (report.imported, report.failed) == (1, [])
    with catalogue.session() as session:
        photo = session.scalars(select(Photo)).one()
    assert photo.original_name == "caf\\xe9.jpg"
    again = import_paths(catalogue, [card])
    assert again.duplicate_of == [(f"{card}/caf\\xe9.jpg", "caf\\xe9.jpg")]


def _no_tracebacks(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info]


def test_full_disk_stops_import(catalogue, tmp_path, monkeypatch, caplog):
    """A real full disk cannot be made in a unit test, so after the first photo every write
    fails with ENOSPC, as it would on a full disk."""
    for index in range(4):
        save_fluke(tmp_path / "card" / f"{index}.jpg", individual=index)
    open_stream = os.fdopen
    disk_full = []
    failed_writes = []

    def fill_disk_after_first(done, total, message):
        if done == 1:
            disk_full.append(True)

    def fdopen_on_full_disk(handle, *args, **kwargs):
        if not disk_full:
            return open_stream(handle, *args, **kwargs)
        failed_writes.append(handle)
        os.close(handle)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", fdopen_on_full_disk)

    report = import_paths(catalogue, [tmp_path / "card"], progress=Progress(fill_disk_after_first), find_fluke=False)

    assert len(failed_writes) == 1
    assert report.imported == 1
    assert report.failed == []
    assert report.stopped == (
        f"the disk holding the catalogue {catalogue.folder} is full (No space left on device), so 3 files were "
        f"not imported; free space on the disk holding {catalogue.folder}, then import again; the photos "
        "imported so far are kept"
    )
    assert report.summary().endswith("(stopped)")
    assert _no_tracebacks(caplog) == []
    assert not list(catalogue.folder.rglob(".importing-*"))
    assert len([path for path in catalogue.photos_dir.rglob("*") if path.is_file()]) == 1


def _limit_database(catalogue, pragma: str) -> None:
    """Apply `pragma` to every new connection of the catalogue's engine."""
    catalogue.engine.dispose()
    event.listen(catalogue.engine, "connect", lambda connection, record: connection.execute(pragma))


def test_full_database_stops_import(catalogue, tmp_path, caplog):
    """SQLite's max_page_count stops the database from growing, which gives the error of a full disk."""
    for index in range(30):
        save_fluke(tmp_path / "card" / f"{index:02d}.jpg", individual=index)
    with catalogue.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    _limit_database(catalogue, f"PRAGMA max_page_count={pages}")

    report = import_paths(catalogue, [tmp_path / "card"], find_fluke=False)

    assert report.failed == []
    assert report.imported < 30
    assert report.stopped.startswith(
        f"the disk holding the catalogue {catalogue.folder} is full (database or disk is full), so "
    )
    assert "sqlalche.me" not in report.stopped
    assert "INSERT" not in report.stopped
    assert _no_tracebacks(caplog) == []
    assert _count(catalogue, Photo) == report.imported
    assert len([path for path in catalogue.photos_dir.rglob("*") if path.is_file()]) == report.imported
    assert len(list(catalogue.thumbnails_dir.iterdir())) == report.imported


def test_read_only_database_stops_import(catalogue, tmp_path, caplog):
    """SQLite's query_only gives the error of a database file that cannot be written."""
    for index in range(3):
        save_fluke(tmp_path / "card" / f"{index}.jpg", individual=index)
    _limit_database(catalogue, "PRAGMA query_only=1")

    report = import_paths(catalogue, [tmp_path / "card"], find_fluke=False)

    assert (report.imported, report.failed) == (0, [])
    assert report.stopped == (
        f"the catalogue {catalogue.folder} is read-only (attempt to write a readonly database), so 3 files "
        "were not imported; make the folder and its catalogue.sqlite writable, then import again; the photos "
        "imported so far are kept"
    )
    assert _no_tracebacks(caplog) == []
    assert list(catalogue.thumbnails_dir.iterdir()) == []


def test_card_removed_stops_import(catalogue, tmp_path):
    card = tmp_path / "card"
    for index in range(5):
        save_fluke(card / "DCIM" / f"{index}.jpg", individual=index)

    def take_card_out(done, total, message):
        if done == 1:
            shutil.rmtree(card)

    report = import_paths(catalogue, [card], progress=Progress(take_card_out), find_fluke=False)

    assert report.imported == 1
    assert report.failed == []
    assert report.stopped == (
        f"the folder {card} is no longer there (card removed?), so 4 files were not imported; reconnect it "
        "and import again, and the photos already imported will be skipped"
    )


def test_missing_folder_of_named_file_fails_alone(catalogue, tmp_path):
    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    mistyped = tmp_path / "crad" / "b.jpg"

    report = import_paths(catalogue, [mistyped, photo], find_fluke=False)

    assert report.stopped is None
    assert report.failed == [(str(mistyped), "file not found")]
    assert report.imported == 1


def test_pillow_warning_logged_with_path(catalogue, tmp_path, monkeypatch, caplog):
    source = save_fluke(tmp_path / "card" / "large.jpg", individual=1)
    # Pillow warns above MAX_IMAGE_PIXELS and rejects only above twice that.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 480 * 320 - 1)

    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with caplog.at_level(logging.INFO, logger="whalecat.importing"):
            report = import_paths(catalogue, [source], find_fluke=False)

    assert report.imported == 1
    assert [str(warning.message) for warning in escaped] == []
    logged = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert logged
    assert logged[0].startswith(f"{source}: Image size (153600 pixels) exceeds limit")



def test_import_again_restores_lost_copy_and_thumbnail(catalogue, tmp_path):
    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    import_paths(catalogue, [photo])
    with catalogue.session() as session:
        stored_name, sha256 = session.execute(select(Photo.stored_name, Photo.sha256)).one()
    (catalogue.folder / stored_name).unlink()
    thumbnail_path(catalogue, sha256).unlink()

    report = import_paths(catalogue, [photo])

    assert (report.imported, report.duplicates, report.restored) == (0, 1, [str(photo)])
    assert "1 lost or damaged copy restored" in report.summary()
    assert (catalogue.folder / stored_name).read_bytes() == photo.read_bytes()
    assert Image.open(thumbnail_path(catalogue, sha256)).size[0] > 0
    assert import_paths(catalogue, [photo]).restored == []


@pytest.mark.parametrize("damage", ["cut short", "same size"])
def test_import_again_replaces_damaged_copy(catalogue, tmp_path, damage):
    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    import_paths(catalogue, [photo])
    with catalogue.session() as session:
        stored = catalogue.folder / session.execute(select(Photo.stored_name)).scalar_one()
    data = photo.read_bytes()
    stored.write_bytes(data[: len(data) // 3] if damage == "cut short" else data[:-100] + bytes(100))

    report = import_paths(catalogue, [photo])

    assert (report.imported, report.duplicates, report.restored) == (0, 1, [str(photo)])
    assert stored.read_bytes() == data


def test_concurrent_import_counts_duplicate(catalogue, tmp_path, monkeypatch):
    """The command line and the window import one card at once: both find the photo new, one commits first."""
    from whalecat.importing import importer

    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    import_paths(catalogue, [photo])
    find = importer.find_photo_by_sha256
    calls = []

    def find_later(session, sha256):
        # The first look finds nothing, as if the other import had not committed yet.
        calls.append(sha256)
        return find(session, sha256) if len(calls) > 1 else None

    monkeypatch.setattr(importer, "find_photo_by_sha256", find_later)

    report = import_paths(catalogue, [photo])

    assert len(calls) >= 2  # the duplicate check, then the check after the failed commit
    assert report.failed == []
    assert (report.imported, report.duplicates) == (0, 1)
    with catalogue.session() as session:
        assert session.scalar(select(func.count()).select_from(Photo)) == 1
    stored = catalogue.folder / photo_stored_name(catalogue)
    assert stored.read_bytes() == photo.read_bytes()


def photo_stored_name(catalogue) -> str:
    with catalogue.session() as session:
        return session.execute(select(Photo.stored_name)).scalar_one()


def test_interrupt_after_commit_keeps_the_photo_files(catalogue, tmp_path, monkeypatch):
    """Ctrl+C landing after SQLite committed, but before commit() returned: a real signal
    cannot be timed that precisely, so commit raises KeyboardInterrupt after committing."""
    from sqlalchemy.orm import Session

    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    commit = Session.commit

    def commit_then_interrupt(session):
        commit(session)
        raise KeyboardInterrupt

    monkeypatch.setattr(Session, "commit", commit_then_interrupt)

    with pytest.raises(KeyboardInterrupt):
        import_paths(catalogue, [photo])

    monkeypatch.setattr(Session, "commit", commit)
    with catalogue.session() as session:
        stored_name, sha256 = session.execute(select(Photo.stored_name, Photo.sha256)).one()
    assert (catalogue.folder / stored_name).is_file()
    assert thumbnail_path(catalogue, sha256).is_file()


def test_photo_copies_follow_the_umask(catalogue, tmp_path):
    photo = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    previous = os.umask(0o022)
    try:
        import_paths(catalogue, [photo])
    finally:
        os.umask(previous)

    with catalogue.session() as session:
        stored = session.scalar(select(Photo.stored_name))
    assert (catalogue.folder / stored).stat().st_mode & 0o777 == 0o644


def test_interrupted_import_says_its_labels_were_not_applied(catalogue, tmp_path):
    for index in range(3):
        save_fluke(tmp_path / "card" / f"{index}.jpg", individual=index)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\n0.jpg,w_a\n1.jpg,w_b\n2.jpg,w_c\n")
    reports = []

    def interrupt_after_first(done, total, message):
        reports.append(done)
        if done == 1:
            raise KeyboardInterrupt  # as Ctrl+C arriving between two files

    with pytest.raises(ImportInterrupted) as interrupted:
        import_paths(catalogue, [tmp_path / "card"], labels, Progress(interrupt_after_first))

    report = interrupted.value.report
    assert (report.imported, report.labelled) == (1, 0)
    assert report.notes()[-1].startswith("the labels file was not applied to the photos imported so far")
    assert reports[-1] < 3  # no final report of all three files, which would read as done


def test_import_uses_callers_search(catalogue, tmp_path, monkeypatch):
    from whalecat.importing import importer

    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    found = importer.find_files([tmp_path / "card"])

    def no_second_search(paths):
        raise AssertionError("the folders were searched again")

    monkeypatch.setattr(importer, "find_files", no_second_search)
    report = import_paths(catalogue, [tmp_path / "card"], found=found)

    assert report.imported == 1


def import_labelled(catalogue, tmp_path, name: str, labels_text: str):
    """Import one synthetic fluke saved as `name`, with `labels_text` as its labels file."""
    photo = save_fluke(tmp_path / "card" / name, individual=1)
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_text, encoding="utf-8")
    return import_paths(catalogue, [photo], labels)


def test_label_differing_in_case_is_hinted(catalogue, tmp_path):
    report = import_labelled(catalogue, tmp_path, "IMG_0001.JPG", "Image,Id\nimg_0001.jpg,w_1287fbc\n")

    assert report.labelled == 0
    assert report.unmatched_labels == ["img_0001.jpg (the import has IMG_0001.JPG, in other case)"]


def test_one_card_imported_twice_at_once_loses_nothing(tmp_path):
    """The window and the command line import one card at the same time, as two processes."""
    for number in range(80):
        save_fluke(tmp_path / "card" / f"IMG_{number:04d}.JPG", individual=number % 7, sighting=number)
    save_fluke(tmp_path / "first" / "a.jpg", individual=99)
    folder = tmp_path / "catalogue"
    with Catalogue.open(folder) as catalogue:
        import_paths(catalogue, [tmp_path / "first"])  # so both find the catalogue made
    command = [sys.executable, "-m", "whalecat", "--catalogue", str(folder), "import", str(tmp_path / "card")]

    imports = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120)[0] for process in imports]

    assert [process.returncode for process in imports] == [0, 0], outputs
    assert all(", 0 failed" in output for output in outputs), outputs
    with Catalogue.open(folder) as catalogue:
        report = check_catalogue(catalogue)
    assert report.photos == 81
    assert report.lines() == []


def test_labels_with_folders_tell_two_cards_apart(catalogue, tmp_path):
    for card, individual in (("cardA", 1), ("cardB", 2)):
        save_fluke(tmp_path / "twocards" / card / "IMG_0001.JPG", individual=individual)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\ncardA/IMG_0001.JPG,w_6f0cbe3\ncardB/IMG_0001.JPG,w_c7cda47\n", encoding="utf-8")

    report = import_paths(catalogue, [tmp_path / "twocards" / "cardA", tmp_path / "twocards" / "cardB"], labels)

    assert (report.imported, report.labelled, report.unmatched_labels) == (2, 2, [])
    with catalogue.session() as session:
        assert sorted(w.id for w in list_whales(session)) == ["w_6f0cbe3", "w_c7cda47"]


def test_labels_file_without_labels_is_noted(catalogue, tmp_path):
    report = import_labelled(catalogue, tmp_path, "a.jpg", "Image,Id\na.jpg,\n")

    assert report.imported == 1
    assert report.notes() == [f"the labels file {tmp_path / 'labels.csv'} gives no photo an id: it has only its header row or rows "
                              "with an empty Id, so no photo was labelled"]
