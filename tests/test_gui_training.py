"""Retraining from the window: progress, outcome, cancel, errors, shutdown, models and re-embedding.

Real widgets and real Keras: a seed CNN trained for a few epochs on synthetic flukes of four
whales with three photos each, which takes seconds on two CPU cores.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from tests.helpers import save_fluke, save_labelled_flukes
from tests.test_gui_support import (  # noqa: F401  (fixtures)
    WAIT_MS,
    make_identifier,
    no_thread_left,
    quit_while_running,
    window,
)
from whalecat.catalogue.records import confirm_label
from whalecat.gui.identify_panel import shown_pairs
from whalecat.gui.main_window import MainWindow
from whalecat.gui.match_view import ShownImage
from whalecat.gui.settings import Settings
from whalecat.gui.training_panel import TrainingPanel
from whalecat.gui.worker import running_threads
from whalecat.identification import Identifier
from whalecat.importing import import_paths
from whalecat.matching.base import NEW_WHALE, Candidate
from whalecat.gui.models_dialog import COLUMNS
from whalecat.matching.versions import BUNDLED_VERSION, active_version, bundled_model_dir, set_active_version
from whalecat.training import train_catalogue_model

TRAIN_WAIT_MS = 120_000  # the first training in a process also imports TensorFlow
LONG_EPOCHS = 500  # far more than a test waits for, so cancel and close land mid-training


def add_flukes(window, tmp_path, whales: int = 4, photos_per_whale: int = 3) -> None:
    """Import labelled synthetic flukes into the window's catalogue."""
    images, labels = save_labelled_flukes(tmp_path, whales, photos_per_whale)
    import_paths(window.catalogue, [images], labels)
    window.browser.refresh()


def version_folders(catalogue) -> list[str]:
    """Every entry of the models folder except the active-model marker."""
    folder = catalogue.models_dir
    return sorted(p.name for p in folder.iterdir() if p.name != "active.json") if folder.is_dir() else []


def wait_for_training_batches(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.epoch_label.text().startswith("Epoch"), timeout=TRAIN_WAIT_MS)


@pytest.fixture
def real_window(qtbot, tmp_path, no_thread_left):
    """The main window with a real Identifier, so changing the active model re-embeds."""
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    main = MainWindow(settings, identifier_factory=lambda catalogue, device: Identifier(catalogue, device=device))
    qtbot.addWidget(main)
    assert main.open_catalogue(tmp_path / "catalogue", create=True)
    main.show()
    yield main
    main.quit_anyway()


