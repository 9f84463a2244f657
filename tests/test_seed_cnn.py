"""The seed CNN: its exact architecture, augmentation, new_whale placement and training."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest

from whalecat.imaging.io import open_photo
from whalecat.matching.base import NEW_WHALE, Gallery, GalleryPhoto
from whalecat.matching.seed_cnn import (
    SeedMethod,
    augment_to_minimum,
    build_seed_model,
    predict_labels,
    train_seed_model,
)
from whalecat.progress import Cancelled, Progress


def test_seed_model_parameter_count():
    model = build_seed_model(4251)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert model.count_params() == 8_417_875
    assert non_trainable == 64


def test_seed_model_flatten_width():
    model = build_seed_model(3)
    flatten = next(layer for layer in model.layers if layer.name.startswith("flatten"))
    assert flatten.output.shape[-1] == 14_400


def test_augment_tops_up_to_ten():
    arrays = np.random.default_rng(0).normal(size=(13, 100, 100, 1)).astype(np.float32)
    labels = np.array([0] * 12 + [1])
    augmented, augmented_labels = augment_to_minimum(arrays, labels)
    assert (augmented_labels == 0).sum() == 12
    assert (augmented_labels == 1).sum() == 10
    assert augmented.shape == (22, 100, 100, 1)
    assert not np.allclose(augmented[13], arrays[12])


def test_predict_labels_new_whale_by_threshold():
    probabilities = np.array([0.05, 0.6, 0.2, 0.1, 0.05])
    ids = ["a", "b", "c", "d", "e"]
    assert [l for l, _ in predict_labels(probabilities, ids, threshold=0.3)] == [
        "b", NEW_WHALE, "c", "d", "a"
    ]
    assert predict_labels(probabilities, ids, threshold=0.9)[0][0] == NEW_WHALE


def test_predict_labels_new_whale_fifth_when_all_probable():
    labels = [l for l, _ in predict_labels(np.full(6, 0.5), list("abcdef"), threshold=0.1)]
    assert labels[4] == NEW_WHALE
    assert len(set(labels)) == 5


def test_training_learns_separable_classes():
    rng = np.random.default_rng(1)
    patterns = rng.normal(size=(3, 100, 100, 1)).astype(np.float32)
    labels = np.repeat(np.arange(3), 10)
    arrays = patterns[labels] + 0.3 * rng.normal(size=(30, 100, 100, 1)).astype(np.float32)
    model = train_seed_model(arrays, labels, 3, epochs=8)
    predicted = model.predict(patterns, verbose=0).argmax(axis=1)
    assert predicted.tolist() == [0, 1, 2]


def test_training_cancel_stops_within_one_batch():
    reports = []
    progress = Progress()

    def cancel_on_first(done, total, message):
        reports.append(done)
        progress.token.cancel()

    progress.callback = cancel_on_first
    arrays = np.zeros((300, 100, 100, 1), dtype=np.float32)
    with pytest.raises(Cancelled):
        train_seed_model(arrays, np.arange(300) % 30, 30, epochs=5, progress=progress)
    assert len(reports) == 1


def test_seed_method_on_real_photos(rightwhale_data):
    by_whale: dict[str, list] = {}
    with open(rightwhale_data / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_whale.setdefault(row["Id"], []).append(rightwhale_data / "images" / row["Image"])
    chosen = sorted(by_whale)[:6]
    photos = [
        GalleryPhoto(hashlib.sha256(path.read_bytes()).hexdigest(), whale, path)
        for whale in chosen
        for path in by_whale[whale][:3]
    ]
    method = SeedMethod(epochs=3)
    method.prepare(Gallery(photos, lambda photo: open_photo(photo.path)))
    candidates = method.query(open_photo(photos[0].path))
    labels = [c.label for c in candidates]
    assert len(labels) == 5
    assert len(set(labels)) == 5
    assert NEW_WHALE in labels
    assert set(labels) - {NEW_WHALE} <= set(chosen)
    assert method.version.startswith("seed-cnn-e3-")
