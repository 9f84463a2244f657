"""Exports of confirmed identifications, for other tools and for a survey's analysis.

`kaggle` writes `Image,Id`, the labels format that `import --labels` reads back. `sightings`
writes one row per confirmed photo with its date, place and camera, which is what a
capture-recapture or movement analysis starts from.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from whalecat.catalogue.models import CONFIRMED, Identification, Photo
from whalecat.catalogue.records import confirmed_labels
from whalecat.importing.labels import label_key, write_label_rows
from whalecat.matching.base import NEW_WHALE
from whalecat.text import counted, first_names

EXPORT_FORMATS = ("kaggle", "sightings")
SIGHTING_COLUMNS = [
    "image", "whale_id", "taken_at", "latitude", "longitude", "camera", "encounter",
    "original_folder", "sha256", "confirmed_at", "confirmed_by",
]


class ExportError(ValueError):
    """An export that cannot be written to the requested path."""


def sighting_rows(session: Session) -> list[dict]:
    """Return one dict per confirmed photo, keyed by SIGHTING_COLUMNS, in import order."""
    query = (
        select(Photo, Identification)
        .join(Identification)
        .where(Identification.status == CONFIRMED)
        .order_by(Photo.id)
    )
    rows = []
    for photo, identification in session.execute(query):
        rows.append({
            "image": photo.original_name,
            "whale_id": NEW_WHALE if identification.is_new_whale else identification.whale_id,
            "taken_at": photo.taken_at.isoformat(sep=" ") if photo.taken_at else "",
            "latitude": "" if photo.latitude is None else f"{photo.latitude:.6f}",
            "longitude": "" if photo.longitude is None else f"{photo.longitude:.6f}",
            "camera": photo.camera or "",
            "encounter": photo.encounter or "",
            "original_folder": photo.original_folder,
            "sha256": photo.sha256,
            "confirmed_at": identification.created_at.isoformat(sep=" ", timespec="seconds"),
            # "manual", "labels-csv" or "confirmed:<method>" for a candidate the user chose.
            "confirmed_by": identification.method,
        })
    return rows


def write_export(session: Session, handle: TextIO, export_format: str) -> int:
    """Write the confirmed photos to an open text file in `export_format`; return the row count."""
    if export_format == "kaggle":
        return write_label_rows(handle, [(name, label) for _, name, label in confirmed_labels(session)])
    if export_format == "sightings":
        writer = csv.DictWriter(handle, fieldnames=SIGHTING_COLUMNS)
        writer.writeheader()
        rows = sighting_rows(session)
        writer.writerows(rows)
        return len(rows)
    raise _unknown_format(export_format)


def export_identifications(session: Session, path: Path | str, export_format: str) -> int:
    """Write the confirmed photos to the file `path` in `export_format`; return the row count.

    A regular file is written beside its final name and then renamed, so a failed export
    never leaves half a file. A symbolic link is written through, to the file it points to,
    and a device or pipe is written directly. Raises ExportError for an unknown format, a
    folder, a missing folder, or a file that cannot be written.
    """
    path = Path(path)
    if export_format not in EXPORT_FORMATS:
        raise _unknown_format(export_format)  # before a file is opened for it
    target = path.resolve()
    if target.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder; give the name of a file in it")
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {target.parent} not found; create it first")
    try:
        if target.exists() and not target.is_file():
            with target.open("w", newline="", encoding="utf-8") as handle:
                return write_export(session, handle, export_format)
        temporary = target.with_name(f".{target.name}.part")
        try:
            with temporary.open("w", newline="", encoding="utf-8") as handle:
                count = write_export(session, handle, export_format)
            temporary.replace(target)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ExportError(f"cannot write {path}: {reason}; choose a folder you can write to") from exc
    return count


def shared_names_note(session: Session) -> str:
    """Return a note when confirmed photos share a file name, or "" when none do.

    A labels file names photos by file name only, so `import --labels` labels none of the
    photos that share a name, such as IMG_0001.JPG from two cards.
    """
    counts = Counter(label_key(name) for _photo_id, name, _label in confirmed_labels(session))
    shared = sorted(name for name, count in counts.items() if count > 1)
    if not shared:
        return ""
    return (
        f"{counted(len(shared), 'file name')} ({first_names(shared)}) "
        f"{'is' if len(shared) == 1 else 'are'} shared by several "
        "confirmed photos, so importing the labels rows again would label none of those photos; the "
        "sightings format names each photo's original folder"
    )


def _unknown_format(export_format: str) -> ExportError:
    return ExportError(f"unknown export format {export_format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
