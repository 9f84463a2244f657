"""Closing the window while work starts ends the process within 3 seconds.

Identification loads TensorFlow in the window's process, which cannot be interrupted, and
training loads it in a child process. This runs the window in a process of its own, because
a fresh process is the only one where TensorFlow is not loaded already.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]

# Imports labelled synthetic flukes, starts a seed CNN training and an identification (both of
# which begin by loading TensorFlow), closes the window 0.3 s later and ends as `whalecat` does.
CHILD = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from tests.helpers import save_labelled_flukes
from whalecat.gui.app import end_process
from whalecat.gui.main_window import MainWindow
from whalecat.gui.settings import Settings
from whalecat.importing import import_paths

folder = Path(sys.argv[1])
app = QApplication([])
window = MainWindow(Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)))
window.open_catalogue(folder / "catalogue", create=True)
images, labels = save_labelled_flukes(folder, 3, 2)
import_paths(window.catalogue, [images], labels, find_fluke=False)
window.show()

def close():
    print(f"closing at {time.time():.3f}", flush=True)
    window.quit_anyway()

def start():
    window.training_panel.start("seed", epochs=500)
    window.identify_panel.set_photo(1)
    window.identify_panel.identify_current()

QTimer.singleShot(0, start)
QTimer.singleShot(300, close)
sys.exit(end_process(app.exec()))
"""


def test_close_during_loading_exits_quickly(tmp_path):
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPOSITORY))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=300,
    )
    ended = time.time()
    assert child.returncode == 0, child.stderr[-3000:]
    closing = [line for line in child.stdout.splitlines() if line.startswith("closing at ")]
    assert closing, child.stdout + child.stderr[-3000:]
    # The child's exit is seen slightly after it happens, so this overstates the time a little.
    assert ended - float(closing[0].split()[-1]) < 3.0
    assert "QThread: Destroyed" not in child.stderr
    # The close came while TensorFlow loaded (logged at warning level, so it reaches stderr).
    assert "identification" in child.stderr
    assert "which is loading TensorFlow and writes nothing" in child.stderr
    models = tmp_path / "catalogue" / "models"
    leftovers = [p.name for p in models.iterdir()] if models.is_dir() else []
    assert leftovers == []
