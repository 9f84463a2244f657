"""Helpers shared by the command line's commands: opening the catalogue, progress on stderr,
and finding an imported photo from a file the user names."""

from __future__ import annotations

import sys
from pathlib import Path

from whalecat.catalogue import Catalogue, CatalogueError, default_catalogue_path
from whalecat.progress import TimeLeft, clock_text


def open_catalogue(args, create: bool = False) -> Catalogue:
    """Open the --catalogue folder. Only `import` may create one: a mistyped path would
    otherwise give an empty catalogue that lists no whales and matches nothing."""
    from whalecat.catalogue.store import DATABASE_NAME, check_database_file, new_catalogue_problem

    folder = (args.catalogue or default_catalogue_path()).expanduser()
    check_database_file(folder)  # before "no catalogue", for a folder that lost only its database
    if not create and (folder.is_dir() or not folder.exists()) and not (folder / DATABASE_NAME).is_file():
        raise CatalogueError(
            f"no catalogue at {folder}; check --catalogue, or create one by importing photos "
            f"with: whalecat --catalogue {folder} import PHOTOS"
        )
    if create and not (folder / DATABASE_NAME).is_file():
        # As File -> New Catalogue does, so that a catalogue never mixes with a card's files.
        problem = new_catalogue_problem(folder.absolute())
        if problem is not None:
            problem_text, advice = problem
            if folder.is_file():  # the window's advice is about typing a folder name
                advice = "Give --catalogue a folder, new or holding a catalogue."
            raise CatalogueError(f"cannot make a new catalogue: {problem_text} {advice}")
    return Catalogue.open(folder)


class ProgressPrinter:
    """A printer of `(done, total, message)` reports to stderr, with the time left once it is known."""

    def __init__(self) -> None:
        self._time_left = TimeLeft()

    def __call__(self, done: int, total: int, message: str) -> None:
        if not total:
            return
        left = self._time_left.update(done, total)
        suffix = f" (about {clock_text(left)} left)" if left is not None and done < total else ""
        if sys.stderr.isatty():
            line = f"{done}/{total} {message[:60]}{suffix}"
            print(f"\r{line:<80}", end="", file=sys.stderr, flush=True)
        elif done == total or done % max(total // 10, 1) == 0:
            # A log file or a pipe gets a line at every tenth instead of a line being redrawn.
            print(f"{done}/{total} {message}{suffix}", file=sys.stderr, flush=True)


def csv_row(*values: str) -> str:
    """Return one CSV line, quoting values that need it, as the labels and export files do."""
    import csv
    import io

    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(values)
    return line.getvalue()


def imported_photo_id(catalogue, path: Path, absent: str = "") -> int:
    """Return the id of the catalogue photo with the same content as the file at `path`.

    `absent` replaces the advice to import the file first, for commands where it makes no sense.
    """
    import hashlib

    from whalecat.catalogue.records import find_photo_by_sha256

    if not path.is_file():
        return _photo_id_by_name(catalogue, path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with catalogue.session() as session:
        photo = find_photo_by_sha256(session, sha256)
    if photo is None:
        advice = absent or f"import it first with: whalecat --catalogue {catalogue.folder} import {path}"
        raise ValueError(
            f"{path} is not in the catalogue at {catalogue.folder} (no imported photo has its content); {advice}"
        )
    return photo.id


def _photo_id_by_name(catalogue, path: Path) -> int:
    """Return the id of the one catalogue photo imported from a file named `path`'s name.

    The card may be gone by the time a photo is rotated or removed, so a file name alone is
    enough, unless photos from several cards share it.
    """
    from sqlalchemy import select

    from whalecat.catalogue.models import Photo

    with catalogue.session() as session:
        rows = session.execute(
            select(Photo.id, Photo.original_folder).where(Photo.original_name == path.name)
        ).all()
    if len(rows) > 1:
        # The folder of a card that is gone still distinguishes same-named photos.
        folder = str(path.parent.resolve())
        rows = [row for row in rows if row.original_folder == folder] or rows
    if len(rows) == 1:
        return rows[0].id
    if not rows:
        raise ValueError(
            f"{path} not found, and no catalogue photo was imported from a file of that name; "
            "give the photo file that was imported, or its file name"
        )
    folders = ", ".join(sorted(row.original_folder for row in rows))
    raise ValueError(
        f"{path} not found, and {len(rows)} catalogue photos were imported from files named {path.name} "
        f"(from {folders}); give the photo file with its folder, or its copy in the catalogue's photos/ folder"
    )
