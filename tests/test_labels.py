"""read_labels on the messy CSV files that spreadsheets and field notes produce."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from whalecat.importing.labels import LabelIndex, LabelsError, read_labels
from whalecat.matching.base import NEW_WHALE

SAVE_AS_UTF8 = "save it as UTF-8 (in a spreadsheet: CSV UTF-8)"


def write_csv(tmp_path, content: str | bytes):
    """Write `content` to labels.csv under `tmp_path`: text as UTF-8 with its line ends kept, bytes as given."""
    path = tmp_path / "labels.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def read_error(tmp_path, content: str | bytes) -> str:
    """Return the LabelsError message for a labels file holding `content`."""
    path = write_csv(tmp_path, content)
    with pytest.raises(LabelsError) as raised:
        read_labels(path)
    message = str(raised.value)
    assert message.startswith(str(path))
    return message


def test_labels_read_ids_and_skip_empty(tmp_path):
    path = write_csv(tmp_path, "Image,Id\na.jpg,w_1287fbc\nb.jpg,new_whale\nc.jpg,\n")
    assert read_labels(path) == {"a.jpg": "w_1287fbc", "b.jpg": NEW_WHALE}


def test_conflicting_rows_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_first\nb.jpg,w_other\na.jpg,w_second\n")
    assert ", line 4: " in message
    assert "'a.jpg'" in message
    assert "'w_second'" in message
    assert "line 2 labels it 'w_first'" in message
    assert "keep one of the two rows" in message
    assert "more conflicting" not in message


def test_conflicts_after_first_counted(tmp_path):
    content = "Image,Id\na.jpg,w_1\nb.jpg,w_2\na.jpg,w_3\nb.jpg,w_1\nb.jpg,new_whale\n"
    message = read_error(tmp_path, content)
    assert ", line 4: 'a.jpg' is labelled 'w_3', but line 2 labels it 'w_1'" in message
    assert "Fix 2 more conflicting rows after it the same way" in message


def test_conflict_with_new_whale_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,New_Whale\na.jpg,w_1\n")
    assert ", line 3: 'a.jpg' is labelled 'w_1', but line 2 labels it 'new_whale'" in message


def test_repeated_row_same_id_accepted(tmp_path):
    path = write_csv(tmp_path, "Image,Id\na.jpg,w_1\nb.jpg,w_2\na.jpg,w_1\n a.jpg , w_1 \n")
    assert read_labels(path) == {"a.jpg": "w_1", "b.jpg": "w_2"}


@pytest.mark.parametrize("content", ["Image,Id\na.jpg,\na.jpg,w_1\n", "Image,Id\na.jpg,w_1\na.jpg,\n"])
def test_empty_id_beside_id_keeps_id(tmp_path, content):
    assert read_labels(write_csv(tmp_path, content)) == {"a.jpg": "w_1"}


@pytest.mark.parametrize("spelling", ["NEW_WHALE", "New_Whale", " new_whale ", "new_whale"])
def test_new_whale_any_case(tmp_path, spelling):
    labels = read_labels(write_csv(tmp_path, f"Image,Id\na.jpg,{spelling}\nb.jpg,{spelling}\n"))
    assert labels == {"a.jpg": NEW_WHALE, "b.jpg": NEW_WHALE}


@pytest.mark.parametrize("separator, separator_name", [(";", "semicolons"), ("\t", "tabs")])
def test_other_separator_rejected_with_hint(tmp_path, separator, separator_name):
    message = read_error(tmp_path, f"Image{separator}Id\na.jpg{separator}w_1\n")
    assert ", line 1: " in message
    assert f"seems to use {separator_name} between columns" in message
    assert "export it as CSV with commas" in message


@pytest.mark.parametrize("header", ["Image, Id", " Image , Id ", "Image ,Id"])
def test_header_spaces_accepted(tmp_path, header):
    assert read_labels(write_csv(tmp_path, f"{header}\na.jpg,w_1\n")) == {"a.jpg": "w_1"}


def test_latin1_rejected_with_line_and_advice(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\nbaleine_été.jpg,w_2\n".encode("latin-1"))
    assert ", line 3: " in message
    assert "byte 0xe9 is not valid UTF-8" in message
    assert SAVE_AS_UTF8 in message


def test_bad_byte_line_counts_carriage_returns(tmp_path):
    message = read_error(tmp_path, "Image,Id\r\na.jpg,w_1\rb.jpg,w_é\r\n".encode("latin-1"))
    assert ", line 3: " in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_byte_order_mark_decoded(tmp_path, encoding):
    content = "Image,Id\nbaleine_été.jpg,w_1\n".encode(encoding)
    if encoding == "utf-16-be":
        content = b"\xfe\xff" + content
    assert read_labels(write_csv(tmp_path, content)) == {"baleine_été.jpg": "w_1"}


def test_utf16_without_byte_order_mark_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\n".encode("utf-16-le"))
    assert ", line 1: " in message
    assert "UTF-16 text without a byte order mark" in message
    assert SAVE_AS_UTF8 in message


def test_truncated_utf16_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\n".encode("utf-16")[:-1])
    assert ", line 2: invalid UTF-16 text (truncated data)" in message
    assert SAVE_AS_UTF8 in message


def test_image_name_spaces_stripped(tmp_path):
    """Keys are stripped, so a caller must compare stripped file names to reach ' a.jpg'."""
    path = write_csv(tmp_path, 'Image,Id\n a.jpg ,w_1\n" b.jpg",w_2\n')
    assert read_labels(path) == {"a.jpg": "w_1", "b.jpg": "w_2"}


@pytest.mark.parametrize("content", ["", "\n\n", ",\n,,\n", "  \n"])
def test_empty_file_rejected(tmp_path, content):
    message = read_error(tmp_path, content)
    assert "the file is empty or blank" in message
    assert "write the header row 'Image,Id'" in message


def test_header_only_reads_no_labels(tmp_path):
    assert read_labels(write_csv(tmp_path, "Image,Id\n")) == {}


def test_header_after_blank_rows_accepted(tmp_path):
    assert read_labels(write_csv(tmp_path, "\n,\nImage,Id\na.jpg,w_1\n")) == {"a.jpg": "w_1"}


@pytest.mark.parametrize("header", ["Image", "Id", "Name,Whale", "image"])
def test_missing_column_rejected(tmp_path, header):
    message = read_error(tmp_path, f"{header}\na.jpg\n")
    assert f", line 1: expected a header row 'Image,Id', found {header!r}" in message
    assert "the column of whale ids Id" in message


def test_blank_rows_skipped_and_counted(tmp_path):
    """Blank and comma-only rows are skipped, but still count towards later line numbers."""
    path = write_csv(tmp_path, "Image,Id\na.jpg,w_1\n\n,\n  ,  \nb.jpg,w_2\n")
    assert read_labels(path) == {"a.jpg": "w_1", "b.jpg": "w_2"}
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\n\n,\nbadrow\n")
    assert ", line 5: expected two columns 'Image,Id', found 'badrow'" in message


def test_line_numbers_after_quoted_line_break(tmp_path):
    message = read_error(tmp_path, 'Image,Id,Notes\na.jpg,w_1,"seen twice,\nonce from the boat"\n,w_2,\n')
    assert ", line 4: the Image column is empty" in message
    assert "write the photo's file name or delete the row" in message


def test_unquoted_comma_in_name_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\nmy photo, 2019.jpg,w_2\n")
    assert ", line 3: found 3 values but the header row has 2 columns" in message
    assert "in double quotes" in message


def test_quoted_comma_in_name_accepted(tmp_path):
    path = write_csv(tmp_path, 'Image,Id\n"my photo, 2019.jpg",w_2\n')
    assert read_labels(path) == {"my photo, 2019.jpg": "w_2"}


def test_unclosed_quote_rejected(tmp_path):
    message = read_error(tmp_path, 'Image,Id\na.jpg,w_1\n"b.jpg,w_2\nc.jpg,w_3\n')
    assert ", line 3: a quoted value there spans several lines" in message
    assert "add its missing closing quote" in message


def test_unclosed_quote_in_notes_rejected(tmp_path):
    content = 'Image,Id,Notes\na.jpg,w_1,"seen twice\nb.jpg,w_2,\nc.jpg,w_3,"""quoted"" note"\n'
    message = read_error(tmp_path, content)
    assert ", line 2: a quoted value there runs to the end of the file" in message
    assert "add its missing closing quote" in message


