"""Best-photo ranking, score fusion and new_whale calibration on hand-made scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whalecat.matching import ranking
from whalecat.matching.base import NEW_WHALE, GalleryPhoto


def photo(key: str, whale_id: str) -> GalleryPhoto:
    return GalleryPhoto(key=key, whale_id=whale_id, path=Path(f"{key}.jpg"))


PHOTOS = [photo("a1", "A"), photo("a2", "A"), photo("b1", "B"), photo("c1", "C")]


def test_best_per_whale_takes_max_photo():
    whales = ranking.best_per_whale(np.array([0.2, 0.9, 0.5, 0.1]), PHOTOS)
    assert [w.whale_id for w in whales] == ["A", "B", "C"]
    assert whales[0].score == pytest.approx(0.9)
    assert whales[0].best_photo_key == "a2"


def test_best_per_whale_skips_excluded_keys():
    whales = ranking.best_per_whale(np.array([0.2, 0.9, 0.5, 0.1]), PHOTOS, frozenset({"a2"}))
    assert [w.whale_id for w in whales] == ["B", "A", "C"]
    assert whales[1].best_photo_key == "a1"


def test_leave_one_out_scores_hand_computed():
    similarity = np.array(
        [
            [1.0, 0.8, 0.3, 0.1],
            [0.8, 1.0, 0.6, 0.2],
            [0.3, 0.6, 1.0, 0.4],
            [0.1, 0.2, 0.4, 1.0],
        ]
    )
    match, stranger = ranking.leave_one_out_scores(similarity, ["A", "A", "B", "C"])
    # Only A's two photos have a partner of their own whale.
    assert match.tolist() == [0.8, 0.8]
    assert stranger.tolist() == [0.3, 0.6]


def test_fit_threshold_separates_scores():
    match = np.array([0.8, 0.85, 0.9, 0.7])
    stranger = np.array([0.3, 0.4, 0.5, 0.45])
    calibration = ranking.fit_threshold(match, stranger)
    assert 0.5 < calibration.threshold < 0.7
    assert calibration.match_scores == 4


def test_fit_threshold_too_few_scores_uses_default():
    calibration = ranking.fit_threshold(np.array([0.9]), np.array([0.1]))
    assert calibration == ranking.Calibration.default()


def test_calibrate_without_pairs_uses_default():
    vectors = np.eye(3, dtype=np.float32)
    assert ranking.calibrate(vectors, ["A", "B", "C"]) == ranking.Calibration.default()


def test_confidence_is_half_at_threshold():
    calibration = ranking.Calibration(0.6, 0.1)
    assert calibration.confidence(0.6) == pytest.approx(0.5)
    assert calibration.confidence(0.9) > 0.9
    assert calibration.confidence(0.3) < 0.1


def scores(*pairs):
    return [ranking.WhaleScore(whale, score, whale.lower()) for whale, score in pairs]


def test_candidates_new_whale_first_below_threshold():
    whales = scores(("A", 0.4), ("B", 0.3), ("C", 0.2), ("D", 0.1), ("E", 0.0))
    labels = [c.label for c in ranking.to_candidates(whales, ranking.Calibration(0.5, 0.1))]
    assert labels == [NEW_WHALE, "A", "B", "C", "D"]


def test_candidates_new_whale_after_confident_whales():
    whales = scores(("A", 0.9), ("B", 0.7), ("C", 0.2), ("D", 0.1), ("E", 0.0))
    candidates = ranking.to_candidates(whales, ranking.Calibration(0.5, 0.1, match_scores=12))
    assert [c.label for c in candidates] == ["A", "B", NEW_WHALE, "C", "D"]
    assert candidates[0].details["confidence"] > 0.9


def test_default_threshold_gives_no_confidences():
    whales = scores(("A", 0.9), ("B", 0.2))
    candidates = ranking.to_candidates(whales, ranking.Calibration.default())
    assert [c.label for c in candidates] == ["A", NEW_WHALE, "B"]
    assert [c.details["confidence"] for c in candidates] == [None, None, None]
    assert ranking.unfitted(candidates)


def test_candidates_new_whale_fifth_when_all_confident():
    whales = scores(*[(name, 0.9) for name in "ABCDEF"])
    labels = [c.label for c in ranking.to_candidates(whales, ranking.Calibration(0.5, 0.1))]
    assert len(labels) == 5
    assert labels[4] == NEW_WHALE
    assert len(set(labels)) == 5


def test_candidates_small_gallery():
    labels = [c.label for c in ranking.to_candidates(scores(("A", 0.9)), ranking.Calibration(0.5, 0.1))]
    assert labels == ["A", NEW_WHALE]


def test_fuse_grows_with_inliers_and_saturates():
    assert ranking.fuse(0.5, 0) == pytest.approx(0.5)
    assert ranking.fuse(0.5, 10) > ranking.fuse(0.5, 5)
    assert ranking.fuse(0.5, 40) == pytest.approx(1.5)
    assert ranking.fuse(0.5, 400) == pytest.approx(1.5)


def test_fuse_counts_inliers_above_floor():
    assert ranking.fuse(0.5, 6, floor=6) == pytest.approx(0.5)
    assert ranking.fuse(0.5, 3, floor=6) == pytest.approx(0.5)
    assert ranking.fuse(0.5, 10, floor=6) == pytest.approx(ranking.fuse(0.5, 4))


def test_registry_creates_every_method():
    from whalecat.matching.methods import available_methods, create_method

    names = available_methods()
    assert names[0] == "default"
    assert set(names) == {"default", "embedding", "keypoints", "seed"}
    for name in names:
        assert create_method(name).name == name


def test_registry_rejects_unknown_name():
    from whalecat.matching.methods import create_method

    with pytest.raises(ValueError, match="unknown matching method 'sift'"):
        create_method("sift")


def fluke_gallery(folder: Path, whales: int, sightings: int):
    """Return a `Gallery` of synthetic fluke photos saved in `folder`."""
    from tests.helpers import save_fluke
    from whalecat.imaging.io import open_photo
    from whalecat.matching.base import Gallery

    photos = [
        GalleryPhoto(f"{whale}-{sighting}", f"w_{whale}",
                     save_fluke(folder / f"{whale}_{sighting}.jpg", whale, sighting))
        for whale in range(whales)
        for sighting in range(sightings)
    ]
    return Gallery(photos, lambda photo: open_photo(photo.path))


def test_fused_calibration_samples_large_gallery(monkeypatch, tmp_path):
    from whalecat.matching import methods
    from whalecat.progress import Progress

    monkeypatch.setattr(methods, "CALIBRATION_PHOTOS", 10)
    totals = []
    progress = Progress(
        lambda done, total, message: totals.append(total) if "Calibrating" in message else None
    )
    method = methods.create_method("default")
    method.prepare(fluke_gallery(tmp_path, whales=4, sightings=3), progress)
    assert set(totals) == {10}
    assert method.calibration.match_scores == 10


def test_small_gallery_floor_and_scores(tmp_path):
    from whalecat.matching import methods

    gallery = fluke_gallery(tmp_path, whales=4, sightings=3)
    method = methods.create_method("default")
    method.prepare(gallery)
    # 12 calibration photos are too few to trust their own floor.
    assert method.inlier_floor == methods.DEFAULT_INLIER_FLOOR
    query = gallery.open_image(gallery.photos[0])
    for candidate in method.query(query, exclude_keys=frozenset({gallery.photos[0].key})):
        if candidate.label == NEW_WHALE:
            continue
        details = candidate.details
        expected = ranking.fuse(details["cosine"], details["inliers"], method.inlier_floor)
        assert candidate.score == pytest.approx(expected)


def test_floor_without_calibration_photos(tmp_path):
    from whalecat.matching import methods

    # One photo per whale, as in a new catalogue: nothing to calibrate on.
    method = methods.create_method("default")
    method.prepare(fluke_gallery(tmp_path, whales=4, sightings=1))
    assert method.inlier_floor == methods.DEFAULT_INLIER_FLOOR


def test_new_model_reuses_keypoint_features(monkeypatch, tmp_path):
    from whalecat.matching import keypoints, methods

    gallery = fluke_gallery(tmp_path, whales=3, sightings=2)
    first = methods.create_method("default")
    first.prepare(gallery)

    def no_extraction(*args, **kwargs):
        raise AssertionError("keypoints were extracted again")

    monkeypatch.setattr(keypoints, "extract_features", no_extraction)
    second = methods.create_method("default", keypoints=first.keypoints)
    second.prepare(gallery)  # the embedding and the calibration are made again
    assert second.keypoints is first.keypoints
    assert second.calibration.match_scores == first.calibration.match_scores


def test_shown_confidence_hides_new_whale_below_first():
    calibration = ranking.Calibration(0.6, 0.1, match_scores=4, source="gallery")
    whales = [ranking.WhaleScore("w_a", 0.9, "a"), ranking.WhaleScore("w_b", 0.3, "b")]
    candidates = ranking.to_candidates(whales, calibration, top=5)
    assert [c.label for c in candidates] == ["w_a", NEW_WHALE, "w_b"]
    assert ranking.shown_confidence(1, candidates[0]) > 0.5
    assert ranking.shown_confidence(2, candidates[1]) is None
    assert ranking.shown_confidence(3, candidates[2]) < 0.5
    first = ranking.to_candidates([ranking.WhaleScore("w_a", 0.3, "a")], calibration, top=5)
    assert ranking.shown_confidence(1, first[0]) > 0.5


def test_calibration_kept_until_tenth_changes(monkeypatch, tmp_path):
    from whalecat.matching import methods
    from whalecat.matching.base import Gallery

    monkeypatch.setattr(methods, "KEEP_CALIBRATION_PHOTOS", 10)
    gallery = fluke_gallery(tmp_path, whales=6, sightings=3)  # 18 photos, all with a partner
    method = methods.create_method("default")
    calibrations = []
    calibrate = method._calibrate
    monkeypatch.setattr(method, "_calibrate", lambda progress: calibrations.append(1) or calibrate(progress))
    method.prepare(gallery)
    fitted = method.calibration
    assert fitted.match_scores == 18

    # One confirmation more: 1 of 18 photos changed.
    method.prepare(Gallery(gallery.photos[:-1], gallery.open_image))
    assert len(calibrations) == 1
    assert method.calibration == fitted
    # Two more are beyond a tenth, so the threshold is fitted again.
    method.prepare(Gallery(gallery.photos[:-2], gallery.open_image))
    assert len(calibrations) == 2


def test_few_calibration_photos_keep_the_default_threshold(tmp_path):
    from whalecat.matching import methods

    # Two whales with two photos each: four photos could calibrate, too few to trust.
    method = methods.create_method("default")
    method.prepare(fluke_gallery(tmp_path, whales=2, sightings=2))
    assert method.calibration == ranking.Calibration.default()
    assert method.inlier_floor == methods.DEFAULT_INLIER_FLOOR

