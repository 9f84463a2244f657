"""A compact CNN that maps a fluke photo to an L2-normalized vector, and the method using it.

Photos of the same whale should land close together, so a query is ranked against each
catalogued whale by the cosine similarity of that whale's most similar photo. A whale is
matchable as soon as one photo of it is confirmed, without retraining. Training lives in
`embedding_train`; this module builds, loads and runs the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from whalecat.imaging.preprocess import (
    EMBEDDING_INPUT_SIZE,
    embedding_from_pixels,
    embedding_input,
)
from whalecat.matching import ranking
from whalecat.matching.base import Candidate, Gallery, GalleryPhoto
from whalecat.matching.device import keras, select_device
from whalecat.progress import Progress

log = logging.getLogger(__name__)

BUNDLED_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "embedding.keras"
EMBEDDING_SIZE = 128
BATCH_SIZE = 32


def _register_layers():
    """Define the custom layers once, after Keras is imported, and return them by name."""
    global _LAYERS
    if _LAYERS is not None:
        return _LAYERS
    k = keras()

    @k.saving.register_keras_serializable(package="whalecat")
    class PerImageStandardization(k.layers.Layer):
        """Shifts and scales each image to zero mean and unit variance, as `normalize` does."""

        def call(self, inputs):
            mean = k.ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
            std = k.ops.std(inputs, axis=(1, 2, 3), keepdims=True)
            return (inputs - mean) / k.ops.maximum(std, 1e-6)

    @k.saving.register_keras_serializable(package="whalecat")
    class GeneralizedMeanPooling(k.layers.Layer):
        """Pools each channel by the p-th root of the mean of its p-th powers, p learned.

        p = 1 is average pooling, and a large p comes close to max pooling. Negative
        responses are clipped first, because the Lite0 backbone's last block ends without an
        activation.
        """

        def build(self, input_shape):
            self.p = self.add_weight(shape=(), initializer=k.initializers.Constant(3.0),
                                     name="p")

        def call(self, inputs):
            powered = k.ops.power(k.ops.maximum(inputs, 1e-6), self.p)
            return k.ops.power(k.ops.mean(powered, axis=(1, 2)), 1.0 / self.p)

    _LAYERS = {"PerImageStandardization": PerImageStandardization,
               "GeneralizedMeanPooling": GeneralizedMeanPooling}
    return _LAYERS


_LAYERS = None


def build_embedding_model(
    input_size: tuple[int, int] = EMBEDDING_INPUT_SIZE,
    embedding_size: int = EMBEDDING_SIZE,
    width: int = 24,
):
    """Build the untrained embedding network for `input_size` (width, height) grayscale input.

    A small residual CNN: a strided 5x5 stem, four stages that each halve the resolution,
    global average and max pooling, then a linear projection to `embedding_size`, batch
    normalization and L2 normalization. With the default width it has about 0.73 million
    parameters, about 3 MB as float32.
    """
    k = keras()
    layers = k.layers
    standardize = _register_layers()["PerImageStandardization"]
    image_width, image_height = input_size

    inputs = k.Input((image_height, image_width, 1), name="image")
    x = standardize(name="standardize")(inputs)
    x = _conv_bn_relu(layers, x, width, 5, strides=2)
    for stage, channels in enumerate((width, width * 2, width * 4, width * 8)):
        x = _residual_block(layers, x, channels, strides=1 if stage == 0 else 2)
    pooled = layers.Concatenate()(
        [layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)]
    )
    x = layers.Dropout(0.2)(pooled)
    x = layers.Dense(embedding_size, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    outputs = layers.UnitNormalization(name="embedding", dtype="float32")(x)
    return k.Model(inputs, outputs, name="fluke_embedding")


def _conv_bn_relu(layers, x, channels, kernel, strides=1):
    x = layers.Conv2D(channels, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _residual_block(layers, x, channels, strides):
    shortcut = x
    if strides != 1 or x.shape[-1] != channels:
        shortcut = layers.Conv2D(channels, 1, strides=strides, use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    x = _conv_bn_relu(layers, x, channels, 3, strides=strides)
    x = layers.Conv2D(channels, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(layers.Add()([x, shortcut]))


def load_embedding_model(path: Path | str = BUNDLED_MODEL):
    """Load a saved embedding network with Keras safe mode.

    Raises FileNotFoundError naming a missing file, and `trainers.ModelFileError` naming the
    saved-with and running TensorFlow and Keras versions when Keras cannot load the file.
    """
    # Imported here, as trainers imports this module, so neither needs the other at import time.
    from whalecat.matching.trainers import load_model_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"embedding model not found at {path}; train one with tools/train_bundled_model.py"
        )
    _register_layers()
    return load_model_file(path)


def model_input_size(model) -> tuple[int, int]:
    """Return the (width, height) a built or loaded embedding network expects."""
    _, height, width, _ = model.input_shape
    return int(width), int(height)


def model_input_channels(model) -> int:
    """Return 1 for a network that takes grayscale photos, 3 for one that takes RGB."""
    return int(model.input_shape[-1])


def embed_arrays(model, arrays: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Return the (n, embedding_size) float32 unit vectors for network inputs `arrays`."""
    if len(arrays) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    arrays = np.asarray(arrays, dtype=np.float32)
    if len(arrays) <= batch_size:
        # predict_on_batch skips the data pipeline that predict() builds on every call, and
        # runs the traced graph where calling the model runs each layer eagerly. For one
        # photo through the bundled three-network model on 2 CPU cores: about 15 ms, against
        # 139 ms for a direct call.
        return np.asarray(model.predict_on_batch(arrays), dtype=np.float32)
    vectors = model.predict(arrays, batch_size=batch_size, verbose=0)
    return np.asarray(vectors, dtype=np.float32)


