"""The registry of matching methods, and the default one that combines them.

`default` shortlists the 20 whales whose best photo is most similar by embedding, re-ranks
them by fusing that cosine similarity with RootSIFT keypoint inliers, and places `new_whale`
by a threshold on the fused score calibrated on the gallery itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from whalecat.matching import ranking
from whalecat.matching.base import Candidate, Gallery, GalleryPhoto, Method
from whalecat.matching.embedding import EmbeddingMethod
from whalecat.matching.keypoints import KeypointMethod, extract_features, rerank
from whalecat.matching.seed_cnn import SeedMethod
from whalecat.progress import Progress

log = logging.getLogger(__name__)

SHORTLIST = 20
# Keypoint matching costs about 3 ms per photo pair on one CPU core (measured on 224 px
# right-whale crops), so 20 whales of at most 6 photos stay under 0.5 s per query.
PHOTOS_PER_WHALE = 6
# Calibration matches each photo against the most similar photos of this many other whales,
# because the best-scoring stranger is almost always among them.
CALIBRATION_STRANGERS = 3
# Calibration uses at most this many gallery photos, spread evenly over the gallery: a
# 2,702-photo catalogue otherwise spends minutes on keypoint matches before its first
# identification. An estimate of what a stable threshold needs, not a fitted value.
CALIBRATION_PHOTOS = 400
# The inlier floor is this quantile of the best stranger's inlier count over the calibration
# photos: keypoint pairs that the best wrong whale often reaches are weak evidence of a match.
INLIER_FLOOR_QUANTILE = 0.9
# NOTE: with fewer calibration photos than this, or none, the floor is the default, which is
# the floor calibrated on 230 right-whale photos. A few photos give a floor anywhere. 32 fluke
# photos, 8 of them calibrating, gave 2.1 while spray lent a wrong whale 6 pairs (measured
# before keypoints were described upright, when the default was 6). 4 photos gave 13.5, which
# dropped a whale found with 11 pairs below new_whale.
FLOOR_CALIBRATION_PHOTOS = 30
DEFAULT_INLIER_FLOOR = 8.0
# NOTE: the threshold stays the default until this many photos of whales with two or more
# photos can calibrate it. Fitted on 4 photos it moved from 0.5 to 1.07 with one confirmation
# and reordered other photos' candidates. An estimate, not a fitted value.
MIN_FITTED_PHOTOS = 10
# A calibration on this many photos or more is kept until this share of the gallery's photos
# has changed. Each confirmation changes the gallery, and calibrating again took 4 to 7 s on
# 150 photos and 19 s on 2,700 (2 CPU cores), before every next photo's candidates. One
# photo more moves a threshold fitted on hundreds little. Smaller galleries calibrate each time.
KEEP_CALIBRATION_PHOTOS = FLOOR_CALIBRATION_PHOTOS
RECALIBRATE_CHANGE = 0.1


class FusedMethod:
    """Embedding shortlist, keypoint re-ranking and a calibrated `new_whale` threshold."""

    name = "default"

    def __init__(self, embedding: EmbeddingMethod, keypoints: KeypointMethod | None = None,
                 shortlist: int = SHORTLIST):
        self.embedding = embedding
        self.keypoints = keypoints or KeypointMethod()
        self.shortlist = shortlist
        self.version = f"fused-{embedding.version}-{self.keypoints.version}-s{shortlist}"
        self.photos_by_whale: dict[str, list[GalleryPhoto]] = {}
        self.calibration = ranking.Calibration.default()
        self.inlier_floor = 0.0
        self._calibrated_on: frozenset[tuple[str, str]] = frozenset()  # (cache key, whale id)

    def prepare(self, gallery: Gallery, progress: Progress | None = None) -> None:
        progress = progress or Progress()
        self.embedding.prepare(gallery, progress)
        self.keypoints.prepare(gallery, progress)
        self.photos_by_whale = {}
        for photo in gallery.photos:
            self.photos_by_whale.setdefault(photo.whale_id, []).append(photo)
        photos = frozenset((photo.cache_key, photo.whale_id) for photo in gallery.photos)
        if self._calibration_still_holds(photos):
            log.info("Default method ready, calibration kept: %s, inlier floor %.1f",
                     self.calibration, self.inlier_floor)
            return
        self.calibration = self._calibrate(progress)
        self._calibrated_on = photos
        log.info("Default method ready: %s, inlier floor %.1f", self.calibration, self.inlier_floor)

    def _calibration_still_holds(self, photos: frozenset[tuple[str, str]]) -> bool:
        """Tell whether the current calibration may serve a gallery of `photos`."""
        if self.calibration.match_scores < KEEP_CALIBRATION_PHOTOS or not self._calibrated_on:
            return False
        changed = len(photos ^ self._calibrated_on)
        return changed < RECALIBRATE_CHANGE * len(self._calibrated_on)

    def _calibrate(self, progress: Progress) -> ranking.Calibration:
        """Fit the inlier floor and the threshold on leave-one-out scores of the gallery's own photos."""
        # A new catalogue often has no whale with two photos, and spray still lends strangers pairs.
        self.inlier_floor = DEFAULT_INLIER_FLOOR
        photos = self.embedding.photos
        vectors = self.embedding.vectors
        if len(photos) < 2 or len(self.photos_by_whale) < 2:
            return ranking.Calibration.default()
        similarity = vectors @ vectors.T
        own_matches, stranger_matches = [], []
        with_partner = [
            index for index, photo in enumerate(photos)
            if len(self.photos_by_whale[photo.whale_id]) > 1
        ]
        if len(with_partner) < MIN_FITTED_PHOTOS:
            return ranking.Calibration.default()
        step = max(len(with_partner) / CALIBRATION_PHOTOS, 1.0)
        count = min(len(with_partner), CALIBRATION_PHOTOS)
        chosen = sorted({with_partner[int(number * step)] for number in range(count)})
        for done, index in enumerate(chosen, start=1):
            progress.check()
            photo = photos[index]
            own = [p for p in self.photos_by_whale[photo.whale_id] if p.key != photo.key]
            whales = ranking.best_per_whale(similarity[index], photos, frozenset({photo.key}))
            query = self.keypoints.features[photo.cache_key]
            order = dict(zip((p.key for p in photos), similarity[index]))
            own_whale = [w for w in whales if w.whale_id == photo.whale_id]
            strangers = [w for w in whales if w.whale_id != photo.whale_id][:CALIBRATION_STRANGERS]
            own_matches.append(rerank(query, own_whale, {photo.whale_id: own},
                                      self.keypoints.features, PHOTOS_PER_WHALE, order)[0])
            stranger_matches.append(rerank(query, strangers, self.photos_by_whale,
                                           self.keypoints.features, PHOTOS_PER_WHALE, order))
            progress.report(done, len(chosen), "Calibrating new_whale threshold")
        if not own_matches:
            return ranking.Calibration.default()
        best_stranger_inliers = [max(w.details["inliers"] for w in whales) for whales in stranger_matches]
        calibrated = float(np.quantile(best_stranger_inliers, INLIER_FLOOR_QUANTILE))
        if len(best_stranger_inliers) >= FLOOR_CALIBRATION_PHOTOS:
            self.inlier_floor = calibrated

        def fused(whale: ranking.WhaleScore) -> float:
            return ranking.fuse(whale.details["cosine"], whale.details["inliers"], self.inlier_floor)

        match_scores = [fused(whale) for whale in own_matches]
        stranger_scores = [max(fused(whale) for whale in whales) for whales in stranger_matches]
        return ranking.fit_threshold(np.array(match_scores), np.array(stranger_scores),
                                     source="gallery, fused")

    def query(
        self, image: Image.Image, top: int = 5, exclude_keys: frozenset[str] = frozenset()
    ) -> list[Candidate]:
        scores = self.embedding.similarities(image)
        shortlist = ranking.best_per_whale(
            scores, self.embedding.photos, exclude_keys, limit=self.shortlist
        )
        views = {
            whale_id: [p for p in photos if p.key not in exclude_keys]
            for whale_id, photos in self.photos_by_whale.items()
        }
        order = dict(zip((p.key for p in self.embedding.photos), scores))
        fused = rerank(extract_features(image), shortlist, views, self.keypoints.features,
                       PHOTOS_PER_WHALE, order, self.inlier_floor)
        return ranking.to_candidates(fused, self.calibration, top, method=self.name)


