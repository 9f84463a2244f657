"""Finding the photo files to import in the files and folders a researcher names.

A card contains more than photos: notes, labels, sidecars and videos are passed over without a
word, while image formats whalecat cannot read are counted so that the report can name them.
A whalecat catalogue met on the way is not searched, because its thumbnails would come in as
photos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from whalecat.catalogue.removal import REMOVED_FOLDER
from whalecat.catalogue.store import DATABASE_NAME
from whalecat.imaging.io import HEIC_SUPPORTED, PHOTO_SUFFIXES
from whalecat.text import counted, valid_text

# Suffixes of image and camera RAW formats that whalecat cannot import. A folder import counts
# the files with these suffixes in its report, and passes over the other files on a card
# (notes, CSVs, sidecars, videos) without a word.
UNSUPPORTED_IMAGE_SUFFIXES = {
    ".webp", ".bmp", ".gif", ".avif", ".jxl", ".jp2", ".psd",
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".orf", ".rw2",
    ".raf", ".pef", ".srw", ".raw", ".rwl", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq",
}
# Folders of a catalogue that hold previews, cached network inputs and models, not photos.
CATALOGUE_DATA_FOLDERS = {"thumbnails", "cache", "models"}
NAMED_FILES = 5  # skipped files a report names, before "and N more"
_CATALOGUE_ADVICE = "to import the photos in it, name its photos folder"



@dataclass
class FoundFiles:
    """The files `find_files` found to import, and what it passed over while searching."""

    photos: list[Path] = field(default_factory=list)
    # Files in folders with the suffix of an image format that whalecat cannot import.
    unsupported: list[Path] = field(default_factory=list)
    # (folder, advice): catalogue folders, or a catalogue's thumbnails, cache or models
    catalogue_folders: list[tuple[str, str]] = field(default_factory=list)
    # (folder or link, reason): folders that could not be listed, and links to nothing
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    # The folders that existed during the search. A file whose folder was among them and is
    # gone by the time it is imported means that the folder or its card went away.
    folders: set[Path] = field(default_factory=set)

    def notes(self) -> list[str]:
        """Return sentences for the user about what the search passed over."""
        return search_notes(self.catalogue_folders, [valid_text(str(path)) for path in self.unsupported])


def search_notes(catalogue_folders: list[tuple[str, str]], unsupported: list[str]) -> list[str]:
    notes = [f"skipped the catalogue folder {folder}; {advice}" for folder, advice in catalogue_folders]
    if unsupported:
        names = ", ".join(Path(path).name for path in unsupported[:NAMED_FILES])
        if len(unsupported) > NAMED_FILES:
            names += f" and {len(unsupported) - NAMED_FILES} more"
        notes.append(
            f"skipped {counted(len(unsupported), 'file')} in formats whalecat cannot import ({names}); "
            f"convert {'it' if len(unsupported) == 1 else 'them'} to JPEG or TIFF to import "
            f"{'it' if len(unsupported) == 1 else 'them'}"
        )
    return notes


def supported_formats_sentence() -> str:
    """Return a clause naming the photo formats whalecat imports, for messages."""
    if HEIC_SUPPORTED:
        return "whalecat imports JPEG, PNG, TIFF and HEIC files"
    return "whalecat imports JPEG, PNG and TIFF files (and HEIC files once pillow-heif is installed)"


def no_photos_message(paths: list[Path | str]) -> str:
    """Return the message for an import whose `paths` contain no file to import."""
    searched = ", ".join(valid_text(str(path)) for path in paths)
    return f"no photos found in {searched}; {supported_formats_sentence()}"


def collect_files(paths: list[Path | str]) -> list[Path]:
    """Expand folders recursively into photo files, sorted; named files are kept as given.

    `find_files` describes the search; this returns only the files it found to import.
    """
    return find_files(paths).photos


def find_files(paths: list[Path | str]) -> FoundFiles:
    """Expand folders recursively into photo files, sorted; named files are kept as given.

    Inside folders only files with a photo suffix are taken (case-insensitive), so a
    labels CSV or notes beside the photos are not reported as failures. Hidden files and
    folders are passed over. A file reached twice, as when it is named on its own and inside
    a folder, or through a link to its folder, is kept once.

    A whalecat catalogue folder is not searched, whether named or met inside a named folder,
    because its thumbnails would come in as photos. A folder named inside a catalogue, such as
    removed/photos, is searched, except for the catalogue's thumbnails, cache and models.
    """
    found = FoundFiles()
    files: list[Path] = []
    for entry in map(Path, paths):
        if not entry.is_dir():
            files.append(entry)
            if entry.parent.is_dir():
                found.folders.add(entry.parent)
        elif (entry / DATABASE_NAME).is_file():
            found.catalogue_folders.append((valid_text(str(entry)), _CATALOGUE_ADVICE))
        else:
            files.extend(sorted(_search_folder(entry, found)))
    unique: dict[str, Path] = {}
    for path in files:
        unique.setdefault(_same_file_key(path), path)
    found.photos = list(unique.values())
    return found


def _search_folder(top: Path, found: FoundFiles) -> list[Path]:
    """Return the photo files under `top`, recording in `found` what the search passed over."""
    top_parents = Path(os.path.abspath(top)).parents
    catalogue_root = next((folder for folder in top_parents if (folder / DATABASE_NAME).is_file()), None)
    # A catalogue's data folders are in its top folder and in its removed/ folder.
    data_parents = {catalogue_root, catalogue_root / REMOVED_FOLDER} if catalogue_root else set()
    photos: list[Path] = []
    visited: set[str] = set()  # real paths, so that a link to a folder above cannot loop
    pending = [top]
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in visited:
            continue
        visited.add(real)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            found.unreadable.append((valid_text(str(folder)), _unreadable_folder_reason(exc)))
            continue
        found.folders.add(folder)
        for entry in entries:
            path = folder / entry.name
            if entry.name.startswith("."):
                continue
            if _is_directory(entry):
                if (path / DATABASE_NAME).is_file():
                    found.catalogue_folders.append((valid_text(str(path)), _CATALOGUE_ADVICE))
                elif entry.name in CATALOGUE_DATA_FOLDERS and Path(os.path.abspath(folder)) in data_parents:
                    found.catalogue_folders.append(
                        (valid_text(str(path)), "it holds previews or cached data, not photos")
                    )
                else:
                    pending.append(path)
                continue
            suffix = os.path.splitext(entry.name)[1].lower()
            if entry.is_symlink() and not path.exists():
                found.unreadable.append(
                    (valid_text(str(path)), f"link to {valid_text(os.readlink(path))}, which is not there")
                )
            elif suffix in PHOTO_SUFFIXES and entry.is_file():  # not a pipe or device, which could block
                photos.append(path)
            elif suffix in UNSUPPORTED_IMAGE_SUFFIXES:
                found.unsupported.append(path)
    return photos


def _is_directory(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link that cannot be followed, which the file checks in the caller report
        return False


def _unreadable_folder_reason(exc: OSError) -> str:
    reason = f"cannot read the folder ({exc.strerror or exc})"
    if isinstance(exc, PermissionError):
        return reason + "; check its read permission"
    return reason


def _same_file_key(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:  # a loop of links: keep it as named, and let its import report the error
        return str(path.absolute())
