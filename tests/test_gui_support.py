"""Fixtures shared by the GUI tests. This module contains no tests itself."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from whalecat.gui.dialogs import import_summary_box
from whalecat.gui.main_window import MainWindow
from whalecat.gui.settings import Settings
from whalecat.gui.worker import running_threads
from whalecat.identification import Identifier
from whalecat.importing.importer import ImportReport
from whalecat.matching.base import NEW_WHALE

WAIT_MS = 20_000


@pytest.fixture
def no_thread_left():
    """Fail the test if it leaves a worker QThread running, and join the thread either way."""
    yield
    left = running_threads()
    for thread in left:
        thread.wait(WAIT_MS)
    assert not left, f"worker threads left running: {[t.objectName() for t in left]}"


def make_identifier(catalogue, device: str) -> Identifier:
    """The real default method, on the CPU so the tests behave the same on every machine."""
    return Identifier(catalogue, device="cpu")


@pytest.fixture
def window(qtbot, tmp_path, no_thread_left):
    """The real main window on a new catalogue, with settings in a temporary file."""
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    settings.device = "cpu"  # as make_identifier does, so the window keeps one identifier
    main = MainWindow(settings, identifier_factory=make_identifier)
    qtbot.addWidget(main)
    assert main.open_catalogue(tmp_path / "catalogue", create=True)
    main.show()
    yield main
    main.quit_anyway()


def quit_while_running(qtbot, window, worker, timeout_ms: int) -> None:
    """Close the window while `worker` runs, and check that the quit question closes when it ends.

    The window stays open with its catalogue, because the question was never answered.
    """
    window.close()
    question = window.quit_box
    assert question.isVisible()

    with qtbot.waitSignal(worker.done, timeout=timeout_ms):
        pass

    qtbot.waitUntil(lambda: not question.isVisible(), timeout=timeout_ms)
    assert window.isVisible()
    assert window.catalogue is not None


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


def test_candidate_text_shows_new_whale_confidence_only_first():
    from whalecat.gui.identify_panel import describe_candidate, explain_candidate
    from whalecat.matching import ranking

    calibration = ranking.Calibration(0.6, 0.1, match_scores=4, source="gallery")
    whales = [ranking.WhaleScore("w_a", 0.9, "a"), ranking.WhaleScore("w_b", 0.65, "b"),
              ranking.WhaleScore("w_c", 0.3, "c")]
    candidates = ranking.to_candidates(whales, calibration, top=5)
    assert [c.label for c in candidates] == ["w_a", "w_b", NEW_WHALE, "w_c"]
    lines = [describe_candidate(rank, c) for rank, c in enumerate(candidates, start=1)]
    assert "confidence" in lines[0]
    assert "confidence" in lines[1]
    # Below the first whale, new_whale marks the threshold instead of showing 1 - 95 %.
    assert "%" not in lines[2]
    assert "threshold" in lines[2]
    assert "few" in explain_candidate(candidates[2])
    assert "4 catalogue photos" in explain_candidate(candidates[2])

    first = ranking.to_candidates([ranking.WhaleScore("w_a", 0.4, "a")], calibration, top=5)
    assert first[0].label == NEW_WHALE
    assert "that it is a new whale" in describe_candidate(1, first[0])
    default = ranking.to_candidates(whales, ranking.Calibration.default(), top=5)
    new = next(c for c in default if c.label == NEW_WHALE)
    assert "fixed default" in explain_candidate(new)
    # A default threshold gives no percentage, and the tooltip explains why.
    assert "confidence" not in describe_candidate(1, default[0])
    assert "no confidences yet" in explain_candidate(default[0])


def test_file_size_text_never_shows_zero():
    from whalecat.gui.photo_view import file_size_text

    assert file_size_text(300) == "1 kB"
    assert file_size_text(45_600) == "46 kB"
    assert file_size_text(2_400_000) == "2.4 MB"


def test_keypoint_tooltip_counts_inliers_only():
    from whalecat.gui.identify_panel import explain_candidate
    from whalecat.matching.base import Candidate

    keypoints = Candidate("w_a", 14.0, "a", {"inliers": 14, "pairs": [], "confidence": 0.7})
    fused = Candidate("w_a", 1.4, "a", {"cosine": 0.7, "inliers": 14, "pairs": [], "confidence": 0.9})
    assert "embeddings" not in explain_candidate(keypoints)
    assert "counts the keypoint pairs" in explain_candidate(keypoints)
    assert "the 14 keypoint pairs" in explain_candidate(fused)
    assert "beyond" not in explain_candidate(fused)
    floored = Candidate("w_a", 1.2, "a", {"cosine": 0.7, "inliers": 14, "inlier_floor": 6.0, "pairs": []})
    assert "Only pairs beyond 6 count" in explain_candidate(floored)
    floored.details["inlier_floor"] = 6.3
    assert "Only pairs beyond 6.3 count" in explain_candidate(floored)
    floored.details["inliers"] = 0
    assert "keypoint pairs (none here)" in explain_candidate(floored)



def test_caption_shortens_only_the_id(qtbot):
    from PySide6.QtGui import QFont, QFontMetrics

    from whalecat.gui.match_view import fit_caption

    metrics = QFontMetrics(QFont())
    label = "flukebook:ee164b01-5a3c-4d0e-9d1f-0123456789ab"
    caption = f"{label}: its most similar photo"
    fitted = fit_caption(caption, label, metrics, 260)
    assert fitted.endswith(": its most similar photo")
    assert fitted.startswith("fluke")
    assert "…" in fitted
    assert metrics.horizontalAdvance(fitted) <= 260
    assert fit_caption("w_1: its most similar photo", "w_1", metrics, 260) == "w_1: its most similar photo"


def test_new_whale_row_fits_narrow_list(window):
    from whalecat.gui.identify_panel import describe_candidate
    from whalecat.matching import ranking

    candidates = window.identify_panel.candidates
    calibration = ranking.Calibration(0.5, 0.1, 30)
    whales = [ranking.WhaleScore("w_a", 0.9, "a"), ranking.WhaleScore("w_b", 0.1, "b")]
    below = ranking.to_candidates(whales, calibration)
    first = ranking.to_candidates([ranking.WhaleScore("w_a", 0.1, "a")], calibration)
    rows = [describe_candidate(2, below[1]), describe_candidate(1, first[0])]
    assert below[1].label == first[0].label == NEW_WHALE

    # new_whale has no photo, so its text has the list's whole width; Qt elides what is wider.
    room = candidates.minimumWidth() - 2 * candidates.frameWidth() - 2 * candidates.spacing() - 8
    for line in "\n".join(rows).splitlines():
        assert candidates.fontMetrics().horizontalAdvance(line) <= room, line


def test_import_box_names_labels_not_applied(qtbot):
    report = ImportReport(
        imported=3,
        conflicts=[("/cards/a/IMG_0003.JPG", "w_1287fbc", "w_dd88965")],
        ambiguous_labels=[("IMG_0001.JPG", ["/cards/a/IMG_0001.JPG", "/cards/b/IMG_0001.JPG"])],
    )
    box = import_summary_box(report, None)
    qtbot.addWidget(box)

    assert "1 photo kept the whale confirmed before, although the CSV names another" in box.text()
    assert "1 CSV row not applied, because each file name belongs to several different photos" in box.text()
    details = box.detailedText().splitlines()
    assert details[details.index("Kept as confirmed:") + 1] == (
        "IMG_0003.JPG: confirmed as w_dd88965, the CSV says w_1287fbc  (/cards/a/IMG_0003.JPG)"
    )
    assert details[details.index("Not labelled, the name belongs to several photos:") + 1] == (
        "IMG_0001.JPG: /cards/a/IMG_0001.JPG, /cards/b/IMG_0001.JPG"
    )
