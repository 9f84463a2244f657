"""Train, score, save and load the two kinds of model a catalogue can retrain.

`embedding` fine-tunes the active embedding network; `seed` trains the seed CNN classifier
from scratch over the catalogue's whale ids. `whalecat.training` calls these through one
interface, so it needs no branch per kind.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whalecat.evaluation.protocol import score_queries
from whalecat.matching.base import Gallery
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
    from whalecat.matching.seed_cnn import seed_inputs, train_seed_model

    classes = gallery.whale_ids
    index = {whale_id: number for number, whale_id in enumerate(classes)}
    arrays = seed_inputs(gallery, gallery.photos, progress)
    labels = np.array([index[photo.whale_id] for photo in gallery.photos])
    held_back = None
    if validation is not None:
        known = [photo for photo in validation.photos if photo.whale_id in index]
        if known:
            held_back = (
                seed_inputs(validation, known, progress),
                np.array([index[photo.whale_id] for photo in known]),
            )
    model = train_seed_model(
        arrays, labels, len(classes), epochs=epochs, progress=progress,
        callbacks=_tensorboard(log_dir), validation=held_back,
    )
    return TrainedModel("seed", model, list(classes))


def _tensorboard(log_dir: Path | None) -> list:
    """Return a TensorBoard callback writing under `log_dir`, or none without one."""
    if log_dir is None:
        return []
    return [keras().callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch")]


def score(
    trained: TrainedModel, training: Gallery, held_out: Gallery, progress: Progress | None = None
) -> dict:
    """Return MAP@5, top-1 and top-5 of `trained` on the held-back photos of known whales.

    Raises Cancelled between batches once `progress` is cancelled.
    """
    if not held_out.photos:
        return {}
    answers = [photo.whale_id for photo in held_out.photos]
    if trained.kind == "embedding":
        from whalecat.matching.embedding import embed_gallery_photos
        from whalecat.matching.ranking import best_per_whale

        gallery_vectors = embed_gallery_photos(trained.model, training, progress=progress)
        query_vectors = embed_gallery_photos(trained.model, held_out, progress=progress)
        predictions = [
            [w.whale_id for w in best_per_whale(gallery_vectors @ query, training.photos)[:5]]
            for query in query_vectors
        ]
    else:
        from whalecat.matching.seed_cnn import seed_inputs

        inputs = seed_inputs(held_out, held_out.photos, progress)
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
        facts["preprocessing"] = (
            f"{'RGB' if channels == 3 else 'grayscale'}, resized to the input size, scaled "
            "to [0, 1]; the network standardizes each image")
    else:
        facts["classes"] = trained.classes
        facts["preprocessing"] = "grayscale, 100x100, each image to zero mean and unit variance"
    return facts


def save(trained: TrainedModel, path: Path) -> None:
    trained.model.save(path)


def load(path: Path | None) -> TrainedModel:
    """Load a saved version (None: the bundled embedding model) with Keras safe mode.

    Raises FileNotFoundError for a missing file, and ModelFileError when the model or its
    sidecar cannot be read.
    """
    from whalecat.matching.embedding import BUNDLED_MODEL, load_embedding_model

    path = Path(path) if path else BUNDLED_MODEL
    sidecar = _read_sidecar(path)
    kind = sidecar.get("kind", "embedding")
    if kind == "embedding":
        model = load_embedding_model(path)
    else:
        model = load_model_file(path)
    return TrainedModel(kind, model, list(sidecar.get("classes", [])))


def load_model_file(path: Path):
    """Load a `.keras` file with Keras safe mode, which rejects Python lambdas stored in it.

    Raises FileNotFoundError for a missing file, and ModelFileError when Keras cannot load
    it. That message names the TensorFlow and Keras versions the file was saved with and
    the running ones, because a file saved by another Keras version is the usual cause.
    Custom layers must be registered before the call.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        return keras().models.load_model(path, compile=False, safe_mode=True)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
        saved_tensorflow, saved_keras = _saved_versions(path)
        raise ModelFileError(
            f"cannot load model {path}: it was saved with TensorFlow {saved_tensorflow}, "
            f"Keras {saved_keras}, and whalecat runs TensorFlow {tensorflow().__version__}, "
            f"Keras {keras().__version__}. Make another model version active "
            "(Catalogue → Models… or 'whalecat models activate VERSION'), or retrain. "
            f"Keras error: {exc}"
        ) from exc


def _read_sidecar(path: Path) -> dict:
    """Return the JSON sidecar beside a model file (`<name>.json` or `model.json`), or {}."""
    for candidate in (path.with_suffix(".json"), path.with_name("model.json")):
        if not candidate.is_file():
            continue
        try:
            sidecar = json.loads(candidate.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelFileError(
                f"model sidecar {candidate} is not valid JSON ({exc}); retrain, "
                "or make another model version active"
            ) from exc
        if not isinstance(sidecar, dict):
            raise ModelFileError(
                f"model sidecar {candidate} is not a JSON object; retrain, "
                "or make another model version active"
            )
        return sidecar
    return {}


def _saved_versions(path: Path) -> tuple[str, str]:
    """Return the (TensorFlow, Keras) versions a model file was saved with, where recorded.

    The sidecar records both. When it lacks the Keras version, that comes from the
    `metadata.json` Keras 3 writes into every `.keras` zip, which records no TensorFlow version.
    """
    try:
        sidecar = _read_sidecar(path)
    except (OSError, ModelFileError):
        sidecar = {}
    tensorflow_version = sidecar.get("tensorflow_version")
    keras_version = sidecar.get("keras_version") or _zip_keras_version(path)
    return tensorflow_version or "(not recorded)", keras_version or "(not recorded)"


def _zip_keras_version(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return metadata.get("keras_version") if isinstance(metadata, dict) else None


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
