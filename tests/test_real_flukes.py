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


def _ranks(catalogue, whale_id: str) -> list[int | None]:
    """Return the rank of `whale_id` when each of its photos is identified."""
    with catalogue.session() as session:
        photo_ids = [p.id for p in _photos_of(session, whale_id)]
    identifier = Identifier(catalogue)
    ranks = []
    for photo_id in photo_ids:
        labels = [c.label for c in identifier.identify_photo(photo_id, record=False)]
        assert len(set(labels)) == 5
        ranks.append(labels.index(whale_id) + 1 if whale_id in labels else None)
    return ranks


def test_identify_lists_five_distinct_whales(fluke_catalogue):
    # w_f48451c's second photo is a square, re-cropped copy of the first. Whether each
    # finds the other changes with the model (docs/evaluation.md lists the ranks), so this
    # checks the list itself: five distinct labels for each of its photos.
    catalogue, _ = fluke_catalogue
    assert len(_ranks(catalogue, "w_f48451c")) == 2


def test_fluke_crop_finds_resighting_first(fluke_catalogue):
    # w_1287fbc has two distinct photographs of one fluke. Cut to the located fluke, each
    # finds the other first; as whole photos they ranked 4th and 2nd.
    catalogue, _ = fluke_catalogue
    assert _ranks(catalogue, "w_1287fbc") == [1, 1]


def _photos_of(session, whale_id):
    from whalecat.catalogue.records import photos_of_whale

    return photos_of_whale(session, whale_id)
