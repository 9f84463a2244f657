"""The catalogue browser: whales with their photos, photos confirmed as new_whale, and the photos
nobody has identified yet.

The lists are read on the GUI thread with its own session. The queries are single indexed
SELECTs on a local SQLite file, and the browser must show a confirmation at once, so a worker
round trip would only add flicker. Thumbnails are small JPEGs made at import, read on demand.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListView,
    QSplitter,
    QTabBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import CONFIRMED, Identification, Photo
from whalecat.catalogue.records import (
    PhotoSummary,
    Suggestion,
    WhaleSummary,
    first_suggestions,
    get_photo,
    list_whales,
    photo_summary,
    photos_of_whale,
    unidentified_photos,
)
from whalecat.gui.images import centred, load_thumbnail
from whalecat.importing.importer import thumbnail_path
from whalecat.matching.base import NEW_WHALE

log = logging.getLogger(__name__)

ICON_SIZE = QSize(96, 64)
PHOTO_ID_ROLE = Qt.ItemDataRole.UserRole
WHALE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
NO_WHALE_HEADING = "Select a whale to see its photos"
OUT_OF_DATE_TIP = (
    "In italics: the catalogue has changed since, so the candidates may have changed too. "
    "Identify → Identify All Unidentified Photos (Ctrl+Shift+R) finds them again."
)
SUGGESTION_ROOM = QSize(24, 16)  # pixels the Unidentified list's cells gain for the suggestion line


class ThumbnailCache:
    """Scaled thumbnail pixmaps by photo sha256, for the current catalogue."""

    def __init__(self) -> None:
        self.catalogue: Catalogue | None = None
        self._pixmaps: dict[tuple[str, int, int], QPixmap] = {}

    def reset(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self._pixmaps.clear()

    def forget(self, sha256: str) -> None:
        """Drop the pixmaps of one photo, whose thumbnail file has changed."""
        for key in [key for key in self._pixmaps if key[0] == sha256]:
            del self._pixmaps[key]

    def get(self, sha256: str | None, size: QSize = ICON_SIZE) -> QPixmap | None:
        if sha256 is None or self.catalogue is None:
            return None
        key = (sha256, size.width(), size.height())
        if key not in self._pixmaps:
            image = load_thumbnail(thumbnail_path(self.catalogue, sha256))
            if image.isNull():
                return None
            self._pixmaps[key] = centred(QPixmap.fromImage(image), size)
        return self._pixmaps[key]


@dataclass(frozen=True)
class WhaleRow:
    summary: WhaleSummary
    representative_sha256: str | None


class WhaleListModel(QAbstractListModel):
    def __init__(self, thumbnails: ThumbnailCache):
        super().__init__()
        self._thumbnails = thumbnails
        self.rows: list[WhaleRow] = []

    def set_rows(self, rows: list[WhaleRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        whale = row.summary
        if role == Qt.ItemDataRole.DisplayRole:
            noun = "photo" if whale.photo_count == 1 else "photos"
            name = f" ({whale.name})" if whale.name else ""
            return f"{whale.id}{name}\n{whale.photo_count} {noun}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnails.get(row.representative_sha256)
        if role == Qt.ItemDataRole.ToolTipRole:
            return whale.id
        if role == WHALE_ID_ROLE:
            return whale.id
        return None


class PhotoListModel(QAbstractListModel):
    """A list of photos; the Unidentified list also shows each photo's stored first suggestion."""

    def __init__(self, thumbnails: ThumbnailCache):
        super().__init__()
        self._thumbnails = thumbnails
        self.photos: list[PhotoSummary] = []
        self.suggestions: dict[int, Suggestion] = {}
        self._fit: tuple[QFontMetrics, int] | None = None  # how wide a suggestion line may be drawn

    def fit_suggestions(self, metrics: QFontMetrics, width: int) -> None:
        """Shorten each suggestion line to `width` pixels, so it never wraps and keeps its confidence."""
        self._fit = (metrics, width)

    def set_photos(self, photos: list[PhotoSummary], suggestions: dict[int, Suggestion] | None = None) -> None:
        self.beginResetModel()
        self.photos = photos
        self.suggestions = suggestions or {}
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.photos)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        photo = self.photos[index.row()]
        suggestion = self.suggestions.get(photo.id)
        if role == Qt.ItemDataRole.DisplayRole:
            if suggestion is None:
                return photo.original_name
            return f"{photo.original_name}\n{suggestion_text(suggestion, self._fit)}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnails.get(photo.sha256)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = f"{photo.original_folder}/{photo.original_name}"
            if suggestion is None:
                return where
            found = (
                f"{where}\nFirst candidate when last identified, by the {suggestion.method} method: "
                f"{suggestion_text(suggestion)}"
            )
            return found if suggestion.current else f"{found}\n{OUT_OF_DATE_TIP}"
        if role == Qt.ItemDataRole.FontRole and suggestion is not None and not suggestion.current:
            font = QFont()
            font.setItalic(True)
            return font
        if role == PHOTO_ID_ROLE:
            return photo.id
        return None

    def row_of(self, photo_id: int) -> int | None:
        return next((row for row, p in enumerate(self.photos) if p.id == photo_id), None)


