"""RootSIFT matching with RANSAC on real right-whale photos and transformed copies."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from tests.helpers import rightwhale_photos
from whalecat.imaging.io import open_photo
from whalecat.matching import ranking
from whalecat.matching.base import NEW_WHALE, Gallery, GalleryPhoto
from whalecat.matching.keypoints import (
    INLIER_THRESHOLD,
    Features,
    KeypointMethod,
    extract_features,
    match_features,
    match_photos,
    plausible,
    rerank,
    rootsift,
    upright,
)


def resighting(image: Image.Image) -> Image.Image:
    """Return the photo rotated, zoomed in and darker, as another sighting might look."""
    rotated = image.rotate(8, resample=Image.Resampling.BILINEAR, expand=False)
    width, height = rotated.size
    zoomed = rotated.crop((width // 10, height // 10, width - width // 12, height - height // 12))
    return ImageEnhance.Brightness(zoomed.resize((300, 300))).enhance(0.8)


@pytest.fixture(scope="module")
def whales(rightwhale_data):
    """Map the first four whales with at least three photos to their photo paths."""
    return rightwhale_photos(rightwhale_data, whales=4, photos=3, min_photos=3)


def gallery_of(whales) -> Gallery:
    photos = [
        GalleryPhoto(hashlib.sha256(path.read_bytes()).hexdigest(), whale, path)
        for whale, paths in whales.items()
        for path in paths
    ]
    return Gallery(photos, lambda photo: open_photo(photo.path))


def test_rootsift_rows_have_unit_l2_norm():
    descriptors = np.random.default_rng(0).integers(0, 255, (5, 128)).astype(np.float32)
    norms = np.linalg.norm(rootsift(descriptors), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_resighting_matches_original(whales):
    path = next(iter(whales.values()))[0]
    original = open_photo(path)
    match = match_photos(resighting(original), original)
    assert match.inliers >= 2 * INLIER_THRESHOLD
    assert len(match.pairs) == match.inliers


def test_pairs_are_in_photo_pixels(whales):
    path = next(iter(whales.values()))[0]
    original = open_photo(path)
    copy = resighting(original)
    match = match_photos(copy, original)
    for (qx, qy), (px, py) in match.pairs:
        assert 0 <= qx <= copy.width
        assert 0 <= qy <= copy.height
        assert 0 <= px <= original.width
        assert 0 <= py <= original.height


def _rotation(degrees: float, scale: float = 1.0) -> np.ndarray:
    radians = np.radians(degrees)
    return scale * np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])


@pytest.mark.parametrize(
    ("linear", "expected"),
    [
        (np.eye(2), True),
        (_rotation(25, 1.8), True),
        (np.diag([0.6, 1.0]), True),  # an oblique view squashes the width
        (np.diag([0.41, 0.9]), True),  # a 1050x458 photo resized to a square
        (np.diag([-1.0, 1.0]), False),  # a mirror image
        (_rotation(45), False),
        (_rotation(0, 0.2), False),
        (_rotation(0, 5.0), False),
        (np.diag([1.0, 3.07]), True),  # a 1050x342 photo resized to a square, in crop sides
        (np.diag([0.2, 1.0]), False),
        (np.diag([1.0, 5.0]), False),
    ],
)
def test_plausible_transforms(linear, expected):
    assert plausible(linear) is expected


def test_quarter_turn_does_not_verify(whales):
    # Without the bounds on the transform, this copy verified 367 pairs.
    original = open_photo(next(iter(whales.values()))[0])
    turned = original.transpose(Image.Transpose.ROTATE_90)
    assert match_photos(turned, original).inliers == 0
    assert match_photos(original, original).inliers >= 2 * INLIER_THRESHOLD


def test_square_copy_verifies(whales):
    # Shared catalogues often store a photo resized to a square, which squashes one axis.
    original = open_photo(next(iter(whales.values()))[0]).resize((450, 200))
    square = original.resize((300, 300))
    assert match_photos(square, original).inliers >= 2 * INLIER_THRESHOLD


def test_upright_keeps_one_keypoint_per_place(whales):
    gray = np.asarray(open_photo(next(iter(whales.values()))[0]).convert("L"))
    detected = cv2.SIFT_create().detect(gray, None)

    described = upright(detected)

    places = {(round(k.pt[0], 1), round(k.pt[1], 1), round(k.size, 1)) for k in detected}
    assert len(described) == len(places)
    assert len(described) < len(detected)  # SIFT repeats some keypoints at a second orientation
    assert {k.angle for k in described} == {0.0}


@pytest.mark.parametrize("degrees", [10, 20])
def test_upright_matches_tilted_photo(whales, degrees):
    # Upright descriptors give up rotation invariance, so a tilted resighting must still match.
    photo = open_photo(next(iter(whales.values()))[0])
    assert match_photos(photo.rotate(degrees), photo).inliers >= 4 * INLIER_THRESHOLD


def test_each_keypoint_pairs_once():
    rng = np.random.default_rng(3)
    descriptors = rootsift(rng.random((10, 128)).astype(np.float32))
    points = rng.uniform(0, 300, (10, 2)).astype(np.float32)
    photo = Features(points, descriptors, 300.0)
    # SIFT can describe one spot twice, at two orientations; here five spots are doubled.
    doubled = descriptors[:5] + rng.normal(0, 0.002, (5, 128)).astype(np.float32)
    query = Features(
        np.vstack([points, points[:5]]) + 10,
        np.vstack([descriptors, doubled]).astype(np.float32),
        300.0,
    )
    assert match_features(query, photo).inliers == 10


def test_crop_offsets_keypoints(whales):
    path = next(iter(whales.values()))[0]
    features = extract_features(open_photo(path), crop=(100, 50, 224, 224))
    assert len(features.points) > 0
    assert features.points[:, 0].min() >= 100
    assert features.points[:, 1].min() >= 50


def test_blank_image_has_no_matches():
    blank = extract_features(Image.new("L", (200, 200), 90))
    assert len(blank.descriptors) == 0
    assert match_features(blank, blank).inliers == 0


@pytest.mark.parametrize("size", [(1, 1), (2, 40), (5000, 10), (2000, 5)])
def test_sliver_of_a_photo_has_no_keypoints(size):
    """SIFT raised cv2.error on images a pixel or two high once shrunk to MAX_SIDE."""
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, size[::-1], dtype=np.uint8))

    features = extract_features(image)

    assert features.descriptors.shape == (0, 128)
    assert match_features(features, features).inliers == 0


def test_keypoint_method_finds_resighted_whale(whales):
    method = KeypointMethod()
    method.prepare(gallery_of(whales))
    target = next(iter(whales))
    candidates = method.query(resighting(open_photo(whales[target][1])))
    labels = [c.label for c in candidates]
    assert labels[0] == target
    assert NEW_WHALE in labels
    assert len(set(labels)) == len(labels)
    assert candidates[0].details["inliers"] >= INLIER_THRESHOLD


def test_keypoint_method_excludes_keys(whales):
    gallery = gallery_of(whales)
    method = KeypointMethod()
    method.prepare(gallery)
    target = next(iter(whales))
    own = frozenset(p.key for p in gallery.photos if p.whale_id == target)
    labels = [c.label for c in method.query(open_photo(whales[target][0]), exclude_keys=own)]
    assert target not in labels


def test_rerank_lifts_whale_with_inliers(whales):
    gallery = gallery_of(whales)
    method = KeypointMethod()
    method.prepare(gallery)
    first, second = list(whales)[:2]
    by_whale = {w: [p for p in gallery.photos if p.whale_id == w] for w in (first, second)}
    # The embedding put the wrong whale first; the keypoints must correct it.
    shortlist = [
        ranking.WhaleScore(second, 0.6, by_whale[second][0].key),
        ranking.WhaleScore(first, 0.5, by_whale[first][0].key),
    ]
    query = extract_features(resighting(open_photo(whales[first][0])))
    fused = rerank(query, shortlist, by_whale, method.features)
    assert fused[0].whale_id == first
    assert fused[0].details["cosine"] == pytest.approx(0.5)
    assert fused[0].details["inliers"] >= INLIER_THRESHOLD


def test_cached_features_skip_decoding(whales, tmp_path):
    gallery = gallery_of(whales)
    first = KeypointMethod(cache_dir=tmp_path)
    first.prepare(gallery)
    opened = []
    open_image = gallery.open_image
    gallery.open_image = lambda photo: opened.append(photo.key) or open_image(photo)
    second = KeypointMethod(cache_dir=tmp_path)
    second.prepare(gallery)
    assert opened == []
    target = next(iter(whales))
    query = resighting(open_photo(whales[target][1]))
    fresh = first.query(query)
    cached = second.query(query)
    assert [c.label for c in cached] == [c.label for c in fresh]
    # The first run uses descriptors rounded as stored, so both runs score alike.
    assert [c.score for c in cached] == [c.score for c in fresh]
    for photo in gallery.photos:
        assert np.array_equal(second.features[photo.cache_key].descriptors,
                              first.features[photo.cache_key].descriptors)


def test_unreadable_feature_file_is_remade(whales, tmp_path):
    gallery = gallery_of(whales)
    KeypointMethod(cache_dir=tmp_path).prepare(gallery)
    photo = gallery.photos[0]
    method = KeypointMethod(cache_dir=tmp_path)
    method.cache.path(photo.cache_key).write_bytes(b"not a zip")
    method.prepare(gallery)
    assert len(method.features[photo.cache_key].descriptors) > 0
    assert method.cache.load(photo.cache_key) is not None
