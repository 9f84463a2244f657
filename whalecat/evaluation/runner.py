"""Replay a labelled photo set as a catalogue and score matching methods on it."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path
from typing import Sequence

from whalecat.evaluation.protocol import LabelledPhoto, read_labels, score_queries, split_catalogue
from whalecat.imaging.io import open_photo
from whalecat.matching.base import Gallery, GalleryPhoto, Method
from whalecat.progress import Progress

log = logging.getLogger(__name__)

COLUMNS = [
    ("method", "method", "{}"),
    ("map5", "MAP@5", "{:.3f}"),
    ("top1", "top-1", "{:.3f}"),
    ("top5", "top-5", "{:.3f}"),
    ("known_top5", "known top-5", "{:.3f}"),
    ("new_precision", "new P", "{:.3f}"),
    ("new_recall", "new R", "{:.3f}"),
    ("seconds_per_query", "s/query", "{:.3f}"),
    ("train_seconds", "prepare s", "{:.1f}"),
]


def build_gallery(catalogue: Sequence[LabelledPhoto], images_dir: Path | str) -> Gallery:
    """Build the gallery a method is prepared on from the catalogue part of the split.

    Keys are sha256 of the file bytes, as the catalogue stores them. This is the one place
    to switch to importing into a real temporary catalogue.
    """
    images_dir = Path(images_dir)
    photos = []
    for photo in catalogue:
        path = images_dir / photo.image
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        photos.append(GalleryPhoto(key=key, whale_id=photo.whale_id, path=path))
    return Gallery(photos=photos, open_image=lambda photo: open_photo(photo.path))


def evaluate(
    labels_csv: Path | str,
    images_dir: Path | str,
    methods: Sequence[Method],
    progress: Progress | None = None,
) -> list[dict]:
    """Prepare each method on the catalogue part, query every held-back photo, and score.

    Returns one dict per method with the keys of `score_queries` plus `method`,
    `catalogue_photos`, `catalogue_whales`, `train_seconds` (time in `prepare`) and
    `seconds_per_query`.
    """
    progress = progress or Progress()
    split = split_catalogue(read_labels(labels_csv))
    gallery = build_gallery(split.catalogue, images_dir)
    answers = [query.answer for query in split.queries]
    query_images = [Path(images_dir) / query.image for query in split.queries]
    log.info(
        "Evaluating %d methods: %d catalogue photos of %d whales, %d queries",
        len(methods), len(gallery.photos), len(gallery.whale_ids), len(answers),
    )

    results = []
    for method in methods:
        started = time.perf_counter()
        method.prepare(gallery, progress)
        train_seconds = time.perf_counter() - started

        predictions = []
        query_seconds = 0.0
        for done, path in enumerate(query_images, start=1):
            progress.check()
            image = open_photo(path)
            started = time.perf_counter()
            candidates = method.query(image, top=5)
            query_seconds += time.perf_counter() - started
            predictions.append([candidate.label for candidate in candidates])
            progress.report(done, len(query_images), f"Evaluating {method.name}")

        scores = score_queries(answers, predictions)
        scores.update(
            method=method.name,
            catalogue_photos=len(gallery.photos),
            catalogue_whales=len(gallery.whale_ids),
            train_seconds=train_seconds,
            seconds_per_query=query_seconds / len(query_images) if query_images else math.nan,
        )
        log.info("Evaluated %s: %s", method.name, format_table([scores]).splitlines()[-1])
        results.append(scores)
    return results


def format_table(results: Sequence[dict]) -> str:
    """Return the results as a Markdown table, one row per method."""
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = []
    for result in results:
        cells = []
        for key, _, template in COLUMNS:
            value = result.get(key)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            cells.append("n/a" if missing else template.format(value))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows])


def main(argv: list[str] | None = None) -> int:
    """Run `evaluate` from the command line and print the table (until the CLI wraps it)."""
    import argparse
    import json

    from whalecat.matching.methods import available_methods, create_method

    parser = argparse.ArgumentParser(description="Score matching methods by catalogue replay.")
    parser.add_argument("--labels", type=Path, required=True, help="an Image,Id CSV file")
    parser.add_argument("--images", type=Path, required=True, help="the folder of the images")
    parser.add_argument("--methods", default=",".join(available_methods()),
                        help="comma-separated method names")
    parser.add_argument("--model", type=Path, help="embedding model instead of the bundled one")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    methods = [create_method(name.strip(), model_path=args.model)
               for name in args.methods.split(",")]
    results = evaluate(args.labels, args.images, methods)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
