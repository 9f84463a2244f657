"""Choosing the device TensorFlow runs on, with TensorFlow imported only when first needed.

Importing TensorFlow takes seconds and hundreds of megabytes, so no module of the package
imports it at import time. The catalogue, the importer and the GUI start without it, and
matching code calls `tensorflow()` or `keras()` when a model is first built or loaded.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from types import ModuleType
from typing import Iterator

from whalecat.progress import writes_nothing

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "gpu")

_selected: str | None = None
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The user's own setting, read before `tensorflow()` sets this process's default, so that a
# training process started from here can tell the user's choice from that default.
USER_ONEDNN = os.environ.get(ONEDNN_VARIABLE)


class DeviceError(RuntimeError):
    """The requested device cannot be used."""


def tensorflow() -> ModuleType:
    """Import and return TensorFlow, quieting its C++ start-up log unless the user set a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN trained the seed CNN four times faster on CPU. With TensorFlow 2.21 it corrupted
    # the heap on odd batches of the embedding network, which `train_embedding` now avoids,
    # and at the exit of full test runs, probably where a test had left it on in the test
    # process. So it stays off here, where a crash could cost work, and `whalecat train`, a
    # process of its own, turns it on.
    os.environ.setdefault(ONEDNN_VARIABLE, "0")
    # Loading takes seconds and cannot be interrupted, so a closing window need not wait for it.
    with writes_nothing("loading TensorFlow"), _frozen_after("tensorflow"):
        import tensorflow as tf

    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracingNotice) for f in tf_logger.filters):
        tf_logger.addFilter(_DropRetracingNotice())
    return tf


class _DropRetracingNotice(logging.Filter):
    """Drops TensorFlow's warning that a function "triggered tf.function retracing".

    Each embedding model traces its prediction graph once per batch shape: the gallery's
    batches, the last short batch and a single query. After a few model switches TensorFlow
    warns about that, and the window's log showed the warning as if something had failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def keras() -> ModuleType:
    """Import and return Keras 3 (after TensorFlow, which it uses as its backend here)."""
    tensorflow()
    with writes_nothing("loading Keras"), _frozen_after("keras"):
        import keras as keras_module

    return keras_module


@contextlib.contextmanager
def _frozen_after(module: str) -> Iterator[None]:
    """Move the objects that loading `module` makes out of the garbage collector's later reach.

    TensorFlow's and Keras' objects live as long as the process, and every full collection
    that scans them stops all threads, the window's included: about 200 ms each on 2 cores
    once TensorFlow is loaded. Only the first load freezes, because `gc.freeze` also keeps
    whatever else is alive then from ever being collected.
    """
    first = module not in sys.modules
    try:
        yield
    finally:
        if first:
            gc.freeze()


def select_device(device: str = "auto") -> str:
    """Configure TensorFlow for `device` ("auto", "cpu" or "gpu") and return a description.

    "cpu" hides every GPU. "gpu" raises DeviceError when TensorFlow finds none. Mixed precision
    is turned on only when a GPU runs, because on CPU it is slower. TensorFlow fixes visible
    devices when it first runs an operation, so only the first call in a process takes effect
    on the device; later calls return the description of the device already chosen.
    """
    global _selected
    if device not in DEVICE_CHOICES:
        raise ValueError(f"invalid device {device!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if _selected is not None:
        if device != "auto" and not _selected.lower().startswith(device):
            log.warning("Device already set to %s; ignoring the request for %s", _selected, device)
        return _selected

    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise DeviceError(
            "device 'gpu' requested but TensorFlow finds no GPU; install the GPU build "
            "(pip install whalecat[gpu]) and a CUDA driver, or use device 'cpu' or 'auto'"
        )

    use_gpu = bool(gpus) and device != "cpu"
    if gpus and not use_gpu:
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError as exc:  # raised when TensorFlow has already started
            log.warning("Could not hide the GPUs, TensorFlow is already initialized: %s", exc)

    if use_gpu:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:
                log.warning("Could not enable memory growth on %s: %s", gpu.name, exc)
        keras().mixed_precision.set_global_policy("mixed_float16")
        _selected = f"GPU ({len(gpus)} visible: {', '.join(gpu.name for gpu in gpus)}), mixed precision"
    else:
        _selected = f"CPU ({os.cpu_count()} cores)"
    log.info("TensorFlow %s runs on %s", tf.__version__, _selected)
    return _selected


def progress_callback(progress, epochs: int, steps_per_epoch: int, label: str = "Training"):
    """Return a Keras callback that reports each batch and each epoch's metrics to `progress`.

    On cancel it sets `model.stop_training`, which Keras 3 checks after every batch, so
    training stops within one batch. The caller raises `Cancelled` after `fit` returns when
    `progress.cancelled` is set.
    """
    k = keras()
    total = max(epochs * steps_per_epoch, 1)

    class ProgressCallback(k.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.last_logs: dict = {}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if progress.cancelled:
                self.model.stop_training = True
                return
            done = self.epoch * steps_per_epoch + batch + 1
            progress.report(done, total, f"{label}: epoch {self.epoch + 1} of {epochs}")

        def on_epoch_end(self, epoch, logs=None):
            self.last_logs = dict(logs or {})
            summary = ", ".join(f"{name} {value:.4f}" for name, value in self.last_logs.items())
            log.info("%s epoch %d of %d: %s", label, epoch + 1, epochs, summary)
            if progress.cancelled:
                self.model.stop_training = True
                return
            # Keras may pass tensors or numpy scalars; only plain floats cross to the GUI thread.
            metrics = {name: float(value) for name, value in self.last_logs.items()}
            progress.report_epoch(epoch + 1, epochs, metrics)

    return ProgressCallback()
