"""Train, score, save and load the two kinds of model a catalogue can retrain.

`embedding` fine-tunes the active embedding network; `seed` trains the seed CNN classifier
from scratch over the catalogue's whale ids. `whalecat.training` calls these through one
interface, so it needs no branch per kind.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whalecat.evaluation.protocol import score_queries
from whalecat.matching.base import Gallery, GalleryPhoto
from whalecat.matching.device import keras, tensorflow
from whalecat.progress import Progress

log = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the versions."""


@dataclass
class TrainedModel:
    kind: str  # "embedding" or "seed"
    model: object  # a Keras model
    classes: list[str] = field(default_factory=list)  # seed: output index -> whale id


def train(
    kind: str,
    gallery: Gallery,
    *,
    epochs: int,
    base_model: Path | None,
    progress: Progress,
    log_dir: Path | None = None,
    validation: Gallery | None = None,
) -> TrainedModel:
    """Train a model of `kind` on `gallery`, scoring `validation` photos after each epoch."""
    if kind == "embedding":
        from whalecat.matching.embedding import BUNDLED_MODEL, load_embedding_model
        from whalecat.matching.embedding_train import fine_tune

        model = load_embedding_model(base_model or BUNDLED_MODEL)
        fine_tune(
            model, gallery, epochs=epochs, progress=progress,
            callbacks=_tensorboard(log_dir), validation=validation,
        )
        return TrainedModel("embedding", model)
    from whalecat.imaging.preprocess import seed_input
    from whalecat.matching.seed_cnn import train_seed_model

    classes = gallery.whale_ids
    index = {whale_id: number for number, whale_id in enumerate(classes)}
    arrays = []
    for done, photo in enumerate(gallery.photos, start=1):
        progress.check()
        arrays.append(seed_input(_cropped(gallery.open_image(photo), photo.crop)))
        progress.report(done, len(gallery.photos), "Loading catalogue photos")
    labels = np.array([index[photo.whale_id] for photo in gallery.photos])
    held_back = None
    if validation is not None:
        known = [photo for photo in validation.photos if photo.whale_id in index]
        if known:
            held_back = (
                np.stack([seed_input(_cropped(validation.open_image(p), p.crop)) for p in known]),
                np.array([index[photo.whale_id] for photo in known]),
            )
    model = train_seed_model(
        np.stack(arrays), labels, len(classes), epochs=epochs, progress=progress,
        callbacks=_tensorboard(log_dir), validation=held_back,
    )
    return TrainedModel("seed", model, list(classes))


def _tensorboard(log_dir: Path | None) -> list:
    """Return a TensorBoard callback writing under `log_dir`, or none without one."""
    if log_dir is None:
        return []
    return [keras().callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch")]


def score(
    trained: TrainedModel,
    training: list[GalleryPhoto],
    held_out: list[GalleryPhoto],
    open_image,
) -> dict:
    """Return MAP@5, top-1 and top-5 of `trained` on the held-back photos of known whales."""
    if not held_out:
        return {}
    answers = [photo.whale_id for photo in held_out]
    if trained.kind == "embedding":
        from whalecat.matching.embedding import embed_images
        from whalecat.matching.ranking import best_per_whale

        def vectors(photos):
            return embed_images(trained.model, [open_image(p) for p in photos], [p.crop for p in photos])

        gallery_vectors, query_vectors = vectors(training), vectors(held_out)
        predictions = [
            [w.whale_id for w in best_per_whale(gallery_vectors @ query, training)[:5]]
            for query in query_vectors
        ]
    else:
        from whalecat.imaging.preprocess import seed_input

        inputs = np.stack([seed_input(_cropped(open_image(p), p.crop)) for p in held_out])
        probabilities = trained.model.predict(inputs, verbose=0)
        predictions = [
            [trained.classes[i] for i in np.argsort(-row)[:5]] for row in probabilities
        ]
    metrics = score_queries(answers, predictions)
    return {name: metrics[name] for name in ("map5", "top1", "top5")}


def describe(trained: TrainedModel) -> dict:
    """Return the sidecar facts that depend on the model itself."""
    tf, k = tensorflow(), keras()
    _, height, width, channels = trained.model.input_shape
    facts = {
        "input_size": {"width": int(width), "height": int(height), "channels": int(channels)},
        "tensorflow_version": tf.__version__,
        "keras_version": k.__version__,
    }
    if trained.kind == "embedding":
        facts["embedding_size"] = int(trained.model.output_shape[-1])
        facts["preprocessing"] = "grayscale, resized to the input size, scaled to [0, 1]; " \
            "the network standardizes each image"
    else:
        facts["classes"] = trained.classes
        facts["preprocessing"] = "grayscale, 100x100, each image to zero mean and unit variance"
    return facts


def save(trained: TrainedModel, path: Path) -> None:
    trained.model.save(path)


def load(path: Path | None) -> TrainedModel:
    """Load a saved version (None: the bundled embedding model) with Keras safe mode."""
    from whalecat.matching.embedding import BUNDLED_MODEL, load_embedding_model

    path = Path(path) if path else BUNDLED_MODEL
    sidecar = _read_sidecar(path)
    kind = sidecar.get("kind", "embedding")
    try:
        if kind == "embedding":
            model = load_embedding_model(path)
        else:
            model = keras().models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as exc:
        saved_with = (
            f"TensorFlow {sidecar.get('tensorflow_version', '?')}, "
            f"Keras {sidecar.get('keras_version', '?')}"
        )
        running = f"TensorFlow {tensorflow().__version__}, Keras {keras().__version__}"
        raise ModelFileError(
            f"cannot load model {path}: saved with {saved_with}, this is {running} ({exc}); "
            "activate another version with 'whalecat models activate' or retrain"
        ) from exc
    return TrainedModel(kind, model, list(sidecar.get("classes", [])))


def _read_sidecar(path: Path) -> dict:
    for candidate in (path.with_suffix(".json"), path.with_name("model.json")):
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    return {}


def _cropped(image, crop):
    return image.crop(crop) if crop else image


def saved_kind(path: Path) -> str:
    """Return the kind ("embedding" or "seed") recorded in a saved model's sidecar."""
    return _read_sidecar(Path(path)).get("kind", "embedding")


class SavedSeedMethod:
    """A seed CNN classifier trained by `whalecat train --model seed`, used as a `Method`.

    Unlike `SeedMethod` it does not train in `prepare`. It ranks only the whales it was
    trained on, so a whale confirmed after that training is not proposed until retraining.
    """

    name = "seed"

    def __init__(self, model_path: Path, device: str = "auto"):
        self.model_path = Path(model_path)
        self.device = device
        self.version = self.model_path.parent.name
        self._trained: TrainedModel | None = None
        self.photo_keys: dict[str, str] = {}

    def prepare(self, gallery: Gallery, progress: Progress | None = None) -> None:
        from whalecat.matching.device import select_device

        if self._trained is None:
            select_device(self.device)
            self._trained = load(self.model_path)
        self.photo_keys = {photo.whale_id: photo.key for photo in gallery.photos}

    def query(self, image, top: int = 5, exclude_keys: frozenset[str] = frozenset()):
        from whalecat.imaging.preprocess import seed_input
        from whalecat.matching.base import Candidate
        from whalecat.matching.seed_cnn import predict_labels

        if self._trained is None:
            raise RuntimeError("SavedSeedMethod.query called before prepare")
        probabilities = self._trained.model.predict(seed_input(image)[np.newaxis], verbose=0)[0]
        return [
            Candidate(label, score, self.photo_keys.get(label), {"method": self.name})
            for label, score in predict_labels(probabilities, self._trained.classes, top)
        ]
