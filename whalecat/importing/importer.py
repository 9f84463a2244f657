"""Import photo files and folders into a catalogue.

Each file is handled on its own: hashed, decoded, copied under a content-derived name and
recorded in one transaction. A file that fails is reported with its reason and leaves
nothing behind, and the batch goes on. An error that every later file would hit too (a full
disk, a read-only catalogue, a card taken out) stops the batch with one message instead.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Photo
from whalecat.catalogue.orientation import turned
from whalecat.catalogue.records import PhotoSummary, confirm_label, find_photo_by_sha256, get_photo
from whalecat.catalogue.removal import REMOVED_FOLDER
from whalecat.catalogue.store import DATABASE_NAME
from whalecat.imaging.crop import check_size, locate_fluke, whole_image
from whalecat.imaging.input_cache import InputCache, import_inputs
from whalecat.imaging.io import ImageError, open_photo, read_metadata
from whalecat.imaging.preprocess import save_thumbnail
from whalecat.importing.files import (
    UNSUPPORTED_IMAGE_SUFFIXES,
    FoundFiles,
    find_files,
    no_photos_message,
    search_notes,
    supported_formats_sentence,
)
from whalecat.importing.labels import LabelIndex, label_key, read_labels
from whalecat.progress import Cancelled, Progress
from whalecat.text import counted, error_text, valid_text

log = logging.getLogger(__name__)

STORED_SUFFIX = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "TIFF": ".tif", "HEIF": ".heic"}

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
    # Paths already in the catalogue whose lost stored copy or thumbnail they put back.
    restored: list[str] = field(default_factory=list)
    cancelled: bool = False
    # The paths given to the import, and the number of files found in them to import.
    searched: list[str] = field(default_factory=list)
    found: int = 0
    # Files found in folders with the suffix of an image format that whalecat cannot import.
    unsupported: list[str] = field(default_factory=list)
    # (folder, advice): catalogue folders, or a catalogue's thumbnails, cache or models, not searched
    catalogue_folders: list[tuple[str, str]] = field(default_factory=list)
    # Why the import stopped before its last file and what to do next, or None when it ran to the end.
    stopped: str | None = None
    # Set when Ctrl+C ended the import. The photos imported before it are kept.
    interrupted: bool = False
    # Set when the import stopped before the labels file could be applied to its photos.
    labels_not_applied: bool = False
    labels_empty: str = ""  # the labels file, when it gave no photo an id

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
        if self.restored:
            text += f", {counted(len(self.restored), 'lost or damaged copy', 'lost or damaged copies')} restored"
        if self.unsupported:
            text += f", {len(self.unsupported)} in unsupported formats skipped"
        if self.stopped:
            text += " (stopped)"
        elif self.interrupted:
            text += " (interrupted)"
        return text + (" (cancelled)" if self.cancelled else "")

    def notes(self) -> list[str]:
        """Return sentences for the user about what the import passed over and why it stopped."""
        notes = search_notes(self.catalogue_folders, self.unsupported)
        if not self.found and self.searched:
            notes.append(no_photos_message(self.searched))
        if self.stopped:
            notes.append(self.stopped)
        if self.labels_not_applied:
            notes.append("the labels file was not applied to the photos imported so far; import the "
                         "same photos again with the labels file to apply it")
        if self.labels_empty:
            notes.append(f"the labels file {self.labels_empty} gives no photo an id: it has only its header "
                         "row or rows with an empty Id, so no photo was labelled")
        return notes


def import_paths(
    catalogue: Catalogue,
    paths: list[Path | str],
    labels_csv: Path | str | None = None,
    progress: Progress | None = None,
    find_fluke: bool = True,
    found: FoundFiles | None = None,
) -> ImportReport:
    """Import photos from `paths` (files and folders), optionally labelled by `labels_csv`.

    `found` is what `find_files(paths)` returned, for a caller that searched the folders
    already; without it they are searched here.

    With `find_fluke`, each new photo's crop is set to the box `locate_fluke` finds, so
    matching looks at the fluke rather than the sea around it. The user can adjust it later.
    Raises LabelsError before touching the catalogue when the labels file is invalid.
    Cancelling stops between files; everything imported until then stays. A full disk, a
    read-only catalogue or a source folder that went away stops the import at that file, with
    `report.stopped` saying why. Ctrl+C (KeyboardInterrupt) raises ImportInterrupted, which
    carries the report; the labels are then not applied.
    """
    progress = progress or Progress()
    labels = read_labels(labels_csv) if labels_csv else {}
    label_index = LabelIndex(labels)
    found = found or find_files(paths)
    files = found.photos
    report = ImportReport(
        searched=[valid_text(str(path)) for path in paths],
        found=len(files),
        unsupported=[valid_text(str(path)) for path in found.unsupported],
        catalogue_folders=list(found.catalogue_folders),
        failed=list(found.unreadable),
        labels_empty=valid_text(str(labels_csv)) if labels_csv and not labels else "",
    )
    # The photos each labelled file name reached in this import, in input order.
    named: dict[str, dict[int, str]] = {}
    apply_labels = True
    log.info("Importing %s into %s", counted(len(files), "file"), catalogue.folder)
    with catalogue.session() as session:
        for index, path in enumerate(files):
            try:
                progress.report(index, len(files), valid_text(path.name))
                progress.check()
                remaining = len(files) - index
                imported = _import_or_report(catalogue, session, path, find_fluke, report, found.folders, remaining)
                if imported is not None:
                    _record_photo(catalogue, session, report, path, *imported)
                    key = label_index.key_for(path)
                    if key is not None:
                        named.setdefault(key, {}).setdefault(imported[0], valid_text(str(path)))
            except Cancelled:
                report.cancelled = True
                break
            except _ImportStopped as stop:
                report.stopped = stop.message
                # Every write fails after a storage error, so the labels would fail too.
                apply_labels = not stop.storage_failed
                log.info("Import into %s stopped: %s", catalogue.folder, stop.message)
                break
            except KeyboardInterrupt:
                session.rollback()
                report.interrupted = True
                apply_labels = False
                break
        if not (report.cancelled or report.stopped or report.interrupted):
            progress.report(len(files), len(files), "")  # not at a stop, which would read as done
        if apply_labels:
            for name, photos in named.items():
                _apply_label(session, report, name, labels[name], photos)
        else:
            report.labels_not_applied = bool(labels)
    if not (report.cancelled or report.stopped or report.interrupted):
        unmatched = set(labels) - set(named) - {label_index.key_for(path) for path in files}
        report.unmatched_labels = _with_case_hints(sorted(unmatched), [label_key(path.name) for path in files])
    log.info("Import into %s finished: %s", catalogue.folder, report.summary())
    if report.interrupted:
        raise ImportInterrupted(report)
    return report


def _with_case_hints(unmatched: list[str], imported: list[str]) -> list[str]:
    """Name, beside each unmatched label, the one imported file whose name differs only in case.

    Matching such names would guess, so the researcher decides: IMG_0001.JPG and img_0001.jpg
    may be two photos.
    """
    by_folded: dict[str, set[str]] = {}
    for name in imported:
        by_folded.setdefault(name.casefold(), set()).add(name)
    hinted = []
    for name in unmatched:
        alike = by_folded.get(name.rsplit("/", 1)[-1].casefold(), set())
        hinted.append(f"{name} (the import has {next(iter(alike))}, in other case)" if len(alike) == 1 else name)
    return hinted


class ImportInterrupted(KeyboardInterrupt):
    """Raised by `import_paths` after Ctrl+C; `report` describes the import until then."""

    def __init__(self, report: ImportReport):
        super().__init__("import interrupted")
        self.report = report


class _ImportStopped(Exception):
    """An error that every later file of the import would hit too; `message` is the advice for the user."""

    def __init__(self, message: str, storage_failed: bool):
        super().__init__(message)
        self.message = message
        self.storage_failed = storage_failed


def _record_photo(
    catalogue: Catalogue, session, report: ImportReport, path: Path, photo_id: int, is_new: bool
) -> None:
    report.photo_ids.append(photo_id)
    if is_new:
        report.imported += 1
        stored_name = get_photo(session, photo_id).stored_name
        if (catalogue.folder / REMOVED_FOLDER / stored_name).exists():
            # Imported all the same: the user may want it back, and may remove it again.
            report.removed_before.append(valid_text(str(path)))
    else:
        report.duplicates += 1
        report.duplicate_of.append((valid_text(str(path)), get_photo(session, photo_id).original_name))


def _import_or_report(
    catalogue: Catalogue, session, path: Path, find_fluke: bool, report: ImportReport,
    folders: set[Path], remaining: int,
) -> tuple[int, bool] | None:
    """Import one file and return (photo id, whether it was new), or add its failure to `report`
    and return None.

    Raises _ImportStopped when the catalogue cannot be written or the file's folder went away,
    because then every one of the `remaining` files, this one included, would fail the same way.
    """
    path_text = valid_text(str(path))
    try:
        return _import_logging_warnings(catalogue, session, path, find_fluke, report)
    except ImageError as exc:
        _raise_if_folder_gone(path, folders, remaining)
        reason = valid_text(_with_supported_formats(path, exc.reason))
        report.failed.append((path_text, reason))
        # Expected for a card of mixed files; the report lists it for the user.
        log.info("Import failed for %s: %s", path_text, reason)
    except (OSError, SQLAlchemyError) as exc:
        session.rollback()
        _raise_if_storage_failed(catalogue, exc, remaining)
        _raise_if_folder_gone(path, folders, remaining)
        reason = valid_text(f"could not store the photo: {error_text(exc)}")
        report.failed.append((path_text, reason))
        # The traceback helps only when debugging, so it is logged only at DEBUG level.
        log.info("Import failed for %s: %s", path_text, reason, exc_info=log.isEnabledFor(logging.DEBUG))
    except Exception as exc:  # a bug or a library's surprise must not end the batch
        session.rollback()
        reason = valid_text(f"unexpected error ({type(exc).__name__}: {error_text(exc)}); please report it")
        report.failed.append((path_text, reason))
        log.exception("Import failed for %s", path_text)
    return None


def _import_logging_warnings(
    catalogue: Catalogue, session, path: Path, find_fluke: bool, report: ImportReport
) -> tuple[int, bool]:
    """Run `_import_one`, logging each warning raised meanwhile with the file's path.

    Pillow warns about corrupt EXIF data or a very large image without naming the file.
    NOTE: catch_warnings changes process-wide state, so a warning that another thread raises
    during this file's import is logged with this file's path.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return _import_one(catalogue, session, path, find_fluke, report)
    finally:
        for warning in caught:
            # A decompression bomb warning means a photo near the size limit, which is slow and needs much memory.
            large = issubclass(warning.category, Image.DecompressionBombWarning)
            level = logging.WARNING if large else logging.INFO
            log.log(level, "%s: %s", valid_text(str(path)), warning.message)


