"""The window's stored preferences: device, fluke cropping at import, the last Retrain choice,
the last catalogue and the window geometry."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

ORGANISATION = "whalecat"
APPLICATION = "whalecat"
DEVICES = ("auto", "cpu", "gpu")  # the values `Identifier(device=...)` accepts


class Settings:
    """Typed access to QSettings; tests pass their own QSettings file."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANISATION, APPLICATION)

    @property
    def device(self) -> str:
        value = str(self.store.value("device", "auto"))
        if value not in DEVICES:
            log.warning("Ignoring stored device %r; using auto", value)
            return "auto"
        return value

    @device.setter
    def device(self, value: str) -> None:
        if value not in DEVICES:
            raise ValueError(f"invalid device {value!r}: use one of {', '.join(DEVICES)}")
        self.store.setValue("device", value)

    @property
    def find_fluke(self) -> bool:
        """Whether import crops each photo to the fluke it finds (default on)."""
        return str(self.store.value("import/find_fluke", "true")).lower() == "true"

    @find_fluke.setter
    def find_fluke(self, enabled: bool) -> None:
        self.store.setValue("import/find_fluke", "true" if enabled else "false")

    @property
    def identify_on_select(self) -> bool:
        """Whether selecting an unidentified photo starts its identification (default off)."""
        return str(self.store.value("identify/on_select", "false")).lower() == "true"

    @identify_on_select.setter
    def identify_on_select(self, enabled: bool) -> None:
        self.store.setValue("identify/on_select", "true" if enabled else "false")

    @property
    def retrain_kind(self) -> str:
        """The model kind last chosen in the Retrain dialog ("embedding" or "seed")."""
        value = str(self.store.value("retrain/kind", "embedding"))
        return value if value in ("embedding", "seed") else "embedding"

    @retrain_kind.setter
    def retrain_kind(self, kind: str) -> None:
        self.store.setValue("retrain/kind", kind)

    def retrain_epochs(self) -> dict[str, int]:
        """Return the epochs last chosen in the Retrain dialog, by model kind."""
        chosen = {}
        for kind in ("embedding", "seed"):
            value = self.store.value(f"retrain/epochs_{kind}")
            try:
                if value is not None and int(value) > 0:
                    chosen[kind] = int(value)
            except (TypeError, ValueError):
                log.warning("Ignoring stored epochs %r for %s", value, kind)
        return chosen

    def set_retrain_epochs(self, kind: str, epochs: int) -> None:
        self.store.setValue(f"retrain/epochs_{kind}", int(epochs))

    @property
    def last_catalogue(self) -> Path | None:
        value = self.store.value("last_catalogue", "")
        return Path(str(value)) if value else None

    @last_catalogue.setter
    def last_catalogue(self, folder: Path) -> None:
        self.store.setValue("last_catalogue", str(folder))

    @property
    def last_import_folder(self) -> str:
        """Return where the import dialogs open: the folder of the last import, or "" at first."""
        value = str(self.store.value("last_import_folder", "") or "")
        return value if value and Path(value).is_dir() else ""

    @last_import_folder.setter
    def last_import_folder(self, folder: Path) -> None:
        self.store.setValue("last_import_folder", str(folder))

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def splitter_state(self) -> QByteArray | None:
        value = self.store.value("window/splitter")
        return value if isinstance(value, QByteArray) else None

    @splitter_state.setter
    def splitter_state(self, value: QByteArray) -> None:
        self.store.setValue("window/splitter", value)

    def sync(self) -> None:
        self.store.sync()
