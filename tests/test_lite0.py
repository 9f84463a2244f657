"""The EfficientNet-Lite0 backbone: its layout, and ImageNet weights converted into it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from whalecat.matching.device import keras
from whalecat.matching.embedding import embed_arrays, load_embedding_model
from whalecat.matching.lite0 import BLOCKS, build_lite0_embedding_model, load_weights

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_converter():
    spec = importlib.util.spec_from_file_location("convert_lite0_weights",
                                                  TOOLS / "convert_lite0_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeTensor:
    """Stands in for a torch tensor: the converter only calls .numpy() on it."""

    def __init__(self, array):
        self.array = array

    def numpy(self):
        return self.array


def torch_state_dict(model, rng) -> dict:
    """Return a PyTorch-layout state dict of random values with the shapes `model` needs."""
    state = {}

    def conv(name, kernel_shape, depthwise=False):
        kh, kw, cin, cout = kernel_shape
        shape = (cin, 1, kh, kw) if depthwise else (cout, cin, kh, kw)
        state[f"{name}.weight"] = FakeTensor(rng.normal(size=shape).astype(np.float32))

    def batch_norm(name, channels):
        for weight in ("weight", "bias", "running_mean", "running_var"):
            state[f"{name}.{weight}"] = FakeTensor(rng.random(channels).astype(np.float32) + 0.5)

    stem = model.get_layer("stem_conv").kernel.shape
    conv("_conv_stem", (*stem[:2], 3, stem[3]))
    batch_norm("_bn0", stem[3])
    for block in range(BLOCKS):
        names = {layer.name for layer in model.layers}
        if f"block{block}_expand" in names:
            shape = model.get_layer(f"block{block}_expand").kernel.shape
            conv(f"_blocks.{block}._expand_conv", shape)
            batch_norm(f"_blocks.{block}._bn0", shape[3])
        shape = model.get_layer(f"block{block}_depthwise").kernel.shape
        conv(f"_blocks.{block}._depthwise_conv", shape, depthwise=True)
        batch_norm(f"_blocks.{block}._bn1", shape[2])
        shape = model.get_layer(f"block{block}_project").kernel.shape
        conv(f"_blocks.{block}._project_conv", shape)
        batch_norm(f"_blocks.{block}._bn2", shape[3])
    return state


@pytest.fixture(scope="module")
def model():
    return build_lite0_embedding_model((96, 48), 32)


def test_lite0_gives_small_unit_vectors(model):
    vectors = embed_arrays(model, np.random.default_rng(0).random((2, 48, 96, 1)))
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The first five stages only: about 0.72 million parameters, under 3 MB as float32.
    assert 600_000 < model.count_params() < 900_000


def test_converted_weights_fill_layers(model, tmp_path):
    converter = load_converter()
    state = torch_state_dict(model, np.random.default_rng(1))
    path = tmp_path / "imagenet.npz"
    np.savez(path, **converter.convert(state))

    fresh = build_lite0_embedding_model((96, 48), 32, weights=path)

    torch_kernel = state["_blocks.4._project_conv.weight"].array  # (out, in, kh, kw)
    np.testing.assert_array_equal(fresh.get_layer("block4_project").kernel.numpy(),
                                  torch_kernel.transpose(2, 3, 1, 0))
    torch_depthwise = state["_blocks.7._depthwise_conv.weight"].array  # (channels, 1, kh, kw)
    np.testing.assert_array_equal(fresh.get_layer("block7_depthwise").kernel.numpy(),
                                  torch_depthwise.transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(fresh.get_layer("block2_expand_bn").moving_variance.numpy(),
                                  state["_blocks.2._bn0.running_var"].array)
    # A gray photo is three equal channels, so the colour filters of the stem add up.
    stem = state["_conv_stem.weight"].array.transpose(2, 3, 1, 0)
    np.testing.assert_allclose(fresh.get_layer("stem_conv").kernel.numpy(),
                               stem.sum(axis=2, keepdims=True), rtol=1e-6)


def test_wrong_shape_names_layer(model, tmp_path):
    converter = load_converter()
    arrays = converter.convert(torch_state_dict(model, np.random.default_rng(2)))
    arrays["block5_project/kernel"] = arrays["block5_project/kernel"][:, :, :, :3]
    path = tmp_path / "wrong.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="block5_project"):
        load_weights(build_lite0_embedding_model((96, 48), 32), path)


def test_saved_lite0_model_reloads(model, tmp_path):
    path = tmp_path / "embedding.keras"
    model.save(path)
    arrays = np.random.default_rng(3).random((2, 48, 96, 1)).astype(np.float32)
    loaded = load_embedding_model(path)
    np.testing.assert_allclose(embed_arrays(loaded, arrays), embed_arrays(model, arrays),
                               atol=1e-5)
    assert isinstance(loaded, keras().Model)


def test_generalized_mean_spans_average_to_max():
    from whalecat.matching.embedding import _register_layers

    pooling = _register_layers()["GeneralizedMeanPooling"]()
    responses = np.random.default_rng(4).uniform(0.1, 1.0, (1, 4, 4, 2)).astype(np.float32)
    pooling.build(responses.shape)

    pooling.p.assign(1.0)
    np.testing.assert_allclose(np.asarray(pooling(responses))[0], responses.mean(axis=(0, 1, 2)),
                               rtol=1e-5)
    pooling.p.assign(50.0)
    largest = responses.max(axis=(0, 1, 2))
    pooled = np.asarray(pooling(responses))[0]
    assert np.all(pooled <= largest + 1e-6)
    assert np.all(pooled > 0.9 * largest)
    # Negative responses count as nothing, not as large magnitudes.
    pooling.p.assign(2.0)
    assert np.asarray(pooling(-responses)).max() < 1e-5


def test_joined_colour_and_gray_networks(tmp_path):
    spec = importlib.util.spec_from_file_location("combine_embedding_models",
                                                  TOOLS / "combine_embedding_models.py")
    combine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(combine)
    from whalecat.matching.embedding import build_embedding_model

    colour = build_lite0_embedding_model((48, 48), 16, channels=3)
    gray = build_embedding_model((48, 24), embedding_size=8, width=8)
    colour.save(tmp_path / "colour.keras")
    gray.save(tmp_path / "gray.keras")
    joined = combine.join(tmp_path / "colour.keras", tmp_path / "gray.keras", (64, 64))
    assert joined.input_shape == (None, 64, 64, 3)

    rgb = np.random.default_rng(2).random((2, 64, 64, 3)).astype(np.float32)
    vectors = embed_arrays(joined, rgb)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    resize = keras().layers.Resizing
    expected_colour = embed_arrays(colour, np.asarray(resize(48, 48, antialias=True)(rgb)))
    expected_gray = embed_arrays(gray, np.asarray(resize(24, 48, antialias=True)(luma[..., None])))
    # Both halves are unit vectors, so the joined one is their concatenation over sqrt(2).
    assert np.allclose(vectors[:, :16] * np.sqrt(2), expected_colour, atol=1e-4)
    assert np.allclose(vectors[:, 16:] * np.sqrt(2), expected_gray, atol=1e-4)
