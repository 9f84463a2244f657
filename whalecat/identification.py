"""Identify photos against a catalogue with a matching method, and record the suggestions.

The bridge between storage and matching: it builds the method's `Gallery` from the
catalogue's confirmed photos, prepares the method again only when that gallery changed, and
never matches a catalogue photo against itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import CONFIRMED, Identification, Photo
from whalecat.catalogue.orientation import open_catalogue_copy, open_catalogue_photo, turned
from whalecat.catalogue.records import (
    RecordError,
    find_photo_by_sha256,
    gallery_version,
    get_photo,
    has_current_suggestions,
    record_suggestions,
    unidentified_photos,
)
from whalecat.imaging.crop import check_size, locate_fluke
from whalecat.imaging.input_cache import InputCache
from whalecat.imaging.io import ImageError, open_photo
from whalecat.matching.base import NEW_WHALE, Candidate, Gallery, GalleryPhoto, Method
from whalecat.matching.versions import active_model_path, active_version
from whalecat.progress import Progress
from whalecat.text import counted, first_names

log = logging.getLogger(__name__)

DEFAULT_METHOD = "default"


def _confirmed_photos(*columns):
    """Select `columns` of the photos confirmed as a known whale, in import order."""
    return (
        select(*columns)
        .join(Identification, Identification.photo_id == Photo.id)
        .where(Identification.status == CONFIRMED, Identification.whale_id.is_not(None))
        .order_by(Photo.id)
    )


CROP_COLUMNS = (Photo.crop_left, Photo.crop_top, Photo.crop_right, Photo.crop_bottom)


def build_gallery(catalogue: Catalogue) -> Gallery:
    """Return the catalogue's photos confirmed as a known whale (new_whale photos excluded)."""
    query = _confirmed_photos(
        Photo.sha256, Photo.stored_name, Identification.whale_id, *CROP_COLUMNS, Photo.rotation,
        Photo.original_name,
    )
    with catalogue.session() as session:
        rows = session.execute(query).all()
    photos, missing = [], []
    for sha256, stored_name, whale_id, *box, rotation, name in rows:
        crop = None if any(value is None for value in box) else tuple(box)
        photo = GalleryPhoto(sha256, whale_id, catalogue.folder / stored_name, crop, rotation or 0, name)
        # One lost copy must not stop every identification; the others still match.
        (photos if photo.path.is_file() else missing).append(photo)
    return Gallery(photos=photos, open_image=open_gallery_photo, inputs=InputCache(catalogue.inputs_dir),
                   missing=missing)


class UnreadableCopyError(ImageError):
    """A gallery photo whose stored copy cannot be decoded, such as one cut short."""

    def __init__(self, photo: GalleryPhoto, reason: str):
        super().__init__(photo.name, reason)
        self.photo = photo


def open_gallery_photo(photo: GalleryPhoto) -> Image.Image:
    """Open a gallery photo upright, turned as the user chose, and uncropped.

    Methods apply `photo.crop` themselves.
    """
    try:
        copy = open_catalogue_copy(photo.path, photo.name, str(photo.path))
    except ImageError as exc:
        raise UnreadableCopyError(photo, exc.reason) from None
    return turned(copy, photo.rotation)


