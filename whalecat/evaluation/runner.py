"""Replay a labelled photo set as a catalogue and score matching methods on it."""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Sequence

from whalecat.catalogue import Catalogue
from whalecat.evaluation.protocol import (
    LabelledPhoto,
    best_new_whale_cut,
    read_labels,
    score_queries,
    split_catalogue,
)
from whalecat.identification import Identifier, build_gallery
from whalecat.importing import import_paths
from whalecat.importing.labels import write_labels
from whalecat.matching.base import NEW_WHALE, Method
from whalecat.progress import Progress
from whalecat.text import counted

log = logging.getLogger(__name__)

COLUMNS = [
    ("method", "method", "{}"),
    ("map5", "MAP@5", "{:.3f}"),
    ("top1", "top-1", "{:.3f}"),
    ("top5", "top-5", "{:.3f}"),
    ("known_top5", "known top-5", "{:.3f}"),
    ("new_precision", "new P", "{:.3f}"),
    ("new_recall", "new R", "{:.3f}"),
    ("new_precision_best_cut", "best-cut P", "{:.3f}"),
    ("new_recall_best_cut", "best-cut R", "{:.3f}"),
    ("seconds_per_query", "s/query", "{:.3f}"),
    ("train_seconds", "prepare s", "{:.1f}"),
]


def import_catalogue_part(
    catalogue: Catalogue,
    photos: Sequence[LabelledPhoto],
    images_dir: Path,
    progress: Progress,
    find_fluke: bool = False,
) -> None:
    """Import the catalogue part with its labels, through the app's own importer."""
    labels = catalogue.folder / "replay-labels.csv"
    write_labels(labels, [(photo.image, photo.whale_id) for photo in photos])
    report = import_paths(
        catalogue, [images_dir / photo.image for photo in photos], labels, progress,
        find_fluke=find_fluke,
    )
    if report.failed:
        path, reason = report.failed[0]
        count = len(report.failed)
        raise ValueError(
            f"{counted(count, 'catalogue photo')} failed to import, first {path}: {reason}"
        )


def evaluate(
    labels_csv: Path | str,
    images_dir: Path | str,
    methods: Sequence[str | Method],
    progress: Progress | None = None,
    *,
    seed_epochs: int = 100,
    device: str = "auto",
    only_ids: set[str] | None = None,
    find_fluke: bool = False,
) -> list[dict]:
    """Replay a labelled set as a catalogue, identify every query, and score each method.

    The catalogue part is imported into a temporary catalogue and each query is identified
    by `Identifier.identify_file`, the code the app runs. `methods` are names for
    `create_method` (or ready `Method` objects); `only_ids` keeps only those individuals.
    `find_fluke` crops every photo to `locate_fluke`'s box as the app's import does; it is
    off by default because labelled sets such as the right-whale heads are cropped already.
    Returns one dict per method with the keys of `score_queries` and `best_new_whale_cut`,
    plus `method`,
    `catalogue_photos`, `catalogue_whales`, `train_seconds` (time in `prepare`) and
    `seconds_per_query` (decoding, hashing and matching one query photo).
    """
    progress = progress or Progress()
    images_dir = Path(images_dir)
    photos = read_labels(labels_csv)
    if only_ids is not None:
        photos = [photo for photo in photos if photo.whale_id in only_ids]
    split = split_catalogue(photos)
    answers = [query.answer for query in split.queries]
    query_paths = [images_dir / query.image for query in split.queries]

    results = []
    with tempfile.TemporaryDirectory(prefix="whalecat-evaluate-") as folder:
        with Catalogue.open(Path(folder) / "catalogue") as catalogue:
            import_catalogue_part(catalogue, split.catalogue, images_dir, progress, find_fluke)
            gallery = build_gallery(catalogue)
            log.info(
                "Evaluating %d method(s): %d catalogue photos of %d whales, %d queries",
                len(methods), len(gallery.photos), len(gallery.whale_ids), len(answers),
            )
            for method in methods:
                if isinstance(method, str):
                    method = _create(method, catalogue, seed_epochs, device)
                identifier = Identifier(catalogue, method=method, find_fluke=find_fluke)
                started = time.perf_counter()
                identifier.prepare(progress)
                train_seconds = time.perf_counter() - started

                predictions, best_scores = [], []
                started = time.perf_counter()
                for done, path in enumerate(query_paths, start=1):
                    progress.check()
                    candidates = identifier.identify_file(path, top=5)
                    predictions.append([candidate.label for candidate in candidates])
                    whales = [candidate.score for candidate in candidates if candidate.label != NEW_WHALE]
                    best_scores.append(max(whales, default=-math.inf))
                    progress.report(done, len(query_paths), f"Evaluating {method.name}")
                query_seconds = time.perf_counter() - started

                scores = score_queries(answers, predictions)
                scores.update(best_new_whale_cut(answers, best_scores))
                scores.update(
                    method=method.name,
                    catalogue_photos=len(gallery.photos),
                    catalogue_whales=len(gallery.whale_ids),
                    train_seconds=train_seconds,
                    seconds_per_query=query_seconds / len(query_paths) if query_paths else math.nan,
                )
                log.info("Evaluated %s: %s", method.name, format_table([scores]).splitlines()[-1])
                results.append(scores)
    return results


def _create(name: str, catalogue: Catalogue, seed_epochs: int, device: str) -> Method:
    from whalecat.matching.methods import create_method
    from whalecat.matching.seed_cnn import SeedMethod

    if name == "seed":
        return SeedMethod(epochs=seed_epochs, device=device)
    return create_method(name, cache_dir=catalogue.cache_dir, device=device)


def bundled_held_out_ids() -> set[str]:
    """Return the individuals the bundled embedding model was not trained on."""
    from whalecat.matching.embedding import read_sidecar

    ids = read_sidecar().get("held_out", {}).get("ids")
    if not ids:
        raise ValueError("the bundled model's sidecar lists no held-out individuals")
    return set(ids)


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
