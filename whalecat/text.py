"""Small helpers for the sentences whalecat prints and shows."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return `count` with its noun in the right number: "1 photo", "3 photos"."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"


def error_text(exc: BaseException) -> str:
    """Return the part of a storage error worth showing a researcher.

    A database error's text ends with the SQL statement and its parameters, and an OSError's
    starts with an errno; the driver's message and the system's reason give the cause without them.
    """
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)
