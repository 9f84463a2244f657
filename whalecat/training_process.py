"""Retraining in a child process: `whalecat train --report json`, driven and relayed by the window.

The window's Retrain runs training in its own process rather than on a thread, for three reasons:
- TensorFlow trained the seed CNN four times faster with oneDNN on 2 cores (docs/benchmarks.md),
  and `whalecat train` turns it on. oneDNN has crashed processes in this project's tests. In
  a child process a crash costs only that training, never the window or the user's work.
- A child process can be stopped at once. Loading TensorFlow in a thread cannot be
  interrupted, so closing the window would wait for it.
- The window's event loop does not share the Python interpreter lock with the training.

The child writes one JSON line per event to stdout, each after `REPORT_PREFIX`: `device`,
`progress`, `epoch`, and last one of `result`, `cancelled` or `error`. It reads stdin, where
the line "cancel" or the end of input (the window has gone) stops the training within one batch.
A child whose input has ended and that is still running 5 s later removes its unfinished
model folder and exits.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Callable, TextIO

from whalecat.catalogue import Catalogue
from whalecat.matching.device import ONEDNN_VARIABLE, USER_ONEDNN
from whalecat.progress import Cancelled, CancelToken, Progress
from whalecat.training import TrainingError, TrainingResult, train_catalogue_model

log = logging.getLogger(__name__)

REPORT_PREFIX = "whalecat-report "
# How long a cancelled child may take to stop by itself before it is killed. Killing is safe
# because a version folder is renamed into place only when complete.
KILL_AFTER_S = 1.0
# How long a child whose window has gone may take to stop by itself before it removes its
# unfinished model folder and exits, since no process is left to read its result.
ORPHAN_EXIT_AFTER_S = 5.0
ORPHAN_EXIT_STATUS = 3
POLL_S = 0.05


# -- the child ---------------------------------------------------------------------------------


def serve(catalogue: Catalogue, kind: str, epochs: int | None, device: str, activate: str,
          stdout: TextIO = sys.stdout, stdin: TextIO = sys.stdin,
          orphan_exit_after: float | None = None) -> int:
    """Train as `whalecat train --report json` does, reporting on `stdout`; return the exit status.

    With `orphan_exit_after`, the process exits that many seconds after its input ends unless
    the training has stopped by then. Only a training process may pass it, because the exit
    ends the whole process.
    """
    lock = threading.Lock()

    def emit(event: str, **data) -> None:
        with lock:
            stdout.write(REPORT_PREFIX + json.dumps({"event": event, **data}) + "\n")
            stdout.flush()

    token = CancelToken()
    unfinished_before = set(_unfinished(catalogue.models_dir))

    def leave() -> None:
        for leftover in set(_unfinished(catalogue.models_dir)) - unfinished_before:
            shutil.rmtree(leftover, ignore_errors=True)
        os._exit(ORPHAN_EXIT_STATUS)

    finished = threading.Event()
    threading.Thread(
        target=_listen_for_cancel, args=(stdin, token, finished, leave, orphan_exit_after), daemon=True
    ).start()
    try:
        return _serve(catalogue, kind, epochs, device, activate, token, emit)
    finally:
        finished.set()


def _serve(catalogue: Catalogue, kind: str, epochs: int | None, device: str, activate: str,
           token: CancelToken, emit: Callable[..., None]) -> int:
    progress = Progress(
        lambda done, total, message: emit("progress", done=done, total=total, message=message),
        token,
        lambda epoch, epochs, metrics: emit("epoch", epoch=epoch, epochs=epochs, metrics=metrics),
    )
    try:
        from whalecat.matching.device import select_device

        emit("device", name=select_device(device), onednn=os.environ.get(ONEDNN_VARIABLE, "default"))
        result = train_catalogue_model(
            catalogue, kind=kind, epochs=epochs, device=device, activate=activate, progress=progress
        )
    except Cancelled:
        emit("cancelled")
        return 0
    except Exception as exc:  # every failure must reach the window as a message
        log.exception("Training failed")
        emit("error", message=describe_failure(exc, kind))
        return 2
    emit("result", **asdict(result) | {"path": str(result.path)})
    return 0


def describe_failure(exc: BaseException, kind: str) -> str:
    """Return the message the window shows for a failed training, naming an out-of-memory error."""
    # TensorFlow raises ResourceExhaustedError when a device runs out of memory. Checking the
    # type name avoids importing TensorFlow here only to name the class.
    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
        return f"out of memory while training the {kind} model ({exc})"
    text = str(exc).strip()
    return text if text else type(exc).__name__


def _listen_for_cancel(stdin: TextIO, token: CancelToken, finished: threading.Event,
                       leave: Callable[[], None], orphan_exit_after: float | None) -> None:
    """Cancel on the line "cancel". At the end of input the window has gone, so cancel, and
    call `leave` unless `finished` is set within `orphan_exit_after` seconds (if given)."""
    for line in stdin:
        if line.strip() == "cancel":
            token.cancel()
            return
    token.cancel()
    # A step that checks for cancel rarely (loading TensorFlow, evaluating a model) would
    # otherwise keep an orphaned training running for tens of seconds.
    if orphan_exit_after is None or finished.wait(orphan_exit_after):
        return
    log.warning("The window has gone and training did not stop within %.0f s; exiting", orphan_exit_after)
    leave()


# -- the window's side -------------------------------------------------------------------------


def train_in_child(
    catalogue: Catalogue,
    kind: str,
    epochs: int | None,
    device: str,
    progress: Progress,
    activate: str = "if-better",
    on_device: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Run `whalecat train --report json` on `catalogue` and relay its reports.

    Batches go to `progress.report`, epochs to `progress.report_epoch`, the device chosen to
    `on_device`. Raises Cancelled after `progress` is cancelled, or TrainingError when the
    child fails or ends without a result; either way no unfinished version folder remains.
    """
    models = catalogue.models_dir
    unfinished_before = set(_unfinished(models))
    # -P keeps the working folder off the import path. Started from a folder that contains a
    # clone named whalecat, the child would otherwise import that folder instead of the package.
    command = [
        sys.executable, "-P", "-m", "whalecat", "--catalogue", str(catalogue.folder), "--device", device,
        "train", "--model", kind, "--activate", activate, "--report", "json",
    ]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    log.info("Starting the training process: %s", " ".join(command))
    child = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", errors="replace", bufsize=1, env=child_environment(),
    )
    reports: queue.Queue[dict | None] = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=20)
    threading.Thread(target=_read_reports, args=(child.stdout, reports), daemon=True).start()
    threading.Thread(target=_read_tail, args=(child.stderr, stderr_tail), daemon=True).start()

    try:
        outcome = _relay(child, reports, progress, on_device)
    except BaseException:
        child.kill()  # never leave a training behind
        raise
    finally:
        try:
            status = child.wait(timeout=KILL_AFTER_S)  # its output has ended, so it is exiting
        except subprocess.TimeoutExpired:
            child.kill()
            status = child.wait()
        child.stdin.close()
    if outcome is None or outcome["event"] != "result":
        # NOTE: a second training of the same catalogue started meanwhile (say from the
        # command line) would lose its unfinished folder here too.
        for leftover in set(_unfinished(models)) - unfinished_before:
            shutil.rmtree(leftover, ignore_errors=True)
            log.info("Removed the unfinished model folder %s", leftover)
    if outcome is not None and outcome["event"] == "result":
        if status != 0:
            # The model and its sidecar were complete before the child reported its result.
            log.warning("The training process exited with status %d after its result", status)
        fields = {key: value for key, value in outcome.items() if key != "event"}
        return TrainingResult(**fields | {"path": Path(fields["path"])})
    if progress.cancelled:
        raise Cancelled()
    if outcome is not None and outcome["event"] == "error":
        raise TrainingError(outcome["message"])
    last = stderr_tail[-1].strip() if stderr_tail else "no message"
    raise TrainingError(
        f"the training process stopped unexpectedly (exit status {status}; last message: {last}); "
        "the active model is unchanged"
    )