def embed_images(
    model, images: list[Image.Image], crops: list | None = None, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Return the unit vectors of upright photos, each cut to its crop box first when given."""
    size, channels = model_input_size(model), model_input_channels(model)
    crops = crops or [None] * len(images)
    arrays = np.stack([embedding_input(im, box, size, channels) for im, box in zip(images, crops)])
    return embed_arrays(model, arrays, batch_size)


def embed_gallery_photos(
    model, gallery: Gallery, photos: list[GalleryPhoto] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    message: str = "Embedding photos",
) -> np.ndarray:
    """Return the unit vectors of `photos` (default: all the gallery's), each cut to its crop,
    with input pixels from the gallery's input cache when it has one.

    Works one batch at a time and checks `progress` between batches, so closing the window
    while a model is scored stops within one batch.
    """
    progress = progress or Progress()
    photos = gallery.photos if photos is None else photos
    size, channels = model_input_size(model), model_input_channels(model)
    parts = []
    for start in range(0, len(photos), batch_size):
        progress.check()
        batch = photos[start : start + batch_size]
        arrays = [embedding_from_pixels(gallery.network_pixels(photo, size, channels))
                  for photo in batch]
        parts.append(embed_arrays(model, np.stack(arrays), batch_size))
        progress.report(start + len(batch), len(photos), message)
    if not parts:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(parts)


class EmbeddingCache:
    """Per-photo vectors on disk: one npz per model version, keyed by `GalleryPhoto.cache_key`."""

    def __init__(self, cache_dir: Path | str | None, model_version: str):
        self.path = Path(cache_dir) / f"embedding-{model_version}.npz" if cache_dir else None
        self.vectors: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path) as stored:
                    self.vectors = dict(zip(stored["keys"].tolist(), stored["vectors"]))
            except (OSError, KeyError, ValueError) as exc:
                log.warning("Ignoring unreadable embedding cache %s: %s", self.path, exc)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vectors), dtype=str)
        vectors = np.stack(list(self.vectors.values())) if self.vectors else np.zeros((0, 0))
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=keys, vectors=vectors)
        temporary.replace(self.path)


class EmbeddingMethod:
    """Ranks whales by the cosine similarity of their best photo to the query.

    `new_whale` is placed by a threshold calibrated on the gallery itself (see `ranking`).
    """

    name = "embedding"

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        model=None,
        cache_dir: Path | str | None = None,
        device: str = "auto",
    ):
        self.model_path = Path(model_path) if model_path else BUNDLED_MODEL
        self._model = model
        self.cache_dir = cache_dir
        self.device = device
        self.version = self._version()
        self.photos: list[GalleryPhoto] = []
        self.vectors = np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        self.calibration = ranking.Calibration.default()

    def _version(self) -> str:
        if self._model is not None:
            weights = b"".join(np.asarray(w).tobytes() for w in self._model.get_weights())
            return "embedding-" + hashlib.sha256(weights).hexdigest()[:12]
        if self.model_path.is_file():
            return "embedding-" + hashlib.sha256(self.model_path.read_bytes()).hexdigest()[:12]
        return "embedding-missing"

    @property
    def model(self):
        if self._model is None:
            select_device(self.device)
            self._model = load_embedding_model(self.model_path)
        return self._model

    def prepare(self, gallery: Gallery, progress: Progress | None = None) -> None:
        """Embed every gallery photo not already cached, then calibrate `new_whale`."""
        progress = progress or Progress()
        self.photos = list(gallery.photos)
        self.vectors = self.embed_gallery(gallery, progress)
        self.calibration = ranking.calibrate(self.vectors, [p.whale_id for p in self.photos])
        log.info(
            "Embedding method ready: %d photos of %d whales, %s",
            len(self.photos), len(gallery.whale_ids), self.calibration,
        )

    def embed_gallery(self, gallery: Gallery, progress: Progress) -> np.ndarray:
        """Return one vector per gallery photo, in order, computing only those not cached."""
        cache = EmbeddingCache(self.cache_dir, self.version)
        missing = [p for p in gallery.photos if p.cache_key not in cache.vectors]
        if missing:
            vectors = embed_gallery_photos(
                self.model, gallery, missing, progress=progress, message="Embedding catalogue photos"
            )
            cache.vectors.update(zip((p.cache_key for p in missing), vectors))
            cache.save()
        if not gallery.photos:
            return np.zeros((0, self.model.output_shape[-1]), dtype=np.float32)
        return np.stack([cache.vectors[p.cache_key] for p in gallery.photos]).astype(np.float32)

    def embed_query(self, image: Image.Image, crop=None) -> np.ndarray:
        return embed_images(self.model, [image], [crop])[0]

    def similarities(self, image: Image.Image) -> np.ndarray:
        """Return the cosine similarity of the query to every gallery photo, in gallery order."""
        return self.vectors @ self.embed_query(image)

    def query(
        self, image: Image.Image, top: int = 5, exclude_keys: frozenset[str] = frozenset()
    ) -> list[Candidate]:
        """Rank the gallery's whales for a query photo already cut to its fluke box."""
        scores = self.similarities(image)
        whales = ranking.best_per_whale(scores, self.photos, exclude_keys, limit=top + 1)
        return ranking.to_candidates(whales, self.calibration, top, method=self.name)


def read_sidecar(model_path: Path | str = BUNDLED_MODEL) -> dict:
    """Return the JSON sidecar written beside a trained model, or {} when there is none."""
    sidecar = Path(model_path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    return json.loads(sidecar.read_text(encoding="utf-8"))
