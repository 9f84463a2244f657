"""The identify panel: a query photo, its top candidates, and the buttons that confirm one.

Identification runs in a worker because the matching method loads TensorFlow and its model on
first use. One `Identifier` serves the whole window, and it must not run on two threads at
once, so each run takes `identifier_lock`. A run for a photo the user has left goes on in the
background with its result dropped, because its first part prepares the method for the whole
catalogue (loading the model, embedding the photos, calibrating new_whale), which the next run
would otherwise start again.
"""

from __future__ import annotations

import html
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.exc import SQLAlchemyError

from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import open_catalogue_photo
from whalecat.catalogue.records import (
    PhotoGoneError,
    PhotoSummary,
    RecordError,
    find_photo_by_sha256,
    get_photo,
    photos_of_whale,
)
from whalecat.gui.confirmations import Confirmations
from whalecat.gui.dialogs import WhaleIdDialog
from whalecat.gui.images import centred, pil_to_qimage
from whalecat.gui.match_view import MatchView, Pair, ShownImage
from whalecat.gui.undo import GONE_ADVICE
from whalecat.gui.worker import Worker, WorkerPool
from whalecat.identification import Identifier, candidates_key
from whalecat.imaging.io import ImageError
from whalecat.imaging.preprocess import thumbnail
from whalecat.matching.base import NEW_WHALE, Candidate
from whalecat.matching.ranking import UNFITTED_NOTE, shown_confidence
from whalecat.progress import Progress
from whalecat.text import error_text

log = logging.getLogger(__name__)

TOP_CANDIDATES = 5
SHOWN_SIDE = 640  # pixels; the match view never draws a photo larger than this
CANDIDATE_ICON = QSize(120, 80)


@dataclass(frozen=True)
class IdentifyResult:
    photo_id: int
    photo_name: str
    candidates: list[Candidate]
    query: ShownImage
    best_photos: dict[str, ShownImage] = field(default_factory=dict)  # by photo sha256
    # The photo's `candidates_key` when the candidates were found. None when the catalogue
    # changed during the run, because the candidates may then mix two states of it.
    catalogue_key: tuple | None = None
    left_out: str = ""  # the confirmed photos matching could not use, in words


def _shown_photo(catalogue: Catalogue, photo: PhotoSummary) -> ShownImage:
    upright = open_catalogue_photo(catalogue, photo)
    origin = (0, 0)
    crop = photo.crop
    if crop:
        upright = upright.crop(crop)
        origin = (crop[0], crop[1])
    return ShownImage(pil_to_qimage(thumbnail(upright, SHOWN_SIDE)), upright.size, origin)


def identify(identifier: Identifier, lock: threading.Lock, photo_id: int, progress: Progress) -> IdentifyResult:
    """Rank candidates for a catalogue photo and load the photos to show. Runs in a worker."""
    catalogue = identifier.catalogue
    key = candidates_key(catalogue, photo_id)
    with lock:
        progress.check()
        candidates = identifier.identify_photo(photo_id, top=TOP_CANDIDATES, progress=progress)
    progress.check()
    with catalogue.session() as session:
        photo = get_photo(session, photo_id)
        best = {c.best_photo_key: find_photo_by_sha256(session, c.best_photo_key) for c in candidates if c.best_photo_key}
    query = _shown_photo(catalogue, photo)
    best_photos = {}
    for sha256, summary in best.items():
        if summary is None:
            continue  # removed from the catalogue since the method was prepared
        try:
            best_photos[sha256] = _shown_photo(catalogue, summary)
        except ImageError as exc:
            log.warning("Cannot show best photo %s of a candidate: %s", sha256, exc)
    if candidates_key(catalogue, photo_id) != key:
        key = None
    return IdentifyResult(photo_id, photo.original_name, candidates, query, best_photos, key,
                          identifier.left_out_text())


def shown_pairs(candidate: Candidate, best_photo: ShownImage) -> list[Pair]:
    """Return the candidate's verified keypoint pairs in pixels of the two images as shown.

    The method reports query points in the query image it was given, which the identifier
    has already cut to the crop box, but catalogue photo points in the whole upright photo,
    because it crops catalogue photos itself. The latter are moved by the crop's origin.
    """
    dx, dy = best_photo.origin
    return [(query, (x - dx, y - dy)) for query, (x, y) in candidate.details.get("pairs") or []]


