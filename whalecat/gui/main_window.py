"""The main window: menus, the open catalogue, and the panels it hands work to."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from whalecat import __version__
from whalecat.catalogue import Catalogue, CatalogueError
from whalecat.catalogue.models import Photo
from whalecat.catalogue.store import DATABASE_NAME, check_database_file, default_catalogue_path, new_catalogue_problem
from whalecat.catalogue.records import list_whales, unidentified_photos
from whalecat.export import ExportError, export_identifications, shared_names_note
from whalecat.gui.batch_identify import BatchIdentifyPanel
from whalecat.gui.browser import CataloguePanel
from whalecat.gui.confirmations import Confirmations
from whalecat.gui.dialogs import NewCatalogueDialog, shortcuts_box
from whalecat.gui.identify_panel import IdentifyPanel
from whalecat.gui.import_panel import ImportPanel
from whalecat.gui.models_dialog import ModelsDialog, ReembedStatus
from whalecat.gui.photo_view import PhotoViewPanel
from whalecat.gui.removal import PhotoRemover
from whalecat.gui.settings import DEVICES, Settings
from whalecat.gui.training_panel import TrainingPanel
from whalecat.gui.undo_actions import UndoActions
from whalecat.gui.worker import WorkerPool
from whalecat.identification import Identifier
from whalecat.imaging.io import PHOTO_SUFFIXES
from whalecat.matching.versions import active_version
from whalecat.text import counted, error_text

log = logging.getLogger(__name__)

IdentifierFactory = Callable[[Catalogue, str], Identifier]
# How long closing the window or switching catalogues waits for cancelled work. Imports stop
# after the current file and training after the current batch; loading TensorFlow cannot be
# interrupted and may take this long.
SHUTDOWN_TIMEOUT_MS = 60_000
# Closing the window waits only this long for threads in a step that writes nothing, such as
# loading TensorFlow. The process then exits without them (see `whalecat.gui.app.end_process`).
CLOSE_GRACE_MS = 1_000
# The cost of stopping each kind of running work, shown before the researcher agrees to it.
STOP_WORK_ADVICE = {
    "Training": "Training that stops keeps no model, and the active model stays in use.",
    "An import": "An import that stops keeps the photos imported so far. Import the same card again to add the rest.",
    "Identification of all photos": "The photos identified so far keep their suggestions. Identify all photos again "
    "(Ctrl+Shift+R) to do the rest.",
}
# Long enough to read "Undone: Confirm IMG_0412.jpg as w_f48451c"; the counts return after it.
STEP_MESSAGE_MS = 8_000
TRAINING_DOCK_MIN = 200  # pixels: room for the plots' axes and a few lines of text
# The save dialog's file types, which choose the export format.
EXPORT_FILTERS = {
    "sightings": "Sightings: each confirmed photo with its date, place and camera (*.csv)",
    "kaggle": "Labels: Image,Id, which import --labels reads back (*.csv)",
}


def default_identifier(catalogue: Catalogue, device: str) -> Identifier:
    return Identifier(catalogue, device=device)


def redo_shortcuts(platform_keys: list[QKeySequence] | None = None) -> list[QKeySequence]:
    """Return the platform's Redo keys (or `platform_keys`), with Ctrl+Y added when they lack it.

    Qt's key scheme on Linux desktops can bind Redo to Ctrl+Shift+Z only, and researchers used
    to Windows software press Ctrl+Y. The platform's keys come first, so the menu shows its own.
    """
    keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Redo) if platform_keys is None else platform_keys
    ctrl_y = QKeySequence("Ctrl+Y")
    return keys if ctrl_y in keys else [*keys, ctrl_y]


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, identifier_factory: IdentifierFactory = default_identifier):
        super().__init__()
        self.settings = settings
        self._identifier_factory = identifier_factory
        self.catalogue: Catalogue | None = None
        self._identifier: Identifier | None = None
        self.error_box: QMessageBox | None = None
        self.new_catalogue_dialog: NewCatalogueDialog | None = None
        self._failed_new_catalogue: Path | None = None
        self.shortcuts_box: QMessageBox | None = None
        self.quit_box: QMessageBox | None = None
        self._quit_confirmed = False
        self._known_model = ""  # the open catalogue's active model as the window last saw it
        self.models_dialog: ModelsDialog | None = None

        self.pool = WorkerPool(self)
        self.confirmations = Confirmations(self)
        self.browser = CataloguePanel()
        # One undo stack serves the window, so Edit → Undo reverts crop changes too.
        self.photo_view = PhotoViewPanel(self.pool, self.confirmations.undo_stack)
        self.identify_panel = IdentifyPanel(self.pool, self.confirmations, self.identifier)
        self.import_panel = ImportPanel(self.pool)
        self.batch_panel = BatchIdentifyPanel(self.pool, self.identifier, self.identify_panel.identifier_lock)
        self.training_panel = TrainingPanel(self.pool, lambda: self.settings.device, settings)
        self.reembed_status = ReembedStatus(self.pool)
        self.remover = PhotoRemover(self.confirmations.undo_stack, self, lambda: self.browser.current_photo_id,
                                    self.browser.photo_name)

        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(self.photo_view, "Photo")
        self.right_tabs.addTab(self.identify_panel, "Identify")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.browser)
        self.splitter.addWidget(self.right_tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([340, 900])
        self.setCentralWidget(self.splitter)
        self.training_dock = QDockWidget("Training", self)
        self.training_dock.setObjectName("training_dock")
        self.training_dock.setWidget(self.training_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.training_dock)
        self.training_dock.hide()

        self.catalogue_label = QLabel()
        # Permanent, so the counts stay in view beside the message each confirmation shows.
        self.statusBar().addPermanentWidget(self.catalogue_label)
        self.statusBar().addPermanentWidget(self.reembed_status)
        self.statusBar().addPermanentWidget(self.import_panel)
        self.statusBar().addPermanentWidget(self.batch_panel)

        # The browser's current photo is the one every photo action acts on, so the Photo and
        # Identify tabs show it and only it.
        self.browser.current_photo_changed.connect(self._on_photo_selected)
        self.confirmations.changed.connect(self._on_confirmation_changed)
        self.photo_view.crop_changed.connect(self._on_crop_changed)
        self.confirmations.undo_stack.photo_stepped.connect(self._show_stepped_photo)
        self.confirmations.undo_stack.step_failed.connect(self.show_error)
        self.photo_view.turned.connect(self._on_turned)
        self.photo_view.error.connect(self.show_error)
        self.remover.about_to_remove.connect(self.pool.abandon_photo)
        self.photo_view.crop_editor.reported.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.photo_view.turner.reported.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.remover.changed.connect(self._on_photo_removed_or_restored)
        self.remover.error.connect(self.show_error)
        self.remover.removed.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.import_panel.ended.connect(self._on_import_ended)
        self.import_panel.stored_more.connect(self.reload_catalogue_quietly)
        self.import_panel.error.connect(self.show_error)
        self.identify_panel.error.connect(self.show_error)
        self.batch_panel.error.connect(self.show_error)
        self.batch_panel.reported.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.batch_panel.suggestions_stored.connect(self.reload_catalogue_quietly)
        self.batch_panel.running_changed.connect(self._on_batch_running)
        self.identify_panel.confirmed.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.identify_panel.noted.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.training_panel.error.connect(self.show_error)
        self.training_panel.active_model_changed.connect(self._on_active_model_changed)
        self.training_panel.running_changed.connect(self._on_training_running)
        self.reembed_status.error.connect(self.show_error)
        self.reembed_status.finished.connect(lambda version: self.statusBar().showMessage(f"Identification now uses model {version}", 15_000))
        self.reembed_status.finished.connect(lambda _version: self.identify_panel.identify_again())

        self._build_menus()
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        if settings.geometry is not None:
            self.restoreGeometry(settings.geometry)
        if settings.splitter_state is not None:
            self.splitter.restoreState(settings.splitter_state)
        self._update_title()

    # -- catalogue --------------------------------------------------------------------------

    def open_catalogue(self, folder: Path, create: bool = False) -> bool:
        """Open the catalogue in `folder`, or with `create` make one there if it has none.

        On failure the current catalogue stays open. Without `create`, a folder that contains no
        catalogue is left untouched, so a mistyped path or a card's folder does not silently
        become an empty catalogue.
        """
        folder = Path(folder)
        if not create and not folder.exists():
            self.show_error(
                f"The catalogue folder {folder} is not there.",
                "If it was moved or renamed, open it from its new place with File → Open Catalogue….",
            )
            return False
        try:
            check_database_file(folder)  # a folder whose photos/ lost its database is named as such
        except CatalogueError as exc:
            self.show_error(f"Cannot open the catalogue {folder}: {exc}.", "Fix the cause above, then open the catalogue again.")
            return False
        if not create and not (folder / DATABASE_NAME).is_file():
            self.show_error(
                f"No catalogue in {folder}.",
                "Open the folder that contains catalogue.sqlite, or create a catalogue with New Catalogue… in the File menu.",
            )
            return False
        creating = not (folder / DATABASE_NAME).is_file()
        try:
            catalogue = Catalogue.open(folder)
        except (CatalogueError, OSError) as exc:
            # An OSError's own text repeats the path, so only its reason is shown.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if creating:
                self.show_error(f"Cannot create a catalogue in {folder}: {reason}.",
                                "Choose a folder in a place you can write to, such as your home folder.")
            else:
                self.show_error(f"Cannot open the catalogue {folder}: {reason}.",
                                "Choose another catalogue folder, or fix the cause above and open it again.")
            return False
        self.close_catalogue()
        self.catalogue = catalogue
        self._known_model = active_version(catalogue)
        try:
            for panel in self._panels():
                panel.set_catalogue(catalogue)
        except SQLAlchemyError as exc:
            # Damage the check on opening missed; the window stays usable with no catalogue.
            self.close_catalogue()
            self.show_error(f"Cannot read the catalogue {folder}: {error_text(exc)}.",
                            "Restore catalogue.sqlite from a backup of the folder, or open another catalogue.")
            return False
        # Only now, so that a catalogue the window cannot show is not opened again at next start.
        self.settings.last_catalogue = catalogue.folder
        self._update_title()
        log.info("Opened catalogue %s in the window", catalogue.folder)
        return True

    def reload_catalogue(self) -> None:
        """Read the lists, counts and the photo on show again, for changes made outside this window."""
        if not self.reload_catalogue_quietly():
            return
        on_show = self.photo_view.photo_id
        # A box waiting to be saved stays, and saving it is refused if the photo was turned meanwhile.
        box_waiting = self.photo_view.crop_editor.view.pending_box is not None
        if on_show is not None and on_show == self.browser.current_photo_id and not box_waiting:
            self.photo_view.show_photo(on_show)
        self.statusBar().showMessage("Catalogue reloaded", STEP_MESSAGE_MS)

    def reload_catalogue_quietly(self) -> bool:
        """Read the lists and counts again without a message; return False without a catalogue."""
        if self.catalogue is None:
            return False
        self.browser.refresh()
        self._update_title()
        return True

    def close_catalogue(self, grace_ms: int | None = None) -> None:
        """Stop all work on the current catalogue, dropping late results, and close it.

        With `grace_ms`, stop waiting after that long for threads that write nothing.
        """
        self.pool.abandon_all()
        self.pool.join_all(SHUTDOWN_TIMEOUT_MS, grace_ms)
        for panel in self._panels():
            panel.set_catalogue(None)
        if self.models_dialog is not None:
            self.models_dialog.close()
            self.models_dialog = None
        self._identifier = None
        if self.catalogue is not None:
            self.catalogue.close()
            log.info("Closed catalogue %s", self.catalogue.folder)
        self.catalogue = None
        self._update_title()

    def _panels(self) -> tuple:
        return (self.browser, self.photo_view, self.identify_panel, self.import_panel, self.training_panel,
                self.confirmations, self.remover)

    def identifier(self) -> Identifier | None:
        """Return the Identifier for the open catalogue, made again when the device setting changed."""
        if self.catalogue is None:
            return None
        self.follow_active_model()
        if self._identifier is None or self._identifier.device != self.settings.device:
            self._identifier = self._identifier_factory(self.catalogue, self.settings.device)
        return self._identifier

    # -- actions ----------------------------------------------------------------------------

    def import_paths(self, paths: list[Path], labels_csv: Path | None = None):
        """Import files and folders in a worker, and return the worker (None when it cannot start)."""
        if paths:
            # A card is usually imported folder by folder, so the next dialog opens beside this one.
            self.settings.last_import_folder = Path(paths[0]).parent
        return self.import_panel.start(paths, labels_csv, self.settings.find_fluke)

    def identify_selected(self):
        self.right_tabs.setCurrentWidget(self.identify_panel)
        return self.identify_panel.identify_current()

    def retrain(self):
        """Show the training panel and open the Retrain dialog; return the dialog (None when it cannot start)."""
        self._show_training_dock()
        return self.training_panel.ask_retrain()

    def _show_training_dock(self) -> None:
        """Show the training dock at most a third of the window high, so the photos keep their room."""
        if self.training_dock.isVisible():
            return
        self.training_dock.show()
        self.training_dock.raise_()
        self.resizeDocks([self.training_dock], [max(TRAINING_DOCK_MIN, self.height() // 3)], Qt.Orientation.Vertical)

    def show_models(self) -> ModelsDialog | None:
        """Open the Models dialog without blocking, and return it (None without a catalogue)."""
        if self.catalogue is None:
            self.show_error("No catalogue is open.", "Open or create a catalogue (File menu) to see its models.")
            return None
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.catalogue, self)
            self.models_dialog.active_model_changed.connect(self._on_active_model_changed)
            self.models_dialog.error.connect(self.show_error)
        self.models_dialog.refresh()
        self.models_dialog.open()
        return self.models_dialog

    def _on_training_running(self, running: bool) -> None:
        self.retrain_action.setEnabled(not running)
        if running:
            self._show_training_dock()
        else:
            self._close_stale_quit_question()

    def _on_batch_running(self, running: bool) -> None:
        self.identify_all_action.setEnabled(not running)
        if not running:
            self._close_stale_quit_question()

    def _close_stale_quit_question(self) -> None:
        """Close the question "… is still running. Quit anyway?" once no work runs.

        Otherwise it would stay open over the import summary, naming work that has ended.
        The window stays open, so the researcher can read the summary and quit again.
        """
        if self.quit_box is not None and self.quit_box.isVisible() and not self._running_work():
            self.quit_box.reject()

    def follow_active_model(self) -> None:
        """Switch to the catalogue's active model if it was changed outside the window.

        `whalecat models activate` or a second window can change it. Checked when the window
        is activated and before each identification.
        """
        if self.catalogue is None:
            return
        version = active_version(self.catalogue)
        if version != self._known_model:
            self._on_active_model_changed(version)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.follow_active_model()

    def _on_active_model_changed(self, version: str) -> None:
        self._known_model = version
        self.identify_panel.forget_results()
        log.info("Active model of %s changed to %s", self.catalogue.folder if self.catalogue else "?", version)
        if self.models_dialog is not None:
            self.models_dialog.refresh()
        self.training_panel.show_active_version(version)
        self.reembed_status.start(self.identifier())

    def show_error(self, problem: str, advice: str) -> None:
        """Show a worker's or an action's error without blocking the window, and log it."""
        log.warning("%s", problem)  # handled: the dialog gives the next step
        # Not in the status bar too, where it covered the catalogue's counts for 15 s.
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, "whalecat", problem, QMessageBox.StandardButton.Ok, self)
        self.error_box.setInformativeText(advice)
        self.error_box.open()

    def _on_photo_selected(self, photo_id: int | None) -> None:
        if photo_id is None:
            self.photo_view.clear()
            self.identify_panel.set_photo(None)
            return
        self.photo_view.show_photo(photo_id)
        self.identify_panel.set_photo(photo_id)
        self._identify_if_on_select()

    def _identify_if_on_select(self) -> None:
        """Identify the shown unidentified photo if it has no candidates, and either the setting is
        on or the photo was identified before, as after Identify All Unidentified Photos."""
        unidentified = self.browser.tabs.currentWidget() is self.browser.unidentified_view
        # The stored suggestions lack the pairs and photos the panel shows, so the photo is
        # matched again. The method is prepared by then, which makes that quick.
        should_identify = self.settings.identify_on_select or self.identify_panel.photo_id in self.browser.unidentified_model.suggestions
        # A photo that shows its kept candidates needs no new run.
        if should_identify and unidentified and self.identify_panel.result is None:
            # Working through a card then takes one key per photo: Enter confirms, and the
            # next photo is selected and identified.
            self.identify_panel.identify_current(take_focus=False)

    def _on_confirmation_changed(self, photo_id: int) -> None:
        self.browser.refresh()
        if self.browser.unidentified_model.row_of(photo_id) is not None:
            # Only an undone confirmation brings a photo back. The researcher returns to it
            # from any tab, and it shows its earlier candidates again, because the catalogue is
            # back as it was when they were found.
            self.browser.select_unidentified_photo(photo_id)
        if self.photo_view.photo_id == photo_id:
            self.photo_view.show_photo(photo_id)
        if self.identify_panel.photo_id == photo_id:
            self.identify_panel.refresh_heading()
        self._update_title()

    def _on_photo_removed_or_restored(self, photo_id: int) -> None:
        self.identify_panel.forget_results()  # their candidates may name the removed photo
        self.browser.refresh()
        self.browser.select_photo(photo_id)  # put back by an undo, so it is selected again
        with self.catalogue.session() as session:
            exists = session.get(Photo, photo_id) is not None
        if not exists and self.photo_view.photo_id == photo_id:
            self.photo_view.clear()
        if not exists and self.identify_panel.photo_id == photo_id:
            self.identify_panel.set_photo(None)
        self._update_title()

    def _show_stepped_photo(self, photo_id: int) -> None:
        """Show the photo whose crop or turn an undo or redo changed, when another one is shown.

        The Photo tab then shows the change. On the photo shown, the tabs stay as they are, as
        they do for the turn itself.
        """
        if self.browser.current_photo_id != photo_id and self.browser.select_photo(photo_id):
            self.right_tabs.setCurrentWidget(self.photo_view)

    def _on_turned(self, photo_id: int) -> None:
        self.browser.thumbnail_changed(photo_id)
        # `_on_crop_changed` has dropped the candidates found in the photo's old pixels, so
        # the photo is identified again as selecting it would.
        if self.identify_panel.photo_id == photo_id:
            self._identify_if_on_select()

    def _on_crop_changed(self, photo_id: int) -> None:
        self.identify_panel.forget_results()
        # The identify panel's candidates and match view come from the old crop, so it starts
        # over on that photo and the next identification uses the new crop.
        # NOTE: a candidate whose best photo is `photo_id` still shows that photo's old crop.
        if self.identify_panel.photo_id == photo_id:
            self.identify_panel.set_photo(None)
            self.identify_panel.set_photo(photo_id)
            # Not for a box saved on leaving its photo: the browser has moved on by then.
            if self.browser.current_photo_id == photo_id:
                self._identify_if_on_select()

    def _on_import_ended(self) -> None:
        self._close_stale_quit_question()
        self.browser.refresh()
        # The summary box shows the report. A status-bar message would hide the catalogue's
        # new counts for as long as it stays up.
        self._update_title()

    def _update_title(self) -> None:
        if self.catalogue is None:
            self.setWindowTitle("whalecat")
            self.catalogue_label.setText("No catalogue open: use File → Open Catalogue… or New Catalogue…")
            self.catalogue_label.setToolTip("")
            return
        self.setWindowTitle(f"whalecat — {self.catalogue.folder.name}")
        self.catalogue_label.setToolTip(str(self.catalogue.folder))
        with self.catalogue.session() as session:
            photos = session.scalar(select(func.count(Photo.id))) or 0
            whales = len(list_whales(session))  # as the Whales tab counts them
            unidentified = len(unidentified_photos(session))
        self.catalogue_label.setText(f"{counted(whales, 'whale')}, {counted(photos, 'photo')}, {unidentified} unidentified")

    # -- menus and dialogs ------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New Catalogue…", self._choose_new_catalogue, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open Catalogue…", self._choose_catalogue, QKeySequence.StandardKey.Open)
        file_menu.addSeparator()
        self.import_files_action = self._action(file_menu, "&Import Photos…", self._choose_photos, "Ctrl+I")
        self._action(file_menu, "Import &Folder…", self._choose_folder, "Ctrl+Shift+I")
        self._action(file_menu, "Import Photos with &Labels…", self._choose_labelled_folder)
        self.export_action = self._action(file_menu, "&Export Identifications…", self._choose_export, "Ctrl+E")
        # On X11 a text box takes Ctrl+E to move to the end of the line, which would
        # leave Export without its key whenever the whale filter had the keyboard.
        self.browser.filter_edit.installEventFilter(self)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_actions = UndoActions(self.confirmations.undo_stack, self.photo_view.crop_editor, self)
        self.undo_actions.reported.connect(lambda text: self.statusBar().showMessage(text, STEP_MESSAGE_MS))
        self.undo_action = self.undo_actions.undo_action
        self.undo_action.setShortcuts(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_actions.redo_action
        self.redo_action.setShortcuts(redo_shortcuts())
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        filter_action = self._action(edit_menu, "&Filter Whales", self._focus_filter, QKeySequence.StandardKey.Find)
        filter_action.setStatusTip("Type part of a whale id to filter the list")

        photo_menu = self.menuBar().addMenu("&Photo")
        for action in self.photo_view.crop_editor.crop_actions():
            # The menu and the shortcuts act on the Photo tab, so show it.
            action.triggered.connect(lambda _checked=False: self.right_tabs.setCurrentWidget(self.photo_view))
            photo_menu.addAction(action)
        # A turn shows in the photo lists' thumbnails, so it leaves the tab as it is.
        photo_menu.addActions(self.photo_view.turner.actions())
        photo_menu.addSeparator()
        photo_menu.addAction(self.remover.action)

        identify_menu = self.menuBar().addMenu("&Identify")
        self._action(identify_menu, "&Identify Selected Photo", self.identify_selected, "Ctrl+R")
        self.identify_all_action = self._action(
            identify_menu, "Identify &All Unidentified Photos", self.batch_panel.start, "Ctrl+Shift+R"
        )
        self.identify_all_action.setStatusTip(
            "Find the top candidates of every unidentified photo in the background; the list shows the first"
        )
        self.order_action = QAction("&Order Unidentified Photos by First Candidate", self, checkable=True)
        self.order_action.setStatusTip(
            "List the likely matches first, by confidence, then the likely new whales, then photos not identified yet"
        )
        self.order_action.toggled.connect(self.browser.set_order_by_candidate)
        identify_menu.addAction(self.order_action)
        confirm = self._action(identify_menu, "&Confirm Candidate", self.identify_panel.confirm_selected)
        confirm.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        # Enter confirms only while the identify panel or the Unidentified list has focus, so it
        # never fires from the filter box. From the list, a card is worked through with the
        # arrow keys and Enter alone when photos are identified as they are selected.
        confirm.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.identify_panel.addAction(confirm)
        self.browser.unidentified_view.addAction(confirm)
        self._action(identify_menu, "&Whale ID…", self.identify_panel.ask_whale_id, "Ctrl+Shift+N")
        new_whale = self._action(identify_menu, "Mark as &new_whale", self.identify_panel.mark_new_whale, "Ctrl+Shift+M")
        # Each confirmation selects the next photo, so a held key must not confirm photos unseen.
        for action in (confirm, new_whale):
            action.setAutoRepeat(False)

        catalogue_menu = self.menuBar().addMenu("&Catalogue")
        self.retrain_action = self._action(catalogue_menu, "&Retrain…", self.retrain)
        self.retrain_action.setStatusTip("Train a new model from the confirmed photos, in the background")
        self.models_action = self._action(catalogue_menu, "&Models…", self.show_models)
        self.models_action.setStatusTip("List the model versions and choose the active one")
        catalogue_menu.addAction(self.training_dock.toggleViewAction())
        self.reload_action = self._action(catalogue_menu, "Re&load", self.reload_catalogue, "F5")
        self.reload_action.setStatusTip("Show what the command line or another window changed in this catalogue")
        catalogue_menu.addSeparator()
        for index, text in enumerate(("Go to &Whales", "Go to &Unidentified Photos", "Go to new_whale &Photos")):
            self._action(catalogue_menu, text, lambda index=index: self.browser.show_tab(index), f"Ctrl+{index + 1}")

        settings_menu = self.menuBar().addMenu("&Settings")
        device_menu = settings_menu.addMenu("&Device")
        self.device_group = QActionGroup(self)
        for device in DEVICES:
            action = QAction({"auto": "&Auto (GPU when visible)", "cpu": "&CPU", "gpu": "&GPU"}[device], self)
            action.setCheckable(True)
            action.setChecked(device == self.settings.device)
            action.setData(device)
            action.triggered.connect(lambda _checked, d=device: self.set_device(d))
            self.device_group.addAction(action)
            device_menu.addAction(action)
        self.find_fluke_action = QAction("Crop Imported Photos to the &Fluke", self)
        self.find_fluke_action.setCheckable(True)
        self.find_fluke_action.setChecked(self.settings.find_fluke)
        self.find_fluke_action.setStatusTip(
            "Store the fluke found in each imported photo as its crop; turn off for photos "
            "that are cropped already"
        )
        self.find_fluke_action.toggled.connect(self._set_find_fluke)
        settings_menu.addAction(self.find_fluke_action)
        self.identify_on_select_action = QAction("&Identify Unidentified Photos When Selected", self)
        self.identify_on_select_action.setCheckable(True)
        self.identify_on_select_action.setChecked(self.settings.identify_on_select)
        self.identify_on_select_action.setStatusTip(
            "Propose the top-5 as soon as a photo is selected in the Unidentified tab, without Ctrl+R"
        )
        self.identify_on_select_action.toggled.connect(self._set_identify_on_select)
        settings_menu.addAction(self.identify_on_select_action)

        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About whalecat", self._about)

    def _set_identify_on_select(self, enabled: bool) -> None:
        self.settings.identify_on_select = enabled
        if enabled and self.identify_panel.photo_id is not None:
            self._identify_if_on_select()  # the photo shown, as if it had just been selected

    def _set_find_fluke(self, enabled: bool) -> None:
        self.settings.find_fluke = enabled

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def set_device(self, device: str) -> None:
        """Store the device. A running identification keeps its device, and the next one uses the new device."""
        self.settings.device = device
        log.info("Device set to %s", device)

    def _choose_new_catalogue(self) -> NewCatalogueDialog:
        """Open the New Catalogue dialog without blocking; accepting it creates the catalogue."""
        # After a failed attempt the dialog offers the path typed then, to correct rather than retype.
        dialog = NewCatalogueDialog(self._failed_new_catalogue or self._new_catalogue_suggestion(), self)
        dialog.accepted.connect(lambda: self._create_from_dialog(dialog.folder()))
        self.new_catalogue_dialog = dialog
        dialog.open()
        return dialog

    def _create_from_dialog(self, folder: Path) -> None:
        # The question comes after the dialog, so it names only work still running by then.
        if not self._may_stop_work(f"Create the catalogue {folder}"):
            return
        self._failed_new_catalogue = None if self.create_catalogue(folder) else folder

    def _new_catalogue_suggestion(self) -> Path:
        """Return a folder that does not exist yet, beside the open catalogue or the default one."""
        parent = (self.catalogue.folder if self.catalogue else default_catalogue_path()).parent
        suggestion = parent / "new catalogue"
        number = 2
        while suggestion.exists():
            suggestion = parent / f"new catalogue {number}"
            number += 1
        return suggestion

    def create_catalogue(self, folder: Path) -> bool:
        """Create a catalogue in `folder`, a new or empty folder, and open it. Return False when it cannot."""
        problem = new_catalogue_problem(folder)
        if problem:
            self.show_error(*problem)
            return False
        return self.open_catalogue(folder, create=True)

    def _choose_catalogue(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open Catalogue")
        if folder and self._may_stop_work(f"Open the catalogue {folder}"):
            self.open_catalogue(Path(folder))

    def _running_work(self) -> str:
        """Name the running work that closing the catalogue would stop, or return ''."""
        if self.training_panel.running:
            return "Training"
        if self.import_panel.running:
            return "An import"
        if self.batch_panel.running:
            return "Identification of all photos"
        return ""

    def _may_stop_work(self, action: str) -> bool:
        """Ask before `action` stops running work, and return True to go on."""
        running = self._running_work()
        if not running:
            return True
        answer = QMessageBox.question(
            self, "whalecat", f"{running} is still running. {action} and stop it?\n\n{STOP_WORK_ADVICE[running]}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _ask_before_quitting(self, running: str) -> None:
        # Not modal, so the window keeps showing progress while the question waits.
        box = QMessageBox(QMessageBox.Icon.Question, "whalecat", f"{running} is still running. Quit anyway?",
                          QMessageBox.StandardButton.Cancel, self)
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setInformativeText(STOP_WORK_ADVICE[running])
        box.buttonClicked.connect(lambda button: self.quit_anyway() if button is quit_button else None)
        self.quit_box = box
        box.open()

    def quit_anyway(self) -> None:
        """Close the window, stopping any running work without asking."""
        self._quit_confirmed = True
        self.close()

    def _choose_photos(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(PHOTO_SUFFIXES))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import Photos", self.settings.last_import_folder, f"Photos ({patterns});;All files (*)"
        )
        if files:
            self.import_paths([Path(f) for f in files])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Import Folder (photos in sub-folders too)", self.settings.last_import_folder
        )
        if folder:
            self.import_paths([Path(folder)])

    def _choose_labelled_folder(self) -> None:
        labels, _ = QFileDialog.getOpenFileName(
            self, "Labels CSV (columns Image,Id)", self.settings.last_import_folder, "CSV files (*.csv)"
        )
        if not labels:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder with the labelled photos", str(Path(labels).parent))
        if folder:
            self.import_paths([Path(folder)], Path(labels))

    def _choose_export(self) -> None:
        if self.catalogue is None:
            self.show_error("No catalogue is open.", "Open or create a catalogue (File menu), then export.")
            return
        suggestion = self.catalogue.folder.parent / f"{self.catalogue.folder.name} sightings.csv"
        name, chosen = QFileDialog.getSaveFileName(
            self, "Export Confirmed Identifications", str(suggestion), ";;".join(EXPORT_FILTERS.values())
        )
        if not name:
            return
        export_format = next((key for key, text in EXPORT_FILTERS.items() if text == chosen), "sightings")
        path = Path(name)
        # A dot inside a name such as "survey.2024" is not a file type.
        if path.suffix.lower() not in (".csv", ".txt"):
            path = path.with_name(path.name + ".csv")
            # The dialog asked before replacing the name as typed, not this one.
            if path.exists():
                answer = QMessageBox.question(
                    self, "Export Confirmed Identifications", f"{path.name} already exists in {path.parent}. Replace it?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
        self.export_to(path, export_format)

    def export_to(self, path: Path, export_format: str) -> bool:
        """Write the confirmed photos to `path`; report the outcome and return whether it worked."""
        try:
            with self.catalogue.session() as session:
                count = export_identifications(session, path, export_format)
        except (ExportError, OSError, SQLAlchemyError) as exc:
            self.show_error(f"Cannot export to {path}: {error_text(exc)}", "Choose a folder you can write to, and export again.")
            return False
        photos = "photo" if count == 1 else "photos"
        self.statusBar().showMessage(f"Exported {count} confirmed {photos} to {path}", STEP_MESSAGE_MS)
        if export_format == "kaggle":
            with self.catalogue.session() as session:
                note = shared_names_note(session)
            if note:
                self.show_error(f"Exported to {path}, but {note}.",
                                "Before importing these labels again, split the rows by card and import each card "
                                "with its own rows.")
        return True

    def _focus_filter(self) -> None:
        self.browser.tabs.setCurrentIndex(0)
        self.browser.filter_edit.setFocus()

    def show_shortcuts(self) -> QMessageBox:
        """Open the list of keyboard shortcuts without blocking, and return it."""
        # The undo stack puts the next step into Undo's and Redo's text, which the list leaves out.
        names = {self.undo_action: "Undo", self.redo_action: "Redo"}
        self.shortcuts_box = shortcuts_box(self.menuBar(), self, names)
        self.shortcuts_box.open()
        return self.shortcuts_box

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About whalecat",
            f"<b>whalecat {__version__}</b><p>Identify individual humpback whales from photos of the "
            "underside of the tail fluke, and keep a catalogue of them.</p>",
        )

    # -- drag and drop, closing ------------------------------------------------------------

    def eventFilter(self, watched, event) -> bool:
        if (
            watched is self.browser.filter_edit
            and event.type() == QEvent.Type.ShortcutOverride
            and QKeySequence(event.keyCombination()) in self.export_action.shortcuts()
        ):
            event.ignore()  # not overridden, so the window's Ctrl+E runs
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Import the dropped photos and folders; one dropped CSV file is their labels."""
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        labels = [path for path in paths if path.suffix.lower() == ".csv" and path.is_file()]
        photos = [path for path in paths if path not in labels]
        if not photos:
            return
        event.acceptProposedAction()
        if len(labels) > 1:
            self.show_error(f"{len(labels)} CSV files were dropped: {', '.join(p.name for p in labels)}.",
                            "Drop the photos with one labels file (Image,Id), or none.")
            return
        self.import_paths(photos, labels[0] if labels else None)

    def closeEvent(self, event: QCloseEvent) -> None:
        running = self._running_work()
        if running and not self._quit_confirmed:
            event.ignore()
            self._ask_before_quitting(running)
            return
        self.settings.geometry = self.saveGeometry()
        self.settings.splitter_state = self.splitter.saveState()
        self.settings.sync()
        self.close_catalogue(CLOSE_GRACE_MS)
        super().closeEvent(event)
