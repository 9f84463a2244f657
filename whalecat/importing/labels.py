"""Labels in the Kaggle humpback convention: a CSV with the columns `Image,Id`."""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from whalecat.catalogue.records import RecordError, validate_whale_id
from whalecat.matching.base import NEW_WHALE
from whalecat.text import counted

SAVE_AS_UTF8 = "save it as UTF-8 (in a spreadsheet: CSV UTF-8) and try again"


class LabelsError(ValueError):
    """A labels file that cannot be read; the message names the file, row and fix."""


def read_labels(path: Path | str) -> dict[str, str]:
    """Read a labels CSV into {image file name: whale id or new_whale}.

    File names and ids lose surrounding spaces, which spreadsheets often add, and a file name
    keeps only the last folder before it, so a caller should find a photo's row with
    `LabelIndex`. The header's column names may be in any case. Blank rows and rows with an empty Id
    are skipped, and any capitalisation of new_whale reads as NEW_WHALE. Several rows may
    name one file if they give it the same id. Raises LabelsError naming the file, the line
    at fault where there is one, and the fix.
    """
    path = Path(path)
    rows = _numbered_rows(path, _read_text(path))
    header = _read_header(path, rows)
    return _read_rows(path, rows, header)


def label_key(name: str) -> str:
    """Return how a labels file's Image cell or a photo's file name is looked up.

    Stray spaces go, and so does any folder but the last before the name: `cardA/IMG_0001.JPG`
    keeps two cards apart, where a whole path from another computer would never match.
    Accented letters are composed (Unicode NFC), because macOS stores `ö` in file names as
    `o` plus a combining mark, which a name typed in a spreadsheet never matches otherwise.
    """
    parts = [part.strip() for part in re.split(r"[\\/]", name) if part.strip() not in ("", ".")]
    return unicodedata.normalize("NFC", "/".join(parts[-2:]))


class LabelIndex:
    """Finds the labels row of a photo file: by its folder and name, else by its name alone."""

    def __init__(self, labels: dict[str, str]):
        self.labels = labels
        self._by_name: dict[str, list[str]] = {}
        for key in labels:
            self._by_name.setdefault(key.rsplit("/", 1)[-1], []).append(key)

    def key_for(self, path: Path) -> str | None:
        """Return the key in `labels` of the row naming `path`, or None when no row names it."""
        in_folder = label_key(f"{path.parent.name}/{path.name}")
        if in_folder in self.labels:
            return in_folder
        name = label_key(path.name)
        if name in self.labels:  # a row without a folder
            return name
        rows = self._by_name.get(name, [])
        # The only row with this name counts whatever folder it gives, as a path from another computer.
        return rows[0] if len(rows) == 1 else None


