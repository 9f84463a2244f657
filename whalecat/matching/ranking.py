"""Ranking whales by their best photo, fusing scores, and placing `new_whale`.

`new_whale` needs a score threshold: below it, the best catalogued whale is more likely a
stranger than a match. The threshold is calibrated on the gallery itself, never on the
labels of queries. Each photo of a whale with two or more photos is treated once as a
query. Its best score to the other photos of its own whale is what a match scores, and its
best score to every other whale is what a stranger scores. The threshold is the score that best separates
the two (maximum balanced accuracy), so it follows the model and the catalogue it is used on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from whalecat.matching.base import NEW_WHALE, Candidate, GalleryPhoto

# Used until the gallery has a whale with two photos. Cosine similarity of unit vectors.
DEFAULT_THRESHOLD = 0.5
DEFAULT_SPREAD = 0.1
MIN_CALIBRATION_PAIRS = 3


@dataclass(frozen=True)
class WhaleScore:
    """A catalogued whale's score for one query: that of its best-matching photo."""

    whale_id: str
    score: float
    best_photo_key: str
    details: dict | None = None


@dataclass(frozen=True)
class Calibration:
    """The `new_whale` threshold and the scale that turns a score into a confidence."""

    threshold: float
    spread: float
    match_scores: int = 0  # how many gallery photos the threshold was fitted on
    source: str = "default"

    @classmethod
    def default(cls) -> "Calibration":
        return cls(DEFAULT_THRESHOLD, DEFAULT_SPREAD)

    def confidence(self, score: float) -> float:
        """Return the 0..1 confidence that a whale scoring `score` is the query's whale.

        A logistic curve centred on the threshold (0.5 there) whose slope comes from the
        spread of the calibration scores. It is monotonic but not a fitted probability.
        """
        z = (score - self.threshold) / max(self.spread, 1e-6)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def __str__(self) -> str:
        return (
            f"new_whale threshold {self.threshold:.3f} (spread {self.spread:.3f}, "
            f"{self.source}, {self.match_scores} photos)"
        )


def best_per_whale(
    scores: np.ndarray,
    photos: Sequence[GalleryPhoto],
    exclude_keys: frozenset[str] = frozenset(),
    limit: int | None = None,
) -> list[WhaleScore]:
    """Return every whale's best-photo score for one query, best first.

    `scores[i]` belongs to `photos[i]`; photos whose key is in `exclude_keys` are skipped.
    With `limit`, only the best `limit` whales are returned, which visits photos in score
    order and stops early: a 25,000-photo catalogue then costs a sort, not a Python loop.
    """
    scores = np.asarray(scores, dtype=float)
    best: dict[str, WhaleScore] = {}
    for index in np.argsort(-scores, kind="stable"):
        photo = photos[index]
        if photo.key in exclude_keys or photo.whale_id in best:
            continue
        best[photo.whale_id] = WhaleScore(photo.whale_id, float(scores[index]), photo.key)
        if limit is not None and len(best) >= limit:
            break
    return sorted(best.values(), key=lambda whale: (-whale.score, whale.whale_id))


