"""Retrain a model from the catalogue's confirmed photos and adopt it only if it is not worse.

The same function serves `whalecat train` and the window's Retrain. It holds back one photo
of every whale that has two or more and trains on the rest. It then scores the new model and
the active one on the held-back photos, and saves the new model as a version in the
catalogue's `models/` folder. The new version becomes active when it scores at least as well (MAP@5), or
when the caller asks for it anyway.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from whalecat.catalogue import Catalogue
from whalecat.identification import build_gallery
from whalecat.matching.base import Gallery, GalleryPhoto
from whalecat.matching.versions import (
    BUNDLED_VERSION,
    active_model_path,
    active_version,
    set_active_version,
)
from whalecat.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = {"embedding": 10, "seed": 100}
MIN_WHALES_WITH_PAIRS = 2


class TrainingError(Exception):
    """Training could not start or failed. The message explains what to do next."""


@dataclass
class TrainingResult:
    version: str
    kind: str
    path: Path
    metrics: dict  # the new model on the held-back photos
    baseline: dict  # the model that was active, on the same photos
    activated: bool
    reason: str
    device: str
    seconds: float
    epochs: int
    counts: dict = field(default_factory=dict)

    def summary(self) -> str:
        new, old = self.metrics.get("map5", float("nan")), self.baseline.get("map5", float("nan"))
        state = "now active" if self.activated else "kept back"
        return (
            f"trained {self.kind} model {self.version} in {self.seconds:.0f} s on {self.device}: "
            f"MAP@5 {new:.3f} on {self.counts.get('held_out', 0)} held-back photos "
            f"(active model {old:.3f}); {state}: {self.reason}"
        )


def split_held_out(gallery: Gallery) -> tuple[list[GalleryPhoto], list[GalleryPhoto]]:
    """Return (training photos, held-back photos): the last photo of each whale with two or more."""
    by_whale: dict[str, list[GalleryPhoto]] = {}
    for photo in gallery.photos:
        by_whale.setdefault(photo.whale_id, []).append(photo)
    training, held_out = [], []
    for whale_id in sorted(by_whale):
        photos = sorted(by_whale[whale_id], key=lambda p: p.key)
        if len(photos) >= 2:
            held_out.append(photos[-1])
            photos = photos[:-1]
        training.extend(photos)
    return training, held_out


def check_trainable(gallery: Gallery) -> None:
    """Raise TrainingError when the gallery is too small or a photo file is missing."""
    if gallery.missing:
        raise TrainingError(f"cannot train: {gallery.missing_text()}")
    _, held_out = split_held_out(gallery)
    if len(held_out) < MIN_WHALES_WITH_PAIRS:
        raise TrainingError(
            f"too few whales with two or more confirmed photos ({len(held_out)}, at least "
            f"{MIN_WHALES_WITH_PAIRS} needed to measure the new model); confirm more photos first"
        )


def train_catalogue_model(
    catalogue: Catalogue,
    kind: str = "embedding",
    epochs: int | None = None,
    device: str = "auto",
    activate: str = "if-better",
    progress: Progress | None = None,
) -> TrainingResult:
    """Train a new model version of `kind` ("embedding" or "seed") from the catalogue.

    `activate` is "if-better" (not worse on MAP@5), "always" or "never". Raises
    TrainingError with advice, or Cancelled; either way the active model is unchanged and
    no partial version folder remains.
    """
    from whalecat.matching import trainers
    from whalecat.matching.device import select_device

    if kind not in DEFAULT_EPOCHS:
        raise TrainingError(f"unknown model kind {kind!r}; choose embedding or seed")
    if activate not in ("if-better", "always", "never"):
        raise TrainingError(f"unknown activation rule {activate!r}")
    epochs = DEFAULT_EPOCHS[kind] if epochs is None else epochs
    if epochs < 1:
        raise TrainingError(f"epochs must be at least 1, not {epochs}")
    progress = progress or Progress()
    gallery = build_gallery(catalogue)
    check_trainable(gallery)
    training, held_out = split_held_out(gallery)
    device_name = select_device(device)
    progress.check()  # a cancel that came while TensorFlow loaded; nothing is written yet

    version = f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    staging = catalogue.models_dir / f".{version}.part"
    final = catalogue.models_dir / version
    started = time.perf_counter()
    log.info(
        "Training %s model %s on %s: %d training photos, %d held back, %d epochs",
        kind, version, device_name, len(training), len(held_out), epochs,
    )
    try:
        staging.mkdir(parents=True)
        trained = trainers.train(
            kind,
            gallery.subset(training),
            epochs=epochs,
            base_model=active_model_path(catalogue) if kind == "embedding" else None,
            progress=progress,
            log_dir=staging / "logs",
            validation=gallery.subset(held_out),
        )
        progress.check()
        progress.report(0, 1, "Evaluating the new model")
        metrics = trainers.score(
            trained, gallery.subset(training), gallery.subset(held_out), progress
        )
        baseline = _score_active(
            catalogue, gallery.subset(training), gallery.subset(held_out), progress
        )
        progress.check()
        activated, reason = _decide(activate, metrics, baseline)
        seconds = time.perf_counter() - started
        counts = {
            "training_photos": len(training),
            "held_out": len(held_out),
            "whales": len(gallery.whale_ids),
        }
        sidecar = trainers.describe(trained) | {
            "version": version,
            "kind": kind,
            "created_at": datetime.now().isoformat(timespec="seconds"),
            "epochs": epochs,
            "device": device_name,
            "train_seconds": round(seconds, 1),
            "training_data": counts,
            "evaluation": {"held_out_photos": len(held_out), "metrics": metrics,
                           "active_model": active_version(catalogue), "active_metrics": baseline},
            "activated": activated,
            "activation_reason": reason,
        }
        trainers.save(trained, staging / "model.keras")
        _write_json(staging / "model.json", sidecar)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if activated:
        set_active_version(catalogue, version)
    result = TrainingResult(
        version, kind, final, metrics, baseline, activated, reason, device_name, seconds, epochs, counts
    )
    log.info("%s", result.summary())
    return result


def _score_active(catalogue, training: Gallery, held_out: Gallery, progress: Progress) -> dict:
    from whalecat.matching import trainers

    path = active_model_path(catalogue)
    try:
        model = trainers.load(path)
    except (OSError, ValueError) as exc:
        log.warning("Cannot score the active model %s: %s", path or BUNDLED_VERSION, exc)
        return {}
    return trainers.score(model, training, held_out, progress)


def _decide(activate: str, metrics: dict, baseline: dict) -> tuple[bool, str]:
    if activate == "always":
        return True, "activated on request"
    if activate == "never":
        return False, "kept back on request"
    new, old = metrics.get("map5"), baseline.get("map5")
    if old is None:
        return True, "the active model could not be scored"
    if new is not None and new >= old:
        return True, f"MAP@5 {new:.3f} is not worse than the active model's {old:.3f}"
    return False, f"MAP@5 {new:.3f} is worse than the active model's {old:.3f}"


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)
