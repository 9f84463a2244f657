"""Exports of confirmed identifications, written from a real catalogue."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import confirm_label
from whalecat.cli import main
from whalecat.export import SIGHTING_COLUMNS, ExportError, export_identifications
from whalecat.importing import import_paths
from whalecat.importing.labels import read_labels
from whalecat.matching.base import NEW_WHALE


@pytest.fixture
def catalogue(tmp_path):
    """Three imported flukes: one confirmed by hand, one marked new_whale, one unidentified."""
    card = tmp_path / "card"
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 7D"  # Make, Model
    exif.get_ifd(0x8769)[0x9003] = "2024:07:15 09:30:12"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (33.0, 30.0, 0.0)
    gps[3], gps[4] = "E", (151.0, 15.0, 36.0)
    save_fluke(card / "IMG_0.jpg", individual=0, exif=exif.tobytes())
    for number in (1, 2):
        save_fluke(card / f"IMG_{number}.jpg", individual=number)
    with Catalogue.open(tmp_path / "catalogue") as opened:
        report = import_paths(opened, [card], find_fluke=False)
        with opened.session() as session:
            confirm_label(session, report.photo_ids[0], "w_1287fbc", method="manual")
            confirm_label(session, report.photo_ids[1], NEW_WHALE, method="manual")
        yield opened


def test_kaggle_export_reads_back_as_labels(catalogue, tmp_path):
    out = tmp_path / "confirmed.csv"
    with catalogue.session() as session:
        count = export_identifications(session, out, "kaggle")

    assert count == 2
    assert read_labels(out) == {"IMG_0.jpg": "w_1287fbc", "IMG_1.jpg": NEW_WHALE}


def test_sightings_export_has_a_row_per_confirmed_photo(catalogue, tmp_path):
    out = tmp_path / "sightings.csv"
    with catalogue.session() as session:
        count = export_identifications(session, out, "sightings")

    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert count == 2
    assert list(rows[0]) == SIGHTING_COLUMNS
    assert [(row["image"], row["whale_id"]) for row in rows] == [("IMG_0.jpg", "w_1287fbc"), ("IMG_1.jpg", NEW_WHALE)]
    assert (rows[0]["taken_at"], rows[0]["camera"]) == ("2024-07-15 09:30:12", "Canon EOS 7D")
    assert (rows[0]["latitude"], rows[0]["longitude"]) == ("-33.500000", "151.260000")
    assert (rows[1]["taken_at"], rows[1]["latitude"]) == ("", "")
    assert rows[0]["original_folder"] == str(tmp_path / "card")
    assert len(rows[0]["sha256"]) == 64
    assert rows[0]["confirmed_by"] == "manual"
    assert rows[0]["confirmed_at"][:2] == "20"


def test_export_to_missing_folder_names_it(catalogue, tmp_path):
    out = tmp_path / "no such folder" / "sightings.csv"
    with catalogue.session() as session, pytest.raises(ExportError) as raised:
        export_identifications(session, out, "sightings")

    assert str(raised.value) == f"cannot write {out}: folder {out.parent} not found; create it first"
    assert not out.parent.exists()


def test_export_writes_through_a_link(catalogue, tmp_path):
    target = tmp_path / "shared" / "sightings.csv"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)

    with catalogue.session() as session:
        assert export_identifications(session, link, "kaggle") == 2

    assert link.is_symlink()
    assert target.read_text(encoding="utf-8").startswith("Image,Id")


def test_export_to_a_folder_leaves_nothing(catalogue, tmp_path):
    folder = tmp_path / "card"
    before = sorted(tmp_path.iterdir())
    with catalogue.session() as session, pytest.raises(ExportError) as raised:
        export_identifications(session, folder, "sightings")

    assert str(raised.value) == f"cannot write {folder}: it is a folder; give the name of a file in it"
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be created")
def test_unwritable_folder_is_one_sentence(catalogue):
    out = Path("/proc/sightings.csv")
    with catalogue.session() as session, pytest.raises(ExportError) as raised:
        export_identifications(session, out, "sightings")

    assert str(raised.value) == (
        f"cannot write {out}: No such file or directory; choose a folder you can write to"
    )


def test_shared_file_names_noted(tmp_path, capsys):
    for card, individual in (("card1", 1), ("card2", 2)):
        save_fluke(tmp_path / card / "IMG_0001.JPG", individual=individual)
    folder = str(tmp_path / "c")
    assert main(["--catalogue", folder, "import", str(tmp_path / "card1"), str(tmp_path / "card2")]) == 0
    with Catalogue.open(folder) as catalogue, catalogue.session() as session:
        confirm_label(session, 1, "w_alpha")
        confirm_label(session, 2, "w_beta")
    capsys.readouterr()

    assert main(["--catalogue", folder, "export", "--format", "kaggle", str(tmp_path / "labels.csv")]) == 0
    assert capsys.readouterr().err == (
        "note: 1 file name (IMG_0001.JPG) is shared by several confirmed photos, so importing the labels rows "
        "again would label none of those photos; the sightings format names each photo's original folder\n"
    )
    assert main(["--catalogue", folder, "export", "--format", "sightings", str(tmp_path / "sightings.csv")]) == 0
    assert capsys.readouterr().err == ""
