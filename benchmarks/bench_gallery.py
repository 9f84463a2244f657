"""Time the gallery check that comes before each identification, on a catalogue of 25,000 photos.

    python benchmarks/bench_gallery.py [--whales 10000] [--photos 25000] [--folder DIR]

Every identification first makes sure its gallery (the photos confirmed as known whales) is
current, and the window also computes the selected photo's `candidates_key`. This script
makes a catalogue of confirmed photo rows with empty files for copies (the check reads rows
and file names, never pixels), then prints the median of five calls of each, while nothing
changes and right after a confirmation. Matching itself is timed by bench_search.py.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Identification, Photo, Whale
from whalecat.catalogue.records import confirm_label
from whalecat.identification import Identifier, candidates_key
from whalecat.matching.base import Candidate


class NoMatching:
    """A method that matches nothing, so the figures are the gallery check alone."""

    name = "none"
    version = "1"

    def prepare(self, gallery, progress) -> None:
        pass

    def query(self, image, top=5, exclude_keys=frozenset()):
        return [Candidate("w_00000", 1.0)]


def fill(catalogue: Catalogue, whales: int, photos: int) -> None:
    with catalogue.session() as session:
        session.add_all(Whale(id=f"w_{number:05d}") for number in range(whales))
        for number in range(photos):
            stored = f"photos/{number:064x}.jpg"
            (catalogue.folder / stored).touch()
            photo = Photo(sha256=f"{number:064x}", stored_name=stored, original_name=f"IMG_{number}.jpg",
                          original_folder="/card", format="JPEG", width=800, height=400,
                          crop_left=10, crop_top=10, crop_right=700, crop_bottom=300)
            session.add(photo)
            session.flush()
            session.add(Identification(photo_id=photo.id, whale_id=f"w_{number % whales:05d}",
                                       status="confirmed", method="manual"))
        # One unconfirmed photo, confirmed during the timing to change the gallery.
        session.add(Photo(sha256="f" * 64, stored_name="photos/last.jpg", original_name="last.jpg",
                          original_folder="/card", format="JPEG", width=800, height=400))
        (catalogue.folder / "photos" / "last.jpg").touch()
        session.commit()


def median_ms(call, times: int = 5) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whales", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=25_000)
    parser.add_argument("--folder", type=Path, help="where to make the catalogue (default: a temporary folder)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch) / "catalogue"
        with Catalogue.open(folder) as catalogue:
            started = time.perf_counter()
            fill(catalogue, args.whales, args.photos)
            print(f"made {args.photos} confirmed photos of {args.whales} whales in {time.perf_counter() - started:.1f} s")
            gallery = Identifier(catalogue, method=NoMatching()).prepare
            key = functools.partial(candidates_key, catalogue, args.photos + 1)  # the unconfirmed photo
            print(f"first gallery build: {median_ms(gallery, 1):.1f} ms; first candidates_key: {median_ms(key, 1):.1f} ms")
            print(f"gallery check, nothing changed: median {median_ms(gallery):.1f} ms")
            print(f"candidates_key, nothing changed: median {median_ms(key):.1f} ms")
            with catalogue.session() as session:
                confirm_label(session, args.photos + 1, "w_00001")
            print(f"gallery check after a confirmation: {median_ms(gallery, 1):.1f} ms")
            print(f"candidates_key after a confirmation: {median_ms(key, 1):.1f} ms")


if __name__ == "__main__":
    main()
