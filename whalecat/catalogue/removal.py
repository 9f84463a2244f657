"""Removing a photo from a catalogue, and putting it back.

A removed photo's stored copy and thumbnail move to the catalogue's `removed/` folder, and
its rows are deleted, so it leaves the browser, matching and exports. `RemovedPhoto` keeps
the rows, so `restore_photo` puts the photo back as it was: same id, crop, turn,
confirmation and suggestions. whalecat never deletes what is in `removed/`; a researcher
empties it by hand once sure.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from whalecat.catalogue.models import CONFIRMED, Identification, Photo, Whale
from whalecat.catalogue.records import PhotoGoneError, RecordError, delete_orphan_whales
from whalecat.catalogue.store import Catalogue

log = logging.getLogger(__name__)

REMOVED_FOLDER = "removed"


@dataclass(frozen=True)
class RemovedPhoto:
    """The rows of a removed photo and where its files went, enough to put it back."""

    photo: dict
    identifications: list[dict]
    whales: list[dict]  # the whales its identifications name, in case the removal left them empty
    moved: list[tuple[str, str]]  # (path in the catalogue, path in removed/), relative to the folder
    # Whales confirmed on no other photo, which leave the whale list with this one.
    left_empty: tuple[str, ...] = ()

    @property
    def photo_id(self) -> int:
        return self.photo["id"]

    @property
    def original_name(self) -> str:
        return self.photo["original_name"]


def _columns(row) -> dict:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def remove_photo(catalogue: Catalogue, photo_id: int) -> RemovedPhoto:
    """Move a photo's files to `removed/`, delete its rows, and return what restores it.

    Raises RecordError for an unknown photo and OSError when a file cannot be moved, with
    the catalogue left as it was.
    """
    with catalogue.session() as session:
        photo = session.get(Photo, photo_id)
        if photo is None:
            raise PhotoGoneError(photo_id)
        identifications = [_columns(row) for row in photo.identifications]
        whale_ids = {row["whale_id"] for row in identifications if row["whale_id"] is not None}
        whales = [_columns(row) for row in session.scalars(select(Whale).where(Whale.id.in_(whale_ids)))]
        snapshot = RemovedPhoto(_columns(photo), identifications, whales, _files_of(catalogue, photo))
        _move_all(catalogue, snapshot.moved)
        try:
            session.delete(photo)
            session.commit()
        except Exception:
            session.rollback()
            _move_all(catalogue, [(kept, catalogue_path) for catalogue_path, kept in snapshot.moved])
            raise
        delete_orphan_whales(session)
        own = {row["whale_id"] for row in identifications if row["status"] == CONFIRMED and row["whale_id"]}
        confirmed = select(Identification.whale_id).where(Identification.status == CONFIRMED)
        still_confirmed = set(session.scalars(confirmed.where(Identification.whale_id.in_(own))))
    snapshot = replace(snapshot, left_empty=tuple(sorted(own - still_confirmed)))
    log.info("Removed photo %d (%s) to %s", photo_id, snapshot.original_name, catalogue.folder / REMOVED_FOLDER)
    return snapshot


def restore_photo(catalogue: Catalogue, removed: RemovedPhoto) -> None:
    """Put a removed photo back: its files, its rows and any whale it had left empty.

    If the same file was imported again meanwhile and not yet confirmed, the removed photo
    takes that copy's place, with its own id, crop and confirmation, so earlier undo steps
    still find it. Raises RecordError when that copy was confirmed, and OSError when a file
    cannot be moved back.
    """
    with catalogue.session() as session:
        again = session.scalar(select(Photo).where(Photo.sha256 == removed.photo["sha256"]))
        if again is not None:
            confirmed = [row.label for row in again.identifications if row.status == CONFIRMED]
            if confirmed:
                raise RecordError(
                    f"{removed.original_name} was imported again after it was removed, and that copy "
                    f"is confirmed as {confirmed[0]}"
                )
            # The copy's files have the same content and names, so the moves below replace them.
            session.delete(again)
            session.flush()
        _move_all(catalogue, [(kept, catalogue_path) for catalogue_path, kept in removed.moved])
        try:
            for whale in removed.whales:
                if session.get(Whale, whale["id"]) is None:
                    session.add(Whale(**whale))
            session.add(Photo(**removed.photo))
            session.flush()  # the photo row first, for the identifications' foreign key
            # New ids: SQLite may have given the old ones to suggestions made meanwhile.
            session.add_all(
                Identification(**{key: value for key, value in row.items() if key != "id"})
                for row in removed.identifications
            )
            session.commit()
        except Exception:
            session.rollback()
            _move_all(catalogue, removed.moved)
            raise
    _prune_empty_folders(catalogue, [kept for _, kept in removed.moved])
    log.info("Restored photo %d (%s)", removed.photo_id, removed.original_name)


def _prune_empty_folders(catalogue: Catalogue, emptied: list[str]) -> None:
    """Delete the folders under removed/ that the moved-back files left empty."""
    top = catalogue.folder / REMOVED_FOLDER
    for relative in emptied:
        folder = (catalogue.folder / relative).parent
        while folder != top and top in folder.parents:
            try:
                folder.rmdir()  # only succeeds while the folder is empty
            except OSError:
                break
            folder = folder.parent


def _files_of(catalogue: Catalogue, photo: Photo) -> list[tuple[str, str]]:
    moved = []
    for path in (catalogue.folder / photo.stored_name, catalogue.thumbnail_path(photo.sha256)):
        if path.exists():
            relative = path.relative_to(catalogue.folder)
            moved.append((str(relative), str(Path(REMOVED_FOLDER) / relative)))
    return moved


def _move_all(catalogue: Catalogue, moves: list[tuple[str, str]]) -> None:
    """Move each (source, target) pair, relative to the catalogue folder, undoing on failure."""
    done: list[tuple[Path, Path]] = []
    try:
        for source, target in moves:
            source_path, target_path = catalogue.folder / source, catalogue.folder / target
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source_path, target_path)
            done.append((source_path, target_path))
    except OSError:
        for source_path, target_path in reversed(done):
            os.replace(target_path, source_path)
        raise
