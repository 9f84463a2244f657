"""Import photo files and folders into a catalogue.

Each file is handled on its own: hashed, decoded, copied under a content-derived name and
recorded in one transaction. A file that fails is reported with its reason and leaves
nothing behind, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Photo
from whalecat.catalogue.records import confirm_label, find_photo_by_sha256, get_photo
from whalecat.catalogue.removal import REMOVED_FOLDER
from whalecat.imaging.crop import locate_fluke, whole_image
from whalecat.imaging.input_cache import InputCache, import_sizes
from whalecat.imaging.io import PHOTO_SUFFIXES, ImageError, open_photo, read_metadata
from whalecat.imaging.preprocess import thumbnail
from whalecat.importing.labels import read_labels
from whalecat.progress import Cancelled, Progress
from whalecat.text import counted

log = logging.getLogger(__name__)

STORED_SUFFIX = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "TIFF": ".tif", "HEIF": ".heic"}
THUMBNAIL_SIDE = 256


@dataclass
class ImportReport:
    """The outcome of an import; `photo_ids` lists imported and duplicate photos in input order."""

    imported: int = 0
    duplicates: int = 0
    labelled: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # (path, label in the CSV, label already confirmed): left as confirmed
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched_labels: list[str] = field(default_factory=list)  # CSV images not in this import
    # (file name in the CSV, the paths of the different photos it names): not applied
    ambiguous_labels: list[tuple[str, list[str]]] = field(default_factory=list)
    # (path, file name of the catalogue photo with the same content)
    duplicate_of: list[tuple[str, str]] = field(default_factory=list)
    photo_ids: list[int] = field(default_factory=list)
    # Paths imported again although a copy of theirs is in the catalogue's removed/ folder.
    removed_before: list[str] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        text = (
            f"{self.imported} imported, {self.duplicates} already in the catalogue, "
            f"{len(self.failed)} failed"
        )
        if self.labelled:
            text += f", {self.labelled} labelled"
        if self.conflicts:
            text += f", {counted(len(self.conflicts), 'label conflict')} kept as confirmed"
        if self.ambiguous_labels:
            text += f", {counted(len(self.ambiguous_labels), 'label')} naming several photos not applied"
        if self.removed_before:
            text += f", {len(self.removed_before)} imported again after removal"
        return text + (" (cancelled)" if self.cancelled else "")


def collect_files(paths: list[Path | str]) -> list[Path]:
    """Expand folders recursively into photo files, sorted; named files are kept as given.

    Inside folders only files with a photo suffix are taken (case-insensitive), so a
    labels CSV or notes beside the photos are not reported as failures. A file reached twice,
    as when it is named on its own and inside a folder, is kept once.
    """
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found = [
                p
                for p in entry.rglob("*")
                if p.is_file()
                and p.suffix.lower() in PHOTO_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(entry).parts)
            ]
            files.extend(sorted(found))
        else:
            files.append(entry)
    unique: dict[str, Path] = {}
    for path in files:
        unique.setdefault(_same_file_key(path), path)
    return list(unique.values())


def _same_file_key(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:  # a loop of links: keep it as named, and let its import report the error
        return str(path.absolute())


def import_paths(
    catalogue: Catalogue,
    paths: list[Path | str],
    labels_csv: Path | str | None = None,
    progress: Progress | None = None,
    find_fluke: bool = True,
) -> ImportReport:
    """Import photos from `paths` (files and folders), optionally labelled by `labels_csv`.

    With `find_fluke`, each new photo's crop is set to the box `locate_fluke` finds, so
    matching looks at the fluke rather than the sea around it. The user can adjust it later.
    Raises LabelsError before touching the catalogue when the labels file is invalid.
    Cancelling stops between files; everything imported until then stays.
    """
    progress = progress or Progress()
    labels = read_labels(labels_csv) if labels_csv else {}
    files = collect_files(paths)
    report = ImportReport()
    # The photos each labelled file name reached in this import, in input order.
    named: dict[str, dict[int, str]] = {}
    log.info("Importing %s into %s", counted(len(files), "file"), catalogue.folder)
    with catalogue.session() as session:
        for index, path in enumerate(files):
            progress.report(index, len(files), path.name)
            try:
                progress.check()
            except Cancelled:
                report.cancelled = True
                break
            try:
                photo_id, is_new = _import_one(catalogue, session, path, find_fluke)
            except ImageError as exc:
                report.failed.append((str(path), exc.reason))
                # Expected for a card of mixed files; the report lists it for the user.
                log.info("Import failed for %s: %s", path, exc.reason)
                continue
            except (OSError, SQLAlchemyError) as exc:
                session.rollback()
                report.failed.append((str(path), f"could not store the photo: {exc}"))
                log.exception("Import failed for %s", path)
                continue
            except Exception as exc:  # a bug or a library's surprise must not end the batch
                session.rollback()
                report.failed.append((str(path), f"unexpected error ({type(exc).__name__}: {exc}); please report it"))
                log.exception("Import failed for %s", path)
                continue
            report.photo_ids.append(photo_id)
            if is_new:
                report.imported += 1
                stored_name = get_photo(session, photo_id).stored_name
                if (catalogue.folder / REMOVED_FOLDER / stored_name).exists():
                    # Imported all the same: the user may want it back, and may remove it again.
                    report.removed_before.append(str(path))
            else:
                report.duplicates += 1
                report.duplicate_of.append((str(path), get_photo(session, photo_id).original_name))
            if path.name in labels:
                named.setdefault(path.name, {}).setdefault(photo_id, str(path))
        progress.report(len(files), len(files), "")
        for name, photos in named.items():
            _apply_label(session, report, name, labels[name], photos)
    if not report.cancelled:
        report.unmatched_labels = sorted(set(labels) - set(named) - {p.name for p in files})
    log.info("Import into %s finished: %s", catalogue.folder, report.summary())
    return report


def _apply_label(session, report: ImportReport, name: str, label: str, photos: dict[int, str]) -> None:
    """Confirm the photo that file name `name` reached in this import as `label`.

    A name that reached several different photos, or a photo a person already confirmed
    otherwise, is reported instead.
    """
    if len(photos) > 1:
        # Two cards often both hold an IMG_0001.JPG; guessing which one the CSV means could
        # label the wrong whale.
        report.ambiguous_labels.append((name, list(photos.values())))
        # INFO, not a warning: the report names it, and the command line prints the report.
        log.info("Labels name %s, which is %d different photos in this import; none labelled", name, len(photos))
        return
    (photo_id, path), = photos.items()
    confirmed = get_photo(session, photo_id).confirmed_label
    if confirmed == label:
        return
    if confirmed is not None:
        # A person confirmed this photo already; a CSV must not silently override it.
        report.conflicts.append((path, label, confirmed))
        log.info("%s: labels say %s but it is confirmed as %s; kept", path, label, confirmed)
        return
    confirm_label(session, photo_id, label, method="labels-csv")
    report.labelled += 1


def _import_one(catalogue: Catalogue, session, path: Path, find_fluke: bool) -> tuple[int, bool]:
    """Import one file; return (photo id, whether it was new). Leaves nothing on failure."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not a photo") from None
    except PermissionError:
        raise ImageError(path, "permission denied; check the file's read permission") from None
    sha256 = hashlib.sha256(data).hexdigest()
    existing = find_photo_by_sha256(session, sha256)
    if existing is not None:
        log.debug("%s is a duplicate of photo %d (%s)", path, existing.id, existing.original_name)
        return existing.id, False

    upright = open_photo(path)
    metadata = read_metadata(path, upright)
    crop = _fluke_box(upright) if find_fluke else None
    stored_name = f"photos/{sha256[:2]}/{sha256}{STORED_SUFFIX.get(metadata.format, '.img')}"
    target = catalogue.folder / stored_name
    thumb_target = catalogue.thumbnail_path(sha256)
    _write_atomically(target, data)
    try:
        _save_thumbnail(upright, thumb_target)
        photo = Photo(
            sha256=sha256,
            stored_name=stored_name,
            original_name=path.name,
            original_folder=str(path.parent.resolve()),
            format=metadata.format,
            width=metadata.width,
            height=metadata.height,
            taken_at=metadata.taken_at,
            latitude=metadata.latitude,
            longitude=metadata.longitude,
            camera=metadata.camera,
        )
        if crop is not None:
            photo.crop_left, photo.crop_top, photo.crop_right, photo.crop_bottom = crop
        session.add(photo)
        session.commit()
    except BaseException:
        session.rollback()
        target.unlink(missing_ok=True)
        thumb_target.unlink(missing_ok=True)
        raise
    # The photo is decoded now anyway; storing its network inputs spares training and
    # re-embedding from decoding it again.
    InputCache(catalogue.inputs_dir).store(sha256, upright, import_sizes(), crop)
    return photo.id, True


def _fluke_box(upright) -> tuple[int, int, int, int] | None:
    """Return the fluke's box, or None when `locate_fluke` keeps the whole photo."""
    box = locate_fluke(upright)
    return None if box == whole_image(upright) else box


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".importing-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _save_thumbnail(upright, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    small = thumbnail(upright, THUMBNAIL_SIDE).convert("RGB")
    temporary = target.with_name(target.name + ".part")
    small.save(temporary, format="JPEG", quality=85)
    os.replace(temporary, target)


def stored_path(catalogue: Catalogue, stored_name: str) -> Path:
    return catalogue.folder / stored_name


def thumbnail_path(catalogue: Catalogue, sha256: str) -> Path:
    return catalogue.thumbnail_path(sha256)


__all__ = ["ImportReport", "import_paths", "collect_files", "stored_path", "thumbnail_path"]
