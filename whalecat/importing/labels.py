"""Labels in the Kaggle humpback convention: a CSV with the columns `Image,Id`."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from whalecat.catalogue.records import RecordError, validate_whale_id
from whalecat.matching.base import NEW_WHALE


class LabelsError(ValueError):
    """A labels file that cannot be read; the message names the file, row and fix."""


def read_labels(path: Path | str) -> dict[str, str]:
    """Return {image file name: whale id or new_whale}; rows with an empty Id are skipped."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"Image", "Id"} <= set(reader.fieldnames):
                raise LabelsError(
                    f"{path}: expected a header row 'Image,Id', found {reader.fieldnames}"
                )
            labels: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                if row["Id"] is None:  # DictReader fills missing columns with None
                    raise LabelsError(
                        f"{path}, line {line}: expected two columns 'Image,Id', found "
                        f"{','.join(value for value in row.values() if value is not None)!r}; add the comma "
                        "and the id, or leave the id empty after the comma"
                    )
                image, whale_id = (row["Image"] or "").strip(), (row["Id"] or "").strip()
                if not image:
                    raise LabelsError(f"{path}, line {line}: the Image column is empty")
                if not whale_id:
                    continue
                if whale_id != NEW_WHALE:
                    try:
                        validate_whale_id(whale_id)
                    except RecordError as exc:
                        raise LabelsError(f"{path}, line {line}: {exc}") from None
                labels[image] = whale_id
    except FileNotFoundError:
        raise LabelsError(f"labels file not found: {path}") from None
    except IsADirectoryError:
        raise LabelsError(f"{path} is a folder; give the labels CSV file inside it") from None
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise LabelsError(f"{path}: not a valid CSV file ({exc})") from None
    return labels


def write_labels(path: Path | str, rows: list[tuple[str, str]]) -> int:
    """Write (image file name, label) rows as `Image,Id`; return the number of rows."""
    path = Path(path)
    if not path.parent.is_dir():
        raise LabelsError(f"cannot write {path}: folder {path.parent} not found; create it first")
    temporary = path.with_name(path.name + ".part")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        write_label_rows(handle, rows)
    temporary.replace(path)
    return len(rows)


def write_label_rows(handle: TextIO, rows: list[tuple[str, str]]) -> int:
    """Write the `Image,Id` header and (image file name, label) rows to an open file; return the row count."""
    writer = csv.writer(handle)
    writer.writerow(["Image", "Id"])
    writer.writerows(rows)
    return len(rows)