def test_multiline_notes_accepted(tmp_path):
    content = 'Image,Id,Notes\na.jpg,w_1,"seen twice,\nonce from the boat"\nb.jpg,w_2,"left ""fluke"" tip\nmissing"\n'
    assert read_labels(write_csv(tmp_path, content)) == {"a.jpg": "w_1", "b.jpg": "w_2"}


def test_unclosed_quote_over_field_limit_rejected(tmp_path):
    rows = "".join(f"img_{number}.jpg,w_{number}\n" for number in range(20_000))
    message = read_error(tmp_path, f'Image,Id\na.jpg,w_1\n"b.jpg,w_2\n{rows}')
    assert ", line 3: invalid CSV (field larger than field limit" in message
    assert "check that row for a missing closing quote" in message


def test_extra_columns_accepted(tmp_path):
    path = write_csv(tmp_path, "Id,Notes,Image\nw_1,seen twice,a.jpg\nw_2,,b.jpg\n")
    assert read_labels(path) == {"a.jpg": "w_1", "b.jpg": "w_2"}


@pytest.mark.parametrize("content", ["Image,Id,,\na.jpg,w_1,,\n", "Image,Id\na.jpg,w_1,\n", "Image,Id\na.jpg,w_1, ,\n"])
def test_trailing_empty_cells_accepted(tmp_path, content):
    assert read_labels(write_csv(tmp_path, content)) == {"a.jpg": "w_1"}