def _with_supported_formats(path: Path, reason: str) -> str:
    """Add the supported formats to the failure of a file in a format whalecat cannot import."""
    unsupported = path.suffix.lower() in UNSUPPORTED_IMAGE_SUFFIXES or reason.startswith("unsupported image format")
    if not unsupported or "convert" in reason:  # the reason already names formats to convert to
        return reason
    return f"{reason}; {supported_formats_sentence()}, so convert it to JPEG or TIFF"


def _raise_if_storage_failed(catalogue: Catalogue, exc: Exception, remaining: int) -> None:
    """Raise _ImportStopped when `exc` means that the catalogue cannot take any more photos."""
    problem = _storage_problem(exc)
    if problem is None:
        return
    cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else error_text(exc)
    not_imported = f"{counted(remaining, 'file')} {'was' if remaining == 1 else 'were'} not imported"
    folder = catalogue.folder
    if problem == "full":
        message = (
            f"the disk holding the catalogue {folder} is full ({cause}), so {not_imported}; "
            f"free space on the disk holding {folder}, then import again; the photos imported so far are kept"
        )
    else:
        message = (
            f"the catalogue {folder} is read-only ({cause}), so {not_imported}; make the folder and "
            f"its {DATABASE_NAME} writable, then import again; the photos imported so far are kept"
        )
    raise _ImportStopped(valid_text(message), storage_failed=True) from exc


