"""Open a catalogue folder: its SQLite database, photo copies and trained models.

A catalogue is one folder so that a team can back it up or move it as one thing:

    catalogue.sqlite   whales, photos, identifications (WAL mode)
    photos/            imported copies, named by content (sha256)
    thumbnails/        small upright previews made at import
    models/            trained models and their JSON sidecars
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from platformdirs import user_data_path
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

DATABASE_NAME = "catalogue.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 30_000


class CatalogueError(Exception):
    """A catalogue folder that cannot be opened or upgraded."""


def default_catalogue_path() -> Path:
    return user_data_path("whalecat", appauthor=False) / "catalogue"


def new_catalogue_problem(folder: Path) -> tuple[str, str] | None:
    """Return (what is wrong, what to do) when `folder` cannot take a new catalogue, else None.

    A new catalogue needs a new or empty folder, so that its files never mix with others. A
    folder that already contains a catalogue is accepted, and creating it again opens it.
    """
    if not folder.is_absolute():
        return f"{folder} is not a full path.", "Type the whole path of the folder, from the top."
    try:
        return _folder_problem(folder)
    except OSError as exc:  # a name too long for the file system, say
        return f"{folder} cannot be used: {exc.strerror or exc}.", "Type a shorter or simpler path."


def _folder_problem(folder: Path) -> tuple[str, str] | None:
    if folder.is_file():
        return f"{folder} is a file.", "Type the name of a new folder for the catalogue."
    if folder.is_dir() and not (folder / DATABASE_NAME).exists() and any(folder.iterdir()):
        return f"{folder} is not empty.", "Choose an empty folder for a new catalogue, or open an existing one."
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        return f"{existing} is a file, so no folder can be made in it.", "Type a path in another folder."
    if not os.access(existing, os.W_OK):
        return f"{existing} is read-only.", "Choose a folder you can write to."
    return None


class Catalogue:
    """One catalogue folder. Thread-safe to share; each thread opens its own `session()`."""

    def __init__(self, folder: Path | str, read_only: bool = False):
        self.folder = Path(folder).expanduser().resolve()
        self.database_path = self.folder / DATABASE_NAME
        self.photos_dir = self.folder / "photos"
        self.thumbnails_dir = self.folder / "thumbnails"
        self.models_dir = self.folder / "models"
        self.cache_dir = self.folder / "cache"
        self.inputs_dir = self.cache_dir / "inputs"  # network input pixels, see input_cache
        self.engine: Engine = _create_engine(self.database_path, read_only)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open_read_only(cls, folder: Path | str) -> Catalogue:
        """Open the catalogue in `folder` for reading only, as on a backup drive or a read-only share.

        Nothing is created, upgraded or written. Raises CatalogueError when the folder has
        no catalogue, when changes still wait in catalogue.sqlite-wal (reading around them
        would show an older catalogue), or when the schema is not the newest.
        """
        folder = Path(folder).expanduser()
        database = folder / DATABASE_NAME
        if not database.is_file():
            raise CatalogueError(f"no catalogue at {folder}: {DATABASE_NAME} is missing")
        if database.with_name(DATABASE_NAME + "-wal").is_file():
            raise CatalogueError(
                f"{folder} contains {DATABASE_NAME}-wal, changes not yet written into {DATABASE_NAME}, which a "
                "read-only folder cannot take in; copy the folder to a writable place and check the copy"
            )
        catalogue = cls(folder, read_only=True)
        try:
            catalogue.check()
            with catalogue.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except BaseException:
            catalogue.close()
            raise
        head = ScriptDirectory.from_config(_migrations_config()).get_current_head()
        if current != head:
            catalogue.close()
            raise CatalogueError(
                f"the catalogue at {folder} has schema {current}, not {head}, and a read-only folder cannot be "
                "upgraded; copy the folder to a writable place and check the copy"
            )
        return catalogue

    @classmethod
    def open(cls, folder: Path | str) -> Catalogue:
        """Open the catalogue in `folder`, creating it or upgrading its schema as needed."""
        folder = Path(folder).expanduser()
        if folder.exists() and not folder.is_dir():
            raise CatalogueError(f"{folder} is a file; a catalogue must be a folder")
        if folder.is_dir() and not os.access(folder, os.W_OK):
            if not (folder / DATABASE_NAME).exists():
                raise CatalogueError(f"{folder} is read-only, so no catalogue can be made in it; "
                                     "choose a folder you can write to")
            raise CatalogueError(
                f"{folder} is read-only, and whalecat writes to a catalogue even to read it; "
                "copy the folder to a writable place and open the copy"
            )
        check_database_file(folder)
        for sub in ("", "photos", "thumbnails", "models", "cache"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        catalogue = cls(folder)
        try:
            catalogue.check()
            catalogue.upgrade()
        except DBAPIError as exc:  # unopenable, locked, or not a SQLite database at all
            catalogue.close()
            raise CatalogueError(
                f"cannot open the database {catalogue.database_path} ({exc.orig}); check that the "
                "folder is writable and that the file is a whalecat catalogue, or restore it from a backup"
            ) from exc
        except BaseException:
            catalogue.close()
            raise
        log.debug("Opened catalogue %s", catalogue.folder)
        return catalogue

    def check(self) -> None:
        """Raise CatalogueError when SQLite finds the database damaged.

        Without this, a damaged page shows up later as "database disk image is malformed"
        from whichever query reads it first, often while the window is being built.
        """
        try:
            with self.engine.connect() as connection:
                problems = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check(3)")]
        except DBAPIError as exc:
            # OperationalError (unopenable, locked) is not damage; Catalogue.open reports it.
            if isinstance(exc.orig, sqlite3.OperationalError) or not isinstance(exc.orig, sqlite3.DatabaseError):
                raise
            problems = [str(exc.orig)]
        if problems != ["ok"]:
            raise CatalogueError(
                f"the database {self.database_path} is damaged ({'; '.join(problems)}); "
                f"restore catalogue.sqlite from a backup of the folder{_backups_hint(self.folder)}"
            )

    def thumbnail_path(self, sha256: str) -> Path:
        """Return where the preview of the photo with this content is stored."""
        return self.thumbnails_dir / f"{sha256}.jpg"

    def session(self) -> Session:
        """Return a new session; use one per thread and never pass its objects across."""
        return self._sessions()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration, backing up an existing database first."""
        config = _migrations_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        if current is not None:
            backup = self._backup(current)
            log.info("Upgrading %s from %s to %s; backup at %s", self.database_path, current, head, backup)
        with self.engine.connect() as connection:
            # A migration that copies a table drops the old one, and with foreign keys on that
            # would cascade to the rows referring to it. SQLite ignores this pragma inside a
            # transaction, so it comes first, and the references are checked before the commit.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            config.attributes["connection"] = connection
            try:
                with connection.begin():
                    command.upgrade(config, "head")
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise ValueError(f"{len(broken)} rows refer to rows that are missing, first {broken[0]}")
            except Exception as exc:
                raise CatalogueError(
                    f"could not upgrade {self.database_path} to schema {head}: {exc}"
                ) from exc
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()

    def _backup(self, revision: str) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.folder / f"catalogue-before-{revision}-{stamp}.sqlite"
        # sqlite3's backup API copies a consistent snapshot, including pages still in the WAL.
        with sqlite3.connect(self.database_path) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return target

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_database_file(folder: Path) -> None:
    """Raise CatalogueError for a database file that whalecat cannot use beside imported photos.

    SQLite treats an empty file as a new database, so a catalogue.sqlite emptied by a failed
    copy or sync would open as an empty catalogue beside the photos it used to describe.
    """
    database = folder / DATABASE_NAME
    if not database.is_file():
        if not database.exists() and any((folder / "photos").rglob("*.*")):
            # Opening would make a new, empty database beside the photos.
            raise CatalogueError(
                f"{folder} has imported photos in photos/ but no {DATABASE_NAME}, so its database is "
                f"missing; restore {DATABASE_NAME} from a backup of the folder{_backups_hint(folder)}"
            )
        return
    if database.stat().st_size == 0 and any((folder / "photos").rglob("*.*")):
        raise CatalogueError(
            f"the database {database} is empty (0 bytes), although photos/ contains imported photos; "
            f"restore catalogue.sqlite from a backup of the folder{_backups_hint(folder)}"
        )
    if not os.access(database, os.W_OK):
        raise CatalogueError(
            f"the database {database} is read-only, and whalecat writes to a catalogue even to "
            "read it; make the file writable, or copy the folder to a writable place and open the copy"
        )


def _backups_hint(folder: Path) -> str:
    """Name the newest copy whalecat saved before an upgrade, for an error message."""
    copies = sorted(folder.glob("catalogue-before-*.sqlite"), key=lambda path: path.stat().st_mtime)
    if not copies:
        return ""
    return f", or from {copies[-1].name}, the copy saved before the last upgrade (newer changes are not in it)"


def _migrations_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _create_engine(path: Path, read_only: bool = False) -> Engine:
    # immutable=1 reads without the locks and journal files that a read-only folder cannot hold;
    # `open_read_only` first makes sure no changes wait in a -wal file.
    url = f"sqlite:///file:{quote(str(path))}?mode=ro&immutable=1&uri=true" if read_only else f"sqlite:///{path}"
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