# How many photos keep their latest candidates, which are shown again whenever the photo is
# selected with the catalogue as it was when they were found, such as after an undo or a redo.
# Each result contains a few thumbnails, so the number bounds memory, not the undo history.
KEPT_RESULTS = 20
# A threshold fitted on fewer catalogue photos than this is flagged as rough in the tooltip.
FEW_CALIBRATION_PHOTOS = 20


def describe_candidate(rank: int, candidate: Candidate) -> str:
    """Return two lines for the candidate list, with a confidence where `shown_confidence` gives one."""
    confidence = shown_confidence(rank, candidate)
    if candidate.label == NEW_WHALE:
        if confidence is not None:
            second = f"confidence {confidence:.0%} that it is a new whale"
        else:
            # Short enough for the list at the window's minimum width, where Qt elides the middle.
            second = "whales below it scored under the threshold"
        return f"{rank}. new_whale (not in the catalogue)\n{second}"
    second = f"score {candidate.score:.3f}"
    if confidence is not None:
        second += f", confidence {confidence:.0%}"
    return f"{rank}. {candidate.label}\n{second}"


def explain_candidate(candidate: Candidate) -> str:
    """Return the tooltip of a candidate, which explains its score and confidence.

    The text is rich text, so Qt wraps it instead of showing one very long line.
    """
    details = candidate.details
    if candidate.label == NEW_WHALE:
        text = "new_whale: an animal that is not in the catalogue."
        photos = details.get("calibrated_on")
        if photos == 0:
            text += " Its threshold is a fixed default, not fitted on this catalogue."
        elif photos is not None:
            text += (
                f" Its threshold was fitted on {photos} catalogue photos of whales with two or more photos"
            )
            text += " (few, so the confidences are rough)." if photos < FEW_CALIBRATION_PHOTOS else "."
        return f"<p>{html.escape(text)}</p>"
    text = f"{candidate.label}: the score of its most similar photo."
    if details.get("fitted") is False:
        text += f" It has {UNFITTED_NOTE}."
    if details.get("cosine") is not None:  # the default method's fused score
        pairs = details["inliers"]
        counted = f"the {pairs} keypoint pairs" if pairs else "keypoint pairs (none here)"
        text += (
            f" It adds the similarity of the two photos' embeddings (at most 1) and up to 1 for "
            f"{counted} that fit one geometric transform."
        )
        floor = details.get("inlier_floor") or 0
        if floor:
            text += (
                f" Only pairs beyond {floor:.3g} count, because unrelated photos in this catalogue often"
                f" reach that many; 40 more than that add the full 1."
            )
    elif details.get("inliers") is not None:  # the keypoints method scores by inliers alone
        text += " It counts the keypoint pairs that fit one geometric transform."
    if details.get("confidence") is not None:
        text += (
            " The confidence is 50 % at the new_whale threshold and grows with the score. "
            "It is a guide, not a probability."
        )
    return f"<p>{html.escape(text)}</p>"