class Identifier:
    """A matching method kept prepared for one catalogue and its active model.

    Queries take the current method once per call, so a replacement prepared on another
    thread (after the active model changed) takes over between two queries, never during one.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        method_name: str = DEFAULT_METHOD,
        device: str = "auto",
        method: Method | None = None,
        find_fluke: bool = True,
    ):
        self.catalogue = catalogue
        self.find_fluke = find_fluke  # crop files from outside the catalogue to the fluke
        self.method_name = method.name if method is not None else method_name
        self.device = device
        self._method = method
        self._model_version = active_version(catalogue) if method is None else None
        self._prepared_for: frozenset[tuple[str, str]] | None = None
        # The last gallery built, its signature, and the catalogue's gallery version it was built at.
        self._gallery: tuple[Gallery, frozenset[tuple[str, str]]] | None = None
        self._gallery_version: int | None = None
        # Gallery photos left out because their copies cannot be read: each copy's file size and
        # time when it failed, and the photo's name. A copy replaced since is tried again.
        self._unreadable: dict[Path, tuple[tuple[int, int] | None, str]] = {}
        self._lock = threading.RLock()

    @property
    def method(self) -> Method:
        with self._lock:
            if self._method is None:
                self._model_version = active_version(self.catalogue)
                self._method = self._create_method()
            return self._method

    @property
    def method_loaded(self) -> bool:
        """Whether the method, and so its model, is loaded already."""
        return self._method is not None

    @property
    def model_version(self) -> str | None:
        """The catalogue model version the current method uses (None for an injected method)."""
        return self._model_version

    def _create_method(self) -> Method:
        from whalecat.matching.methods import create_method
        from whalecat.matching.trainers import SavedSeedMethod, saved_kind

        model_path = active_model_path(self.catalogue)
        if model_path is not None and saved_kind(model_path) == "seed":
            return SavedSeedMethod(model_path, device=self.device)
        current = self._method
        return create_method(
            self.method_name,
            cache_dir=self.catalogue.cache_dir,
            device=self.device,
            model_path=model_path,
            keypoints=getattr(current, "keypoints", None),
        )

    def needs_reembedding(self) -> bool:
        """Return whether the catalogue's active model differs from the one this identifier uses."""
        return self._method is not None and self._model_version not in (
            None,
            active_version(self.catalogue),
        )

    def reembed(self, progress: Progress | None = None) -> str:
        """Prepare a method for the newly active model, then switch to it; return its version.

        The current method keeps serving queries on other threads until the new one has
        embedded the whole catalogue. Cancelling leaves the current method in place.
        """
        version = active_version(self.catalogue)
        replacement = self._create_method()
        log.info("Re-embedding the catalogue photos for model %s", version)
        _gallery, signature = self._prepare_method(replacement, progress)
        with self._lock:
            self._method = replacement
            self._model_version = version
            self._prepared_for = signature
        log.info("Identification now uses model %s", version)
        return version

    def _current_gallery(self) -> tuple[Gallery, frozenset[tuple[str, str]]]:
        """Return the catalogue's gallery and its signature, built again only after a change.

        The catalogue's gallery version shows whether a confirmation, crop or turn changed it.
        A missing copy that is back also counts, since a re-import puts it back without a
        change to the rows. A copy lost after the build is noticed at the next change.
        """
        with self.catalogue.session() as session:
            version = gallery_version(session)  # read first, so a change during the build is not missed
        with self._lock:
            built = self._gallery
            if built is not None and version == self._gallery_version and not self._copies_replaced(built[0]):
                return built
        gallery = build_gallery(self.catalogue)
        with self._lock:  # a copy replaced since it failed is tried again
            self._unreadable = {
                path: failed for path, failed in self._unreadable.items() if _file_state(path) == failed[0]
            }
            if self._unreadable:
                gallery = replace(gallery, photos=[p for p in gallery.photos if p.path not in self._unreadable])
        built = (gallery, _signature(gallery))
        with self._lock:
            self._gallery, self._gallery_version = built, version
        return built

    def _copies_replaced(self, gallery: Gallery) -> bool:
        """Return whether a copy left out of `gallery` is back or has been replaced since."""
        if any(photo.path.is_file() for photo in gallery.missing):
            return True
        return any(_file_state(path) != state for path, (state, _name) in self._unreadable.items())

    def left_out_text(self) -> str:
        """Name the confirmed photos that the last prepared gallery left out, or return "" when none."""
        with self._lock:
            names = [photo.name for photo in self._gallery[0].missing] if self._gallery is not None else []
            names += [name for _state, name in self._unreadable.values()]
        if not names:
            return ""
        return (f"{counted(len(names), 'confirmed photo')} left out of matching, since the catalogue's copy is "
                f"missing or cannot be read: {first_names(names)}. Import the original photos again to repair "
                "the copies.")

    def prepare(self, progress: Progress | None = None) -> Gallery:
        """Prepare the method for the current gallery, unless it already is.

        A gallery photo whose copy cannot be read is left out (see `_prepare_method`).
        """
        with self._lock:
            gallery, signature = self._current_gallery()
            if signature != self._prepared_for:
                gallery, self._prepared_for = self._prepare_method(self.method, progress)
            return gallery

    def _prepare_method(self, method: Method, progress: Progress | None) -> tuple[Gallery, frozenset[tuple[str, str]]]:
        """Prepare `method` on the current gallery, and return the gallery and its signature.

        A gallery photo whose copy cannot be read is left out, and the method prepared again
        without it, so one damaged copy never stops every identification.
        """
        while True:
            gallery, signature = self._current_gallery()
            log.info("Preparing method %s on %d photos of %d whales",
                     method.name, len(gallery.photos), len(gallery.whale_ids))
            if gallery.missing:
                log.warning("Left out of matching: %s", gallery.missing_text())
            if self._unreadable:
                log.warning("Left out of matching, as their copies cannot be read: %s",
                            ", ".join(str(path) for path in self._unreadable))
            try:
                method.prepare(gallery, progress or Progress())
            except UnreadableCopyError as exc:
                log.warning("Left out of matching: %s", exc)
                with self._lock:
                    self._unreadable[exc.photo.path] = (_file_state(exc.photo.path), exc.photo.name)
                    self._gallery = None
                continue
            return gallery, signature

    def identify_photo(
        self, photo_id: int, top: int = 5, record: bool = True, progress: Progress | None = None
    ) -> list[Candidate]:
        """Return the top candidates for a catalogue photo and store them as suggestions."""
        with self.catalogue.session() as session:
            # Read before the photo and the gallery, so a change meanwhile makes the suggestions
            # look out of date, never current.
            found_at = gallery_version(session)
            photo = get_photo(session, photo_id)
        self.prepare(progress)
        image = open_catalogue_photo(self.catalogue, photo)
        if photo.crop:
            image = image.crop(photo.crop)
        with self._lock:
            method = self.method
            candidates = method.query(image, top=top, exclude_keys=frozenset({photo.sha256}))
        if record:
            with self.catalogue.session() as session:
                record_suggestions(session, photo_id, candidates, method.name, method.version, found_at)
        return candidates

    def identify_file(
        self, path: Path | str, top: int = 5, progress: Progress | None = None
    ) -> list[Candidate]:
        """Return the top candidates for a photo file; a catalogue copy of it is left out.

        A catalogue copy's stored turn and crop are used; any other photo is cut to the box
        `locate_fluke` finds when `find_fluke` is set.
        """
        path = Path(path)
        image = open_photo(path)
        check_size(path, image)
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        with self.catalogue.session() as session:
            existing = find_photo_by_sha256(session, sha256)
        if existing is not None:
            image = turned(image, existing.rotation)
            crop = existing.crop
        else:
            crop = locate_fluke(image) if self.find_fluke else None
        if crop:
            image = image.crop(crop)
        self.prepare(progress)
        with self._lock:
            return self.method.query(image, top=top, exclude_keys=frozenset({sha256}))


