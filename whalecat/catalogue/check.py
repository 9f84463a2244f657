"""Checking that a catalogue folder is whole: its database, photo copies and previews.

A catalogue is copied, synced and backed up as a folder, and a copy can come out incomplete.
The check reads every row and every file name but not the photos' content, so it takes
seconds, not the minutes that hashing every photo again would.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sqlalchemy import select

from whalecat.catalogue.models import Photo
from whalecat.catalogue.orientation import open_catalogue_photo
from whalecat.catalogue.records import photo_summary
from whalecat.catalogue.store import Catalogue
from whalecat.imaging.io import PHOTO_SUFFIXES, ImageError
from whalecat.imaging.preprocess import save_thumbnail
from whalecat.matching.versions import active_version, chosen_version, missing_model_text
from whalecat.progress import Progress
from whalecat.text import counted, error_text

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """The findings of `check_catalogue`, naming each photo by the file it was imported from."""

    photos: int = 0
    database_problems: list[str] = field(default_factory=list)
    missing_copies: list[str] = field(default_factory=list)  # "name (stored as photos/...)"
    missing_thumbnails: list[str] = field(default_factory=list)  # not remade
    remade_thumbnails: list[str] = field(default_factory=list)
    # Files in photos/ that no photo names: copies whose import was killed before its row was written.
    stray_files: list[str] = field(default_factory=list)
    # Of those, files with the content of a catalogued photo: {file: that photo's name}.
    second_copies: dict[str, str] = field(default_factory=dict)
    missing_model: str = ""  # the active model version whose file is gone

    @property
    def problems(self) -> int:
        return (len(self.database_problems) + len(self.missing_copies) + len(self.missing_thumbnails)
                + len(self.stray_files) + bool(self.missing_model))

    def lines(self) -> list[str]:
        """Return one sentence per finding, with what to do about it."""
        lines = [f"database: {problem}" for problem in self.database_problems]
        if self.database_problems:
            lines.append("database: restore catalogue.sqlite from a backup of the folder before going on")
        if len(self.missing_copies) == self.photos > 1:
            lines.append(f"missing copies: all {self.photos} photos' copies are missing from photos/; restore that "
                         "folder from a backup of the catalogue folder, or import the original photos again")
        else:
            lines += [f"missing copy: {name}; import the original again to put it back"
                      for name in self.missing_copies]
        if self.missing_model:
            lines.append(f"active {self.missing_model}")
        lines += [f"missing preview: {name}; run whalecat check --repair to make it again"
                  for name in self.missing_thumbnails]
        lines += [f"preview made again: {name}" for name in self.remade_thumbnails]
        for path in self.stray_files:
            if path in self.second_copies:
                lines.append(f"second copy of {self.second_copies[path]}: {path}; delete it, since the catalogue "
                             "keeps its own copy")
            elif PurePosixPath(path).suffix.lower() in PHOTO_SUFFIXES:
                lines.append(f"file without a photo: {path}; import the card again, which adds it")
            else:
                lines.append(f"file that is not a photo copy: {path}; move it out of the photos folder")
        return lines

    def summary(self) -> str:
        if not self.problems:
            text = f"{counted(self.photos, 'photo')} checked, no problems found"
        else:
            text = f"{counted(self.photos, 'photo')} checked, {counted(self.problems, 'problem')} found"
        if self.remade_thumbnails:
            text += f", {counted(len(self.remade_thumbnails), 'preview')} made again"
        return text


def check_catalogue(catalogue: Catalogue, repair: bool = False, progress: Progress | None = None) -> CheckReport:
    """Check the database's integrity and that each photo has its copy and preview.

    With `repair`, a missing preview is made again from the photo's copy. Nothing else is
    changed: a missing copy can only come back from the original, and a stray file has no
    row to say which whale or crop it had.
    """
    progress = progress or Progress()
    report = CheckReport()
    with catalogue.engine.connect() as connection:
        found = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check(20)")]
    report.database_problems = [] if found == ["ok"] else found
    with catalogue.session() as session:
        photos = [photo_summary(photo) for photo in session.scalars(select(Photo).order_by(Photo.id))]
    report.photos = len(photos)
    for done, photo in enumerate(photos, start=1):
        progress.check()
        copy = catalogue.folder / photo.stored_name
        if not copy.is_file():
            report.missing_copies.append(f"{photo.original_name} (stored as {photo.stored_name})")
        elif not catalogue.thumbnail_path(photo.sha256).is_file():
            _check_thumbnail(catalogue, photo, repair, report)
        progress.report(done, len(photos), photo.original_name)
    named = {photo.stored_name for photo in photos}
    by_content = {photo.sha256: photo.original_name for photo in photos}
    for path in sorted(catalogue.photos_dir.rglob("*")):
        relative = path.relative_to(catalogue.folder).as_posix()
        if path.is_file() and not path.name.startswith(".") and relative not in named:
            report.stray_files.append(relative)
            # Only stray photos are hashed, so the check still reads no catalogued copy.
            if path.suffix.lower() in PHOTO_SUFFIXES:
                name = by_content.get(hashlib.sha256(path.read_bytes()).hexdigest())
                if name is not None:
                    report.second_copies[relative] = name
    version = chosen_version(catalogue)
    if version != active_version(catalogue):
        report.missing_model = missing_model_text(catalogue, version)
    log.info("Checked %s: %s", catalogue.folder, report.summary())
    return report


def _check_thumbnail(catalogue: Catalogue, photo, repair: bool, report: CheckReport) -> None:
    if not repair:
        report.missing_thumbnails.append(photo.original_name)
        return
    try:
        save_thumbnail(open_catalogue_photo(catalogue, photo), catalogue.thumbnail_path(photo.sha256))
    except (ImageError, OSError) as exc:
        reason = exc.reason if isinstance(exc, ImageError) else error_text(exc)
        report.missing_thumbnails.append(f"{photo.original_name} (could not make it: {reason})")
        return
    report.remade_thumbnails.append(photo.original_name)
