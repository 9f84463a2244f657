"""The `whalecat` command line; with no command it opens the window."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from whalecat import __version__
from whalecat.catalogue import Catalogue, CatalogueError, default_catalogue_path
from whalecat.progress import TimeLeft, clock_text
from whalecat.text import counted, error_text

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "gpu")
# The names whalecat.matching.methods.create_method accepts; listed here so that parsing
# the command line does not import the matching code.
METHODS = ("default", "embedding", "keypoints", "seed")
DUPLICATES_LISTED = 10  # files already in the catalogue that an import lists by name


def _add_command(commands, name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
    """Add a command whose `--help` opens with `summary`, the line `whalecat --help` lists
    for it, and then `details`."""
    description = f"{summary[0].upper()}{summary[1:]}. {details}".strip()
    return commands.add_parser(name, help=summary, description=description)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whalecat",
        description="Catalogue and identify humpback whales by the underside of their tail fluke.",
    )
    parser.add_argument("--version", action="version", version=f"whalecat {__version__}")
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        help=f"catalogue folder; import creates it if missing (default: {default_catalogue_path()})",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where TensorFlow runs models: auto uses a GPU when one is visible (default: auto)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add_command(
        commands, "import", "import photo files or folders (recursive)",
        "Each photo is cropped to the fluke found in it unless --whole-photo is given. A photo "
        "whose content is already in the catalogue is reported and not imported again.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a photo file, or a folder of them")
    p.add_argument("--labels", type=Path, help="CSV with columns Image,Id (Id may be new_whale)")
    p.add_argument(
        "--whole-photo", action="store_true",
        help="keep each photo whole instead of cropping it to the fluke found in it",
    )

    p = _add_command(
        commands, "identify", "list the most likely known whales for a photo",
        "A whale's score is that of its most similar catalogue photo. Its confidence is 50% at "
        "the new_whale threshold and grows with the score; it is a guide for sorting, not a "
        "probability. new_whale's score is that threshold, so the whales ranked below new_whale "
        "scored under it. new_whale has a confidence only when it ranks first.",
    )
    p.add_argument(
        "photos", nargs="+", type=Path, metavar="PHOTO",
        help="a photo file, imported or not, or a folder of them; several may be given",
    )
    p.add_argument("--top", type=int, default=5, help="number of candidates (default: 5)")
    p.add_argument("--method", choices=METHODS, default="default", help="matching method (default: default)")
    output = p.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true",
        help="print each photo's candidates as one line of JSON; new_whale's confidence is null "
        "unless it ranks first",
    )
    output.add_argument(
        "--csv", action="store_true",
        help="print Image,Id rows with each photo's labels best first, separated by spaces, as "
        "Kaggle's humpback challenge scored them",
    )
    p.add_argument(
        "--whole-photo", action="store_true",
        help="match the whole photo instead of the fluke found in it (a catalogue photo "
        "always uses its stored crop)",
    )

    p = _add_command(
        commands, "train", "train a model on the catalogue's confirmed photos",
        "Some photos are held back from training to measure the new model, which becomes "
        "active as --activate says.",
    )
    p.add_argument(
        "--model", choices=("embedding", "seed"), default="embedding",
        help="embedding: the network behind identification; seed: the seed CNN classifier (default: embedding)",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the model's own)")
    p.add_argument(
        "--activate",
        choices=("if-better", "always", "never"),
        default="if-better",
        help="make the new model active when not worse than the active one (default: if-better)",
    )
    p.add_argument(
        "--report",
        choices=("text", "json"),
        default="text",
        help="json: report progress as JSON lines on stdout, as the window reads them (default: text)",
    )

    p = _add_command(
        commands, "rotate", "turn an imported photo a quarter turn, for one its camera stored on its side",
        "The turn is stored in the catalogue with the photo; neither the photo file nor the "
        "catalogue's copy of it is changed.",
    )
    p.add_argument("photo", type=Path, metavar="PHOTO", help="the photo file as imported")
    p.add_argument("direction", choices=("left", "right"), help="anticlockwise or clockwise")

    p = _add_command(
        commands, "remove", "take an imported photo out of the catalogue (its copy moves to removed/)",
        "To put the photo back, import its copy from removed/ in the catalogue folder.",
    )
    p.add_argument("photo", type=Path, metavar="PHOTO", help="the photo file as imported")

    p = _add_command(
        commands, "check", "check that the catalogue folder is whole",
        "Checks the database's integrity, and that every photo has its stored copy and its "
        "preview, and lists files in photos/ that no photo names. It reads file names, not the "
        "photos' content. Exits with 1 when it finds a problem.",
    )
    p.add_argument("--repair", action="store_true", help="make missing previews again from the photos' copies")

    _add_command(
        commands, "whales", "list the catalogue's whales with their photo counts",
        "Takes no arguments. Each whale's row gives its number of confirmed photos, and its name "
        "when any whale has one. The last line counts the photos confirmed as new_whale and "
        "those not yet identified.",
    )

    p = _add_command(
        commands, "export", "export confirmed identifications",
        "Photos not yet identified are left out.",
    )
    p.add_argument(
        "--format", choices=("kaggle", "sightings"), default="kaggle",
        help="kaggle: one row Image,Id per confirmed photo, which import --labels reads back; "
        "sightings: one row per confirmed photo with its date, place, camera and original folder "
        "(default: kaggle)",
    )
    p.add_argument("out", type=Path, metavar="OUT.csv", help="the CSV file to write, or - for standard output")
    p.add_argument("--force", action="store_true", help="replace OUT.csv if it exists")

    p = _add_command(
        commands, "models", "list trained model versions, or activate one",
        "The list marks the active version with *. The version 'bundled' is the model shipped "
        "with whalecat.",
    )
    p.add_argument("action", nargs="?", choices=("list", "activate"), default="list",
                   help="list the versions, or activate VERSION (default: list)")
    p.add_argument("version", nargs="?", help="the version to activate (or 'bundled')")

    p = _add_command(
        commands, "evaluate", "measure matching accuracy on a labelled set (catalogue replay)",
        "Each whale's first photos form a catalogue and its later photos are queries. About one "
        "whale in five is kept out of the catalogue, so its photos test new_whale. Prints MAP@5, "
        "top-1, top-5 and new_whale precision and recall for each method.",
    )
    p.add_argument("labels", type=Path, metavar="LABELS_CSV", help="CSV with columns Image,Id")
    p.add_argument("images", type=Path, metavar="IMAGES_DIR", help="the folder of the photos it names")
    p.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        dest="methods",
        help="method to evaluate; repeat for several (default: seed, keypoints, embedding, default)",
    )
    p.add_argument("--seed-epochs", type=int, default=100, help="epochs for the seed CNN (default: 100)")
    p.add_argument(
        "--bundled-held-out",
        action="store_true",
        help="keep only the individuals the bundled model was not trained on (from its sidecar)",
    )
    p.add_argument(
        "--find-fluke", action="store_true",
        help="crop every photo to the fluke found in it, as import does; off by default "
        "because labelled sets such as the right-whale heads are cropped already",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per method")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # whalecat's own starts, stops and device choice are worth seeing; libraries' are not.
    logging.getLogger("whalecat").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.command is None:
        from whalecat.gui.app import run_gui

        return run_gui(args.catalogue, args.device)
    from sqlalchemy.exc import SQLAlchemyError

    from whalecat.imaging.io import ImageError
    from whalecat.matching.device import DeviceError
    from whalecat.training import TrainingError

    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except BrokenPipeError:
        # The reader (for example `head`) stopped reading, so the rest of the output is not
        # needed. Pointing stdout at devnull stops the final flush from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CatalogueError, ImageError, TrainingError, DeviceError, ValueError, OSError) as exc:
        print(f"whalecat {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        # A database that passed the check on opening can still fail later: a full disk, a
        # lock held too long, or damage in a page the check did not reach.
        print(f"whalecat {args.command}: error: the catalogue's database failed: {error_text(exc)}; "
              "if this repeats, restore catalogue.sqlite from a backup", file=sys.stderr)
        return 2


def _open(args, create: bool = False) -> Catalogue:
    """Open the --catalogue folder. Only `import` may create one: a mistyped path would
    otherwise give an empty catalogue that lists no whales and matches nothing."""
    from whalecat.catalogue.store import DATABASE_NAME, new_catalogue_problem

    folder = (args.catalogue or default_catalogue_path()).expanduser()
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
            raise CatalogueError(f"cannot make a new catalogue: {problem_text} {advice}")
    return Catalogue.open(folder)


class _ProgressPrinter:
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
    importer_log = logging.getLogger("whalecat.importing")
    level = importer_log.level
    if not args.verbose:
        # The report below names every file that failed and sums up the import.
        importer_log.setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        with _open(args, create=True) as catalogue:
            report = import_paths(
                catalogue, args.paths, args.labels, Progress(_ProgressPrinter()),
                find_fluke=not args.whole_photo,
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


def cmd_identify(args) -> int:
    from whalecat.catalogue.records import list_whales
    from whalecat.identification import Identifier
    from whalecat.imaging.io import ImageError, open_photo
    from whalecat.importing.files import find_files, no_photos_message
    from whalecat.matching.device import select_device

    if args.top < 1:
        raise ValueError(f"--top must be at least 1, not {args.top}")
    photos = find_files(args.photos).photos
    if not photos:
        raise ValueError(no_photos_message(args.photos))
    if len(photos) == 1:
        open_photo(photos[0])  # reject an unusable photo before TensorFlow takes seconds to load
    failed = 0
    with _open(args) as catalogue:
        with catalogue.session() as session:
            whales = sum(1 for whale in list_whales(session) if whale.photo_count)
            if not whales:
                raise ValueError(
                    f"the catalogue at {catalogue.folder} has no confirmed whales to match against; "
                    "import labelled photos (whalecat import --labels) or confirm photos in the window"
                )
        select_device(args.device)
        identifier = Identifier(catalogue, args.method, args.device, find_fluke=not args.whole_photo)
        # On a terminal the candidates themselves show how far it got.
        progress = _ProgressPrinter() if len(photos) > 1 and not sys.stdout.isatty() else None
        if args.csv:
            print("Image,Id")
        for number, photo in enumerate(photos):
            if progress is not None:
                progress(number, len(photos), photo.name)
            started = time.perf_counter()
            try:
                candidates = identifier.identify_file(photo, top=args.top)
            except ImageError as exc:
                if len(photos) == 1:
                    raise
                # One bad file on a card must not stop the others.
                failed += 1
                print(f"failed: {exc}", file=sys.stderr)
                continue
            _print_candidates(args, photo, candidates, time.perf_counter() - started, whales, number)
        if progress is not None:
            progress(len(photos), len(photos), "")
    if failed:
        print(f"{counted(failed, 'photo')} of {len(photos)} could not be identified", file=sys.stderr)
    return 1 if failed else 0


def _print_candidates(args, photo: Path, candidates, seconds: float, whales: int, number: int) -> None:
    """Print one photo's candidates as JSON, as a CSV row or as text, following the options."""
    from whalecat.matching.base import NEW_WHALE
    from whalecat.matching.methods import SHORTLIST
    from whalecat.matching.ranking import UNFITTED_NOTE, shown_confidence, unfitted

    if args.json:
        rows = [
            {"rank": rank, "label": candidate.label, "score": round(float(candidate.score), 6),
             "confidence": _rounded(shown_confidence(rank, candidate))}
            for rank, candidate in enumerate(candidates, start=1)
        ]
        print(json.dumps({"photo": str(photo), "candidates": rows, "seconds": seconds}), flush=True)
        return
    if args.csv:
        print(_csv_row(photo.name, " ".join(candidate.label for candidate in candidates)), flush=True)
        return
    if number == 0 and len(candidates) < args.top and args.method == "default" and whales + 1 > len(candidates):
        print(f"{len(candidates)} candidates: the default method ranks only the {SHORTLIST} whales "
              "most similar by embedding, and new_whale", file=sys.stderr)
    if number == 0 and unfitted(candidates):
        print(UNFITTED_NOTE, file=sys.stderr)
    if number > 0:
        print()
    print(f"{photo}: top {len(candidates)} by method {args.method} ({seconds:.2f} s)")
    width = max(len(candidate.label) for candidate in candidates) if candidates else 0
    for rank, candidate in enumerate(candidates, start=1):
        confidence = shown_confidence(rank, candidate)
        if candidate.label == NEW_WHALE:
            # new_whale's score is the threshold, so it is labelled as one, not as a score.
            if confidence is None:
                note = "; the whales below scored under it" if rank < len(candidates) else ""
            else:
                note = f"  confidence {confidence:.0%} that it is a new whale"
            print(f"{rank}. {candidate.label:<{width}}  threshold {candidate.score:.3f}{note}")
            continue
        suffix = f"  confidence {confidence:.0%}" if confidence is not None else ""
        print(f"{rank}. {candidate.label:<{width}}  score {candidate.score:.3f}{suffix}", flush=True)


