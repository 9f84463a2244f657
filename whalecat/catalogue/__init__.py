"""Catalogue storage: a folder with a SQLite database, photo copies and models."""

from whalecat.catalogue.store import Catalogue, CatalogueError, default_catalogue_path

__all__ = ["Catalogue", "CatalogueError", "default_catalogue_path"]
