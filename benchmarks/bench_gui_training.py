"""Time seed CNN training as the window runs it, and how long the GUI event loop waits meanwhile.

Imports random 100x100 photos of `--whales` whales with `--photos-per-whale` photos each into a
catalogue (made once per cache folder; import fills the input cache). Training holds back one
photo per whale, so the defaults train on 10,000 photos. A shown `TrainingPanel` starts the
training as Retrain does, in a child process, and draws the progress and curves it relays.
After the last epoch the benchmark cancels, because scoring the models is not part of an epoch.

Seconds per epoch are measured between the epoch reports as they reach the window, so
epoch 1 starts at its first batch's report and is short by that one batch. A 10 ms QTimer
records every tick; a tick's delay is how much later than 10 ms after the previous one it fired.

    .venv/bin/python benchmarks/bench_gui_training.py --epochs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402  (after the platform is chosen)
from PySide6.QtWidgets import QApplication  # noqa: E402

from whalecat.catalogue import Catalogue  # noqa: E402
from whalecat.gui.training_panel import TrainingPanel  # noqa: E402
from whalecat.gui.worker import WorkerPool  # noqa: E402
from whalecat.importing import import_paths  # noqa: E402

TICK_MS = 10


def random_catalogue(folder: Path, whales: int, photos_per_whale: int) -> Catalogue:
    """Open the benchmark catalogue in `folder`, importing its random photos the first time."""
    catalogue = Catalogue.open(folder / "catalogue")
    wanted = whales * photos_per_whale
    stamp = folder / f"imported-{whales}x{photos_per_whale}"
    if stamp.exists():
        return catalogue
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["Image,Id"]
    for number in range(wanted):
        name = f"p{number:06d}.png"
        pixels = rng.integers(0, 256, (100, 100), dtype=np.uint8)
        Image.fromarray(pixels).save(images / name)
        rows.append(f"{name},w_{number % whales:07d}")
    labels = folder / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    started = time.perf_counter()
    report = import_paths(catalogue, [images], labels, find_fluke=False)
    print(f"imported {wanted} photos in {time.perf_counter() - started:.0f} s: {report.summary()}")
    stamp.touch()
    return catalogue


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
    parser.add_argument("--whales", type=int, default=1_000, help="whale ids (default 1000)")
    parser.add_argument("--photos-per-whale", type=int, default=11, help="photos of each whale (default 11)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to train; the first includes graph tracing (default 3)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"), help="TensorFlow device (default auto)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "whalecat-bench-training",
                        help="folder for the benchmark catalogue, kept between runs")
    args = parser.parse_args()

    catalogue = random_catalogue(args.cache, args.whales, args.photos_per_whale)
    app = QApplication([])
    pool = WorkerPool()
    panel = TrainingPanel(pool, lambda: args.device)
    panel.set_catalogue(catalogue)
    panel.resize(900, 500)
    panel.show()

    ticks: list[float] = []
    first_batch: list[float] = []
    epoch_ends: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    outcome: dict = {}

    def on_progress(_done: int, _total: int, message: str) -> None:
        if message.startswith("Training") and not first_batch:
            first_batch.append(time.perf_counter())

    def on_epoch(epoch: int, epochs: int, _metrics: dict) -> None:
        epoch_ends.append(time.perf_counter())
        if epoch == epochs:
            panel.cancel()  # the epochs are measured; skip scoring the models

    load_before = os.getloadavg()
    started = time.perf_counter()
    timer.start()
    worker = panel.start("seed", args.epochs)
    worker.progress.connect(on_progress)
    # The panel's relay is made in start(), and its epoch signal calls panel.show_epoch. Wrapping
    # that method records the time each epoch is drawn.
    show_epoch = panel.show_epoch
    panel.show_epoch = lambda epoch, epochs, metrics: (show_epoch(epoch, epochs, metrics), on_epoch(epoch, epochs, metrics))
    worker.failed.connect(lambda message: outcome.update(error=message))
    worker.done.connect(app.quit)
    app.exec()
    timer.stop()
    ended = time.perf_counter()
    catalogue.close()
    if "error" in outcome:
        raise SystemExit(f"training failed: {outcome['error']}")
    if len(epoch_ends) < args.epochs or not first_batch:
        raise SystemExit(f"training ended after {len(epoch_ends)} of {args.epochs} epochs")

    epoch_seconds = np.diff([first_batch[0], *epoch_ends])
    inside = [t for t in ticks if first_batch[0] <= t <= epoch_ends[-1]]
    delays_ms = np.maximum(np.diff(inside) * 1000 - TICK_MS, 0) if len(inside) > 1 else np.zeros(1)

    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}); device as the training reported: {panel.device_label.text()}")
    print(f"oneDNN: TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (whalecat train: 1)')}")
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"catalogue: {args.whales * args.photos_per_whale} photos of {args.whales} whales; "
          f"training on {args.whales * (args.photos_per_whale - 1)}, one per whale held back; batch 128")
    print(f"from Start to the first batch (child process, TensorFlow, inputs): {first_batch[0] - started:.1f} s")
    for number, seconds in enumerate(epoch_seconds, start=1):
        note = " (from its first batch's report; includes graph tracing)" if number == 1 else ""
        print(f"epoch {number}: {seconds:.1f} s{note}")
    if len(epoch_seconds) > 1:
        print(f"seconds per epoch after the first: {np.mean(epoch_seconds[1:]):.1f}")
    print(f"total wall time: {ended - started:.1f} s")
    print(
        f"event loop over {epoch_ends[-1] - first_batch[0]:.1f} s of training: {len(inside)} ticks, "
        f"worst delay {delays_ms.max():.1f} ms, p99 {np.percentile(delays_ms, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
