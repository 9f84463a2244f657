"""The catalogue replay split and the metrics every method is scored with.

Split: photos are grouped by individual and naturally sorted by file name. About a fifth of
the individuals (chosen by a hash of the id, so the choice never depends on the data set's
order or size) are unseen: all their photos are queries whose right answer is `new_whale`.
Every other individual contributes its first ceil(n/2) photos to the catalogue and the rest
as queries answered by its id, so a whale with one photo is in the catalogue only.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from whalecat.matching.base import NEW_WHALE

UNSEEN_MODULUS = 5
MAP_DEPTH = 5


@dataclass(frozen=True)
class LabelledPhoto:
    """One row of a labels file: the image's file name and its individual's id."""

    image: str
    whale_id: str


@dataclass(frozen=True)
class Query:
    """A photo to identify and the label a perfect method puts first."""

    image: str
    answer: str  # a catalogue whale id, or NEW_WHALE for an unseen individual


@dataclass(frozen=True)
class Split:
    catalogue: list[LabelledPhoto]
    queries: list[Query]


def natural_key(name: str) -> list:
    """Return a sort key that orders digit runs by value, so `w_2.jpg` sorts before `w_10.jpg`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_unseen(whale_id: str) -> bool:
    """Return True for the individuals whose photos are all held back as `new_whale` queries."""
    digest = hashlib.sha1(("unseen:" + whale_id).encode("utf-8")).hexdigest()
    return int(digest, 16) % UNSEEN_MODULUS == 0


def read_labels(labels_csv: Path | str) -> list[LabelledPhoto]:
    """Read an `Image,Id` file, skipping rows with an empty id or the `new_whale` id.

    Raises LabelsError (a ValueError) naming the file for a missing file or a wrong header.
    """
    from whalecat.importing.labels import read_labels as read_label_map

    return [
        LabelledPhoto(image, whale_id)
        for image, whale_id in read_label_map(labels_csv).items()
        if whale_id != NEW_WHALE
    ]


def split_catalogue(photos: Iterable[LabelledPhoto]) -> Split:
    """Split labelled photos into the catalogue and the queries by the rules in the module docstring."""
    by_whale: dict[str, list[str]] = defaultdict(list)
    for photo in photos:
        if photo.whale_id and photo.whale_id != NEW_WHALE:
            by_whale[photo.whale_id].append(photo.image)

    catalogue: list[LabelledPhoto] = []
    queries: list[Query] = []
    for whale_id in sorted(by_whale):
        images = sorted(by_whale[whale_id], key=natural_key)
        if is_unseen(whale_id):
            queries.extend(Query(image, NEW_WHALE) for image in images)
            continue
        catalogue_count = math.ceil(len(images) / 2)
        catalogue.extend(LabelledPhoto(image, whale_id) for image in images[:catalogue_count])
        queries.extend(Query(image, whale_id) for image in images[catalogue_count:])
    return Split(catalogue, queries)


def score_queries(answers: Sequence[str], predictions: Sequence[Sequence[str]]) -> dict:
    """Score ranked label lists against the right answers.

    Returns `map5` (mean of 1/rank of the right label within the first five, else 0), `top1`,
    `top5`, `known_top5` (top-5 over queries whose answer is a catalogue whale), and the
    precision and recall of `new_whale` as the first label, plus the query counts. A metric
    with no query to average over is NaN.
    """
    if len(answers) != len(predictions):
        raise ValueError(
            f"got {len(answers)} answers but {len(predictions)} predictions; they must pair up"
        )
    reciprocal_ranks = []
    known_hits = []
    new_predicted = new_correct = 0
    for answer, ranked in zip(answers, predictions):
        ranked = list(ranked)[:MAP_DEPTH]
        rank = ranked.index(answer) + 1 if answer in ranked else None
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        if answer != NEW_WHALE:
            known_hits.append(rank is not None)
        first = ranked[0] if ranked else None
        if first == NEW_WHALE:
            new_predicted += 1
            new_correct += answer == NEW_WHALE

    count = len(answers)
    queries_new = sum(answer == NEW_WHALE for answer in answers)
    return {
        "map5": _mean(reciprocal_ranks),
        "top1": _mean([rr == 1.0 for rr in reciprocal_ranks]),
        "top5": _mean([rr > 0 for rr in reciprocal_ranks]),
        "known_top5": _mean(known_hits),
        "new_precision": new_correct / new_predicted if new_predicted else math.nan,
        "new_recall": new_correct / queries_new if queries_new else math.nan,
        "queries_known": count - queries_new,
        "queries_new": queries_new,
    }


def best_new_whale_cut(answers: Sequence[str], best_scores: Sequence[float]) -> dict:
    """Return `new_whale`'s precision and recall at the threshold that suits the answers best.

    A diagnostic, not a method: no method may see the answers. A query counts as `new_whale`
    when its best whale scores below the threshold, and the threshold chosen maximizes the
    lower of precision and recall. When this pair stays low, calibrating the threshold
    cannot help, because the best scores of known and new queries overlap.
    """
    is_new = [answer == NEW_WHALE for answer in answers]
    queries_new = sum(is_new)
    best = {"new_precision_best_cut": math.nan, "new_recall_best_cut": math.nan}
    if not queries_new:
        return best
    pairs = sorted(zip(best_scores, is_new))
    best_pair = (-1.0, -1.0)
    called = correct = 0
    # Cutting just above the i-th lowest score calls the i lowest queries new_whale.
    for index, (score, new) in enumerate(pairs):
        called += 1
        correct += new
        if index + 1 < len(pairs) and pairs[index + 1][0] == score:
            continue  # a threshold cannot split equal scores
        pair = (correct / called, correct / queries_new)
        if (min(pair), sum(pair)) > (min(best_pair), sum(best_pair)):
            best_pair = pair
    best["new_precision_best_cut"], best["new_recall_best_cut"] = best_pair
    return best


def _mean(values: Sequence[float | bool]) -> float:
    return sum(values) / len(values) if values else math.nan