def _csv_row(*values: str) -> str:
    """Return one CSV line, quoting values that need it, as the labels and export files do."""
    import csv
    import io

    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(values)
    return line.getvalue()


def _rounded(confidence: float | None) -> float | None:
    return None if confidence is None else round(confidence, 4)


def _imported_photo_id(catalogue, path: Path, absent: str = "") -> int:
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
        f"(from {folders}); give the photo file itself"
    )


def cmd_rotate(args) -> int:
    from whalecat.catalogue.orientation import turn_photo

    with _open(args) as catalogue:
        photo_id = _imported_photo_id(catalogue, args.photo)
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

    with _open(args) as catalogue:
        removed = remove_photo(catalogue, _imported_photo_id(catalogue, args.photo, "so there is nothing to remove"))
    kept = [catalogue.folder / copy for original, copy in removed.moved if original == removed.photo["stored_name"]]
    if kept:
        print(f"{args.photo.name}: removed from the catalogue; its copy is kept as {kept[0]}")
    else:
        print(f"{args.photo.name}: removed from the catalogue; its copy was already missing from photos/")
    for whale_id in removed.left_empty:
        print(f"{whale_id} had no other photo, so it left the whale list; to bring it back, import "
              f"{kept[0] if kept else 'the photo'} again and confirm it as {whale_id}")
    return 0