METHOD_NAMES = ("default", "embedding", "keypoints", "seed")


def available_methods() -> list[str]:
    """Return the names `create_method` accepts, the recommended one first."""
    return list(METHOD_NAMES)


def create_method(
    name: str,
    *,
    cache_dir: Path | str | None = None,
    device: str = "auto",
    model_path: Path | str | None = None,
    keypoints: KeypointMethod | None = None,
) -> Method:
    """Create a matching method by name; `model_path` overrides the bundled embedding model.

    `cache_dir` (a catalogue's `cache/` folder) keeps per-photo embedding vectors and
    keypoint features between runs. `default` shares `keypoints` when given: keypoint
    features do not depend on the model, so a method made for a new model reuses them.
    Raises ValueError for an unknown name.
    """
    vectors = Path(cache_dir) / "vectors" if cache_dir else None
    keypoints_dir = Path(cache_dir) / "keypoints" if cache_dir else None
    if name == "seed":
        return SeedMethod(device=device)
    if name == "keypoints":
        return KeypointMethod(keypoints_dir)
    if name == "embedding":
        return EmbeddingMethod(model_path, cache_dir=vectors, device=device)
    if name == "default":
        return FusedMethod(
            EmbeddingMethod(model_path, cache_dir=vectors, device=device),
            keypoints or KeypointMethod(keypoints_dir),
        )
    raise ValueError(f"unknown matching method {name!r}; choose one of {', '.join(METHOD_NAMES)}")
