"""Queries and changes on whales, photos and identifications, in plain data.

Functions take a session opened by the caller's thread and return frozen dataclasses, so the
results can cross to the GUI thread; ORM objects never leave the session that loaded them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from whalecat.catalogue.models import CONFIRMED, SUGGESTED, GalleryVersion, Identification, Photo, Whale, utc_now
from whalecat.matching.base import NEW_WHALE
from whalecat.matching.ranking import shown_confidence

# Ids come from other catalogues too (Flukebook uses `flukebook:<uuid>`), so only control
# characters, spaces and over-long ids are rejected. Kaggle's submission format, which
# `identify --csv` writes, separates a photo's candidate ids by spaces, so an id with a space
# would read as several.
WHALE_ID_PATTERN = re.compile(r"^[^\x00-\x1f\x7f\s]{1,128}$")


class RecordError(ValueError):
    """An invalid whale id, or a photo or whale that does not exist."""


class PhotoGoneError(RecordError):
    """A photo id that is not in the catalogue, such as one removed from the command line while the window shows it."""

    def __init__(self, photo_id: int):
        super().__init__(f"photo {photo_id} is not in this catalogue")
        self.photo_id = photo_id


@dataclass(frozen=True)
class WhaleSummary:
    id: str
    name: str | None
    photo_count: int
    representative_photo_id: int | None


@dataclass(frozen=True)
class PhotoSummary:
    id: int
    sha256: str
    stored_name: str
    original_name: str
    original_folder: str
    width: int
    height: int
    taken_at: datetime | None
    camera: str | None
    confirmed_label: str | None  # a whale id, NEW_WHALE, or None when unidentified
    crop: tuple[int, int, int, int] | None
    rotation: int = 0  # degrees clockwise after the EXIF orientation


@dataclass(frozen=True)
class Suggestion:
    """A method's first candidate for a photo, as stored when the photo was last identified."""

    label: str  # a whale id or NEW_WHALE
    confidence: float | None  # None when the method had no calibration, or before migration 0005
    method: str
    # False when the gallery has changed since. A suggestion stored before migration 0006 has no
    # gallery version and counts as current here, since nothing shows it changed; Identify All
    # still finds it again (see `has_current_suggestions`).
    current: bool = True


@dataclass(frozen=True)
class ConfirmedState:
    """A photo's confirmation before a change, kept so the change can be undone."""

    photo_id: int
    label: str | None
    method: str | None
    score: float | None = None
    model_version: str | None = None
    confirmed_at: datetime | None = None  # kept, so an undo does not date the confirmation anew


def validate_whale_id(whale_id: str) -> str:
    """Return `whale_id` without surrounding spaces, or raise RecordError saying how to write it."""
    whale_id = whale_id.strip()
    if whale_id != NEW_WHALE and re.sub(r"[\s_.-]", "", whale_id.casefold()) == "newwhale":
        raise RecordError(
            f"invalid whale id {whale_id!r}: to mark an unmatched animal, write {NEW_WHALE} "
            "exactly, with an underscore"
        )
    if re.search(r"\s", whale_id):
        raise RecordError(
            f"invalid whale id {whale_id!r}: an id cannot contain spaces, because Kaggle's format, which "
            "identify --csv writes, separates candidate ids by spaces; use _ instead, for example w_1287fbc"
        )
    if whale_id == NEW_WHALE or not WHALE_ID_PATTERN.match(whale_id):
        raise RecordError(
            f"invalid whale id {whale_id!r}: use 1 to 128 printable characters, "
            f"for example w_1287fbc; {NEW_WHALE!r} is reserved for unmatched animals"
        )
    return whale_id


def suggest_whale_id(session: Session) -> str:
    """Return an unused id in the Kaggle style, `w_` and seven hexadecimal digits."""
    while True:
        candidate = "w_" + secrets.token_hex(4)[:7]
        if session.get(Whale, candidate) is None:
            return candidate


def ensure_whale(session: Session, whale_id: str, name: str | None = None,
                 created_at: datetime | None = None) -> Whale:
    # A whale already in the catalogue stays usable, even one with a space in its id from
    # before spaces were rejected.
    whale = session.get(Whale, whale_id.strip())
    if whale is None:
        whale = Whale(id=validate_whale_id(whale_id), name=name, created_at=created_at or utc_now())
        session.add(whale)
        session.flush()
    return whale