def cmd_check(args) -> int:
    from whalecat.catalogue.check import check_catalogue
    from whalecat.progress import Progress

    with _open(args) as catalogue:
        report = check_catalogue(catalogue, repair=args.repair, progress=Progress(_ProgressPrinter()))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in report.lines():
        print(line)
    print(report.summary())
    return 1 if report.problems else 0


def cmd_whales(args) -> int:
    from whalecat.catalogue.records import confirmed_labels, list_whales, unidentified_photos

    with _open(args) as catalogue, catalogue.session() as session:
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
    from whalecat.export import export_identifications, write_export

    with _open(args) as catalogue, catalogue.session() as session:
        if str(args.out) == "-":
            count = write_export(session, sys.stdout, args.format)
            print(f"wrote {counted(count, 'row')} to standard output", file=sys.stderr)
            return 0
        if args.out.is_file() and not args.force:
            # It may be the labels file this catalogue was imported from.
            raise ValueError(f"{args.out} exists; add --force to replace it, or name another file")
        count = export_identifications(session, args.out, args.format)
    print(f"wrote {counted(count, 'row')} to {args.out}")
    return 0


def cmd_train(args) -> int:
    # oneDNN trained the seed CNN four times faster on CPU. It stays off in processes that
    # hold other work (see whalecat.matching.device), but a training process risks only itself.
    from whalecat.matching.device import ONEDNN_VARIABLE

    os.environ.setdefault(ONEDNN_VARIABLE, "1")
    from whalecat.training import train_catalogue_model
    from whalecat.progress import Progress

    if args.report == "json":
        from whalecat.training_process import ORPHAN_EXIT_AFTER_S, serve

        with _open(args) as catalogue:
            return serve(catalogue, args.model, args.epochs, args.device, args.activate,
                         orphan_exit_after=ORPHAN_EXIT_AFTER_S)
    with _open(args) as catalogue:
        result = train_catalogue_model(
            catalogue,
            kind=args.model,
            epochs=args.epochs,
            device=args.device,
            activate=args.activate,
            progress=Progress(_ProgressPrinter()),
        )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(result.summary())
    return 0


