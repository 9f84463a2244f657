"""The first five stages of EfficientNet-Lite0 in Keras, as a backbone for the embedding.

A network trained from scratch on a few thousand whale photos learns its training whales,
not what makes whales differ (docs/evaluation.md). Starting from ImageNet weights gives the
embedding edge and texture detectors learned from a million photos. EfficientNet-Lite0 (the
Lite variant of EfficientNet-B0 has no squeeze-and-excitation and uses ReLU6) is small
enough to fine-tune on two CPU cores. Its last two stages and head have most of its 4.7 million
parameters, and they see only 7x7 cells of a 224 px photo. They are left out. The first five
stages have 0.72 million parameters and a stride of 16, which keeps a callosity or a scar a
few cells wide.

The ImageNet weights are not bundled. `tools/convert_lite0_weights.py` turns the published
PyTorch file into an `.npz` keyed by the layer names used here, and
`tools/train_bundled_model.py --backbone lite0` starts from it.

The bundled model joins a network on this backbone, trained on RGB 160x160 photos, with the
two gray networks trained from scratch (docs/evaluation.md, "A pretrained backbone"). Trained on
gray 224x112 photos with its ArcFace centres at their usual length, it had matched held-out
whales worse than the gray networks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whalecat.matching.device import keras

STEM_CHANNELS = 32
# (repeats, kernel, first stride, expansion, output channels) of stages 1 to 5.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
)
BLOCKS = sum(repeats for repeats, *_ in STAGES)
# Batch normalization as the TensorFlow original trained it.
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def build_lite0_embedding_model(
    input_size: tuple[int, int], embedding_size: int, weights: Path | str | None = None,
    channels: int = 1,
):
    """Build the embedding network on the Lite0 backbone for (width, height) input with
    `channels` (1 for grayscale, 3 for RGB).

    Each photo is standardized as the small network's are, so brightness and contrast do
    not move its vector. Generalized-mean pooling of the stride-16 map is projected to
    `embedding_size`, batch-normalized and L2-normalized. In a PyTorch copy of this network,
    average and max pooling with dropout, as the small network pools, left the ArcFace loss
    at 15.2 after three epochs, where generalized-mean pooling reached 10.7.

    `weights` is an `.npz` for `load_weights`, such as the backbone's ImageNet weights.
    """
    from whalecat.matching.embedding import _register_layers

    k = keras()
    layers = k.layers
    custom = _register_layers()
    width, height = input_size
    inputs = k.Input((height, width, channels), name="image")
    x = lite0_features(custom["PerImageStandardization"](name="standardize")(inputs))
    x = custom["GeneralizedMeanPooling"](name="gem")(x)
    x = layers.Dense(embedding_size, use_bias=False, name="projection")(x)
    x = layers.BatchNormalization(name="projection_bn")(x)
    outputs = layers.UnitNormalization(name="embedding", dtype="float32")(x)
    model = k.Model(inputs, outputs, name="fluke_embedding_lite0")
    if weights is not None:
        load_weights(model, weights)
    return model


def lite0_features(x):
    """Apply the stem and stages 1 to 5 to a 3-channel tensor; return the stride-16 map."""
    layers = keras().layers
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = _batch_norm(layers, "stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    block = 0
    for repeats, kernel, stride, expansion, channels in STAGES:
        for repeat in range(repeats):
            x = _mobile_block(layers, x, block, kernel, stride if repeat == 0 else 1,
                              expansion, channels)
            block += 1
    return x


def _batch_norm(layers, name):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _mobile_block(layers, inputs, block, kernel, stride, expansion, channels):
    """Apply an inverted residual block: 1x1 expansion, depthwise kxk, 1x1 projection."""
    name = f"block{block}"
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(inputs.shape[-1] * expansion, 1, use_bias=False,
                          name=f"{name}_expand")(x)
        x = _batch_norm(layers, f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(x)
    x = _batch_norm(layers, f"{name}_depthwise_bn")(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(x)
    x = _batch_norm(layers, f"{name}_project_bn")(x)
    if stride == 1 and inputs.shape[-1] == channels:
        x = layers.Add()([x, inputs])
    return x


def load_weights(model, path: Path | str) -> int:
    """Copy the arrays of an `.npz` into the layers of `model` that they name.

    Each array is keyed `layer/weight` (`stem_conv/kernel`, `block3_expand_bn/gamma`), as
    tools/convert_lite0_weights.py writes them. Three-channel ImageNet stem filters are summed
    into one, which responds to a gray photo as they do to its three equal channels. Returns
    how many layers were filled. Raises ValueError naming a layer whose shapes differ.
    """
    arrays = np.load(path)
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for key in arrays.files:
        layer, weight = key.split("/")
        by_layer.setdefault(layer, {})[weight] = arrays[key]

    filled = 0
    for layer in model.layers:
        weights = by_layer.get(layer.name)
        if weights is None:
            continue
        if isinstance(layer, keras().layers.BatchNormalization):
            names = ("gamma", "beta", "moving_mean", "moving_variance")
        else:
            names = ("kernel",)
        values = [weights[name] for name in names]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if layer.name == "stem_conv" and expected[0][2] == 1:
            values = [values[0].sum(axis=2, keepdims=True)]
        if expected != [v.shape for v in values]:
            raise ValueError(
                f"weights in {path} for layer {layer.name} have shapes "
                f"{[v.shape for v in values]}, but the layer needs {expected}; convert them "
                "again with tools/convert_lite0_weights.py"
            )
        layer.set_weights(values)
        filled += 1
    return filled