def _read_text(path: Path) -> str:
    """Return the text of a labels file: UTF-8, or UTF-16 with a byte order mark."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LabelsError(f"labels file not found: {path}") from None
    except IsADirectoryError:
        raise LabelsError(f"{path} is a folder; give the labels CSV file inside it") from None
    except OSError as exc:
        raise LabelsError(f"cannot read the labels file {path}: {exc.strerror or exc}") from None

    encoding = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith(codecs.BOM_UTF16_LE):
        encoding, data = "utf-16-le", data[len(codecs.BOM_UTF16_LE):]
    elif data.startswith(codecs.BOM_UTF16_BE):
        encoding, data = "utf-16-be", data[len(codecs.BOM_UTF16_BE):]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _line_number(data[: exc.start].decode(encoding, errors="replace"))
        if encoding == "utf-8":
            problem = f"byte 0x{data[exc.start]:02x} is not valid UTF-8, so the file is probably in another encoding"
            problem += " such as Latin-1"
        else:
            problem = f"invalid UTF-16 text ({exc.reason})"
        raise LabelsError(f"{path}, line {line}: {problem}; {SAVE_AS_UTF8}") from None

    # UTF-16 without a byte order mark decodes as UTF-8 with a NUL beside each ASCII letter.
    if "\x00" in text:
        line = _line_number(text[: text.index("\x00")])
        raise LabelsError(
            f"{path}, line {line}: the file contains NUL characters, so it is UTF-16 text without a "
            f"byte order mark or not a text file; {SAVE_AS_UTF8}"
        )
    return text


def _line_number(text_before: str) -> int:
    """Return the line number of the character after `text_before`, for \\n, \\r\\n or \\r line ends."""
    return text_before.count("\n") + text_before.count("\r") - text_before.count("\r\n") + 1


def _numbered_rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Parse CSV text into (line number where the row starts, cells) pairs.

    csv.reader's line_num counts to the end of a row, which is a later line when a quoted
    value spans lines. Raises LabelsError naming the row where a quote is never closed.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    # csv.reader (not strict) reads everything after an unclosed quote as one value without an
    # error. An odd count of quote characters and a last row spanning lines reveal that case.
    odd_quote_count = text.count('"') % 2 == 1
    line, last_line, cells = 1, 1, []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The value after an unclosed quote fails here once it exceeds csv.field_size_limit().
            raise LabelsError(
                f"{path}, line {line}: invalid CSV ({exc}); check that row for a missing closing quote"
            ) from None
        yield line, cells
        line, last_line = reader.line_num + 1, line

    if odd_quote_count and any("\n" in cell or "\r" in cell for cell in cells):
        raise LabelsError(
            f"{path}, line {last_line}: a quoted value there runs to the end of the file; add its missing closing quote"
        )


def _read_header(path: Path, rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    """Read the first non-blank row and return its stripped column names.

    Raises LabelsError unless the columns include Image and Id.
    """
    for line, cells in rows:
        if any(cell.strip() for cell in cells):
            break
    else:
        raise LabelsError(f"{path}: the file is empty or blank; write the header row 'Image,Id' and then one row per photo")

    header = [cell.strip() for cell in cells]
    named = [cell.casefold() for cell in header]
    if "image" in named and "id" in named:
        return header
    found = ",".join(cells)
    if len(cells) == 1:
        for separator, separator_name in ((";", "semicolons"), ("\t", "tabs")):
            if separator in found:
                raise LabelsError(
                    f"{path}, line {line}: the header row {found!r} seems to use {separator_name} "
                    "between columns; save the file with commas (in a spreadsheet: export it as CSV with commas)"
                )
    raise LabelsError(
        f"{path}, line {line}: expected a header row 'Image,Id', found {found!r}; name the column "
        "of photo file names Image and the column of whale ids Id"
    )


def _read_rows(path: Path, rows: Iterator[tuple[int, list[str]]], header: list[str]) -> dict[str, str]:
    """Read the rows after the header into {image file name: whale id or new_whale}.

    Raises LabelsError at the first invalid row, or after the last row when rows conflict.
    """
    named = [cell.casefold() for cell in header]
    image_column, id_column = named.index("image"), named.index("id")
    columns = max(image_column, id_column) + 1
    expected = "two columns 'Image,Id'"
    if header != ["Image", "Id"]:
        expected = f"the columns of the header row {','.join(header)!r}"
    labels: dict[str, str] = {}
    first_lines: dict[str, int] = {}
    conflicts: list[tuple[int, str, str]] = []  # (line, file name, whale id) of rows that disagree with the first
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        key_cells = [cells[column] for column in (image_column, id_column) if column < len(cells)]
        if any("\n" in cell or "\r" in cell for cell in key_cells):
            raise LabelsError(
                f"{path}, line {line}: a quoted value there spans several lines; add its missing closing quote"
            )
        if len(cells) < columns:
            raise LabelsError(
                f"{path}, line {line}: expected {expected}, found {','.join(cells)!r}; add the comma "
                "and the id, or leave the id empty after the comma"
            )
        extra = [cell for cell in cells[len(header):] if cell.strip()]
        if extra:
            raise LabelsError(
                f"{path}, line {line}: found {len(cells)} values but the header row has {len(header)} columns; "
                "put a file name or id that contains a comma in double quotes, or delete the extra values"
            )
        image, whale_id = label_key(cells[image_column]), cells[id_column].strip()
        if not image:
            raise LabelsError(
                f"{path}, line {line}: the Image column is empty; write the photo's file name or delete the row"
            )
        if not whale_id:
            continue
        whale_id = _read_whale_id(path, line, whale_id)

        if image not in labels:
            labels[image], first_lines[image] = whale_id, line
        elif labels[image] != whale_id:
            conflicts.append((line, image, whale_id))

    if conflicts:
        line, image, whale_id = conflicts[0]
        message = (
            f"{path}, line {line}: {image!r} is labelled {whale_id!r}, but line {first_lines[image]} "
            f"labels it {labels[image]!r}; keep one of the two rows"
        )
        if len(conflicts) > 1:
            message += f". Fix {counted(len(conflicts) - 1, 'more conflicting row')} after it the same way"
        raise LabelsError(message)
    return labels


def _read_whale_id(path: Path, line: int, whale_id: str) -> str:
    """Return a stripped, non-empty Id cell as a valid whale id or NEW_WHALE."""
    if whale_id.casefold() == NEW_WHALE:
        return NEW_WHALE
    try:
        return validate_whale_id(whale_id)
    except RecordError as exc:
        raise LabelsError(f"{path}, line {line}: {exc}") from None


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