def suggestion_text(suggestion: Suggestion, fit: tuple[QFontMetrics, int] | None = None) -> str:
    """Return a stored first suggestion in a few words, such as "w_1287fbc 82%".

    Without a confidence the label ends in "?", so that it never reads as a confirmed id. With
    `fit` (font metrics and a width in pixels), a long label is shortened in the middle,
    where flukebook ids differ, and the confidence is kept.
    """
    mark = "?" if suggestion.confidence is None else f" {suggestion.confidence:.0%}"
    label = suggestion.label
    if fit is not None:
        metrics, width = fit
        label = metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, width - metrics.horizontalAdvance(mark))
    return label + mark


def by_first_candidate(photos: list[PhotoSummary], suggestions: dict[int, Suggestion]) -> list[PhotoSummary]:
    """Order photos by their first suggestion: catalogued whales by falling confidence, then new_whale, then none.

    The likely matches come first, so a researcher can confirm them quickly and leave the
    doubtful photos for a closer look. Ties keep the import order.
    """

    def key(photo: PhotoSummary) -> tuple[int, float, int]:
        suggestion = suggestions.get(photo.id)
        if suggestion is None:
            return (2, 0.0, photo.id)
        group = 1 if suggestion.label == NEW_WHALE else 0
        return (group, -(suggestion.confidence or 0.0), photo.id)

    return sorted(photos, key=key)


def new_whale_photos(session) -> list[PhotoSummary]:
    """Return the photos confirmed as new_whale: animals not in the catalogue, left without an id."""
    photos = session.scalars(
        select(Photo)
        .join(Identification)
        .where(Identification.status == CONFIRMED, Identification.is_new_whale.is_(True))
        .order_by(Photo.id)
    )
    return [photo_summary(photo) for photo in photos]


class _TabBar(QTabBar):
    """A tab bar whose tabs are tall enough to show an underscore, as in new_whale."""

    # The Fusion style draws a tab that is not current 2 px lower and clips its text there,
    # which cut the underscore of "new_whale" off with the default font.
    EXTRA_HEIGHT = 4

    def tabSizeHint(self, index: int) -> QSize:
        size = super().tabSizeHint(index)
        return QSize(size.width(), size.height() + self.EXTRA_HEIGHT)