def child_environment() -> dict[str, str]:
    """Return this process's environment for the training process, without the oneDNN default.

    Once this process has loaded TensorFlow, its environment turns oneDNN off (see
    `whalecat.matching.device`). Passed on, that default would make training about 1.7 times
    slower, so only the user's own setting goes to the child, which otherwise turns oneDNN on.
    """
    environment = dict(os.environ)
    if USER_ONEDNN is None:
        environment.pop(ONEDNN_VARIABLE, None)
    else:
        environment[ONEDNN_VARIABLE] = USER_ONEDNN
    return environment


def _relay(child: subprocess.Popen, reports: queue.Queue, progress: Progress,
           on_device: Callable[[str], None] | None) -> dict | None:
    """Pass the child's reports on until its output ends; return its last outcome report.

    A cancel is sent to the child once, and the child is killed if it has not ended
    `KILL_AFTER_S` later.
    """
    outcome = None
    cancelled_at: float | None = None
    killed = False
    while True:
        if progress.cancelled and cancelled_at is None:
            cancelled_at = time.monotonic()
            _send_cancel(child)
        if cancelled_at is not None and not killed and time.monotonic() - cancelled_at > KILL_AFTER_S:
            log.warning("The training process did not stop within %.0f s; killing it", KILL_AFTER_S)
            child.kill()
            killed = True
        try:
            report = reports.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if report is None:  # the child closed its output
            return outcome
        event = report.get("event")
        if event == "progress":
            progress.report(report["done"], report["total"], report["message"])
        elif event == "epoch":
            progress.report_epoch(report["epoch"], report["epochs"], report["metrics"])
        elif event == "device":
            log.info("The training process runs on %s with %s=%s",
                     report["name"], ONEDNN_VARIABLE, report.get("onednn"))
            if on_device is not None:
                on_device(report["name"])
        elif event in ("result", "cancelled", "error"):
            outcome = report


def _unfinished(models: Path) -> list[Path]:
    return list(models.glob(".*.part")) if models.is_dir() else []


def _send_cancel(child: subprocess.Popen) -> None:
    try:
        child.stdin.write("cancel\n")
        child.stdin.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass  # the child has already ended


def _read_reports(stream: TextIO, reports: queue.Queue) -> None:
    for line in stream:
        if line.startswith(REPORT_PREFIX):
            try:
                reports.put(json.loads(line[len(REPORT_PREFIX):]))
            except ValueError:
                log.warning("Ignoring an unreadable report from the training process: %r", line)
        elif line.strip():
            log.info("training process: %s", line.rstrip())
    reports.put(None)


def _read_tail(stream: TextIO, tail: deque) -> None:
    for line in stream:
        tail.append(line)
        log.debug("training process: %s", line.rstrip())
