"""Shared fixtures: offscreen Qt, the real photographs, synthetic flukes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Must be set before any QApplication exists; pytest-qt creates it lazily.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _require_shared(subfolder: str) -> Path:
    folder = SHARED_DATA / subfolder
    if folder.is_dir():
        return folder
    message = f"real photographs not found at {folder}"
    if os.environ.get("WHALECAT_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"{message}, and WHALECAT_REQUIRE_SHARED_DATA=1 requires them")
    pytest.skip(f"{message}; place the data set beside the repository to run this test")


@pytest.fixture(scope="session")
def fluke_data() -> Path:
    """The humpback fluke set (`images/`, `labels.csv`), read-only."""
    return _require_shared("flukes")


@pytest.fixture(scope="session")
def rightwhale_data() -> Path:
    """The labelled right-whale set (`images/`, `labels.csv`), read-only."""
    return _require_shared("rightwhale")
