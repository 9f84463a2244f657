"""Quarter turns of catalogue photos: the stored turn, its crop and thumbnail, and matching."""

from __future__ import annotations

from PIL import Image

from tests.helpers import save_fluke
from whalecat.catalogue import Catalogue
from whalecat.catalogue.orientation import open_catalogue_photo, turn_box, turn_photo
from whalecat.catalogue.records import get_photo, set_crop, unidentified_photos
from whalecat.identification import Identifier
from whalecat.imaging.synthetic import fluke_photo
from whalecat.importing import import_paths
from whalecat.importing.importer import thumbnail_path


def test_turn_box_round_trip():
    box = (10, 20, 110, 60)  # in a 200 x 100 photo
    assert turn_box(box, 200, 100, clockwise=True) == (40, 10, 80, 110)
    assert turn_box(box, 200, 100, clockwise=False) == (20, 90, 60, 190)
    back = turn_box(turn_box(box, 200, 100, clockwise=True), 100, 200, clockwise=False)
    assert back == box


def test_turn_photo_turns_crop_thumbnail(tmp_path):
    path = tmp_path / "card" / "side.jpg"
    path.parent.mkdir()
    Image.new("RGB", (300, 120), "navy").save(path)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [path], find_fluke=False)
        with catalogue.session() as session:
            photo = unidentified_photos(session)[0]
            set_crop(session, photo.id, (30, 10, 150, 110))
        turned = turn_photo(catalogue, photo.id, clockwise=True)
        assert (turned.width, turned.height, turned.rotation) == (120, 300, 90)
        assert turned.crop == (10, 30, 110, 150)
        assert open_catalogue_photo(catalogue, turned).size == (120, 300)
        with Image.open(thumbnail_path(catalogue, photo.sha256)) as small:
            assert small.height > small.width
        for _ in range(3):
            turn_photo(catalogue, photo.id, clockwise=True)
        with catalogue.session() as session:
            again = get_photo(session, photo.id)
        assert (again.width, again.height, again.rotation, again.crop) == (300, 120, 0, (30, 10, 150, 110))
        assert not list(catalogue.thumbnails_dir.glob("*.part"))


def test_turned_back_thumbnail_is_as_imported(tmp_path):
    """Each turn makes the thumbnail again from the stored copy, so four turns wear nothing down."""
    path = save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [path], find_fluke=False)
        with catalogue.session() as session:
            photo = unidentified_photos(session)[0]
        imported = thumbnail_path(catalogue, photo.sha256).read_bytes()
        for clockwise in (True, True, False, True, True, True):
            turn_photo(catalogue, photo.id, clockwise=clockwise)
        assert thumbnail_path(catalogue, photo.sha256).read_bytes() == imported
        assert not list(catalogue.thumbnails_dir.glob(".*"))


def test_sideways_photo_matched_once_turned(tmp_path):
    # A camera without an orientation sensor stored this sighting on its side.
    card = tmp_path / "card"
    rows = ["Image,Id"]
    for whale in range(6):
        for sighting in range(2):
            name = f"w{whale}_{sighting}.jpg"
            save_fluke(card / name, individual=whale, sighting=sighting)
            rows.append(f"{name},w_{whale}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sideways = card / "sideways.jpg"
    fluke_photo(3, 2).transpose(Image.Transpose.ROTATE_90).save(sideways)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [card], labels, find_fluke=False)
        with catalogue.session() as session:
            query = unidentified_photos(session)[0]
        identifier = Identifier(catalogue)
        before = identifier.identify_photo(query.id, record=False)
        turn_photo(catalogue, query.id, clockwise=True)
        after = identifier.identify_photo(query.id, record=False)
    assert before[0].label != "w_3"
    assert after[0].label == "w_3"