def test_retrain_seed_shows_outcome(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    panel = window.training_panel
    previous = active_version(window.catalogue)
    reports = []

    worker = panel.start("seed", epochs=2)
    worker.progress.connect(lambda done, total, message: reports.append((done, total, message)))
    assert not window.retrain_action.isEnabled()
    assert panel.cancel_button.isVisible()
    with qtbot.waitSignal(worker.done, timeout=TRAIN_WAIT_MS):
        pass

    assert window.error_box is None, window.error_box.text()
    result = panel.result
    assert result is not None
    assert result.kind == "seed"
    assert any("epoch 2 of 2" in message for _, _, message in reports)
    assert panel.status_label.text().startswith("Training finished: 0:")
    assert panel.status_label.text().endswith(f"in all, {result.seconds:.0f} s of it training.")
    assert len(panel.loss_plot.values("training")) == 2
    assert len(panel.accuracy_plot.values("training")) == 2
    assert panel.device_label.text() == f"Device: {result.device}"
    assert result.device.startswith("CPU")
    outcome = panel.outcome_label.text()
    assert ("Adopted" if result.activated else "Kept back") in outcome
    assert result.reason in outcome
    assert "MAP@5" in outcome
    assert f"{previous} (was active)" in outcome
    assert panel.use_anyway_button.isVisible() == (not result.activated)
    assert active_version(window.catalogue) == (result.version if result.activated else previous)
    assert window.retrain_action.isEnabled()
    assert not panel.cancel_button.isVisible()
    assert version_folders(window.catalogue) == [result.version]


def test_training_dock_leaves_photo_room(qtbot, window):
    window.resize(1280, 780)
    window.training_dock.show()
    window.training_panel.begin_display(10)
    qtbot.waitUntil(lambda: window.training_dock.height() > 0, timeout=WAIT_MS)
    # Stacked above its plots, the panel left the Photo tab 357 of the window's 780 pixels.
    assert window.right_tabs.height() >= window.height() // 2


def test_finished_training_leaves_photo_room(qtbot, window, tmp_path):
    from whalecat.gui.training_panel import describe_outcome
    from whalecat.training import TrainingResult

    window.resize(1400, 900)
    window._on_training_running(True)
    qtbot.waitUntil(lambda: window.training_dock.height() > 0, timeout=WAIT_MS)
    panel = window.training_panel
    panel.begin_display(2)
    panel.show_device("CPU (2 cores)")
    figures = {"map5": 0.875, "top1": 0.75, "top5": 1.0}
    result = TrainingResult("embedding-2", "embedding", tmp_path, figures, figures, True, "not worse", "CPU",
                            17.0, 2, {"held_out": 4})

    panel.outcome_label.setText(describe_outcome(result, "embedding-1"))
    qtbot.wait(50)  # the layout settles on the next turns of the event loop

    # The outcome's text scrolls instead of pushing the dock up over the photo (it took 386 px).
    assert window.training_dock.height() <= window.height() // 3 + 10
    assert window.right_tabs.height() >= window.height() // 2


def test_empty_training_lines_take_no_room(qtbot, window):
    panel = window.training_panel
    window.training_dock.show()
    assert panel.device_label.isHidden()  # nothing has trained yet
    panel.begin_display(3)
    assert panel.epoch_label.isVisible()
    panel.epoch_label.clear()
    assert panel.epoch_label.isHidden()
    panel.show_device("CPU (2 cores)")
    assert panel.device_label.isVisible()


def test_stage_before_training_shows_count(qtbot, window):
    panel = window.training_panel
    panel.begin_display(2)
    panel.show_progress(39, 40, "Loading catalogue photos")
    assert panel.bar.text() == "Loading catalogue photos: 39 of 40"
    panel.show_progress(40, 40, "Loading catalogue photos")
    assert panel.bar.maximum() == 0  # busy until the next stage reports
    assert "Preparing the next step" in panel.status_label.text()
    panel.show_progress(3, 20, "Training embedding")
    assert panel.bar.text() == "15%"


def test_outcome_warns_of_few_held_back_photos(tmp_path):
    from whalecat.gui.training_panel import describe_outcome
    from whalecat.training import TrainingResult

    def outcome(held_out):
        result = TrainingResult("embedding-1", "embedding", tmp_path, {"map5": 1.0}, {"map5": 1.0},
                                True, "not worse", "CPU", 25.0, 3, {"held_out": held_out})
        return describe_outcome(result, "bundled")

    assert "one photo moves top-1 by 0.25" in outcome(4)
    assert "moves top-1" not in outcome(200)


def test_kept_back_model_used_anyway(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    panel = window.training_panel

    worker = panel.start("seed", epochs=1, activate="never")
    with qtbot.waitSignal(worker.done, timeout=TRAIN_WAIT_MS):
        pass

    result = panel.result
    assert result is not None
    assert not result.activated
    assert "Kept back" in panel.outcome_label.text()
    assert "kept back on request" in panel.outcome_label.text()
    assert active_version(window.catalogue) == BUNDLED_VERSION
    assert panel.use_anyway_button.isVisible()
    with qtbot.waitSignal(panel.active_model_changed, timeout=WAIT_MS) as changed:
        panel.use_anyway_button.click()
    assert changed.args == [result.version]
    assert active_version(window.catalogue) == result.version
    assert not panel.use_anyway_button.isVisible()
    assert panel.active_label.text() == f"Active model: {result.version}"
    assert "made active on your request" in panel.outcome_label.text()
    # The version's sidecar and the Models dialog record that it was chosen although kept back.
    sidecar = json.loads((result.path / "model.json").read_text())
    assert sidecar["activated"] is False
    assert len(sidecar["made_active_at"]) == 1
    dialog = window.show_models()
    row = dialog.versions().index(result.version)
    assert "Made active on request" in dialog.table.item(row, 1).toolTip()

    # Rolling back in the Models dialog shows in the panel, and offers the model again.
    dialog.select_version(BUNDLED_VERSION)
    with qtbot.waitSignal(dialog.active_model_changed, timeout=WAIT_MS):
        dialog.activate_button.click()
    assert panel.active_label.text() == f"Active model: {BUNDLED_VERSION}"
    assert panel.use_anyway_button.isVisible()


def test_retrain_dialog_starts_training(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    dialog = window.retrain()
    assert dialog is not None
    assert window.training_dock.isVisible()
    assert dialog.kind() == "embedding"
    assert dialog.epochs() == 10

    dialog.kind_box.setCurrentIndex(dialog.kind_box.findData("seed"))
    assert dialog.epochs() == 100
    dialog.epochs_box.setValue(LONG_EPOCHS)
    dialog.accept()
    worker = window.training_panel.worker
    assert worker is not None
    assert window.retrain() is None
    assert "already running" in window.error_box.text()
    window.training_panel.cancel()
    with qtbot.waitSignal(worker.done, timeout=TRAIN_WAIT_MS):
        pass

    assert window.training_panel.worker is None
    assert window.retrain_action.isEnabled()

    # The dialog opens again on the last choice, and remembers the epochs of each kind.
    again = window.retrain()
    assert (again.kind(), again.epochs()) == ("seed", LONG_EPOCHS)
    again.kind_box.setCurrentIndex(again.kind_box.findData("embedding"))
    assert again.epochs() == 10
    again.reject()
    # The choice is kept in the settings, so the next session's window starts from it too.
    later = TrainingPanel(window.pool, lambda: "cpu", window.settings)
    assert (later.chosen_kind, later.chosen_epochs) == ("seed", {"seed": LONG_EPOCHS})
    later.deleteLater()


def test_gui_serves_events_during_training(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    panel = window.training_panel
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    clock = QElapsedTimer()
    timer.timeout.connect(lambda: ticks.append(clock.elapsed()))

    worker = panel.start("seed", epochs=8)
    wait_for_training_batches(qtbot, panel)
    clock.start()
    timer.start()
    with qtbot.waitSignal(worker.done, timeout=TRAIN_WAIT_MS):
        pass
    timer.stop()
    seconds = clock.elapsed() / 1000

    assert panel.result is not None
    assert seconds > 0.5, "training ended too soon to measure the event loop"
    # A 10 ms timer ticks up to 100 times a second, so 20 a second shows the loop kept serving events.
    assert len(ticks) >= 20 * seconds, f"{len(ticks)} ticks in {seconds:.1f} s of training"


def test_cancel_keeps_previous_model(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    panel = window.training_panel
    reports_after_cancel = []

    worker = panel.start("seed", epochs=LONG_EPOCHS)
    wait_for_training_batches(qtbot, panel)
    drawn = panel.loss_plot.values("training")
    panel.cancel()
    worker.progress.connect(lambda done, total, message: reports_after_cancel.append(done))
    assert "Cancelling" in panel.status_label.text()
    with qtbot.waitSignal(worker.cancelled, timeout=WAIT_MS):
        pass

    # Reports queued before cancel still arrive. The fit itself stops after the current batch.
    assert len(reports_after_cancel) <= 3
    # Worded so that it stays true after the researcher switches models by hand.
    assert panel.status_label.text() == "Training cancelled, so it changed no model."
    assert panel.result is None
    assert active_version(window.catalogue) == BUNDLED_VERSION
    assert version_folders(window.catalogue) == []
    # The curves of the epochs done before the cancel stay for the user to read.
    assert panel.loss_plot.values("training")[: len(drawn)] == drawn
    assert not panel.cancel_button.isVisible()
    assert not panel.bar.isVisible()
    assert window.retrain_action.isEnabled()
    assert window.error_box is None


def test_too_few_whales_shows_advice(qtbot, window, tmp_path):
    add_flukes(window, tmp_path, whales=4, photos_per_whale=1)
    panel = window.training_panel

    worker = panel.start("seed", epochs=2)
    with qtbot.waitSignal(worker.failed, timeout=TRAIN_WAIT_MS):
        pass

    box = window.error_box
    assert box is not None
    assert box.isVisible()
    assert "too few whales with two or more" in box.text()
    assert "Confirm at least two photos" in box.informativeText()
    assert "failed" in panel.status_label.text()
    assert not panel.cancel_button.isVisible()
    assert window.retrain_action.isEnabled()
    assert version_folders(window.catalogue) == []

    # Catalogue → Retrain reports it at once, before asking for epochs.
    window.error_box = None
    assert window.retrain() is None
    assert window.error_box.text().startswith("Cannot retrain: too few whales with two or more")
    assert panel.dialog is None or not panel.dialog.isVisible()


def test_missing_photo_shows_advice(qtbot, window, tmp_path):
    add_flukes(window, tmp_path, whales=2, photos_per_whale=2)
    next(window.catalogue.photos_dir.rglob("*.jpg")).unlink()

    worker = window.training_panel.start("seed", epochs=1)
    with qtbot.waitSignal(worker.failed, timeout=TRAIN_WAIT_MS):
        pass

    assert "missing" in window.error_box.text()
    assert "Restore the catalogue folder" in window.error_box.informativeText()


def test_close_during_training_exits(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    catalogue = window.catalogue
    worker = window.training_panel.start("seed", epochs=LONG_EPOCHS)
    wait_for_training_batches(qtbot, window.training_panel)

    window.close()

    # The researcher is asked first, and Cancel keeps the training going.
    box = window.quit_box
    assert box is not None and box.isVisible()
    assert box.text() == "Training is still running. Quit anyway?"
    assert "keeps no model" in box.informativeText()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert window.isVisible()
    assert not worker.token.cancelled
    wait_for_training_batches(qtbot, window.training_panel)
    window.close()
    quit_button = next(b for b in window.quit_box.buttons() if b.text() == "Quit")
    started = time.perf_counter()
    quit_button.click()
    seconds = time.perf_counter() - started

    assert seconds < 3.0
    assert running_threads() == []
    assert worker.token.cancelled
    assert window.catalogue is None
    assert version_folders(catalogue) == []
    assert active_version(catalogue) == BUNDLED_VERSION


def test_quit_question_closes_when_training_ends(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    worker = window.training_panel.start("seed", epochs=1)
    quit_while_running(qtbot, window, worker, TRAIN_WAIT_MS)


def test_models_dialog_switches_versions(qtbot, window, tmp_path):
    add_flukes(window, tmp_path)
    result = train_catalogue_model(window.catalogue, kind="seed", epochs=1, activate="always")

    dialog = window.show_models()
    assert dialog is not None
    assert dialog.versions() == [BUNDLED_VERSION, result.version]
    assert dialog.marked_active() == [result.version]
    # The bundled model shows the figures its sidecar records from `whalecat evaluate`.
    bundled_map5 = json.loads((bundled_model_dir() / "embedding.json").read_text())["held_out_evaluation"]["map5"]
    assert dialog.table.item(0, COLUMNS.index("MAP@5")).text() == f"{bundled_map5:.3f} *"
    # The bundled model takes RGB photos and the seed CNN gray 100x100 ones.
    bundled = json.loads((bundled_model_dir() / "embedding.json").read_text())
    size = bundled["input_size"]
    assert dialog.table.item(0, COLUMNS.index("Input")).text() == f"{size['width']}×{size['height']} RGB"
    assert dialog.table.item(1, COLUMNS.index("Input")).text() == "100×100 gray"
    assert not dialog.activate_button.isEnabled()

    assert dialog.select_version(BUNDLED_VERSION)
    assert dialog.activate_button.isEnabled()
    with qtbot.waitSignal(dialog.active_model_changed, timeout=WAIT_MS):
        dialog.activate_button.click()
    assert active_version(window.catalogue) == BUNDLED_VERSION
    assert dialog.marked_active() == [BUNDLED_VERSION]

    assert dialog.select_version(result.version)
    dialog.activate_button.click()
    assert active_version(window.catalogue) == result.version
    assert dialog.marked_active() == [result.version]

    # From the keyboard: Enter on a row makes it active, and the dialog stays open.
    dialog.activateWindow()
    dialog.table.setFocus()
    assert dialog.select_version(BUNDLED_VERSION)
    qtbot.keyClick(dialog.table, Qt.Key.Key_Return)
    assert active_version(window.catalogue) == BUNDLED_VERSION
    assert dialog.isVisible()
    assert not dialog.table.tabKeyNavigation()
    # Enter on the focused Close button still closes it.
    close = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    close.setFocus()
    qtbot.keyClick(close, Qt.Key.Key_Return)
    assert not dialog.isVisible()


def test_switch_reembeds_in_background(qtbot, real_window, tmp_path):
    add_flukes(real_window, tmp_path)
    catalogue = real_window.catalogue
    first = train_catalogue_model(catalogue, kind="seed", epochs=1, activate="always")
    # A copy under another name is a second valid version, without training again.
    second = "seed-copy"
    shutil.copytree(first.path, catalogue.models_dir / second, ignore=shutil.ignore_patterns("logs"))
    identifier = real_window.identifier()
    identifier.identify_photo(1, record=False)
    assert identifier.model_version == first.version

    dialog = real_window.show_models()
    dialog.select_version(second)
    dialog.activate_button.click()
    status = real_window.reembed_status
    assert status.worker is not None
    assert status.isVisible()
    assert identifier.model_version == first.version  # still matching with the previous model
    with qtbot.waitSignal(status.finished, timeout=TRAIN_WAIT_MS) as finished:
        pass

    assert finished.args == [second]
    assert identifier.model_version == second
    qtbot.waitUntil(lambda: status.worker is None, timeout=WAIT_MS)
    assert not status.isVisible()
    assert len(identifier.identify_photo(1, record=False)) == 5


def test_follows_model_activated_outside(qtbot, real_window, tmp_path):
    add_flukes(real_window, tmp_path)
    catalogue = real_window.catalogue
    first = train_catalogue_model(catalogue, kind="seed", epochs=1, activate="always")
    real_window.follow_active_model()
    identifier = real_window.identifier()
    panel = real_window.identify_panel
    panel.set_photo(1)
    with qtbot.waitSignal(panel.identify_current().done, timeout=TRAIN_WAIT_MS):
        pass
    previous_result = panel.result
    assert previous_result is not None
    assert identifier.model_version == first.version

    # As `whalecat models activate bundled` does from a terminal.
    set_active_version(catalogue, BUNDLED_VERSION)
    assert real_window.identifier() is identifier

    status = real_window.reembed_status
    assert status.worker is not None
    assert real_window.training_panel.active_label.text() == f"Active model: {BUNDLED_VERSION}"
    with qtbot.waitSignal(status.finished, timeout=TRAIN_WAIT_MS) as finished:
        pass
    assert finished.args == [BUNDLED_VERSION]
    assert identifier.model_version == BUNDLED_VERSION
    qtbot.waitUntil(lambda: status.worker is None, timeout=WAIT_MS)
    # The shown photo is identified again with the model now active.
    qtbot.waitUntil(lambda: panel.result is not None and panel.result is not previous_result, timeout=TRAIN_WAIT_MS)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=WAIT_MS)


def test_new_whale_photos_listed(qtbot, window, tmp_path):
    add_flukes(window, tmp_path, whales=1, photos_per_whale=2)
    save_fluke(tmp_path / "stranger" / "stranger.jpg", individual=9)
    import_paths(window.catalogue, [tmp_path / "stranger"])
    window.browser.refresh()
    stranger = window.browser.unidentified_model.photos[0]
    with window.catalogue.session() as session:
        confirm_label(session, stranger.id, NEW_WHALE, "manual")

    window.browser.refresh()

    assert [p.id for p in window.browser.new_whale_model.photos] == [stranger.id]
    assert window.browser.tabs.tabText(2) == "new_whale (1)"
    assert window.browser.unidentified_model.photos == []


def test_keypoint_pairs_follow_crop():
    query = ShownImage(QImage(40, 30, QImage.Format.Format_Grayscale8), (40, 30), (100, 100))
    photo = ShownImage(QImage(40, 30, QImage.Format.Format_Grayscale8), (40, 30), (10, 20))
    candidate = Candidate("w_0000001", 0.9, "abc", {"pairs": [((5.0, 6.0), (15.0, 26.0))]})

    assert query.origin == (100, 100)  # query points are already relative to the cut query image
    assert shown_pairs(candidate, photo) == [((5.0, 6.0), (5.0, 6.0))]
    assert shown_pairs(Candidate("w_0000002", 0.1, None, {}), photo) == []


def test_switching_photo_keeps_preparation(qtbot, window, tmp_path):
    add_flukes(window, tmp_path, whales=4, photos_per_whale=2)
    panel = window.identify_panel
    window.set_device("cpu")  # the device the test identifier uses, so the window keeps it
    identifier = window.identifier()
    assert window.identifier() is identifier
    prepared = []
    prepare = identifier.method.prepare
    identifier.method.prepare = lambda gallery, progress: (prepared.append(len(gallery.photos)), prepare(gallery, progress))

    panel.set_photo(1)
    first = panel.identify_current()
    panel.set_photo(2)  # while the first run still prepares the method
    assert panel.worker is None
    assert not first.token.cancelled
    second = panel.identify_current()
    with qtbot.waitSignal(second.done, timeout=TRAIN_WAIT_MS):
        pass
    qtbot.waitUntil(lambda: first.ended, timeout=WAIT_MS)

    # The method was prepared once, by the first run; only the second run's result is shown.
    assert prepared == [8]
    assert panel.result is not None
    assert panel.result.photo_id == 2
    assert len(panel.result.candidates) == 5
