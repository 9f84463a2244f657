"""Training in a child process: reports, an out-of-memory message, cancel, and a child that dies.

The child is the real `whalecat train --report json`, which loads TensorFlow on its own, so
each child test takes a few seconds.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from tests.helpers import save_labelled_flukes
from whalecat.catalogue import Catalogue
from whalecat.gui.training_panel import advice_for
from whalecat.importing import import_paths
from whalecat.matching.versions import BUNDLED_VERSION, active_version
from whalecat.progress import Cancelled, CancelToken, Progress
from whalecat.training import TrainingError
from whalecat import training_process
from whalecat.training_process import REPORT_PREFIX, child_environment, serve, train_in_child

LONG_EPOCHS = 500


@pytest.fixture
def catalogue(tmp_path):
    images, labels = save_labelled_flukes(tmp_path, 3, 2)
    opened = Catalogue.open(tmp_path / "catalogue")
    import_paths(opened, [images], labels, find_fluke=False)
    yield opened
    opened.close()


def reports_of(text: str) -> list[dict]:
    return [json.loads(line[len(REPORT_PREFIX):]) for line in text.splitlines() if line.startswith(REPORT_PREFIX)]


def models_entries(catalogue) -> list[str]:
    folder = catalogue.models_dir
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_serve_names_out_of_memory(catalogue, monkeypatch):
    def exhaust_memory(*args, **kwargs):
        raise MemoryError("cannot allocate 4 GiB")

    monkeypatch.setattr("whalecat.matching.trainers.train", exhaust_memory)
    stdout = io.StringIO()
    # An open pipe that stays silent, as the window's is while it waits.
    read_end, write_end = os.pipe()
    with open(read_end, encoding="utf-8") as stdin, open(write_end, "w", encoding="utf-8"):
        status = serve(catalogue, "seed", 1, "cpu", "if-better", stdout=stdout, stdin=stdin)

    assert status == 2
    events = reports_of(stdout.getvalue())
    assert events[0]["event"] == "device"
    assert events[-1]["event"] == "error"
    assert "out of memory while training the seed model" in events[-1]["message"]
    assert "Settings → Device → CPU" in advice_for(events[-1]["message"])
    assert models_entries(catalogue) == []


def test_serve_stops_when_its_input_ends(catalogue):
    # A child reads an empty stdin when the window that started it has gone.
    stdout = io.StringIO()
    assert serve(catalogue, "seed", LONG_EPOCHS, "cpu", "if-better", stdout=stdout, stdin=io.StringIO("")) == 0
    assert reports_of(stdout.getvalue())[-1] == {"event": "cancelled"}
    assert models_entries(catalogue) == []


def test_child_environment_leaves_out_this_process_default(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # as tensorflow() sets it here
    monkeypatch.setattr(training_process, "USER_ONEDNN", None)
    assert "TF_ENABLE_ONEDNN_OPTS" not in child_environment()
    monkeypatch.setattr(training_process, "USER_ONEDNN", "0")
    assert child_environment()["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_child_trains_and_relays_reports(catalogue, monkeypatch, caplog):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # this process's default, not the user's
    monkeypatch.setattr(training_process, "USER_ONEDNN", None)
    caplog.set_level(logging.INFO, logger="whalecat.training_process")
    batches, epochs, devices = [], [], []
    progress = Progress(lambda done, total, message: batches.append(message),
                        epoch_callback=lambda epoch, total, metrics: epochs.append((epoch, total, metrics)))
    result = train_in_child(catalogue, "seed", 2, "cpu", progress, activate="always", on_device=devices.append)

    assert result.kind == "seed"
    assert result.epochs == 2
    assert result.activated
    assert (result.path / "model.keras").is_file()
    assert active_version(catalogue) == result.version
    assert len(devices) == 1
    assert devices[0].startswith("CPU")
    assert [(epoch, total) for epoch, total, _ in epochs] == [(1, 2), (2, 2)]
    assert isinstance(epochs[0][2]["loss"], float)
    assert any("epoch 2 of 2" in message for message in batches)
    assert "TF_ENABLE_ONEDNN_OPTS=1" in caplog.text  # the training process turned oneDNN on


def test_cancelled_child_leaves_nothing(catalogue, tmp_path, monkeypatch):
    # Started from a folder holding a clone named whalecat, the child must still import the
    # installed package, not that folder.
    (tmp_path / "launch" / "whalecat").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "launch")
    token = CancelToken()

    def cancel_at_first_batch(done, total, message):
        if "epoch" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        train_in_child(catalogue, "seed", LONG_EPOCHS, "cpu", Progress(cancel_at_first_batch, token))
    assert models_entries(catalogue) == []
    assert active_version(catalogue) == BUNDLED_VERSION


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the child process through /proc (Linux)")
def test_dead_child_reported_and_cleaned_up(catalogue):
    killed = threading.Event()

    def kill_child_at_first_batch(done, total, message):
        if "epoch" in message and not killed.is_set():
            for pid in child_pids():
                os.kill(pid, signal.SIGKILL)
            killed.set()

    with pytest.raises(TrainingError, match="stopped unexpectedly"):
        train_in_child(catalogue, "seed", LONG_EPOCHS, "cpu", Progress(kill_child_at_first_batch))
    assert killed.is_set()
    # The child had made its unfinished version folder; the window's side removed it.
    assert models_entries(catalogue) == []
    assert active_version(catalogue) == BUNDLED_VERSION


def child_pids() -> list[int]:
    """The pids of this process's children that run whalecat (Linux /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"whalecat" in command:
            pids.append(int(stat.parent.name))
    return pids


def test_orphan_exits_when_training_runs_on():
    token, finished, left = CancelToken(), threading.Event(), []
    training_process._listen_for_cancel(io.StringIO(""), token, finished, lambda: left.append(True), 0.05)
    assert token.cancelled
    assert left == [True]


def test_orphan_stays_when_training_stopped():
    token, finished, left = CancelToken(), threading.Event(), []
    finished.set()
    training_process._listen_for_cancel(io.StringIO(""), token, finished, lambda: left.append(True), 0.05)
    assert token.cancelled
    assert left == []


def test_cancel_line_never_leaves():
    # The window is still there after "cancel": it waits for the child and kills it if needed.
    token, finished, left = CancelToken(), threading.Event(), []
    training_process._listen_for_cancel(io.StringIO("cancel\n"), token, finished, lambda: left.append(True), 0.05)
    assert token.cancelled
    assert left == []


def test_orphaned_training_process_cleans_up(catalogue):
    # A real training process whose window died after the first epoch. It stops within a batch
    # (status 0) or, failing that, exits on its own (status 3), and leaves no unfinished folder.
    import subprocess
    import sys
    import time

    child = subprocess.Popen(
        [sys.executable, "-m", "whalecat", "--catalogue", str(catalogue.folder), "--device", "cpu",
         "train", "--model", "seed", "--epochs", str(LONG_EPOCHS), "--report", "json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=child_environment(),
    )
    for line in child.stdout:
        if '"event": "epoch"' in line:
            break
    started = time.monotonic()
    child.stdin.close()
    status = child.wait(timeout=training_process.ORPHAN_EXIT_AFTER_S + 60)
    assert status in (0, training_process.ORPHAN_EXIT_STATUS)
    assert time.monotonic() - started < training_process.ORPHAN_EXIT_AFTER_S + 30
    assert models_entries(catalogue) == []
