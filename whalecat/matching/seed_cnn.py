"""The seed CNN: a whale-ID classifier trained on the catalogue, kept as the baseline.

The architecture and training follow the method this project started from, unchanged so its
figures stay comparable: 100x100 grayscale input standardized per image, two convolutions,
a 450-unit dense layer with heavy dropout, and a softmax over the catalogue's whale ids.
Every whale with fewer than ten photos is topped up to ten with randomly rotated, shifted
and zoomed copies. It can only name whales it was trained on, so it is retrained whenever
the catalogue changes.
"""

from __future__ import annotations

import hashlib
import logging
import math

import numpy as np
from PIL import Image

from whalecat.imaging.preprocess import SEED_INPUT_SIZE, seed_from_pixels, seed_input
from whalecat.matching import ranking
from whalecat.matching.base import NEW_WHALE, Candidate, Gallery, GalleryPhoto
from whalecat.matching.device import keras, progress_callback, select_device
from whalecat.progress import Cancelled, Progress

log = logging.getLogger(__name__)

MIN_PHOTOS_PER_WHALE = 10
BATCH_SIZE = 128
DEFAULT_EPOCHS = 100
# NOTE: an estimate. The softmax of a network trained to near-zero loss on the catalogue is
# overconfident on the catalogue itself, so it cannot be calibrated there.
NEW_WHALE_PROBABILITY = 0.3


def build_seed_model(classes: int):
    """Build the untrained seed CNN with a softmax over `classes` whale ids."""
    k = keras()
    layers = k.layers
    width, height = SEED_INPUT_SIZE
    return k.Sequential(
        [
            k.Input((height, width, 1)),
            layers.Conv2D(32, 7, padding="valid"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3),
            layers.ReLU(),
            layers.AveragePooling2D(3),
            layers.Flatten(),
            layers.Dense(450, activation="relu"),
            layers.Dropout(0.8),
            layers.Dense(classes, activation="softmax", dtype="float32"),
        ],
        name="seed_cnn",
    )