class CataloguePanel(QWidget):
    """Lists whales, new_whale photos and unidentified photos, and keeps track of the current photo.

    The current photo is the one highlighted in the photo list of the tab on show: the selected
    whale's photos in the Whales tab, or the Unidentified or new_whale list. It is None when
    that list has no highlighted photo, so the window never acts on a photo the researcher
    cannot see selected, such as one left highlighted in a hidden tab.
    """

    current_photo_changed = Signal(object)  # the new current photo's id, or None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalogue: Catalogue | None = None
        self.current_photo_id: int | None = None
        self._changes_open = 0  # nesting depth of `_one_change` blocks
        self.order_by_candidate = False  # False lists unidentified photos in import order
        self.thumbnails = ThumbnailCache()

        self.filter_edit = QLineEdit(placeholderText="Filter by whale id")
        self.filter_edit.setClearButtonEnabled(True)
        self.whale_model = WhaleListModel(self.thumbnails)
        self.whale_proxy = QSortFilterProxyModel(self)
        self.whale_proxy.setSourceModel(self.whale_model)
        self.whale_proxy.setFilterRole(WHALE_ID_ROLE)
        self.whale_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit.textChanged.connect(self.whale_proxy.setFilterFixedString)
        self.whale_view = _list_view(self.whale_proxy, icon_mode=False)
        self.whale_view.selectionModel().currentChanged.connect(self._on_whale_changed)

        self.whale_photo_model = PhotoListModel(self.thumbnails)
        self.whale_photos_view = _list_view(self.whale_photo_model, icon_mode=True)
        self.whale_photos_label = QLabel(NO_WHALE_HEADING)

        whales_tab = QWidget()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.whale_view)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.whale_photos_label)
        lower_layout.addWidget(self.whale_photos_view)
        splitter.addWidget(lower)
        whales_layout = QVBoxLayout(whales_tab)
        whales_layout.setContentsMargins(0, 0, 0, 0)
        whales_layout.addWidget(self.filter_edit)
        whales_layout.addWidget(splitter)

        self.unidentified_model = PhotoListModel(self.thumbnails)
        self.unidentified_view = _list_view(self.unidentified_model, icon_mode=True)
        # Wider, so "whale_65586 100%" fits on one line, and a third line of text for it.
        grid = self.unidentified_view.gridSize() + SUGGESTION_ROOM
        self.unidentified_view.setGridSize(grid)
        self.unidentified_model.fit_suggestions(QFontMetrics(self.unidentified_view.font()), grid.width() - 8)

        self.new_whale_model = PhotoListModel(self.thumbnails)
        self.new_whale_view = _list_view(self.new_whale_model, icon_mode=True)
        self.new_whale_view.setToolTip("Photos confirmed as new_whale: animals not in the catalogue")

        self.tabs = QTabWidget()
        self.tabs.setTabBar(_TabBar())
        self.tabs.addTab(whales_tab, "Whales")
        self.tabs.addTab(self.unidentified_view, "Unidentified")
        self.tabs.addTab(self.new_whale_view, "new_whale")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        for view in self._photo_views():
            view.selectionModel().selectionChanged.connect(lambda _selected, _deselected: self._update_current_photo())
        self.tabs.currentChanged.connect(lambda _index: self._update_current_photo())

    def set_catalogue(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue
        self.thumbnails.reset(catalogue)
        self.filter_edit.clear()
        self.refresh()
        # Another catalogue's lists start at the top, not where the previous one's were scrolled.
        for view in (self.whale_view, *self._photo_views()):
            view.scrollToTop()

    def refresh(self) -> None:
        """Reload the lists, keeping the selected whale and each list's selected photo where still listed.

        When the photo selected in the Unidentified tab has left it (confirmed, say), the photo
        that took its place is selected, so a researcher can work through a card in order.
        `current_photo_changed` is sent at most once, after all the lists are reloaded.
        """
        selected_whale = self.selected_whale_id()
        selected_photos = [(view, _selected_photo_id(view)) for view in self._photo_views()]
        working_through = self.tabs.currentWidget() is self.unidentified_view
        left_row = _selected_row(self.unidentified_view) if working_through else None
        # A reload during a long run (an import, or identifying all photos) must not move the
        # lists the researcher is working in back to the top.
        scrolled = [(view, view.verticalScrollBar().value()) for view in (self.whale_view, *self._photo_views())]
        with self._one_change():
            self._reload_lists()
            if selected_whale is not None and not self.select_whale(selected_whale):
                self._clear_whale_photos()  # the whale is no longer listed, or the filter hides it
            for view, photo_id in selected_photos:
                if photo_id is not None:
                    _select_photo_in(view, photo_id)
            for view, value in scrolled:
                view.doItemsLayout()  # an icon list lays its items out later, with no scroll range until then
                view.verticalScrollBar().setValue(value)
            photos = self.unidentified_model.photos
            if left_row is not None and photos and _selected_photo_id(self.unidentified_view) is None:
                self.unidentified_view.setCurrentIndex(self.unidentified_model.index(min(left_row, len(photos) - 1)))

    def _reload_lists(self) -> None:
        rows: list[WhaleRow] = []
        unidentified: list[PhotoSummary] = []
        suggestions: dict[int, Suggestion] = {}
        new_whales: list[PhotoSummary] = []
        if self.catalogue is not None:
            with self.catalogue.session() as session:
                whales = list_whales(session)
                wanted = [w.representative_photo_id for w in whales if w.representative_photo_id]
                sha_by_id = dict(session.execute(select(Photo.id, Photo.sha256).where(Photo.id.in_(wanted))).all())
                unidentified = unidentified_photos(session)
                suggestions = first_suggestions(session)
                new_whales = new_whale_photos(session)
            rows = [WhaleRow(w, sha_by_id.get(w.representative_photo_id)) for w in whales]
        self.whale_model.set_rows(rows)
        if self.order_by_candidate:
            unidentified = by_first_candidate(unidentified, suggestions)
        self.unidentified_model.set_photos(unidentified, suggestions)
        self.new_whale_model.set_photos(new_whales)
        self._update_tab_titles()

    def set_order_by_candidate(self, enabled: bool) -> None:
        """List unidentified photos by their first suggestion (see `by_first_candidate`), or in import order."""
        self.order_by_candidate = enabled
        self.refresh()

    def show_tab(self, index: int) -> None:
        """Show tab `index` (0 Whales, 1 Unidentified, 2 new_whale) with the keyboard in its list.

        Without a selected item the one the keyboard is on, or else the first, is selected, so
        the panes show it and the arrow keys move from there. A list emptied and filled again
        keeps a current row without a selection.
        """
        view = (self.whale_view, self.unidentified_view, self.new_whale_view)[index]
        with self._one_change():
            self.tabs.setCurrentIndex(index)
            if _selected_row(view) is None and view.model().rowCount() > 0:
                current = view.currentIndex()
                view.setCurrentIndex(current if current.isValid() else view.model().index(0, 0))
                view.selectionModel().select(view.currentIndex(), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        view.setFocus()

    def thumbnail_changed(self, photo_id: int) -> None:
        """Redraw a photo whose thumbnail file changed, such as after a turn."""
        if self.catalogue is None:
            return
        with self.catalogue.session() as session:
            self.thumbnails.forget(get_photo(session, photo_id).sha256)
        for view in (self.whale_view, self.whale_photos_view, self.unidentified_view, self.new_whale_view):
            # A taller thumbnail needs its cell laid out again, or its caption is hidden.
            view.doItemsLayout()

    def whale_counts(self) -> dict[str, int]:
        """Each listed whale's confirmed photo count, as shown."""
        return {row.summary.id: row.summary.photo_count for row in self.whale_model.rows}

    def selected_whale_id(self) -> str | None:
        index = self.whale_view.currentIndex()
        return index.data(WHALE_ID_ROLE) if index.isValid() else None

    def select_whale(self, whale_id: str) -> bool:
        for row, whale_row in enumerate(self.whale_model.rows):
            if whale_row.summary.id == whale_id:
                index = self.whale_proxy.mapFromSource(self.whale_model.index(row))
                if not index.isValid():
                    return False  # hidden by the filter
                self.whale_view.setCurrentIndex(index)
                self._show_whale_photos(whale_id)
                return True
        return False

    def select_unidentified_photo(self, photo_id: int) -> bool:
        with self._one_change():
            if not _select_photo_in(self.unidentified_view, photo_id):
                return False
            self.tabs.setCurrentWidget(self.unidentified_view)
        return True

    def select_photo(self, photo_id: int) -> bool:
        """Select a photo in the tab that lists it and show that tab; return False when no list shows it.

        A confirmed photo is selected among its whale's photos, unless the filter hides that whale.
        """
        if self.select_unidentified_photo(photo_id):
            return True
        with self._one_change():
            if _select_photo_in(self.new_whale_view, photo_id):
                self.tabs.setCurrentWidget(self.new_whale_view)
                return True
        if self.catalogue is None:
            return False
        with self.catalogue.session() as session:
            whale_id = session.scalar(
                select(Identification.whale_id).where(
                    Identification.photo_id == photo_id, Identification.status == CONFIRMED
                )
            )
        with self._one_change():
            if whale_id is None or not self.select_whale(whale_id):
                return False
            if not _select_photo_in(self.whale_photos_view, photo_id):
                return False
            self.tabs.setCurrentIndex(0)
        return True

    def photo_name(self, photo_id: int) -> str:
        """Return the file name a listed photo was imported from, as the lists show it.

        The lists keep a photo removed from the command line until the next reload, so its
        name is known here when the catalogue no longer has it.
        """
        for view in self._photo_views():
            model = view.model()
            row = model.row_of(photo_id)
            if row is not None:
                return model.photos[row].original_name
        return f"photo {photo_id}"

    def _photo_views(self) -> tuple[QListView, QListView, QListView]:
        """Return each tab's photo list, in tab order."""
        return (self.whale_photos_view, self.unidentified_view, self.new_whale_view)

    @contextmanager
    def _one_change(self):
        """Send `current_photo_changed` at most once, when the block ends, for all the changes made in it.

        Showing a tab and then selecting a photo in it would otherwise make the photo selected
        there before current for a moment, and load it in the panes for nothing.
        """
        self._changes_open += 1
        try:
            yield
        finally:
            self._changes_open -= 1
        self._update_current_photo()

    def _update_current_photo(self) -> None:
        """Send `current_photo_changed` when the photo selected in the shown tab's list changed."""
        if self._changes_open:
            return
        photo_id = _selected_photo_id(self._photo_views()[self.tabs.currentIndex()])
        if photo_id != self.current_photo_id:
            self.current_photo_id = photo_id
            self.current_photo_changed.emit(photo_id)

    def _on_whale_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._show_whale_photos(current.data(WHALE_ID_ROLE))

    def _show_whale_photos(self, whale_id: str) -> None:
        if self.catalogue is None:
            return
        with self.catalogue.session() as session:
            photos = photos_of_whale(session, whale_id)
        self.whale_photo_model.set_photos(photos)
        self.whale_photos_label.setText(f"Photos of {whale_id}")
        # Another whale's photos, none of them selected yet.
        self._update_current_photo()

    def _clear_whale_photos(self) -> None:
        self.whale_photo_model.set_photos([])
        self.whale_photos_label.setText(NO_WHALE_HEADING)
        self._update_current_photo()

    def _update_tab_titles(self) -> None:
        self.tabs.setTabText(0, f"Whales ({len(self.whale_model.rows)})")
        self.tabs.setTabText(1, f"Unidentified ({len(self.unidentified_model.photos)})")
        self.tabs.setTabText(2, f"new_whale ({len(self.new_whale_model.photos)})")
        # Scroll arrows would hide the third tab and its count, so the browser keeps room for all three.
        frame = self.tabs.width() - self.tabs.contentsRect().width() + 8
        self.setMinimumWidth(self.tabs.tabBar().sizeHint().width() + frame)


def _selected_row(view: QListView) -> int | None:
    """Return the row highlighted in a single-selection list, or None.

    A list's current index marks where the keyboard is, and Ctrl+click can leave it on a row
    whose highlight it took off, so the selection decides which photo is selected.
    """
    rows = view.selectionModel().selectedRows()
    return rows[0].row() if rows else None


def _selected_photo_id(view: QListView) -> int | None:
    row = _selected_row(view)
    return None if row is None else view.model().photos[row].id


def _select_photo_in(view: QListView, photo_id: int) -> bool:
    """Select a photo in a photo list; return False when the list does not show it."""
    row = view.model().row_of(photo_id)
    if row is None:
        return False
    view.setCurrentIndex(view.model().index(row))
    return True


def _list_view(model, icon_mode: bool) -> QListView:
    view = QListView()
    view.setModel(model)
    view.setIconSize(ICON_SIZE)
    if icon_mode:
        view.setViewMode(QListView.ViewMode.IconMode)
        view.setResizeMode(QListView.ResizeMode.Adjust)
        view.setMovement(QListView.Movement.Static)
        view.setGridSize(QSize(ICON_SIZE.width() + 24, ICON_SIZE.height() + 36))
        view.setWordWrap(True)
    else:
        # Thumbnails differ in height, so only the one-line whale list sizes every row by the
        # first (in the grid that clipped a row of taller thumbnails). Long ids are shortened
        # in the middle, because flukebook ids differ there.
        view.setUniformItemSizes(True)
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return view
