"""The commands that change or read the catalogue itself: import, rotate, remove, check,
whales and export."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from whalecat.catalogue import Catalogue, default_catalogue_path
from whalecat.catalogue.store import DATABASE_NAME
from whalecat.cli.common import ProgressPrinter, imported_photo_id, open_catalogue
from whalecat.text import counted


DUPLICATES_LISTED = 10  # files already in the catalogue that an import lists by name


def _interrupt(_signal_number, _frame) -> None:
    raise KeyboardInterrupt


def cmd_import(args) -> int:
    # A terminal closed or a `kill` ends the import as Ctrl+C does, with its summary.
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _import(args)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _import(args) -> int:
    from whalecat.importing.files import find_files, no_photos_message
    from whalecat.importing.importer import ImportInterrupted, import_paths
    from whalecat.importing.labels import read_labels
    from whalecat.progress import Progress

    # A missing path among others fails on its own, like an unreadable photo, but with none
    # found there is nothing to import, and a mistyped path must not create a catalogue.
    if not any(path.exists() for path in args.paths):
        missing = ", ".join(str(path) for path in args.paths)
        raise ValueError(f"{missing} not found; give photo files or folders that exist")
    # Folders without a photo to import must not create a catalogue either.
    try:
        found = find_files(args.paths)
    except KeyboardInterrupt:  # a search of a large card can take a while
        print("\nwhalecat import: interrupted while searching the folders; nothing was imported", file=sys.stderr)
        return 130
    if not found.photos:
        for path, reason in found.unreadable:
            print(f"failed: {path}: {reason}")
        for note in found.notes():
            print(note)
        raise ValueError(no_photos_message(args.paths))
    if args.labels:
        read_labels(args.labels)  # an invalid labels file must not create a catalogue either
    importer_log = logging.getLogger("whalecat.importing")
    level = importer_log.level
    if not args.verbose:
        # The report below names every file that failed and sums up the import.
        importer_log.setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        with open_catalogue(args, create=True) as catalogue:
            report = import_paths(
                catalogue, args.paths, args.labels, Progress(ProgressPrinter()),
                find_fluke=not args.whole_photo, found=found,
            )
    except ImportInterrupted as interrupted:  # Ctrl+C between or during files
        report = interrupted.report
    except KeyboardInterrupt:  # Ctrl+C outside the files' loop, such as while opening the catalogue
        print("\nwhalecat import: interrupted; any photos imported before are kept", file=sys.stderr)
        return 130
    finally:
        importer_log.setLevel(level)
    seconds = time.perf_counter() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}")
    for path, label, confirmed in report.conflicts:
        print(f"kept: {path} is confirmed as {confirmed}; the labels file says {label}")
    # A card imported again lists every photo here, so a long list is cut short.
    for path, existing in report.duplicate_of[:DUPLICATES_LISTED]:
        print(f"already in the catalogue: {path} (as {existing})")
    if len(report.duplicate_of) > DUPLICATES_LISTED:
        print(f"already in the catalogue: {len(report.duplicate_of) - DUPLICATES_LISTED} more files; "
              "-v lists each one")
    for path in report.removed_before:
        print(f"imported again after removal: {path}; remove it again if it is still unwanted")
    for name, paths in report.ambiguous_labels:
        print(f"not labelled: {name} names {counted(len(paths), 'different photo')} in this import "
              f"({', '.join(paths)}); confirm them in the window, or give each photo its own name in the files and the labels")
    if report.unmatched_labels:
        names = ", ".join(report.unmatched_labels[:5])
        more = f" and {len(report.unmatched_labels) - 5} more" if len(report.unmatched_labels) > 5 else ""
        print(f"labels for files not in this import: {names}{more}")
    for note in report.notes():
        print(note)
    print(f"{report.summary()} in {seconds:.1f} s")
    if report.interrupted:
        return 130  # the shell's code for a command ended by SIGINT
    return 1 if report.failed or report.stopped else 0


def cmd_rotate(args) -> int:
    from whalecat.catalogue.orientation import turn_photo

    with open_catalogue(args) as catalogue:
        photo_id = imported_photo_id(catalogue, args.photo)
        turned = turn_photo(catalogue, photo_id, clockwise=args.direction == "right")
    print(f"{args.photo.name}: turned {args.direction}; {_describe_rotation(turned.rotation)}")
    return 0


def _describe_rotation(rotation: int) -> str:
    """Describe a photo turned `rotation` degrees clockwise from the upright view that its
    EXIF orientation tag gives, which the message calls how the camera stored it."""
    rotation %= 360
    if rotation == 0:
        return "now shown as the camera stored it"
    if rotation == 180:
        return "now shown upside down (turned 180 degrees) from how the camera stored it"
    direction = "clockwise" if rotation == 90 else "anticlockwise"
    return f"now shown turned 90 degrees {direction} from how the camera stored it"


def cmd_remove(args) -> int:
    from whalecat.catalogue.removal import remove_photo

    with open_catalogue(args) as catalogue:
        removed = remove_photo(catalogue, imported_photo_id(catalogue, args.photo, "so there is nothing to remove"))
    copies = [catalogue.folder / copy for original, copy in removed.moved if original == removed.photo["stored_name"]]
    if copies:
        print(f"{args.photo.name}: removed from the catalogue; its copy is kept as {copies[0]}")
    else:
        print(f"{args.photo.name}: removed from the catalogue; its copy was already missing from photos/")
    for whale_id in removed.left_empty:
        print(f"{whale_id} had no other photo, so it left the whale list; to bring it back, import "
              f"{copies[0] if copies else 'the photo'} again and confirm it as {whale_id}")
    return 0


def cmd_check(args) -> int:
    from whalecat.catalogue.check import check_catalogue
    from whalecat.progress import Progress

    with _catalogue_to_check(args) as catalogue:
        report = check_catalogue(catalogue, repair=args.repair, progress=Progress(ProgressPrinter()))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in report.lines():
        print(line)
    print(report.summary())
    return 1 if report.problems else 0


def _catalogue_to_check(args) -> Catalogue:
    """Open the catalogue for `check`: for reading only where the folder cannot be written, as a backup drive."""
    folder = (args.catalogue or default_catalogue_path()).expanduser()
    database = folder / DATABASE_NAME
    if folder.is_dir() and database.is_file() and not (os.access(folder, os.W_OK) and os.access(database, os.W_OK)):
        if args.repair:
            raise ValueError(f"{folder} is read-only, so check --repair cannot make previews there; "
                             "run check without --repair, or repair a writable copy")
        return Catalogue.open_read_only(folder)
    return open_catalogue(args)


def cmd_whales(args) -> int:
    from whalecat.catalogue.records import confirmed_labels, list_whales, unidentified_photos

    with open_catalogue(args) as catalogue, catalogue.session() as session:
        whales = list_whales(session)
        unidentified = len(unidentified_photos(session))
        new_whales = sum(label == "new_whale" for _, _, label in confirmed_labels(session))
    named = any(whale.name for whale in whales)
    print(f"{'whale':<48} photos" + ("  name" if named else ""))
    for whale in whales:
        name = f"  {whale.name or ''}" if named else ""
        print(f"{whale.id:<48} {whale.photo_count:>6}{name}".rstrip())
    print(
        f"{counted(len(whales), 'whale')}; {counted(new_whales, 'photo')} confirmed as new_whale; "
        f"{counted(unidentified, 'photo')} not yet identified"
    )
    return 0


def cmd_export(args) -> int:
    from whalecat.export import export_identifications, shared_names_note, write_export

    with open_catalogue(args) as catalogue, catalogue.session() as session:
        note = shared_names_note(session) if args.format == "kaggle" else ""
        if str(args.out) == "-":
            count = write_export(session, sys.stdout, args.format)
            print(f"wrote {counted(count, 'row')} to standard output", file=sys.stderr)
        else:
            if args.out.is_file() and not args.force:
                # It may be the labels file this catalogue was imported from.
                raise ValueError(f"{args.out} exists; add --force to replace it, or name another file")
            count = export_identifications(session, args.out, args.format)
            print(f"wrote {counted(count, 'row')} to {args.out}")
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0
