"""Time seed CNN training in the GUI's worker, and how long the GUI event loop waits meanwhile.

Trains the seed CNN on 10,000 random 100x100 photos, reading their inputs from the same
input cache that import fills (made once per cache folder), in a real `Worker`, while a
shown `TrainingPanel` draws the progress and curves it receives. A 10 ms QTimer records every tick; a tick's delay is how much later than 10 ms
after the previous one it fired. Prints seconds per epoch, then the worst and the 99th
percentile delay over the training.

    .venv/bin/python benchmarks/bench_gui_training.py --samples 10000 --classes 1000 --epochs 2
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PySide6.QtCore import QObject, QTimer, Signal  # noqa: E402  (after the platform is chosen)
from PySide6.QtWidgets import QApplication  # noqa: E402

from whalecat.gui.training_panel import TrainingPanel  # noqa: E402
from whalecat.imaging.input_cache import InputCache  # noqa: E402
from whalecat.imaging.preprocess import SEED_INPUT_SIZE  # noqa: E402
from whalecat.matching.base import Gallery, GalleryPhoto  # noqa: E402
from whalecat.gui.worker import WorkerPool  # noqa: E402
from whalecat.progress import Progress  # noqa: E402

TICK_MS = 10


class EpochRelay(QObject):
    epoch_ended = Signal(int, int, object)


def cached_gallery(cache: Path, samples: int, classes: int) -> Gallery:
    """Return a gallery of `samples` random 100x100 photos whose inputs are all in an
    `InputCache`, stored once per cache folder, that fails if asked to decode a photo."""
    inputs = InputCache(cache / "inputs")
    rng = np.random.default_rng(0)
    photos = []
    for number in range(samples):
        key = hashlib.sha256(f"benchmark photo {number}".encode()).hexdigest()
        pixels = rng.integers(0, 256, (SEED_INPUT_SIZE[1], SEED_INPUT_SIZE[0]), dtype=np.uint8)
        if not inputs.path(key, SEED_INPUT_SIZE).is_file():
            inputs.store(key, Image.fromarray(pixels), (SEED_INPUT_SIZE,))
        # Every class gets the same number of photos, so the seed CNN adds no augmented copies.
        photos.append(GalleryPhoto(key, f"w_{number % classes:07d}", Path(f"{key}.jpg")))

    def no_decoding(photo: GalleryPhoto):
        raise AssertionError(f"photo {photo.key} was decoded; its input should be cached")

    return Gallery(photos, no_decoding, inputs)


class CollectionTimer:
    """Records how long each garbage collection ran. Every Python thread waits while one runs."""

    def __init__(self) -> None:
        self.pauses_ms: list[tuple[float, int]] = []  # (duration, generation)
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms.append(((time.perf_counter() - self._started) * 1000, info["generation"]))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="number of random inputs (default 10000)")
    parser.add_argument("--classes", type=int, default=1_000, help="number of whale ids (default 1000)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train; the first includes graph tracing (default 2)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="TensorFlow device (default auto)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "whalecat-bench", help="folder for the cached inputs")
    args = parser.parse_args()

    gallery = cached_gallery(args.cache, args.samples, args.classes)
    app = QApplication([])
    pool = WorkerPool()
    panel = TrainingPanel(pool, lambda: args.device)
    panel.resize(900, 500)
    panel.show()
    relay = EpochRelay()
    epoch_ends: list[float] = []  # perf_counter on the worker thread
    fit_start: list[float] = []
    load_seconds: list[float] = []

    def train(progress: Progress):
        from whalecat.matching.device import select_device
        from whalecat.matching.seed_cnn import seed_inputs, train_seed_model

        def on_epoch(epoch: int, epochs: int, metrics: dict) -> None:
            epoch_ends.append(time.perf_counter())
            relay.epoch_ended.emit(epoch, epochs, metrics)

        device = select_device(args.device)
        loading = time.perf_counter()
        arrays = seed_inputs(gallery, gallery.photos)
        load_seconds.append(time.perf_counter() - loading)
        index = {whale_id: number for number, whale_id in enumerate(gallery.whale_ids)}
        labels = np.array([index[photo.whale_id] for photo in gallery.photos])
        gc.freeze()  # as the training panel's run_training does after loading TensorFlow
        fit_start.append(time.perf_counter())
        train_seed_model(arrays, labels, args.classes, epochs=args.epochs,
                         progress=Progress(progress.callback, progress.token, on_epoch))
        return device

    ticks: list[float] = []
    training_window: list[float] = []  # GUI-thread times of the first training batch and the end
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def on_progress(done: int, total: int, message: str) -> None:
        if message.startswith("Training") and not training_window:
            training_window.append(time.perf_counter())
        panel.show_progress(done, total, message)

    outcome: dict = {}
    worker = pool.run(train, "benchmark training")
    worker.progress.connect(on_progress)
    relay.epoch_ended.connect(panel.show_epoch)
    worker.finished.connect(lambda device: outcome.update(device=device))
    worker.failed.connect(lambda message: outcome.update(error=message))
    worker.done.connect(lambda: (training_window.append(time.perf_counter()), app.quit()))
    panel.begin_display(args.epochs)
    collections = CollectionTimer()
    gc.callbacks.append(collections)
    load_before = os.getloadavg()
    started = time.perf_counter()
    timer.start()
    worker.start()
    app.exec()
    timer.stop()
    gc.callbacks.remove(collections)
    worker.wait(60_000)
    if "error" in outcome:
        raise SystemExit(f"training failed: {outcome['error']}")

    starts = fit_start + epoch_ends[:-1]
    epoch_seconds = [end - start for start, end in zip(starts, epoch_ends)]
    inside = [t for t in ticks if training_window[0] <= t <= training_window[-1]]
    delays_ms = np.maximum(np.diff(inside) * 1000 - TICK_MS, 0) if len(inside) > 1 else np.zeros(1)

    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), TensorFlow device {outcome['device']}")
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"inputs: {args.samples} x 100x100x1, {args.classes} classes, batch 128, {args.epochs} epochs")
    print(f"reading the {args.samples} cached inputs: {load_seconds[0]:.1f} s")
    for number, seconds in enumerate(epoch_seconds, start=1):
        note = " (includes graph tracing)" if number == 1 else ""
        print(f"epoch {number}: {seconds:.1f} s{note}")
    if len(epoch_seconds) > 1:
        print(f"seconds per epoch after the first: {np.mean(epoch_seconds[1:]):.1f}")
    print(f"total wall time: {time.perf_counter() - started:.1f} s")
    print(
        f"event loop over {training_window[-1] - training_window[0]:.1f} s of training: {len(inside)} ticks, "
        f"worst delay {delays_ms.max():.1f} ms, p99 {np.percentile(delays_ms, 99):.1f} ms"
    )
    longest, generation = max(collections.pauses_ms, default=(0.0, 0))
    print(f"garbage collections: {len(collections.pauses_ms)}, longest {longest:.0f} ms (generation {generation})")
    worst = np.argsort(-delays_ms)[:5]
    print("5 worst delays (ms at s after the first batch):", ", ".join(
        f"{delays_ms[i]:.0f} at {inside[i] - training_window[0]:.1f}" for i in sorted(worst)
    ))


if __name__ == "__main__":
    main()