def cmd_models(args) -> int:
    from whalecat.matching.versions import BUNDLED_VERSION, list_versions, set_active_version

    with _open(args) as catalogue:
        if args.action == "activate":
            next_step = (
                f"run 'whalecat --catalogue {catalogue.folder} models' to list the versions "
                f"('{BUNDLED_VERSION}' is the model shipped with whalecat)"
            )
            if not args.version:
                raise ValueError(f"models activate needs a VERSION; {next_step}")
            try:
                set_active_version(catalogue, args.version)
            except ValueError as exc:
                # set_active_version raises ValueError only when the version is not found.
                raise ValueError(f"{exc}; {next_step}") from exc
            print(f"active model: {args.version}")
            return 0
        for line in list_versions(catalogue):
            print(line)
    return 0


def cmd_evaluate(args) -> int:
    from whalecat.evaluation.runner import bundled_held_out_ids, evaluate, format_table
    from whalecat.matching.device import select_device
    from whalecat.progress import Progress

    methods = args.methods or ["seed", "keypoints", "embedding", "default"]
    for path in (args.labels, args.images):
        if not path.exists():
            raise ValueError(f"{path} not found")
    select_device(args.device)
    results = evaluate(
        args.labels,
        args.images,
        methods,
        Progress(_ProgressPrinter()),
        seed_epochs=args.seed_epochs,
        device=args.device,
        only_ids=bundled_held_out_ids() if args.bundled_held_out else None,
        find_fluke=args.find_fluke,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


COMMANDS = {
    "import": cmd_import,
    "identify": cmd_identify,
    "rotate": cmd_rotate,
    "remove": cmd_remove,
    "check": cmd_check,
    "whales": cmd_whales,
    "export": cmd_export,
    "train": cmd_train,
    "models": cmd_models,
    "evaluate": cmd_evaluate,
}