def photo_summary(photo: Photo) -> PhotoSummary:
    confirmed = next((i for i in photo.identifications if i.status == CONFIRMED), None)
    return PhotoSummary(
        id=photo.id,
        sha256=photo.sha256,
        stored_name=photo.stored_name,
        original_name=photo.original_name,
        original_folder=photo.original_folder,
        width=photo.width,
        height=photo.height,
        taken_at=photo.taken_at,
        camera=photo.camera,
        confirmed_label=confirmed.label if confirmed else None,
        crop=photo.crop,
        rotation=photo.rotation or 0,
    )


def get_photo(session: Session, photo_id: int) -> PhotoSummary:
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise PhotoGoneError(photo_id)
    return photo_summary(photo)


def find_photo_by_sha256(session: Session, sha256: str) -> PhotoSummary | None:
    photo = session.scalar(select(Photo).where(Photo.sha256 == sha256))
    return photo_summary(photo) if photo else None


def confirm_label(
    session: Session,
    photo_id: int,
    label: str,
    method: str = "manual",
    score: float | None = None,
    *,
    model_version: str | None = None,
    confirmed_at: datetime | None = None,
) -> ConfirmedState:
    """Confirm `photo_id` as whale `label` (created if new) or as NEW_WHALE; commit.

    `confirmed_at` (UTC, default now) lets an undo or a redo keep the time of the decision.
    Returns the previous confirmation so the caller can offer undo with `restore_confirmation`.
    """
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise PhotoGoneError(photo_id)
    previous = next((i for i in photo.identifications if i.status == CONFIRMED), None)
    before = ConfirmedState(
        photo_id,
        previous.label if previous else None,
        previous.method if previous else None,
        previous.score if previous else None,
        previous.model_version if previous else None,
        previous.created_at if previous else None,
    )
    is_new = label == NEW_WHALE
    # A whale made by this confirmation dates from it, so a redo keeps the whale's first date.
    whale_id = None if is_new else ensure_whale(session, label, created_at=confirmed_at).id
    session.execute(
        delete(Identification).where(
            Identification.photo_id == photo_id, Identification.status == CONFIRMED
        )
    )
    session.add(
        Identification(
            photo_id=photo_id,
            whale_id=whale_id,
            is_new_whale=is_new,
            status=CONFIRMED,
            score=score,
            method=method,
            model_version=model_version,
            created_at=confirmed_at or utc_now(),
        )
    )
    session.commit()
    return before


def restore_confirmation(session: Session, state: ConfirmedState) -> None:
    """Undo a `confirm_label`: put back the earlier confirmation, or none."""
    session.execute(
        delete(Identification).where(
            Identification.photo_id == state.photo_id, Identification.status == CONFIRMED
        )
    )
    session.commit()
    if state.label is not None:
        confirm_label(
            session, state.photo_id, state.label, state.method or "manual", state.score,
            model_version=state.model_version, confirmed_at=state.confirmed_at,
        )
    delete_orphan_whales(session)


def delete_orphan_whales(session: Session) -> None:
    """Remove whales that have no confirmed photo and no name or notes: undo leftovers."""
    used = select(Identification.whale_id).where(Identification.whale_id.is_not(None))
    session.execute(
        delete(Whale).where(Whale.id.not_in(used), Whale.name.is_(None), Whale.notes.is_(None))
    )
    session.commit()


def record_suggestions(
    session: Session, photo_id: int, candidates: list, method: str, model_version: str,
    found_at: int | None = None,
) -> None:
    """Replace the photo's stored suggestions with `candidates` (ranked, best first); commit.

    `found_at` is the gallery version the candidates were found at.
    """
    session.execute(
        delete(Identification).where(
            Identification.photo_id == photo_id, Identification.status == SUGGESTED
        )
    )
    for rank, candidate in enumerate(candidates, start=1):
        is_new = candidate.label == NEW_WHALE
        if not is_new and session.get(Whale, candidate.label) is None:
            continue  # the whale was deleted since the method was prepared
        session.add(
            Identification(
                photo_id=photo_id,
                whale_id=None if is_new else candidate.label,
                is_new_whale=is_new,
                status=SUGGESTED,
                rank=rank,
                score=float(candidate.score),
                confidence=shown_confidence(rank, candidate),
                method=method,
                model_version=model_version,
                gallery_version=found_at,
            )
        )
    session.commit()


