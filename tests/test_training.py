"""Retraining from a catalogue: versions, activation, cancel and errors, on real Keras models."""

import json
import shutil

import pytest

from tests.helpers import save_labelled_flukes
from whalecat.catalogue import Catalogue
from whalecat.identification import Identifier
from whalecat.importing import import_paths
from whalecat.matching.versions import (
    BUNDLED_VERSION,
    active_version,
    bundled_model_dir,
    list_versions,
    set_active_version,
)
from whalecat.progress import CancelToken, Cancelled, Progress
from whalecat.training import TrainingError, train_catalogue_model


def _catalogue(tmp_path, whales: int, photos_per_whale: int) -> Catalogue:
    images, labels = save_labelled_flukes(tmp_path, whales, photos_per_whale)
    catalogue = Catalogue.open(tmp_path / "catalogue")
    import_paths(catalogue, [images], labels)
    return catalogue


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One seed-CNN training run shared by the tests that only read its outcome."""
    tmp_path = tmp_path_factory.mktemp("trained")
    catalogue = _catalogue(tmp_path, whales=4, photos_per_whale=3)
    reports = []
    epochs = []
    progress = Progress(
        lambda done, total, message: reports.append((done, total, message)),
        epoch_callback=lambda epoch, total, metrics: epochs.append(metrics),
    )
    result = train_catalogue_model(catalogue, kind="seed", epochs=2, activate="always", progress=progress)
    reports.append(epochs)
    yield catalogue, result, reports
    catalogue.close()


def test_seed_training_saves_a_complete_version(trained):
    catalogue, result, reports = trained
    assert result.path == catalogue.models_dir / result.version
    assert (result.path / "model.keras").is_file()
    sidecar = json.loads((result.path / "model.json").read_text())
    assert sidecar["kind"] == "seed"
    assert sidecar["classes"] == [f"w_{i:07d}" for i in range(4)]
    assert sidecar["epochs"] == 2
    assert sidecar["training_data"] == {"training_photos": 8, "held_out": 4, "whales": 4}
    assert set(sidecar["evaluation"]["metrics"]) == {"map5", "top1", "top5"}
    assert sidecar["tensorflow_version"] and sidecar["keras_version"]
    assert any((result.path / "logs").rglob("events.out.tfevents.*"))
    assert not list(catalogue.models_dir.glob(".*.part"))
    *batches, epochs = reports
    assert any("epoch 2 of 2" in message for _, _, message in batches)
    assert len(epochs) == 2
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[-1])


def test_activation_and_rollback(trained):
    catalogue, result, _ = trained
    assert active_version(catalogue) == result.version
    lines = list_versions(catalogue)
    assert any(line.startswith("*") and result.version in line for line in lines)
    assert any(result.version in line and "on 4 held-back photos" in line for line in lines)
    set_active_version(catalogue, BUNDLED_VERSION)
    assert active_version(catalogue) == BUNDLED_VERSION
    set_active_version(catalogue, result.version)
    with pytest.raises(ValueError, match="not found"):
        set_active_version(catalogue, "embedding-19990101-000000")


def test_identifier_uses_active_seed_model(trained):
    catalogue, result, _ = trained
    identifier = Identifier(catalogue)
    candidates = identifier.identify_photo(1)
    assert identifier.model_version == result.version
    assert len({c.label for c in candidates}) == 5
    assert "new_whale" in {c.label for c in candidates}


def test_cancel_keeps_previous_model_and_leaves_nothing(tmp_path):
    catalogue = _catalogue(tmp_path, whales=3, photos_per_whale=2)
    token = CancelToken()

    def cancel_in_training(done, total, message):
        if "epoch" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        train_catalogue_model(catalogue, kind="seed", epochs=50, progress=Progress(cancel_in_training, token))
    assert active_version(catalogue) == BUNDLED_VERSION
    assert [p.name for p in catalogue.models_dir.iterdir()] == []
    catalogue.close()


def test_too_few_whales_with_pairs(tmp_path):
    catalogue = _catalogue(tmp_path, whales=3, photos_per_whale=1)
    with pytest.raises(TrainingError, match="too few whales with two or more"):
        train_catalogue_model(catalogue, kind="seed", epochs=1)
    catalogue.close()


def test_missing_photo_file_named(tmp_path):
    catalogue = _catalogue(tmp_path, whales=2, photos_per_whale=2)
    victim = next(catalogue.photos_dir.rglob("*.jpg"))
    victim.unlink()
    with pytest.raises(TrainingError, match="missing"):
        train_catalogue_model(catalogue, kind="seed", epochs=1)
    catalogue.close()


def test_reembedding_keeps_keypoint_features(tmp_path):
    catalogue = _catalogue(tmp_path, whales=3, photos_per_whale=2)
    identifier = Identifier(catalogue, device="cpu")
    identifier.identify_photo(1, record=False)
    features = identifier.method.keypoints
    # A copy of the bundled embedding, saved as a trained version, is a new model to switch to.
    version = catalogue.models_dir / "embedding-copy"
    version.mkdir(parents=True)
    shutil.copy(bundled_model_dir() / "embedding.keras", version / "model.keras")
    (version / "model.json").write_text(json.dumps({"kind": "embedding"}))
    set_active_version(catalogue, "embedding-copy")

    assert identifier.reembed() == "embedding-copy"
    assert identifier.model_version == "embedding-copy"
    assert identifier.method.keypoints is features
    catalogue.close()
