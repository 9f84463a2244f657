"""Bringing photos and their labels into a catalogue."""

from whalecat.importing.importer import ImportReport, import_paths

__all__ = ["ImportReport", "import_paths"]
