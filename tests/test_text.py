"""The wording helpers for counts and storage errors."""

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

from whalecat.text import counted, error_text


def test_counted_uses_singular_for_one():
    assert counted(1, "whale") == "1 whale"
    assert counted(0, "whale") == "0 whales"
    assert counted(2, "photo") == "2 photos"
    assert counted(3, "label conflict") == "3 label conflicts"


def test_database_error_loses_its_sql():
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE photo (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO photo (id) VALUES (1)")
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO photo (id) VALUES (1)")

    assert "INSERT" in str(raised.value)
    assert error_text(raised.value) == "UNIQUE constraint failed: photo.id"


def test_os_error_without_errno(tmp_path):
    with pytest.raises(OSError) as raised:
        (tmp_path / "missing.csv").read_text()

    assert error_text(raised.value) == f"No such file or directory: {tmp_path / 'missing.csv'}"
