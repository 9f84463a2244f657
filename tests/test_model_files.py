"""Loading saved `.keras` files, and the message for a file that this Keras cannot load."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.cli import main
from whalecat.matching import trainers
from whalecat.matching.device import keras, tensorflow
from whalecat.matching.embedding import build_embedding_model, load_embedding_model
from whalecat.matching.seed_cnn import build_seed_model
from whalecat.matching.trainers import ModelFileError

FUTURE_KERAS = "9.0.0"
FUTURE_TENSORFLOW = "3.1.0"


def _running_versions() -> tuple[str, str]:
    return f"TensorFlow {tensorflow().__version__}", f"Keras {keras().__version__}"


def _future_copy(source: Path, target: Path) -> Path:
    """Write a copy of `source` that looks saved by a future Keras: its `metadata.json` names
    that version and its last layer is a class this Keras does not have."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    metadata["keras_version"] = FUTURE_KERAS
    members["metadata.json"] = json.dumps(metadata).encode()
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["class_name"] = "LayerFromKeras9"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _write_sidecar(model_file: Path, **facts) -> None:
    model_file.with_name("model.json").write_text(json.dumps(facts), encoding="utf-8")


@pytest.fixture(scope="module")
def embedding_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("embedding") / "model.keras"
    build_embedding_model(width=8, embedding_size=16).save(path)
    return path


@pytest.fixture
def future_embedding(embedding_file, tmp_path) -> Path:
    folder = tmp_path / "future"
    folder.mkdir()
    return _future_copy(embedding_file, folder / "model.keras")


def test_compatible_embedding_file_loads(tmp_path):
    original = build_embedding_model(width=8, embedding_size=16)
    original.save(tmp_path / "model.keras")
    loaded = load_embedding_model(tmp_path / "model.keras")
    inputs = np.random.default_rng(0).random((2, *original.input_shape[1:]), dtype=np.float32)

    assert loaded.output_shape == (None, 16)
    np.testing.assert_allclose(loaded(inputs), original(inputs), rtol=1e-5, atol=1e-6)


def test_future_file_without_sidecar(future_embedding):
    # Without a sidecar only the zip's metadata.json records a version, and only Keras's.
    with pytest.raises(ModelFileError) as raised:
        load_embedding_model(future_embedding)
    message = str(raised.value)
    running_tensorflow, running_keras = _running_versions()

    assert str(future_embedding) in message
    assert f"Keras {FUTURE_KERAS}" in message
    assert "TensorFlow (not recorded)" in message
    assert running_keras in message
    assert running_tensorflow in message
    assert "LayerFromKeras9" in message
    assert "whalecat models activate" in message


def test_future_file_with_sidecar(future_embedding):
    _write_sidecar(
        future_embedding, kind="embedding",
        tensorflow_version=FUTURE_TENSORFLOW, keras_version=FUTURE_KERAS,
    )

    running_tensorflow, running_keras = _running_versions()

    for load in (load_embedding_model, trainers.load):
        with pytest.raises(ModelFileError) as raised:
            load(future_embedding)
        message = str(raised.value)

        assert f"TensorFlow {FUTURE_TENSORFLOW}, Keras {FUTURE_KERAS}" in message
        assert f"{running_tensorflow}, {running_keras}" in message


def test_sidecar_version_wins_over_zip(future_embedding):
    _write_sidecar(future_embedding, kind="embedding", keras_version="8.5.0")

    with pytest.raises(ModelFileError) as raised:
        trainers.load(future_embedding)

    assert "Keras 8.5.0" in str(raised.value)
    assert f"Keras {FUTURE_KERAS}" not in str(raised.value)


def test_future_seed_file(tmp_path):
    saved = tmp_path / "saved.keras"
    build_seed_model(2).save(saved)
    (tmp_path / "future").mkdir()
    future = _future_copy(saved, tmp_path / "future" / "model.keras")
    _write_sidecar(
        future, kind="seed", classes=["w_a", "w_b"],
        tensorflow_version=FUTURE_TENSORFLOW, keras_version=FUTURE_KERAS,
    )

    with pytest.raises(ModelFileError) as raised:
        trainers.load(future)
    message = str(raised.value)
    running_tensorflow, running_keras = _running_versions()

    assert f"TensorFlow {FUTURE_TENSORFLOW}, Keras {FUTURE_KERAS}" in message
    assert f"{running_tensorflow}, {running_keras}" in message


def test_invalid_sidecar_names_file(future_embedding):
    sidecar = future_embedding.with_name("model.json")
    sidecar.write_text("{not json", encoding="utf-8")

    with pytest.raises(ModelFileError) as raised:
        trainers.load(future_embedding)

    assert str(sidecar) in str(raised.value)
    assert "not valid JSON" in str(raised.value)


def test_missing_model_file(tmp_path):
    missing = tmp_path / "model.keras"
    _write_sidecar(missing, kind="seed", classes=["w_a"])

    with pytest.raises(FileNotFoundError) as raised:
        trainers.load(missing)

    assert str(missing) in str(raised.value)


def test_cli_identify_with_future_model(embedding_file, tmp_path, capsys):
    folder = tmp_path / "catalogue"
    with Catalogue.open(folder) as catalogue:
        version_folder = catalogue.models_dir / "embedding-future"
    version_folder.mkdir(parents=True)
    future = _future_copy(embedding_file, version_folder / "model.keras")
    _write_sidecar(
        future, kind="embedding",
        tensorflow_version=FUTURE_TENSORFLOW, keras_version=FUTURE_KERAS,
    )
    photo = save_fluke(tmp_path / "query.jpg", individual=1)
    save_fluke(tmp_path / "known" / "a.jpg", individual=1, sighting=1)
    (tmp_path / "labels.csv").write_text("Image,Id\na.jpg,w_1287fbc\n")
    assert main(["--catalogue", str(folder), "import", str(tmp_path / "known"),
                 "--labels", str(tmp_path / "labels.csv")]) == 0

    # Activation only records the choice, so the incompatible file first fails on identify.
    assert main(["--catalogue", str(folder), "models", "activate", "embedding-future"]) == 0
    capsys.readouterr()
    status = main(["--catalogue", str(folder), "identify", str(photo), "--method", "embedding"])
    error = capsys.readouterr().err
    running_tensorflow, running_keras = _running_versions()

    assert status == 2
    assert error.startswith("whalecat identify: error: cannot load model")
    assert f"TensorFlow {FUTURE_TENSORFLOW}, Keras {FUTURE_KERAS}" in error
    assert f"{running_tensorflow}, {running_keras}" in error
    assert "Traceback" not in error
