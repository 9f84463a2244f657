"""Time the wait for the next photo's candidates after each confirmation, as on a card.

    python benchmarks/bench_confirm.py [--whales 150] [--photos-per-whale 3] [--card 6]

Imports right-whale photos from ../shared/data/rightwhale, whole and labelled, as last year's
catalogue, plus a card of unlabelled photos of the same whales. Then it works through the card
as the window does: identify a photo, confirm it as its right whale, identify the next. Each
confirmation changes the gallery, so the default method prepares again before the next
identification. The card is worked through twice: keeping the new_whale calibration, as the
app does, and calibrating again after every confirmation, as it did before.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import confirm_label
from whalecat.identification import Identifier
from whalecat.importing import import_paths
from whalecat.matching import methods

RIGHT_WHALES = Path(__file__).resolve().parents[2] / "shared" / "data" / "rightwhale"


def choose_photos(whales: int, per_whale: int, card: int) -> tuple[dict[str, str], dict[str, str]]:
    """Return ({file name: whale id} for the catalogue, the same for the card)."""
    by_whale: dict[str, list[str]] = defaultdict(list)
    with open(RIGHT_WHALES / "labels.csv", newline="") as stream:
        for row in csv.DictReader(stream):
            by_whale[row["Id"]].append(row["Image"])
    chosen = [whale for whale in sorted(by_whale) if len(by_whale[whale]) > per_whale][:whales]
    catalogue = {name: whale for whale in chosen for name in sorted(by_whale[whale])[:per_whale]}
    later = {sorted(by_whale[whale])[per_whale]: whale for whale in chosen[:card]}
    return catalogue, later


def work_through(catalogue: Catalogue, card: dict[str, int], answers: dict[str, str]) -> list[float]:
    """Identify and confirm each card photo in turn; return the seconds each identification took."""
    identifier = Identifier(catalogue)
    seconds = []
    for name, photo_id in card.items():
        started = time.perf_counter()
        identifier.identify_photo(photo_id, record=False)
        seconds.append(time.perf_counter() - started)
        with catalogue.session() as session:
            confirm_label(session, photo_id, answers[name], method="manual")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whales", type=int, default=150)
    parser.add_argument("--photos-per-whale", type=int, default=3)
    parser.add_argument("--card", type=int, default=6)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    labelled, later = choose_photos(args.whales, args.photos_per_whale, args.card)

    for keep in (True, False):
        with tempfile.TemporaryDirectory() as folder:
            images = Path(folder) / "images"
            images.mkdir()
            for name in [*labelled, *later]:
                os.symlink(RIGHT_WHALES / "images" / name, images / name)
            labels = Path(folder) / "labels.csv"
            labels.write_text("Image,Id\n" + "".join(f"{name},{whale}\n" for name, whale in labelled.items()))
            with Catalogue.open(Path(folder) / "c") as catalogue:
                report = import_paths(catalogue, [images], labels, find_fluke=False)
                ids = dict(zip((name for name in sorted([*labelled, *later])), report.photo_ids))
                card = {name: ids[name] for name in later}
                kept_share = methods.RECALIBRATE_CHANGE
                if not keep:
                    methods.RECALIBRATE_CHANGE = 0.0  # any change calibrates again
                try:
                    seconds = work_through(catalogue, card, later)
                finally:
                    methods.RECALIBRATE_CHANGE = kept_share
            label = "calibration kept" if keep else "calibrated after every confirmation"
            print(f"{label}: {len(labelled)} catalogue photos; first identification {seconds[0]:.2f} s "
                  f"(model load, embedding, calibration); after each confirmation: median "
                  f"{statistics.median(seconds[1:]):.2f} s, max {max(seconds[1:]):.2f} s")


if __name__ == "__main__":
    main()