@dataclass(frozen=True)
class BatchReport:
    """The outcome of identifying every unidentified photo; a cancelled run returns none."""

    identified: int = 0
    likely_new: int = 0  # of `identified`, those with new_whale first
    failed: tuple[tuple[str, str], ...] = ()  # (photo name, reason)
    skipped: int = 0  # confirmed or removed during the run, in the window or from the command line
    # Left alone because their suggestions came from this model since the gallery last changed.
    up_to_date: int = 0

    def summary(self) -> str:
        """Return what the run did in a sentence or two, such as "3 photos identified: 2 with ..."."""
        if not self.identified and not self.failed and not self.skipped and not self.up_to_date:
            return "No photo was left to identify: every photo in the catalogue is confirmed."
        kept_text = "kept the suggestions found since the catalogue last changed."
        if self.identified:
            text = (
                f"{counted(self.identified, 'photo')} identified: {self.identified - self.likely_new} with a "
                f"catalogued whale first and {self.likely_new} with new_whale first."
            )
            return f"{text} {self.up_to_date} more {kept_text}" if self.up_to_date else text
        if self.up_to_date:
            return f"No photo needed identifying again: {counted(self.up_to_date, 'photo')} {kept_text}"
        return "No photo was identified."


def require_known_whales(catalogue: Catalogue) -> None:
    """Raise ValueError when the catalogue has no photo confirmed as a known whale to match against.

    Called before the model loads, which takes seconds, so the researcher learns at once.
    """
    with catalogue.session() as session:
        known = session.execute(_confirmed_photos(Photo.id).limit(1)).first()
    if known is None:
        raise ValueError(
            f"the catalogue at {catalogue.folder} has no confirmed whales to match against; confirm "
            "photos of known whales first, or import photos with a labels CSV (whalecat import --labels)"
        )


