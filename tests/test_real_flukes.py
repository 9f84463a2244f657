"""End to end on the real humpback fluke photographs in ../shared/data/flukes."""

import csv

import pytest

from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import list_whales, unidentified_photos
from whalecat.identification import Identifier
from whalecat.importing import import_paths


@pytest.fixture(scope="module")
def fluke_catalogue(fluke_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("flukes") / "catalogue"
    with Catalogue.open(folder) as catalogue:
        report = import_paths(catalogue, [fluke_data / "images"], fluke_data / "labels.csv")
        yield catalogue, report


def test_import_all_real_flukes(fluke_catalogue, fluke_data):
    catalogue, report = fluke_catalogue
    with (fluke_data / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labelled = [row for row in rows if row["Id"]]
    assert report.imported + report.duplicates == len(rows) == 492
    assert report.failed == []
    assert report.labelled == len(labelled)
    with catalogue.session() as session:
        whales = {w.id: w.photo_count for w in list_whales(session)}
        unidentified = len(unidentified_photos(session))
    assert whales["w_1287fbc"] == 2
    assert whales["w_f48451c"] == 2
    assert unidentified == len(rows) - len(labelled)


def test_identify_real_fluke_finds_its_other_photo(fluke_catalogue):
    catalogue, _ = fluke_catalogue
    with catalogue.session() as session:
        photo_ids = [p.id for p in _photos_of(session, "w_f48451c")]
    identifier = Identifier(catalogue)
    candidates = identifier.identify_photo(photo_ids[0])
    labels = [c.label for c in candidates]
    assert len(labels) == 5
    assert len(set(labels)) == 5
    # w_f48451c's second photo is a re-cropped copy of the first: it must rank in the top 5.
    assert "w_f48451c" in labels


def _photos_of(session, whale_id):
    from whalecat.catalogue.records import photos_of_whale

    return photos_of_whale(session, whale_id)
