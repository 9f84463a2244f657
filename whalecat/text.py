"""Small helpers for the sentences whalecat prints and shows."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return `count` with its noun in the right number: "1 photo", "3 photos"."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"
