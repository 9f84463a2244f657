"""Training the embedding network with sub-center ArcFace and strong augmentation.

Sub-center ArcFace (Deng et al., ECCV 2020) learns K centres per individual on the unit
sphere and adds an angular margin to the right class, so photos of one whale cluster tightly
while the centres of different whales spread apart. K > 1 lets one whale keep separate
centres for very different views. The classification head is thrown away after training: only
the embedding network is saved and used for matching, so whales never seen in training can
still be matched by their vectors.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from whalecat.imaging.preprocess import embedding_from_pixels
from whalecat.matching.base import Gallery
from whalecat.matching.device import keras, progress_callback, tensorflow
from whalecat.matching.embedding import embed_arrays, model_input_channels, model_input_size
from whalecat.progress import Cancelled, Progress

log = logging.getLogger(__name__)

# With scale 30, margin 0.3, 3 sub-centres and twice these augmentation strengths, training
# from scratch for 90 epochs never fitted (training accuracy near 0) and every photo got
# nearly the same vector, so the defaults are gentler.
ARCFACE_SCALE = 20.0
ARCFACE_MARGIN = 0.1
SUBCENTERS = 1


def build_augmenter(seed: int | None = None):
    """Return the training augmentation for [0, 1] grayscale input batches.

    It imitates another sighting of the same fluke: a different crop and zoom, a tilted
    horizon, an oblique view (perspective), other light (brightness and contrast), focus
    (blur) and glare or water over part of the fluke (erasing). No flips: a mirrored fluke
    is a different pattern.
    """
    layers = keras().layers
    return keras().Sequential(
        [
            layers.RandomZoom((-0.1, 0.05), fill_mode="reflect", seed=seed),
            layers.RandomTranslation(0.04, 0.04, fill_mode="reflect", seed=seed),
            layers.RandomRotation(0.015, fill_mode="reflect", seed=seed),  # about 5 degrees
            layers.RandomPerspective(factor=0.15, scale=0.1, seed=seed),
            layers.RandomBrightness(0.15, value_range=(0.0, 1.0), seed=seed),
            layers.RandomContrast(0.2, seed=seed),
            layers.RandomGaussianBlur(factor=0.15, sigma=(0.1, 0.8), value_range=(0.0, 1.0), seed=seed),
            layers.RandomErasing(factor=0.1, scale=(0.02, 0.06), value_range=(0.0, 1.0), seed=seed),
        ],
        name="augment",
    )


def _arcface_layer():
    k = keras()
    ops = k.ops

    class SubCenterArcFace(k.layers.Layer):
        """Returns ArcFace logits for unit embeddings given the true class of each row."""

        def __init__(self, classes, subcenters=SUBCENTERS, scale=ARCFACE_SCALE,
                     margin=ARCFACE_MARGIN, **kwargs):
            super().__init__(dtype="float32", **kwargs)
            self.classes = classes
            self.subcenters = subcenters
            self.scale = scale
            self.margin = margin

        def build(self, input_shape):
            embedding_shape = input_shape[0]
            self.centres = self.add_weight(
                shape=(embedding_shape[-1], self.classes * self.subcenters),
                initializer="glorot_uniform",
                name="centres",
            )

        def call(self, inputs):
            embeddings, labels = inputs
            centres = self.centres / ops.maximum(
                ops.sqrt(ops.sum(ops.square(self.centres), axis=0, keepdims=True)), 1e-12
            )
            cosine = ops.matmul(ops.cast(embeddings, "float32"), centres)
            cosine = ops.max(ops.reshape(cosine, (-1, self.classes, self.subcenters)), axis=-1)
            cosine = ops.clip(cosine, -1.0 + 1e-7, 1.0 - 1e-7)
            sine = ops.sqrt(1.0 - ops.square(cosine))
            with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
            # Past pi - margin, cos(theta + margin) stops decreasing, so fall back to a
            # linear penalty there (the usual ArcFace correction).
            limit = math.cos(math.pi - self.margin)
            with_margin = ops.where(
                cosine > limit, with_margin, cosine - math.sin(math.pi - self.margin) * self.margin
            )
            one_hot = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), self.classes)
            return self.scale * (one_hot * with_margin + (1.0 - one_hot) * cosine)

    return SubCenterArcFace


def build_training_model(embedder, classes: int, seed: int | None = None,
                         scale: float = ARCFACE_SCALE, margin: float = ARCFACE_MARGIN,
                         augmenter=None):
    """Wrap the embedder with augmentation and an ArcFace head with `scale` and `margin`.

    `augmenter` replaces `build_augmenter`'s layers when given.
    """
    k = keras()
    width, height = model_input_size(embedder)
    images = k.Input((height, width, model_input_channels(embedder)), name="image")
    labels = k.Input((1,), dtype="int32", name="label")
    augmented = (augmenter or build_augmenter(seed))(images)
    vectors = embedder(augmented)
    logits = _arcface_layer()(classes, scale=scale, margin=margin, name="arcface")(
        [vectors, labels])
    return k.Model([images, labels], logits, name="arcface_training")


def train_embedding(
    embedder,
    arrays: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    progress: Progress | None = None,
    seed: int = 0,
    callbacks: list | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    start_from_centroids: bool = False,
    scale: float = ARCFACE_SCALE,
    margin: float = ARCFACE_MARGIN,
    augmenter=None,
    centre_rate: float = 1.0,
) -> dict:
    """Train `embedder` in place on (n, height, width, channels) [0, 1] inputs and integer labels.

    With `start_from_centroids`, each whale's ArcFace centre starts at the mean vector of its
    photos instead of a random direction. Use it when the embedder is trained already.
    `centre_rate` makes the centres start that many times shorter. Adam moves a weight by
    about the learning rate whatever its gradient, and a centre is normalized before use, so
    a shorter centre turns that many times faster, until its length grows.
    Returns the last epoch's logs. Raises Cancelled after the current batch when `progress`
    is cancelled, and the embedder then keeps the weights of the batches already run.
    """
    progress = progress or Progress()
    tf = tensorflow()
    k = keras()
    labels = np.asarray(labels, dtype=np.int32)
    classes = int(labels.max()) + 1
    model = build_training_model(embedder, classes, seed=seed, scale=scale, margin=margin,
                                 augmenter=augmenter)
    head = model.get_layer("arcface")
    if start_from_centroids:
        head.centres.assign(np.repeat(class_centroids(embedder, arrays, labels, classes).T,
                                      head.subcenters, axis=1))
    if centre_rate != 1.0:
        head.centres.assign(head.centres / centre_rate)

    # oneDNN's convolution filter gradient corrupts the heap on an odd batch (TensorFlow
    # 2.21), so every training batch has the same even size: the shuffled photos repeat
    # without end and each epoch takes as many batches as one pass needs.
    batch_size = min(batch_size, len(arrays) + len(arrays) % 2)
    batch_size += batch_size % 2
    steps = max(math.ceil(len(arrays) / batch_size), 1)
    schedule = k.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10,
        decay_steps=max(epochs * steps - steps, 1),
        warmup_target=learning_rate,
        warmup_steps=steps,
        alpha=0.02,
    )
    model.compile(
        optimizer=k.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=k.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    dataset = (
        tf.data.Dataset.from_tensor_slices(((arrays.astype(np.float32), labels[:, None]), labels))
        .shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(2)
    )
    callback = progress_callback(progress, epochs, steps, "Training embedding")
    validation_data = None
    if validation is not None and len(validation[0]):
        # Held-back photos of the training whales, scored by the same ArcFace head without
        # augmentation, so the window can plot val_loss and val_accuracy per epoch.
        val_arrays, val_labels = validation
        val_labels = np.asarray(val_labels, dtype=np.int32)
        validation_data = tf.data.Dataset.from_tensor_slices(
            ((val_arrays.astype(np.float32), val_labels[:, None]), val_labels)
        ).batch(batch_size)
    # The dataset shuffles itself, so Keras's own shuffling is turned off.
    model.fit(dataset, epochs=epochs, steps_per_epoch=steps, shuffle=False,
              validation_data=validation_data,
              callbacks=[callback, *(callbacks or [])], verbose=0)
    if progress.cancelled:
        raise Cancelled()
    return callback.last_logs


def class_centroids(embedder, arrays: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Return the (classes, embedding_size) unit mean vector of each class's photos."""
    vectors = embed_arrays(embedder, arrays)
    sums = np.zeros((classes, vectors.shape[1]), np.float32)
    np.add.at(sums, labels, vectors)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def fine_tune(
    model,
    gallery: Gallery,
    epochs: int = 10,
    progress: Progress | None = None,
    callbacks: list | None = None,
    validation: Gallery | None = None,
) -> dict:
    """Retrain an embedding network in place on a catalogue's confirmed photos.

    Each whale is a class. Whales with a single photo still help, because augmentation
    gives them several views. `validation` photos (of the same whales) are scored after each
    epoch. Returns the last epoch's logs; raises Cancelled on cancel and ValueError when the
    gallery has fewer than two whales.
    """
    progress = progress or Progress()
    whale_ids = gallery.whale_ids
    if len(whale_ids) < 2:
        raise ValueError(f"fine-tuning needs at least two whales, the gallery has {len(whale_ids)}")
    index = {whale_id: number for number, whale_id in enumerate(whale_ids)}
    size, channels = model_input_size(model), model_input_channels(model)
    arrays, labels = _load(gallery.photos, gallery, index, size, channels, progress)
    held_back = None
    if validation is not None:
        known = [photo for photo in validation.photos if photo.whale_id in index]
        held_back = _load(known, validation, index, size, channels, progress)
    # A lower rate than training from scratch, so the network adapts without forgetting.
    # Centres start at each whale's mean vector. On right-whale photos, random centres ended
    # two epochs on 30 whales at training accuracy 0.008, against 0.969 from the mean vectors.
    # A 20-epoch retrain on 235 photos from random centres lowered held-out embedding MAP@5
    # from 0.546 to 0.529, against 0.547 from the mean vectors.
    return train_embedding(
        model, arrays, labels, epochs=epochs, learning_rate=5e-4, progress=progress,
        callbacks=callbacks, validation=held_back, start_from_centroids=True,
    )


def _load(photos, gallery: Gallery, index: dict[str, int], size, channels: int,
          progress: Progress):
    """Return (network inputs, class numbers) for `photos`, reporting each one loaded."""
    arrays = []
    for done, photo in enumerate(photos, start=1):
        progress.check()
        arrays.append(embedding_from_pixels(gallery.network_pixels(photo, size, channels)))
        progress.report(done, len(photos), "Loading catalogue photos")
    if not arrays:
        return np.zeros((0, size[1], size[0], channels), np.float32), np.zeros(0, np.int32)
    return np.stack(arrays), np.array([index[photo.whale_id] for photo in photos])
