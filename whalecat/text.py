"""Small helpers for the sentences whalecat prints and shows."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return `count` with its noun in the right number: "1 photo", "3 photos"."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"


def first_names(names: list[str], limit: int = 3) -> str:
    """Return the first `limit` names joined by commas, with how many more there are: "a, b, c and 2 more"."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


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


def valid_text(text: str) -> str:
    """Return `text` with the bytes of an undecodable file name written as `\\xNN` escapes.

    Python keeps the bytes of a file name that is not valid UTF-8 (a Latin-1 "café.jpg", say)
    as lone surrogates (PEP 383), which SQLite and a strict UTF-8 terminal reject. The
    escapes keep two such names distinct, which a replacement character would not.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate of another origin, as a Windows name can contain
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