class IdentifyPanel(QWidget):
    """Shows and confirms identifications for one photo at a time."""

    error = Signal(str, str)  # (what failed, what to do), shown by the window
    confirmed = Signal(str)  # what was confirmed, in words, shown by the window
    noted = Signal(str)  # a note on a finished identification, such as photos left out of matching

    def __init__(
        self,
        pool: WorkerPool,
        confirmations: Confirmations,
        identifier_for: Callable[[], Identifier | None],
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._pool = pool
        self._confirmations = confirmations
        self._identifier_for = identifier_for
        # Shared with the identification of all photos, which takes it one photo at a time.
        self.identifier_lock = threading.Lock()
        self.catalogue: Catalogue | None = None
        self.photo_id: int | None = None
        self._seen_names: dict[int, str] = {}  # file names by photo id, for photos removed meanwhile
        self.result: IdentifyResult | None = None
        self.worker: Worker | None = None
        self._focus_candidates = True  # whether the running identification may take the keyboard
        self.whale_id_dialog: WhaleIdDialog | None = None
        # The latest candidates of recently identified photos, by photo id, the newest last.
        self._kept_results: dict[int, IdentifyResult] = {}
        self._results_generation = 0  # counts `forget_results` calls

        self.heading = QLabel("Select a photo, then Identify")
        self.identify_button = QPushButton("Identify")
        self.identify_button.clicked.connect(self.identify_current)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(200)
        self.busy.hide()
        self.busy_label = QLabel()

        self.candidates = QListWidget()
        self.candidates.setIconSize(CANDIDATE_ICON)
        # Wide enough for a thumbnail beside "score 0.000, confidence 100%".
        self.candidates.setMinimumWidth(330)
        # Long ids (such as flukebook's) are shortened in the middle, where the tooltip has them whole.
        self.candidates.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.candidates.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.candidates.currentRowChanged.connect(self._on_candidate_changed)
        self.candidates.itemDoubleClicked.connect(lambda _item: self.confirm_selected())
        self.match_view = MatchView()
        self.keypoints_box = QCheckBox("Show keypoints")
        self.keypoints_box.toggled.connect(self.match_view.set_show_pairs)
        self.keypoints_box.setEnabled(False)
        self.keypoints_box.setToolTip("Lines join the verified keypoint pairs, when the method reports them")

        self.confirm_button = QPushButton("Confirm Candidate")
        self.confirm_button.setToolTip("Confirm the selected candidate (Enter)")
        self.confirm_button.clicked.connect(self.confirm_selected)
        self.whale_id_button = QPushButton("Whale ID…")
        self.whale_id_button.setToolTip(
            "Type a new id, or the id of a catalogued whale that is not among the candidates (Ctrl+Shift+N)"
        )
        self.whale_id_button.clicked.connect(self.ask_whale_id)
        self.new_whale_button = QPushButton("Mark as new_whale")
        self.new_whale_button.setToolTip("An animal not in the catalogue, left without an id")
        self.new_whale_button.clicked.connect(self.mark_new_whale)

        top = QHBoxLayout()
        top.addWidget(self.heading, stretch=1)
        top.addWidget(self.busy_label)
        top.addWidget(self.busy)
        top.addWidget(self.identify_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.match_view, stretch=1)
        right_layout.addWidget(self.keypoints_box)
        splitter = QSplitter()
        splitter.addWidget(self.candidates)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.confirm_button)
        buttons.addWidget(self.whale_id_button)
        buttons.addWidget(self.new_whale_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, stretch=1)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self.forget_results()
        self.set_photo(None)

    def identify_again(self) -> Worker | None:
        """Identify the shown photo again if it has candidates or is being identified.

        Called when identification switches model: candidates found with the previous model
        would otherwise stay on screen with nothing to say so. The kept candidates of other
        photos are dropped for the same reason.
        """
        self.forget_results()
        if self.photo_id is None or (self.result is None and self.worker is None):
            return None
        self._leave_running()  # an identification still using the previous model
        self.result = None
        self.candidates.clear()
        self.match_view.set_images(None, None, [])
        return self.identify_current(take_focus=False)

    def forget_results(self) -> None:
        """Drop the kept candidates after a change that `candidates_key` does not cover, such as a new model."""
        self._kept_results.clear()
        self._results_generation += 1  # results of runs still going are dropped too

    def set_photo(self, photo_id: int | None) -> None:
        """Make `photo_id` the query; a running identification of another photo is no longer shown.

        The photo's kept candidates are shown at once when the catalogue is as it was when they
        were found.
        """
        if photo_id == self.photo_id and photo_id is not None:
            return
        self._leave_running()
        self.photo_id = photo_id
        self.result = None
        self.candidates.clear()
        self.match_view.set_images(None, None, [])
        self.heading.setText("Select a photo, then Identify" if photo_id is None else self._photo_heading(photo_id))
        if photo_id is not None:
            self._photo_name(photo_id)  # remembered, so messages can name it once it is removed elsewhere
            self._show_kept_result(photo_id)
        self._update_buttons()

    def identify_current(self, take_focus: bool = True) -> Worker | None:
        """Start identifying the current photo, and return the worker (None without a photo or catalogue).

        With `take_focus`, the candidate list takes the keyboard when the candidates arrive,
        so arrow keys choose among them. A run the user did not request, such as one started
        by selecting a photo, leaves the keyboard where it is. The user may be moving down the
        photo list, and the next key would otherwise select another candidate.
        """
        identifier = self._identifier_for()
        if self.photo_id is None or identifier is None:
            return None
        self._focus_candidates = take_focus
        if self.worker is not None:
            return self.worker  # already identifying this photo
        photo_id = self.photo_id
        lock = self.identifier_lock
        worker = self._pool.run(
            lambda progress: identify(identifier, lock, photo_id, progress), f"identification of photo {photo_id}", photo_id
        )
        worker.progress.connect(lambda done, total, message: self._on_progress(worker, done, total, message))
        # A run the user has left (another photo, or a new crop of this one) is no longer
        # self.worker. Its candidates are kept, not shown, for when the photo is selected again.
        generation = self._results_generation
        worker.finished.connect(lambda result: self._on_finished(worker, generation, result))
        worker.failed.connect(lambda message: self._if_current(worker, self._on_failed, photo_id, message))
        worker.done.connect(lambda: self._on_worker_done(worker))
        self.worker = worker
        self.busy.setRange(0, 0)
        self.busy.show()
        self.busy_label.setText("Identifying…" if identifier.method_loaded else "Identifying… (loading the model first)")
        self._update_buttons()
        return worker.start()

    def selected_candidate(self) -> Candidate | None:
        row = self.candidates.currentRow()
        if self.result is None or not 0 <= row < len(self.result.candidates):
            return None
        return self.result.candidates[row]

    def confirm_selected(self) -> None:
        candidate = self.selected_candidate()
        if candidate is None or self.photo_id is None:
            return
        method = f"confirmed:{self._method_name()}"
        self._confirm(candidate.label, method, candidate.score)

    def mark_new_whale(self) -> None:
        if self.photo_id is not None:
            self._confirm(NEW_WHALE, "manual")

    def ask_whale_id(self) -> WhaleIdDialog | None:
        """Open the whale-id dialog without blocking. Accepting it confirms the photo as that whale."""
        if self.photo_id is None or self.catalogue is None:
            return None
        photo_id = self.photo_id
        dialog = WhaleIdDialog(self.catalogue, self._photo_name(photo_id), self)
        dialog.accepted.connect(lambda: self._confirm_whale_id(photo_id, dialog.whale_id()))
        self.whale_id_dialog = dialog
        dialog.open()
        return dialog

    def _confirm_whale_id(self, photo_id: int, whale_id: str) -> None:
        if photo_id == self.photo_id:
            self._confirm(whale_id, "manual")

    def _confirm(self, label: str, method: str, score: float | None = None) -> None:
        photo_id = self.photo_id
        try:
            before = self._confirmations.confirm(photo_id, label, method, score)
        except PhotoGoneError:
            self.error.emit(f"Cannot confirm {self._photo_name(photo_id)}: it is no longer in this catalogue.",
                            GONE_ADVICE)
            return
        except RecordError as exc:
            QMessageBox.warning(self, "Cannot confirm", f"{exc}\nChoose another id and confirm again.")
            return
        except SQLAlchemyError as exc:  # a full disk or a read-only catalogue.sqlite
            self.error.emit(
                f"Cannot save the confirmation of {self._photo_name(photo_id)}: {error_text(exc)}.",
                "The photo stays as it was. Free space on the disk or make catalogue.sqlite writable, "
                "then confirm again.",
            )
            return
        self.confirmed.emit(self._confirmed_text(photo_id, label, before))
        self.refresh_heading()

    def _confirmed_text(self, photo_id: int, label: str, before: str | None) -> str:
        """Say what a confirmation did, naming the label it replaced, which Ctrl+Z brings back."""
        text = f"Confirmed {self._photo_name(photo_id)} as {label}"
        if before is None or before == label:
            return text
        text += f", no longer {before}"
        if before != NEW_WHALE and self.catalogue is not None:
            with self.catalogue.session() as session:
                left = not photos_of_whale(session, before)
            if left:
                text += ", which had no other photo and left the whale list"
        return text + "; Ctrl+Z takes it back"

    def refresh_heading(self) -> None:
        if self.photo_id is not None:
            self.heading.setText(self._photo_heading(self.photo_id))

    def _on_progress(self, worker: Worker, done: int, total: int, message: str) -> None:
        if worker is not self.worker:
            return  # a run for a photo the user has left
        if total > 0:
            self.busy.setRange(0, total)
            self.busy.setValue(done)
        if message:
            self.busy_label.setText(message)

    def _if_current(self, worker: Worker, slot: Callable, *args) -> None:
        if worker is self.worker:
            slot(*args)

    def _on_finished(self, worker: Worker, generation: int, result: IdentifyResult) -> None:
        if worker is self.worker:
            self._on_identified(result)
        elif result.catalogue_key is not None and generation == self._results_generation:
            # No model change dropped the kept candidates since the run began, so these hold
            # whenever the catalogue matches their key.
            self._keep(result)

    def _on_identified(self, result: IdentifyResult) -> None:
        if result.catalogue_key is not None:
            self._keep(result)
        self._show_result(result)
        if result.left_out:
            self.noted.emit(result.left_out)
        if result.candidates and self._focus_candidates:
            self.candidates.setFocus()

    def _show_kept_result(self, photo_id: int) -> None:
        result = self._kept_results.get(photo_id)
        if result is None or self.catalogue is None:
            return
        # A result that no longer applies stays kept, because an undo may bring its state back.
        if candidates_key(self.catalogue, photo_id) != result.catalogue_key:
            return
        self._keep(result)
        # The keyboard stays where the user left it, in the photo list or the candidates.
        self._show_result(result)

    def _keep(self, result: IdentifyResult) -> None:
        results = self._kept_results
        results.pop(result.photo_id, None)
        results[result.photo_id] = result
        while len(results) > KEPT_RESULTS:
            del results[next(iter(results))]  # the least recently shown

    def _show_result(self, result: IdentifyResult) -> None:
        self.result = result
        self.candidates.clear()
        for rank, candidate in enumerate(result.candidates, start=1):
            item = QListWidgetItem(describe_candidate(rank, candidate))
            item.setToolTip(explain_candidate(candidate))
            shown = result.best_photos.get(candidate.best_photo_key or "")
            if shown is not None:
                # Padded to one size, so that every candidate's text starts at the same place.
                item.setIcon(QIcon(centred(QPixmap.fromImage(shown.image), CANDIDATE_ICON)))
            self.candidates.addItem(item)
        if result.candidates:
            self.candidates.setCurrentRow(0)
        else:
            self.match_view.set_images(result.query, None, [])
        self.heading.setText(self._photo_heading(result.photo_id))

    def _on_failed(self, photo_id: int, message: str) -> None:
        name = self._photo_name(photo_id)
        if self._photo_gone(photo_id):
            self.error.emit(f"Cannot identify {name}: it is no longer in this catalogue.", GONE_ADVICE)
            return
        # An ImageError's message starts with the photo's name already.
        message = message.removeprefix(f"{name}: ")
        self.error.emit(
            f"Cannot identify {name}: {message}",
            "If a photo file is named above, do as it says. Otherwise check the device setting "
            "(Settings → Device), then identify again.",
        )

    def _on_worker_done(self, worker: Worker) -> None:
        if worker is self.worker:
            self.worker = None
            self.busy.hide()
            self.busy_label.clear()
            self._update_buttons()

    def _on_candidate_changed(self, _row: int) -> None:
        candidate = self.selected_candidate()
        if self.result is None or candidate is None:
            self.keypoints_box.setEnabled(False)
            self.keypoints_box.setText("Show keypoints")  # no count left from another photo
            self._update_buttons()
            return
        shown = self.result.best_photos.get(candidate.best_photo_key or "")
        pairs = shown_pairs(candidate, shown) if shown is not None else []
        label = "" if candidate.label == NEW_WHALE else candidate.label
        self.match_view.set_images(self.result.query, shown, pairs, label)
        self.keypoints_box.setEnabled(bool(pairs) and shown is not None)
        self.keypoints_box.setText(f"Show keypoints ({len(pairs)} verified pairs)" if pairs else "Show keypoints")
        self._update_buttons()

    def _leave_running(self) -> None:
        """Stop showing the running identification and let it finish; its result is dropped."""
        if self.worker is not None:
            self.worker = None
            self.busy.hide()
            self.busy_label.clear()

    def _update_buttons(self) -> None:
        has_photo = self.photo_id is not None and self.catalogue is not None
        self.identify_button.setEnabled(has_photo and self.worker is None)
        self.confirm_button.setEnabled(has_photo and self.selected_candidate() is not None)
        self.whale_id_button.setEnabled(has_photo)
        self.new_whale_button.setEnabled(has_photo)

    def _method_name(self) -> str:
        identifier = self._identifier_for()
        return identifier.method_name if identifier is not None else "unknown"

    def _photo_gone(self, photo_id: int) -> bool:
        if self.catalogue is None:
            return False
        try:
            with self.catalogue.session() as session:
                get_photo(session, photo_id)
        except PhotoGoneError:
            return True
        except SQLAlchemyError:  # the database failing, which the error message names
            pass
        return False

    def _photo_name(self, photo_id: int) -> str:
        """Return the photo's file name; for a photo removed meanwhile, the name it had when last seen."""
        if self.catalogue is None:
            return f"photo {photo_id}"
        try:
            with self.catalogue.session() as session:
                name = get_photo(session, photo_id).original_name
        except (RecordError, SQLAlchemyError):  # removed meanwhile, or the database failing
            return self._seen_names.get(photo_id, f"photo {photo_id}")
        self._seen_names[photo_id] = name
        return name

    def _photo_heading(self, photo_id: int) -> str:
        if self.catalogue is None:
            return ""
        with self.catalogue.session() as session:
            photo = get_photo(session, photo_id)
        status = photo.confirmed_label or "unidentified"
        return f"<b>{photo.original_name}</b> — {status}"