def test_short_row_names_header_columns(tmp_path):
    message = read_error(tmp_path, "Notes,Image,Id\nnote,a.jpg\n")
    assert ", line 2: expected the columns of the header row 'Notes,Image,Id', found 'note,a.jpg'" in message


def test_empty_image_rejected(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\n  ,w_2\n")
    assert ", line 3: the Image column is empty" in message


def test_invalid_id_names_line(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\nb.jpg,bad\x07id\n")
    assert ", line 3: invalid whale id" in message


def label_index(tmp_path, text: str) -> LabelIndex:
    """Write `text` as a labels file and index its rows."""
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return LabelIndex(read_labels(path))


def test_names_match_as_a_researcher_means_them(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Wal ö 1.JPG")  # as macOS stores it
    index = label_index(tmp_path, "image,ID\nWal ö 1.JPG,w_1\ncard2/DCIM/IMG_0002.JPG,w_2\nC:\\survey\\IMG_0003.JPG,w_3\n")

    assert index.labels[index.key_for(Path("/Volumes/card") / decomposed)] == "w_1"
    assert index.labels[index.key_for(Path("/media/card/DCIM/IMG_0002.JPG"))] == "w_2"
    assert index.labels[index.key_for(Path("/media/other/IMG_0003.JPG"))] == "w_3"  # the only row with that name


def test_folders_tell_apart_two_cards_with_one_name(tmp_path):
    index = label_index(tmp_path, "Image,Id\ncardA/IMG_0001.JPG,w_a\ncardB/IMG_0001.JPG,w_b\n")

    assert index.labels[index.key_for(Path("/media/twocards/cardA/IMG_0001.JPG"))] == "w_a"
    assert index.labels[index.key_for(Path("/media/twocards/cardB/IMG_0001.JPG"))] == "w_b"
    assert index.key_for(Path("/media/cardC/IMG_0001.JPG")) is None


def test_row_without_folder_matches_other_folders(tmp_path):
    index = label_index(tmp_path, "Image,Id\nIMG_0001.JPG,w_any\ncardA/IMG_0001.JPG,w_a\n")

    assert index.labels[index.key_for(Path("/media/cardA/IMG_0001.JPG"))] == "w_a"
    assert index.labels[index.key_for(Path("/media/cardC/IMG_0001.JPG"))] == "w_any"


def test_new_whale_typo_names_line(tmp_path):
    message = read_error(tmp_path, "Image,Id\na.jpg,w_1\nb.jpg,new whale\n")
    assert ", line 3: invalid whale id 'new whale': to mark an unmatched animal, write new_whale exactly" in message


def test_folder_and_missing_file_rejected(tmp_path):
    with pytest.raises(LabelsError, match="is a folder; give the labels CSV file inside it"):
        read_labels(tmp_path)
    with pytest.raises(LabelsError, match="labels file not found: .*missing.csv"):
        read_labels(tmp_path / "missing.csv")
