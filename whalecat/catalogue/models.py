"""The catalogue's tables as SQLAlchemy 2 typed models.

Schema changes go through a new Alembic migration in `migrations/versions/`, never through
`create_all`, so that every catalogue on disk can be upgraded.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SUGGESTED = "suggested"
CONFIRMED = "confirmed"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Whale(Base):
    """A catalogued individual, such as `w_1287fbc`."""

    __tablename__ = "whale"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    identifications: Mapped[list[Identification]] = relationship(back_populates="whale")


class Photo(Base):
    """An imported photo: the stored copy, where it came from and the facts in its header."""

    __tablename__ = "photo"
    # A removed photo is put back under its id, which undo steps before the removal name, so
    # SQLite must never hand that id to a photo imported meanwhile.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    stored_name: Mapped[str] = mapped_column(String(300))  # relative to the catalogue folder
    original_name: Mapped[str] = mapped_column(String(500))
    original_folder: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int]  # after EXIF orientation
    height: Mapped[int]
    taken_at: Mapped[datetime | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    camera: Mapped[str | None] = mapped_column(String(200))
    encounter: Mapped[str | None] = mapped_column(String(200))  # survey or encounter label
    notes: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(default=utc_now)
    # The fluke's box in upright pixels; NULL means the whole photo.
    crop_left: Mapped[int | None]
    crop_top: Mapped[int | None]
    crop_right: Mapped[int | None]
    crop_bottom: Mapped[int | None]
    # Degrees clockwise the user turned the photo after its EXIF orientation (0, 90, 180, 270).
    # Width, height and the crop are in the turned photo's pixels.
    rotation: Mapped[int] = mapped_column(default=0, server_default="0")

    identifications: Mapped[list[Identification]] = relationship(
        back_populates="photo", cascade="all, delete-orphan"
    )

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        box = (self.crop_left, self.crop_top, self.crop_right, self.crop_bottom)
        return None if any(value is None for value in box) else box  # type: ignore[return-value]


class Identification(Base):
    """A photo's link to a whale or to new_whale, suggested by a method or confirmed by a person."""

    __tablename__ = "identification"
    __table_args__ = (
        CheckConstraint("status IN ('suggested', 'confirmed')", name="ck_identification_status"),
        CheckConstraint(
            "(whale_id IS NULL) = (is_new_whale = 1)", name="ck_identification_whale_or_new"
        ),
        Index("ix_identification_photo_status", "photo_id", "status"),
        Index("ix_identification_whale", "whale_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"))
    whale_id: Mapped[str | None] = mapped_column(String(128), ForeignKey("whale.id", ondelete="CASCADE"))
    is_new_whale: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int | None]  # 1..5 for suggestions
    score: Mapped[float | None]
    # The confidence the window shows beside a suggestion (see `shown_confidence`). It is None
    # for a confirmation, and for suggestions stored before migration 0005 or without a calibration.
    confidence: Mapped[float | None]
    # For a suggestion, the gallery version it was found at (see GalleryVersion). A later
    # change to the gallery makes it out of date. None for a confirmation, and for suggestions
    # stored before migration 0006.
    gallery_version: Mapped[int | None]
    method: Mapped[str] = mapped_column(String(64))  # "manual", "labels-csv", "default", ...
    model_version: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    photo: Mapped[Photo] = relationship(back_populates="identifications")
    whale: Mapped[Whale | None] = relationship(back_populates="identifications")

    @property
    def label(self) -> str:
        return "new_whale" if self.is_new_whale else str(self.whale_id)


class GalleryVersion(Base):
    """One row whose `version` grows whenever the photos that identification matches against change.

    Triggers made by migration 0006 raise it on any change to a confirmation, to a photo's
    copy, turn or crop, or to a whale. Identification reads this one number to see whether
    its gallery still holds, where rebuilding it took about a second at 25,000 photos. The
    triggers also see changes made by another process, such as the command line.
    """

    __tablename__ = "gallery_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_gallery_version_one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