def augment_to_minimum(
    arrays: np.ndarray, labels: np.ndarray, minimum: int = MIN_PHOTOS_PER_WHALE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return the inputs plus augmented copies so every label has at least `minimum` rows.

    Copies are randomly rotated (up to 18 degrees), translated (up to 10 %) and zoomed
    (up to 10 %) versions of that whale's own photos.
    """
    k = keras()
    layers = k.layers
    augment = k.Sequential(
        [
            layers.RandomRotation(0.05, fill_mode="nearest", seed=seed),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
            layers.RandomZoom(0.1, fill_mode="nearest", seed=seed),
        ]
    )
    rng = np.random.default_rng(seed)
    sources = []
    extra_labels = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        missing = minimum - len(rows)
        if missing > 0:
            sources.extend(rng.choice(rows, size=missing, replace=True))
            extra_labels.extend([label] * missing)
    if not sources:
        return arrays, labels
    copies = np.asarray(augment(arrays[np.array(sources)], training=True))
    return np.concatenate([arrays, copies]), np.concatenate([labels, np.array(extra_labels)])


def seed_inputs(
    gallery: Gallery, photos: list[GalleryPhoto], progress: Progress | None = None
) -> np.ndarray:
    """Return the (n, 100, 100, 1) inputs of `photos`, from the gallery's input cache if any."""
    progress = progress or Progress()
    arrays = []
    for done, photo in enumerate(photos, start=1):
        progress.check()
        arrays.append(seed_from_pixels(gallery.network_pixels(photo, SEED_INPUT_SIZE)))
        progress.report(done, len(photos), "Loading catalogue photos")
    width, height = SEED_INPUT_SIZE
    return np.stack(arrays) if arrays else np.zeros((0, height, width, 1), np.float32)


def train_seed_model(
    arrays: np.ndarray,
    labels: np.ndarray,
    classes: int,
    *,
    epochs: int = DEFAULT_EPOCHS,
    progress: Progress | None = None,
    seed: int = 0,
    callbacks: list | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Train a new seed CNN on (n, 100, 100, 1) inputs and integer labels; return it.

    One-hot labels, categorical cross-entropy, Adam, batches of 128. Raises Cancelled
    within one batch of `progress` being cancelled.
    """
    progress = progress or Progress()
    k = keras()
    arrays, labels = augment_to_minimum(arrays, np.asarray(labels), seed=seed)
    model = build_seed_model(classes)
    model.compile(optimizer=k.optimizers.Adam(), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    one_hot = k.utils.to_categorical(labels, classes)
    steps = math.ceil(len(arrays) / BATCH_SIZE)
    callback = progress_callback(progress, epochs, steps, "Training seed CNN")
    validation_data = None
    if validation is not None and len(validation[0]):
        # Held-back photos of the same whales; Keras then reports val_loss and val_accuracy.
        validation_data = (validation[0], k.utils.to_categorical(validation[1], classes))
    model.fit(arrays, one_hot, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True,
              validation_data=validation_data,
              callbacks=[callback, *(callbacks or [])], verbose=0)
    if progress.cancelled:
        raise Cancelled()
    return model


def predict_labels(
    probabilities: np.ndarray,
    whale_ids: list[str],
    top: int = 5,
    threshold: float = NEW_WHALE_PROBABILITY,
) -> list[tuple[str, float]]:
    """Return the `top` most probable labels, with `new_whale` placed at `threshold`.

    Whales more probable than the threshold come before `new_whale`. When all five are,
    `new_whale` takes the fifth place, so a stranger still scores at rank five.
    """
    order = np.argsort(-probabilities)[: top + 1]
    ranked = [(whale_ids[i], float(probabilities[i])) for i in order]
    above = sum(probability >= threshold for _, probability in ranked)
    ranked.insert(min(above, top - 1), (NEW_WHALE, threshold))
    return ranked[:top]


class SeedMethod:
    """The seed CNN as a `Method`: `prepare` trains it on the gallery's whales."""

    name = "seed"

    def __init__(self, epochs: int = DEFAULT_EPOCHS, device: str = "auto",
                 threshold: float = NEW_WHALE_PROBABILITY):
        self.epochs = epochs
        self.device = device
        self.threshold = threshold
        self.version = f"seed-cnn-e{epochs}"
        self.model = None
        self.whale_ids: list[str] = []
        self.photo_keys: dict[str, str] = {}

    def prepare(self, gallery: Gallery, progress: Progress | None = None) -> None:
        progress = progress or Progress()
        select_device(self.device)
        self.whale_ids = gallery.whale_ids
        if not self.whale_ids:
            raise ValueError("the gallery has no photos; confirm at least one photo first")
        index = {whale_id: number for number, whale_id in enumerate(self.whale_ids)}
        arrays = seed_inputs(gallery, gallery.photos, progress)
        labels = np.array([index[photo.whale_id] for photo in gallery.photos])
        self.photo_keys = {photo.whale_id: photo.key for photo in gallery.photos}
        self.model = train_seed_model(
            arrays, labels, len(self.whale_ids), epochs=self.epochs, progress=progress
        )
        digest = hashlib.sha256("\n".join(sorted(p.key for p in gallery.photos)).encode())
        self.version = f"seed-cnn-e{self.epochs}-{digest.hexdigest()[:12]}"

    def query(
        self, image: Image.Image, top: int = 5, exclude_keys: frozenset[str] = frozenset()
    ) -> list[Candidate]:
        """Return the most probable whales. `exclude_keys` cannot remove a trained photo."""
        if self.model is None:
            raise RuntimeError("SeedMethod.query called before prepare")
        probabilities = self.model.predict(seed_input(image)[np.newaxis], verbose=0)[0]
        calibration = ranking.Calibration(self.threshold, 0.1, source="fixed probability")
        return [
            Candidate(label, probability, self.photo_keys.get(label),
                      {"probability": probability, "method": self.name,
                       "confidence": calibration.confidence(probability)})
            for label, probability in predict_labels(probabilities, self.whale_ids, top,
                                                     self.threshold)
        ]