def identify_unidentified(
    identifier: Identifier, progress: Progress, lock: threading.Lock | None = None, top: int = 5
) -> BatchReport:
    """Identify every unconfirmed photo, storing each one's top candidates as suggestions.

    Each photo's suggestions are committed on their own, so a cancelled run keeps those already
    stored, and the next run leaves them alone until the gallery or the model changes. A photo
    whose copy cannot be read is named in the report and the others go on.
    `lock`, held for one photo at a time, lets a window identify the photo on show between two
    photos of the run. Raises ValueError when the catalogue has no known whale.
    """
    catalogue = identifier.catalogue
    with catalogue.session() as session:
        photos = [(photo.id, photo.original_name) for photo in unidentified_photos(session)]
    if not photos:
        return BatchReport()
    require_known_whales(catalogue)
    guard = lock if lock is not None else contextlib.nullcontext()
    progress.report(0, 0, "Preparing the catalogue")
    with guard:
        identifier.prepare(progress)
    identified = likely_new = skipped = up_to_date = 0
    failed = []
    for number, (photo_id, name) in enumerate(photos):
        progress.report(number, len(photos), f"Identifying {name}")
        progress.check()
        with guard:
            if not _still_unidentified(catalogue, photo_id):
                skipped += 1
                continue
            if _suggestions_current(identifier, photo_id):
                up_to_date += 1
                continue
            try:
                candidates = identifier.identify_photo(photo_id, top=top)
            except (RecordError, ImageError, IntegrityError) as exc:
                # Removing a photo moves its copy away and then deletes its rows, so a photo
                # removed during its identification fails here in one of these ways.
                if not _still_unidentified(catalogue, photo_id):
                    log.info("Photo %d was removed or confirmed during its identification; skipped", photo_id)
                    skipped += 1
                    continue
                if not isinstance(exc, ImageError):
                    raise
                log.warning("Cannot identify %s: %s", name, exc)
                failed.append((name, exc.reason))
                continue
            if not _still_unidentified(catalogue, photo_id):
                # Confirmed in the window while it was matched, so its stored suggestions go unused.
                log.info("Photo %d was confirmed during its identification; skipped", photo_id)
                skipped += 1
                continue
        identified += 1
        likely_new += bool(candidates) and candidates[0].label == NEW_WHALE
    progress.report(len(photos), len(photos), "Identified")
    log.info("Identified %d photos (%d likely new whales); %d failed, %d skipped, %d up to date",
             identified, likely_new, len(failed), skipped, up_to_date)
    return BatchReport(identified, likely_new, tuple(failed), skipped, up_to_date)


def _suggestions_current(identifier: Identifier, photo_id: int) -> bool:
    method = identifier.method
    with identifier.catalogue.session() as session:
        return has_current_suggestions(session, photo_id, method.name, method.version)


def _still_unidentified(catalogue: Catalogue, photo_id: int) -> bool:
    """Return whether the photo is still in the catalogue and confirmed as nothing."""
    with catalogue.session() as session:
        try:
            return get_photo(session, photo_id).confirmed_label is None
        except RecordError:
            return False


def candidates_key(catalogue: Catalogue, photo_id: int) -> tuple:
    """Return what the candidates of catalogue photo `photo_id` depend on, apart from the model.

    The key contains the photo's own turn and crop, and a hash of each gallery photo with its
    whale, turn and crop. Candidates found under one key still hold whenever the catalogue has
    that key again, as after an undo and a redo. The GUI computes it when a photo is selected.
    The hash took 150 to 300 ms at 25,000 gallery photos on 2 CPU cores, so it is kept until
    the catalogue's gallery version moves. Raises RecordError when the photo is not in the catalogue.
    """
    with catalogue.session() as session:
        photo = get_photo(session, photo_id)
        version = gallery_version(session)  # read first, so a change during the hash is not missed
        known = _gallery_hashes.get(catalogue)
        if known is None or known[0] != version:
            query = _confirmed_photos(Photo.sha256, Identification.whale_id, *CROP_COLUMNS, Photo.rotation)
            known = (version, hash(tuple(tuple(row) for row in session.execute(query))))
            _gallery_hashes[catalogue] = known
    return (photo.rotation, photo.crop, known[1])


# For `candidates_key`: each open catalogue's last gallery version and the hash of its gallery rows.
_gallery_hashes: weakref.WeakKeyDictionary[Catalogue, tuple[int, int]] = weakref.WeakKeyDictionary()


def _file_state(path: Path) -> tuple[int, int] | None:
    """Return a file's size and modification time, or None when it is gone."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns)


def _signature(gallery: Gallery) -> frozenset[tuple[str, str]]:
    # The crop is part of the key, so an adjusted crop makes the next identification re-prepare.
    return frozenset((photo.cache_key, photo.whale_id) for photo in gallery.photos)