def _storage_problem(exc: Exception) -> str | None:
    """Return "full" or "read-only" for a storage error that every later write would hit, else None."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return "full"
        if exc.errno == errno.EROFS:
            return "read-only"
    if isinstance(exc, DBAPIError):
        # SQLite's messages for SQLITE_FULL and SQLITE_READONLY.
        message = str(exc.orig).lower()
        if "database or disk is full" in message:
            return "full"
        if "readonly database" in message:
            return "read-only"
    return None


def _raise_if_folder_gone(path: Path, folders: set[Path], remaining: int) -> None:
    """Raise _ImportStopped when the folder that `path` was found in no longer exists.

    Only a folder that existed during the search counts, so a mistyped folder in a named
    path fails alone. A card taken out mid-import takes all its folders with it.
    """
    folder = path.parent
    if folder not in folders or os.path.exists(folder):
        return
    while not os.path.exists(folder.parent):
        folder = folder.parent
    message = (
        f"the folder {folder} is no longer there (card removed?), so {counted(remaining, 'file')} "
        f"{'was' if remaining == 1 else 'were'} not imported; reconnect it and import again, "
        "and the photos already imported will be skipped"
    )
    raise _ImportStopped(valid_text(message), storage_failed=False)


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


def _import_one(
    catalogue: Catalogue, session, path: Path, find_fluke: bool, report: ImportReport
) -> tuple[int, bool]:
    """Import one file; return (photo id, whether it was new). Leaves nothing on failure.

    A file already in the catalogue puts back its stored copy or thumbnail if either is lost,
    or the copy if it is damaged, and is then listed in `report.restored`. So is a file that
    another import, such as the command line's beside the window's, stores meanwhile.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not a photo") from None
    except PermissionError:
        raise ImageError(path, "permission denied; check the file's read permission") from None
    except OSError as exc:  # an input/output error on a failing card, say
        raise ImageError(path, f"cannot read the file ({exc.strerror or exc}); copy it again from the card") from None
    sha256 = hashlib.sha256(data).hexdigest()
    existing = find_photo_by_sha256(session, sha256)
    if existing is not None:
        log.debug("%s is a duplicate of photo %d (%s)", path, existing.id, existing.original_name)
        if _restore_lost_files(catalogue, existing, path, data):
            report.restored.append(valid_text(str(path)))
        return existing.id, False

    upright = open_photo(path)
    check_size(path, upright)
    metadata = read_metadata(path, upright)
    crop = _fluke_box(upright) if find_fluke else None
    stored_name = f"photos/{sha256[:2]}/{sha256}{STORED_SUFFIX.get(metadata.format, '.img')}"
    target = catalogue.folder / stored_name
    thumb_target = catalogue.thumbnail_path(sha256)
    # Files already there may belong to another import of the same card, running beside this one.
    written_here = [path for path in (target, thumb_target) if not path.exists()]
    try:
        _write_atomically(target, data)
        save_thumbnail(upright, thumb_target)
        photo = Photo(
            sha256=sha256,
            stored_name=stored_name,
            original_name=valid_text(path.name),
            original_folder=valid_text(str(path.parent.resolve())),
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
    except BaseException as exc:
        session.rollback()
        if _committed(session, sha256):
            if isinstance(exc, IntegrityError):  # stored by another import meanwhile, with these same files
                log.debug("%s was imported meanwhile by another import", path)
                return find_photo_by_sha256(session, sha256).id, False
        else:
            for written in written_here:
                written.unlink(missing_ok=True)
        raise
    # The photo is decoded now anyway; storing its network inputs spares training and
    # re-embedding from decoding it again.
    InputCache(catalogue.inputs_dir).store(sha256, upright, import_inputs(), crop)
    return photo.id, True


def _committed(session, sha256: str) -> bool:
    """Tell whether the photo's row is in the catalogue after all.

    Ctrl+C can land after SQLite has committed the row but before commit() returns, and then
    the stored copy and thumbnail belong to that row.
    """
    try:
        return find_photo_by_sha256(session, sha256) is not None
    except SQLAlchemyError:  # the database is failing, so the commit most likely failed too
        return False


def _restore_lost_files(catalogue: Catalogue, photo: PhotoSummary, path: Path, data: bytes) -> bool:
    """Put back a catalogue photo's stored copy or thumbnail from the same file imported again.

    Returns whether anything was missing or damaged. The file has the photo's content, so its
    copy is as good as the lost one. A copy whose content differs is damaged, such as one cut
    short by a full disk. Only a copy of the right size is hashed, so a card imported twice
    reads each copy once more.
    """
    target = catalogue.folder / photo.stored_name
    thumb_target = catalogue.thumbnail_path(photo.sha256)
    copy_whole = (target.is_file() and target.stat().st_size == len(data)
                  and hashlib.sha256(target.read_bytes()).hexdigest() == photo.sha256)
    if copy_whole and thumb_target.is_file():
        return False
    if not copy_whole:
        _write_atomically(target, data)
    if not thumb_target.is_file():
        save_thumbnail(turned(open_photo(path), photo.rotation), thumb_target)
    log.info("Restored the missing or damaged files of %s from %s", photo.original_name, valid_text(str(path)))
    return True


def _fluke_box(upright) -> tuple[int, int, int, int] | None:
    """Return the fluke's box, or None when `locate_fluke` keeps the whole photo."""
    box = locate_fluke(upright)
    return None if box == whole_image(upright) else box


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp, which makes the file readable by its owner only: in a catalogue
    # that a lab group shares, the others could read the database but not the photos.
    temporary = target.parent / f".importing-{os.getpid()}-{secrets.token_hex(6)}"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # less the umask
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def stored_path(catalogue: Catalogue, stored_name: str) -> Path:
    return catalogue.folder / stored_name


def thumbnail_path(catalogue: Catalogue, sha256: str) -> Path:
    return catalogue.thumbnail_path(sha256)