def leave_one_out_scores(
    similarity: np.ndarray, whale_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (match, stranger) best scores of each photo whose whale has other photos.

    `similarity` is the square photo-by-photo score matrix of the gallery. For photo i,
    the match score is its best score to another photo of its whale and the stranger score
    its best score to a photo of any other whale.
    """
    ids = np.asarray(whale_ids)
    size = len(ids)
    if size < 2:
        return np.zeros(0), np.zeros(0)
    same = ids[:, None] == ids[None, :]
    np.fill_diagonal(same, False)
    other = ids[:, None] != ids[None, :]
    has_partner = same.any(axis=1) & other.any(axis=1)
    matrix = np.asarray(similarity, dtype=float)
    match = np.where(same, matrix, -np.inf).max(axis=1)[has_partner]
    stranger = np.where(other, matrix, -np.inf).max(axis=1)[has_partner]
    return match, stranger


def fit_threshold(match: np.ndarray, stranger: np.ndarray, source: str = "gallery") -> Calibration:
    """Pick the threshold with the best balanced accuracy between match and stranger scores."""
    if len(match) < MIN_CALIBRATION_PAIRS:
        return Calibration.default()
    candidates = np.unique(np.concatenate([match, stranger]))
    # Midpoints between observed scores, so the threshold never sits on a sample.
    cuts = np.concatenate([[candidates[0] - 1e-6], (candidates[:-1] + candidates[1:]) / 2])
    true_positive = (match[None, :] >= cuts[:, None]).mean(axis=1)
    true_negative = (stranger[None, :] < cuts[:, None]).mean(axis=1)
    balanced = (true_positive + true_negative) / 2
    # Several cuts can tie, so take the middle of the best plateau.
    best = np.flatnonzero(balanced >= balanced.max() - 1e-9)
    threshold = float(np.median(cuts[best]))
    spread = float(np.std(np.concatenate([match, stranger]))) / 2 or DEFAULT_SPREAD
    return Calibration(threshold, spread, len(match), source)


def calibrate(vectors: np.ndarray, whale_ids: Sequence[str]) -> Calibration:
    """Calibrate the cosine-similarity threshold on a gallery's own unit vectors."""
    if len(vectors) < 2:
        return Calibration.default()
    match, stranger = leave_one_out_scores(vectors @ vectors.T, whale_ids)
    return fit_threshold(match, stranger)


def to_candidates(
    whales: Sequence[WhaleScore], calibration: Calibration, top: int = 5, method: str = ""
) -> list[Candidate]:
    """Return the `top` labels best first, with `new_whale` placed at the threshold.

    Whales scoring at or above the threshold rank before `new_whale`. Every candidate's
    details carry its confidence; `new_whale` gets one minus the best whale's confidence.
    With a default threshold, fitted on no catalogue photo, the confidences are None.
    """
    # A default threshold still orders whales against new_whale, but a percentage from it
    # would look measured when nothing was fitted, so those candidates get no confidence.
    # The keypoints method's fixed inlier count is a deliberate setting, not a stand-in.
    fitted = calibration.match_scores > 0 or calibration.source != "default"

    def confidence(score: float) -> float | None:
        return calibration.confidence(score) if fitted else None

    best_confidence = calibration.confidence(whales[0].score) if whales else 0.0
    new_whale = Candidate(
        NEW_WHALE,
        calibration.threshold,
        None,
        {"confidence": 1.0 - best_confidence if fitted else None, "method": method,
         "calibrated_on": calibration.match_scores, "fitted": fitted},
    )
    candidates: list[Candidate] = []
    placed = False
    for whale in whales:
        if not placed and whale.score < calibration.threshold:
            candidates.append(new_whale)
            placed = True
        details = {"confidence": confidence(whale.score), "method": method, "fitted": fitted}
        details.update(whale.details or {})
        candidates.append(Candidate(whale.whale_id, whale.score, whale.best_photo_key, details))
        if len(candidates) >= top + 1:
            break
    if not placed:
        candidates.insert(min(len(candidates), top - 1), new_whale)
    return candidates[:top]


UNFITTED_NOTE = (
    "no confidences yet: the new_whale threshold is a default until more whales in the "
    "catalogue have two or more confirmed photos"
)


def unfitted(candidates: Sequence[Candidate]) -> bool:
    """Tell whether candidates were ranked with the default threshold, fitted on no photo."""
    return any(candidate.details.get("fitted") is False for candidate in candidates)


def shown_confidence(rank: int, candidate: Candidate) -> float | None:
    """Return the confidence to show beside a candidate at `rank` (1 = first), or None.

    `new_whale`'s confidence is one minus the best whale's, so it means something only when
    `new_whale` ranks first. Lower down it would read as less than the whales under it, which
    scored below the threshold; there `new_whale` only marks the threshold.
    """
    value = candidate.details.get("confidence")
    if value is None or (candidate.label == NEW_WHALE and rank > 1):
        return None
    return float(value)


def fuse(cosine: float, inliers: int, floor: float = 0.0, saturation: int = 40) -> float:
    """Combine an embedding cosine similarity and a keypoint inlier count into one score.

    Only the inliers above `floor`, the count that unrelated photos already reach, add to the
    score. They add up to 1.0, growing with their log until `saturation` above the floor,
    because a few geometric inliers are strong evidence and hundreds add little. The
    saturation is an estimate, not a fitted value.
    """
    counted = max(inliers - floor, 0.0)
    keypoint_term = min(math.log1p(counted) / math.log1p(saturation), 1.0)
    return float(cosine) + keypoint_term


def group_by_whale(photos: Sequence[GalleryPhoto]) -> dict[str, list[int]]:
    """Return the indices of each whale's photos, in gallery order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, photo in enumerate(photos):
        groups[photo.whale_id].append(index)
    return dict(groups)
