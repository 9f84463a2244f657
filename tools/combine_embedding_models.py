"""Join two trained embedding networks into one model whose vector is both of theirs.

Two networks trained from scratch at different input sizes make different mistakes, so
ranking by the concatenation of their unit vectors (renormalized) matches better than either
alone: held-out MAP@5 0.546 against 0.517 and 0.507 (docs/evaluation.md). The joined model
takes the first network's input size and channels, unless `--input-size` names another size.
It resizes the image for a network of another size, and turns it gray for a gray network
joined to a colour one, so the app uses it like any other embedding model.

    .venv/bin/python tools/combine_embedding_models.py FIRST.keras SECOND.keras \
        --data ../shared/data --output resources/models/embedding.keras

Each input model's JSON sidecar (written by train_bundled_model.py beside it) is copied into
the new sidecar, which also records the held-out evaluation of the joined model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whalecat.evaluation.runner import evaluate  # noqa: E402
from whalecat.matching.device import keras, select_device, tensorflow  # noqa: E402
from whalecat.matching.embedding import (  # noqa: E402
    EmbeddingMethod,
    load_embedding_model,
    model_input_channels,
    model_input_size,
    read_sidecar,
)

log = logging.getLogger("combine_embedding_models")


def join(first_path: Path, second_path: Path, input_size: tuple[int, int] | None = None):
    """Return the joined Keras model of two saved embedding networks.

    It takes `input_size` (width, height), by default the first network's, and resizes the
    image for each network whose input size differs.
    """
    k = keras()
    first = load_embedding_model(first_path)
    second = load_embedding_model(second_path)
    # Wrapped under new names, because both networks were saved as "fluke_embedding".
    first = k.Model(first.inputs[0], first.outputs[0], name="network_1")
    second = k.Model(second.inputs[0], second.outputs[0], name="network_2")
    width, height = input_size or model_input_size(first)
    channels, second_channels = model_input_channels(first), model_input_channels(second)
    if channels < second_channels:
        raise SystemExit("the first network must take colour photos when the second does")
    image = k.Input((height, width, channels), name="image")
    gray = _to_gray(k)(image) if second_channels < channels else image
    vectors = k.layers.Concatenate()([first(_resized(k, image, first, (width, height))),
                                      second(_resized(k, gray, second, (width, height)))])
    embedding = k.layers.UnitNormalization(name="embedding", dtype="float32")(vectors)
    return k.Model(image, embedding, name="fluke_embedding_pair")


def _common_training_set(sidecars: list[dict]) -> dict | str:
    """Return the networks' shared training set, or a pointer to each one's when they differ."""
    sets = [sidecar.get("trained_on", {}) for sidecar in sidecars]
    return sets[0] if all(found == sets[0] for found in sets) else "differs by network, see joined_from"


def _resized(k, image, network, size: tuple[int, int]):
    own_width, own_height = model_input_size(network)
    if (own_width, own_height) == size:
        return image
    return k.layers.Resizing(own_height, own_width, antialias=True)(image)


def _to_gray(k):
    """Return a fixed layer that turns RGB into PIL's grayscale (ITU-R 601-2 luma)."""
    layer = k.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="to_gray")
    layer.build((None, None, None, 3))
    layer.set_weights([np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 1, 3, 1)])
    return layer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="the network whose input size the joined model takes")
    parser.add_argument("second", type=Path, help="the other network")
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--output", type=Path, required=True, help="where to write the joined model")
    parser.add_argument(
        "--holdout-csv", type=Path, default=Path("/tmp/whalecat-holdout/labels.csv"),
        help="labels of the held-out right whales, as written by train_bundled_model.py",
    )
    parser.add_argument(
        "--input-size", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"),
        help="the joined model's input in pixels (default: the first network's)",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    device = select_device(args.device)
    sidecars = [read_sidecar(path) for path in (args.first, args.second)]
    held_out = [sidecar.get("held_out", {}).get("ids") for sidecar in sidecars]
    if None in held_out or held_out[0] != held_out[1]:
        raise SystemExit("both sidecars must name the same held-out right whales; retrain one")
    if not args.holdout_csv.is_file():
        raise SystemExit(f"{args.holdout_csv} not found; train_bundled_model.py writes it")

    model = join(args.first, args.second, tuple(args.input_size) if args.input_size else None)
    # TODO: store the weights as float16, which Keras loads into float32 variables: 4.2 MB instead
    # of 9.6 MB for the bundled model (docs/evaluation.md), so more networks could be joined.
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_name(args.output.stem + ".part.keras")
    model.save(temporary)
    os.replace(temporary, args.output)

    method = EmbeddingMethod(args.output)
    started = time.perf_counter()
    figures = evaluate(args.holdout_csv, args.data / "rightwhale" / "images", [method])[0]
    width, height = model_input_size(model)
    channels = model_input_channels(model)
    sidecar = {
        "model": args.output.name,
        "version": method.version,
        "joined_from": [
            {"file": path.name, **{key: value for key, value in sidecar.items() if key != "held_out"}}
            for path, sidecar in zip((args.first, args.second), sidecars)
        ],
        "trained_on": _common_training_set(sidecars),
        "held_out": sidecars[0]["held_out"],
        "input_size": {"width": width, "height": height},
        "channels": channels,
        "preprocessing": f"{'RGB' if channels == 3 else 'grayscale'}, crop "
        "box if any, bilinear resize to the input size, pixels / 255; the second network gets "
        "the image in its own channels (grayscale by ITU-R 601-2 luma) and input size, and "
        "each network standardizes its image to zero mean and unit variance",
        "embedding_size": int(model.output_shape[-1]),
        "parameters": int(model.count_params()),
        "file_bytes": args.output.stat().st_size,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
        "tensorflow": tensorflow().__version__,
        "keras": keras().__version__,
        "evaluation_seconds": round(time.perf_counter() - started, 1),
        "held_out_evaluation": {
            key: (round(value, 4) if isinstance(value, float) else value)
            for key, value in figures.items()
        },
    }
    args.output.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    log.info("Wrote %s and its sidecar; held-out MAP@5 %.3f", args.output, figures["map5"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
