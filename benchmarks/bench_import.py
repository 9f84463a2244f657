"""Time importing a folder of photos and identifying some or all of them, as whole operations.

    python benchmarks/bench_import.py [IMAGES_DIR] [--labels CSV] [--identify FILE_NAME ...] [--identify-all]

Defaults to the 492 real humpback flukes in ../shared/data/flukes. Each run uses a fresh
temporary catalogue. Prints wall-clock seconds; the identify time is reported twice, the
first call including TensorFlow's start, the model load and the catalogue's embedding,
later ones without. `--identify-all` then identifies every unconfirmed photo, as
Identify → Identify All Unidentified Photos does, and prints the time per photo.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from whalecat.catalogue import Catalogue
from whalecat.identification import Identifier, identify_unidentified
from whalecat.importing import import_paths
from whalecat.progress import Progress

FLUKES = Path(__file__).resolve().parents[2] / "shared" / "data" / "flukes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", type=Path, default=FLUKES / "images")
    parser.add_argument("--labels", type=Path, default=FLUKES / "labels.csv")
    parser.add_argument("--identify", nargs="*", default=["0000e88ab.jpg"])
    parser.add_argument("--identify-all", action="store_true", help="then identify every unconfirmed photo")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")

    with tempfile.TemporaryDirectory() as folder, Catalogue.open(Path(folder) / "c") as catalogue:
        started = time.perf_counter()
        report = import_paths(catalogue, [args.images], args.labels if args.labels.is_file() else None)
        seconds = time.perf_counter() - started
        print(f"import: {report.summary()} in {seconds:.2f} s "
              f"({1000 * seconds / max(report.imported, 1):.1f} ms per photo)")

        identifier = Identifier(catalogue)
        first = True
        for name in args.identify:
            path = args.images / name
            attempts = ("first (model load included)", "again") if first else ("cold", "again")
            first = False
            for attempt in attempts:
                started = time.perf_counter()
                candidates = identifier.identify_file(path)
                seconds = time.perf_counter() - started
                top = ", ".join(f"{c.label} {c.score:.2f}" for c in candidates)
                print(f"identify {name} {attempt}: {seconds:.2f} s -> {top}")
        if args.identify_all:
            started = time.perf_counter()
            batch = identify_unidentified(identifier, Progress())
            seconds = time.perf_counter() - started
            print(f"identify all: {batch.summary()} {len(batch.failed)} failed. {seconds:.2f} s "
                  f"({1000 * seconds / max(batch.identified, 1):.0f} ms per photo)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
