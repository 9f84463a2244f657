"""Network inputs stored at import and read back by training instead of decoding photos."""

import logging

import numpy as np
import pytest

from tests.helpers import save_labelled_flukes
from whalecat.catalogue import Catalogue
from whalecat.identification import build_gallery
from whalecat.imaging.input_cache import InputCache, import_inputs
from whalecat.imaging.io import open_photo
from whalecat.imaging.preprocess import SEED_INPUT_SIZE, network_pixels
from whalecat.importing import import_paths
from whalecat.matching.embedding import (
    build_embedding_model,
    embed_gallery_photos,
    load_embedding_model,
    model_input_channels,
    model_input_size,
)
from whalecat.matching.embedding_train import fine_tune
from whalecat.matching.lite0 import build_lite0_embedding_model
from whalecat.matching.seed_cnn import seed_inputs


@pytest.fixture()
def catalogue(tmp_path):
    images, labels = save_labelled_flukes(tmp_path, whales=3, photos_per_whale=2)
    with Catalogue.open(tmp_path / "catalogue") as opened:
        import_paths(opened, [images], labels)
        yield opened


def counting(gallery):
    """Make `gallery` count the photos it opens, and return the list of opened keys."""
    opened = []
    open_image = gallery.open_image

    def open_and_count(photo):
        opened.append(photo.key)
        return open_image(photo)

    gallery.open_image = open_and_count
    return opened


def test_import_stores_the_pixels_networks_start_from(catalogue):
    gallery = build_gallery(catalogue)
    cache = InputCache(catalogue.inputs_dir)
    bundled = load_embedding_model()
    assert (SEED_INPUT_SIZE, 1) in import_inputs()
    assert (model_input_size(bundled), model_input_channels(bundled)) in import_inputs()
    for photo in gallery.photos:
        for size, channels in import_inputs():
            stored = np.load(cache.path(photo.key, size, photo.crop, channels))
            expected = network_pixels(open_photo(photo.path), photo.crop, size, channels)
            assert stored.shape == ((size[1], size[0]) if channels == 1 else (size[1], size[0], 3))
            assert np.array_equal(stored, expected)


def test_training_inputs_come_from_the_cache(catalogue):
    gallery = build_gallery(catalogue)
    opened = counting(gallery)
    inputs = seed_inputs(gallery, gallery.photos)
    assert inputs.shape == (6, SEED_INPUT_SIZE[1], SEED_INPUT_SIZE[0], 1)
    # The input import stores for the bundled embedding model, read from its sidecar.
    size, channels = import_inputs()[-1]
    if channels == 1:
        model = build_embedding_model(size, embedding_size=16, width=8)
    else:
        model = build_lite0_embedding_model(size, 16, channels=channels)
    fine_tune(model, gallery, epochs=1)
    embed_gallery_photos(model, gallery)
    assert opened == []


def test_colour_and_gray_inputs_are_kept_apart(catalogue):
    gallery = build_gallery(catalogue)
    photo = gallery.photos[0]
    size = (40, 20)
    gray = gallery.network_pixels(photo, size)
    colour = gallery.network_pixels(photo, size, channels=3)
    assert gray.shape == (20, 40)
    assert colour.shape == (20, 40, 3)
    cache = InputCache(catalogue.inputs_dir)
    assert cache.path(photo.key, size, photo.crop) != cache.path(photo.key, size, photo.crop, 3)
    opened = counting(gallery)
    assert np.array_equal(gallery.network_pixels(photo, size, channels=3), colour)
    assert np.array_equal(gallery.network_pixels(photo, size), gray)
    assert opened == []
    # A stored input of the wrong shape is made again rather than fed to a network.
    np.save(cache.path(photo.key, size, photo.crop, 3), gray)
    assert np.array_equal(gallery.network_pixels(photo, size, channels=3), colour)


def test_cropped_input_computed_once(catalogue):
    gallery = build_gallery(catalogue)
    opened = counting(gallery)
    photo = gallery.photos[0]
    cropped = type(photo)(photo.key, photo.whale_id, photo.path, (10, 5, 200, 90))
    first = gallery.network_pixels(cropped, SEED_INPUT_SIZE)
    second = gallery.network_pixels(cropped, SEED_INPUT_SIZE)
    assert opened == [photo.key]
    assert np.array_equal(first, second)
    assert np.array_equal(first, network_pixels(open_photo(photo.path), cropped.crop, SEED_INPUT_SIZE))
    assert not np.array_equal(first, gallery.network_pixels(photo, SEED_INPUT_SIZE))


def test_unreadable_cached_input_is_made_again(catalogue, caplog):
    gallery = build_gallery(catalogue)
    photo = gallery.photos[0]
    path = InputCache(catalogue.inputs_dir).path(photo.key, SEED_INPUT_SIZE, photo.crop)
    expected = np.load(path)
    path.write_bytes(b"not an array")
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(gallery.network_pixels(photo, SEED_INPUT_SIZE), expected)
    assert "unreadable cached input" in caplog.text
    assert np.array_equal(np.load(path), expected)
