"""Make docs/screenshot.png: the real window identifying a synthetic fluke.

Synthetic flukes (whalecat/imaging/synthetic.py) stand in for real photos, so no data photo
ends up in the repository. The catalogue and the settings live in a temporary folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/make_screenshot.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from whalecat.gui.main_window import MainWindow  # noqa: E402
from whalecat.gui.settings import Settings  # noqa: E402
from whalecat.imaging.synthetic import fluke_photo  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
WHALES = 14
QUERY_WHALE = 3
WAIT_MS = 300_000


def wait_for(signal, timeout_ms: int = WAIT_MS) -> None:
    """Run the event loop until `signal` fires; raise TimeoutError after `timeout_ms`."""
    loop = QEventLoop()
    fired = []
    signal.connect(lambda *args: (fired.append(True), loop.quit()))
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    if not fired:
        raise TimeoutError(f"no signal within {timeout_ms / 1000:.0f} s")


def save_card(folder: Path) -> Path:
    """Save two sightings of each synthetic whale, labelled, and one unlabelled query."""
    rows = ["Image,Id"]
    for whale in range(WHALES):
        for sighting in range(2):
            name = f"IMG_{whale * 2 + sighting:03d}.JPG"
            fluke_photo(whale, sighting).save(folder / name, quality=92)
            rows.append(f"{name},w_{whale:07d}")
    fluke_photo(QUERY_WHALE, 2).save(folder / "IMG_031.JPG", quality=92)
    labels = folder / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "screenshot.png")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory(prefix="whalecat-screenshot-") as temporary:
        folder = Path(temporary)
        card = folder / "card"
        card.mkdir()
        labels = save_card(card)
        settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings)
        window.open_catalogue(folder / "catalogue", create=True)
        window.resize(1280, 780)
        window.show()

        worker = window.import_paths([card], labels)
        wait_for(worker.done)
        if window.import_panel.summary_box is not None:
            window.import_panel.summary_box.close()
        window.browser.tabs.setCurrentIndex(1)
        query = window.browser.unidentified_model.photos[0].id
        window.browser.select_unidentified_photo(query)
        worker = window.identify_selected()
        wait_for(worker.done)
        window.identify_panel.keypoints_box.setChecked(True)
        app.processEvents()
        window.grab().save(str(args.output))
        print(f"wrote {args.output}")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
