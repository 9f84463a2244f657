"""Fixtures and fakes shared by the GUI tests. This module contains no tests itself."""

from __future__ import annotations

import csv
import importlib.util
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from whalecat.gui.main_window import MainWindow
from whalecat.gui.settings import Settings
from whalecat.gui.worker import running_threads
from whalecat.identification import Identifier
from whalecat.matching.base import NEW_WHALE, Candidate, Gallery
from whalecat.progress import Progress

WAIT_MS = 20_000


def _real_default_method_available() -> bool:
    """Whether the real `default` method and its bundled embedding model are in this checkout."""
    if importlib.util.find_spec("whalecat.matching.methods") is None:
        return False
    from whalecat.matching.embedding import BUNDLED_MODEL

    return BUNDLED_MODEL.is_file()


REAL_METHODS_AVAILABLE = _real_default_method_available()


@pytest.fixture
def no_thread_left():
    """Fail the test if it leaves a worker QThread running, and join the thread either way."""
    yield
    left = running_threads()
    for thread in left:
        thread.wait(WAIT_MS)
    assert not left, f"worker threads left running: {[t.objectName() for t in left]}"


class FakeMethod:
    """Ranks whales by the distance between 16x16 grayscale copies, and reports keypoint pairs.

    Used only while the real default method or its bundled model is missing from this checkout.
    """

    name = "fake"
    version = "fake-1"

    def __init__(self) -> None:
        self.vectors: list[tuple[str, str, np.ndarray, tuple[int, int]]] = []

    def prepare(self, gallery: Gallery, progress: Progress) -> None:
        self.vectors = []
        for number, photo in enumerate(gallery.photos):
            progress.check()
            image = gallery.open_image(photo)
            self.vectors.append((photo.key, photo.whale_id, _vector(image), image.size))
            progress.report(number + 1, len(gallery.photos), "Preparing the fake method")

    def query(self, image, top=5, exclude_keys=frozenset()):
        query = _vector(image)
        best: dict[str, tuple[float, str, tuple[int, int]]] = {}
        for key, whale_id, vector, size in self.vectors:
            if key in exclude_keys:
                continue
            score = float(1.0 / (1.0 + np.linalg.norm(query - vector)))
            if whale_id not in best or score > best[whale_id][0]:
                best[whale_id] = (score, key, size)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])
        candidates = []
        for whale_id, (score, key, size) in ranked[: top - 1]:
            width, height = image.size
            pairs = [((width * f, height * f), (size[0] * f, size[1] * f)) for f in (0.25, 0.5, 0.75)]
            candidates.append(Candidate(whale_id, score, key, {"pairs": pairs}))
        candidates.append(Candidate(NEW_WHALE, 0.1, None, {"confidence": 0.4}))
        return candidates


def _vector(image) -> np.ndarray:
    small = image.convert("L").resize((16, 16))
    values = np.asarray(small, dtype=np.float32)
    return (values - values.mean()) / max(float(values.std()), 1e-6)


def make_identifier(catalogue, device: str) -> Identifier:
    if REAL_METHODS_AVAILABLE:
        return Identifier(catalogue, device="cpu")
    return Identifier(catalogue, method_name="fake", method=FakeMethod())


@pytest.fixture
def window(qtbot, tmp_path, no_thread_left):
    """The real main window on a new catalogue, with settings in a temporary file."""
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    main = MainWindow(settings, identifier_factory=make_identifier)
    qtbot.addWidget(main)
    assert main.open_catalogue(tmp_path / "catalogue")
    main.show()
    yield main
    main.close()


def labelled_sample(fluke_data: Path, whales: int = 3) -> dict[str, list[str]]:
    """Pick whales with two or more labelled photos: {whale id: its first two file names}."""
    by_whale: dict[str, list[str]] = defaultdict(list)
    with open(fluke_data / "labels.csv", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["Id"] and row["Id"] != NEW_WHALE:
                by_whale[row["Id"]].append(row["Image"])
    chosen = sorted(w for w, files in by_whale.items() if len(files) >= 2)[:whales]
    assert len(chosen) == whales, f"the fluke set needs {whales} whales with two or more photos"
    return {whale: sorted(by_whale[whale])[:2] for whale in chosen}


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Image", "Id"])
        writer.writerows(sorted(labels.items()))
    return path
