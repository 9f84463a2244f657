"""The `whalecat` command line; with no command it opens the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from whalecat import __version__
from whalecat.catalogue import CatalogueError, default_catalogue_path
from whalecat.cli.catalogue_commands import cmd_check, cmd_export, cmd_import, cmd_remove, cmd_rotate, cmd_whales
from whalecat.cli.matching_commands import cmd_evaluate, cmd_identify, cmd_models, cmd_train
from whalecat.text import error_text

log = logging.getLogger(__name__)


DEVICES = ("auto", "cpu", "gpu")


# The names whalecat.matching.methods.create_method accepts; listed here so that parsing
# the command line does not import the matching code.
METHODS = ("default", "embedding", "keypoints", "seed")


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
        "photos", nargs="*", type=Path, metavar="PHOTO",
        help="a photo file, imported or not, or a folder of them; several may be given",
    )
    p.add_argument(
        "--unidentified", action="store_true",
        help="identify every unconfirmed photo in the catalogue instead, and store each one's "
        "candidates as suggestions, which the window's Unidentified list shows",
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