def has_current_suggestions(session: Session, photo_id: int, method: str, model_version: str) -> bool:
    """Return whether the photo's stored suggestions came from this method and model at the current gallery.

    Identifying the photo again would find the same candidates, so a run over the
    unidentified photos leaves it alone.
    """
    first = session.execute(
        select(Identification.method, Identification.model_version, Identification.gallery_version)
        .where(Identification.photo_id == photo_id, Identification.status == SUGGESTED, Identification.rank == 1)
    ).first()
    return first is not None and tuple(first) == (method, model_version, gallery_version(session))


def first_suggestions(session: Session) -> dict[int, Suggestion]:
    """Return each unconfirmed photo's stored first suggestion, by photo id.

    Photos never identified are absent, and so are confirmed photos, whose old suggestions the
    window no longer shows.
    """
    confirmed = select(Identification.photo_id).where(Identification.status == CONFIRMED)
    now = gallery_version(session)
    rows = session.execute(
        select(Identification.photo_id, Identification.whale_id, Identification.is_new_whale,
               Identification.confidence, Identification.method, Identification.gallery_version)
        .where(Identification.status == SUGGESTED, Identification.rank == 1)
        .where(Identification.photo_id.not_in(confirmed))
    )
    return {
        photo_id: Suggestion(NEW_WHALE if is_new else whale_id, confidence, method, found_at in (None, now))
        for photo_id, whale_id, is_new, confidence, method, found_at in rows
    }


def gallery_version(session: Session) -> int:
    """Return the number that grows whenever the photos matched against change (see GalleryVersion)."""
    return session.scalar(select(GalleryVersion.version).where(GalleryVersion.id == 1))


def list_whales(session: Session) -> list[WhaleSummary]:
    """Return every whale that has confirmed photos, with their count and the earliest of them.

    A whale left without confirmed photos keeps its row while other photos' suggestions name
    it or it has a name or notes (see `delete_orphan_whales`), but it is not listed.
    """
    rows = session.execute(
        select(Whale.id, Whale.name, func.count(Identification.id), func.min(Identification.photo_id))
        .join(
            Identification,
            (Identification.whale_id == Whale.id) & (Identification.status == CONFIRMED),
        )
        .group_by(Whale.id)
        .order_by(Whale.id)
    )
    return [WhaleSummary(wid, name, count, first) for wid, name, count, first in rows]


def photos_of_whale(session: Session, whale_id: str) -> list[PhotoSummary]:
    photos = session.scalars(
        select(Photo)
        .join(Identification)
        .where(Identification.whale_id == whale_id, Identification.status == CONFIRMED)
        .order_by(Photo.id)
    )
    return [photo_summary(photo) for photo in photos]


def unidentified_photos(session: Session) -> list[PhotoSummary]:
    confirmed = select(Identification.photo_id).where(Identification.status == CONFIRMED)
    photos = session.scalars(select(Photo).where(Photo.id.not_in(confirmed)).order_by(Photo.id))
    return [photo_summary(photo) for photo in photos]


def all_photos(session: Session) -> list[PhotoSummary]:
    return [photo_summary(photo) for photo in session.scalars(select(Photo).order_by(Photo.id))]


def confirmed_labels(session: Session) -> list[tuple[int, str, str]]:
    """Return (photo id, original file name, label) for every confirmed photo."""
    rows = session.execute(
        select(Photo.id, Photo.original_name, Identification.whale_id, Identification.is_new_whale)
        .join(Identification)
        .where(Identification.status == CONFIRMED)
        .order_by(Photo.id)
    )
    return [(pid, name, NEW_WHALE if is_new else wid) for pid, name, wid, is_new in rows]


def set_crop(session: Session, photo_id: int, box: tuple[int, int, int, int] | None) -> None:
    """Store the fluke's box for a photo (None: use the whole photo); commit."""
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise PhotoGoneError(photo_id)
    if box is not None:
        left, top, right, bottom = (int(v) for v in box)
        if not (0 <= left < right <= photo.width and 0 <= top < bottom <= photo.height):
            raise RecordError(
                f"crop {box} does not fit photo {photo_id} of {photo.width}x{photo.height} pixels"
            )
        box = (left, top, right, bottom)
    photo.crop_left, photo.crop_top, photo.crop_right, photo.crop_bottom = box or (None,) * 4
    session.commit()
