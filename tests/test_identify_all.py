"""Identifying every unidentified photo of a catalogue at once, on synthetic flukes, in code and from the command line."""

from __future__ import annotations

import pytest

from tests.helpers import save_fluke, save_labelled_flukes
from whalecat.catalogue import Catalogue
from whalecat.catalogue.records import confirm_label, first_suggestions, get_photo, unidentified_photos
from whalecat.cli import main
from whalecat.identification import Identifier, identify_unidentified
from whalecat.importing import import_paths
from whalecat.matching.base import NEW_WHALE
from whalecat.progress import Cancelled, Progress


def _catalogue_with_card(tmp_path, card_size: int = 4) -> Catalogue:
    """Four labelled synthetic whales and a card of later sightings of them, unidentified.

    Twelve catalogue photos with a partner are enough for the default method to fit its
    new_whale threshold, and so to give confidences.
    """
    images, labels = save_labelled_flukes(tmp_path / "known", whales=4, photos_per_whale=3)
    card = [save_fluke(tmp_path / "card" / f"card{n}.jpg", individual=n % 4, sighting=5 + n) for n in range(card_size)]
    catalogue = Catalogue.open(tmp_path / "catalogue")
    import_paths(catalogue, [images], labels, find_fluke=False)
    import_paths(catalogue, card, find_fluke=False)
    return catalogue


def test_unidentified_photos_get_suggestions(tmp_path):
    with _catalogue_with_card(tmp_path) as catalogue:
        with catalogue.session() as session:
            card = unidentified_photos(session)
            lost, confirmed, rest = card[0], card[1], card[2:]
            confirm_label(session, confirmed.id, "w_0000001", "manual")
        (catalogue.folder / lost.stored_name).unlink()  # a copy lost outside the app
        report = identify_unidentified(Identifier(catalogue), Progress())
        with catalogue.session() as session:
            suggestions = first_suggestions(session)
            still_confirmed = get_photo(session, confirmed.id).confirmed_label
    assert report.identified == len(rest)
    assert [name for name, _reason in report.failed] == [lost.original_name]
    assert "the catalogue's copy" in report.failed[0][1]
    assert "is missing" in report.failed[0][1]
    assert set(suggestions) == {photo.id for photo in rest}
    known = {f"w_{whale:07d}" for whale in range(4)}
    for photo in rest:
        suggestion = suggestions[photo.id]
        assert suggestion.label in known | {NEW_WHALE}
        assert suggestion.method == "default"
        assert 0.0 <= suggestion.confidence <= 1.0
    assert report.likely_new == sum(suggestions[p.id].label == NEW_WHALE for p in rest)
    assert still_confirmed == "w_0000001"


def _cancel_after_first_photo(identifier: Identifier) -> None:
    """Run Identify All and cancel it once the first photo has its suggestions."""
    progress = Progress()

    def cancel_after_first(done: int, total: int, message: str) -> None:
        if message.startswith("Identifying") and done == 1:
            progress.token.cancel()

    progress.callback = cancel_after_first
    with pytest.raises(Cancelled):
        identify_unidentified(identifier, progress)


def test_cancel_keeps_stored_suggestions(tmp_path):
    with _catalogue_with_card(tmp_path) as catalogue:
        _cancel_after_first_photo(Identifier(catalogue))
        with catalogue.session() as session:
            first = unidentified_photos(session)[0]
            suggestions = first_suggestions(session)
    assert list(suggestions) == [first.id]


def test_next_run_leaves_current_suggestions(tmp_path):
    with _catalogue_with_card(tmp_path) as catalogue:
        identifier = Identifier(catalogue)
        _cancel_after_first_photo(identifier)

        rest = identify_unidentified(identifier, Progress())
        again = identify_unidentified(identifier, Progress())
        with catalogue.session() as session:
            card = unidentified_photos(session)
            confirm_label(session, card[0].id, "w_0000001", "manual")  # the gallery changes
            out_of_date = first_suggestions(session)
        after_change = identify_unidentified(identifier, Progress())
        with catalogue.session() as session:
            renewed = first_suggestions(session)

    assert (rest.identified, rest.up_to_date) == (3, 1)
    assert rest.summary().endswith(" 1 more kept the suggestions found since the catalogue last changed.")
    assert (again.identified, again.up_to_date) == (0, 4)
    assert again.summary() == "No photo needed identifying again: 4 photos kept the suggestions found since the catalogue last changed."
    assert len(out_of_date) == 3
    assert not any(suggestion.current for suggestion in out_of_date.values())
    assert (after_change.identified, after_change.up_to_date) == (3, 0)
    assert all(suggestion.current for suggestion in renewed.values())


def test_catalogue_without_whales_rejected(tmp_path):
    save_fluke(tmp_path / "card" / "a.jpg", individual=0)
    with Catalogue.open(tmp_path / "catalogue") as catalogue:
        import_paths(catalogue, [tmp_path / "card"], find_fluke=False)
        with pytest.raises(ValueError, match="no confirmed whales to match against"):
            identify_unidentified(Identifier(catalogue), Progress())
        with catalogue.session() as session:
            assert first_suggestions(session) == {}


def test_command_line_stores_suggestions(tmp_path, capsys):
    _catalogue_with_card(tmp_path).close()
    catalogue = str(tmp_path / "catalogue")
    capsys.readouterr()
    assert main(["--catalogue", catalogue, "identify", "--unidentified"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("4 photos identified: ")
    with Catalogue.open(tmp_path / "catalogue") as reopened:
        with reopened.session() as session:
            assert len(first_suggestions(session)) == 4


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "name a photo or a folder of them to identify, or give --unidentified"),
        (["--unidentified", "card0.jpg"], "leave out the photo names"),
        (["--unidentified", "--json"], "leave out --json and --csv"),
    ],
)
def test_command_line_misuse_explained(tmp_path, capsys, extra, message):
    assert main(["--catalogue", str(tmp_path / "catalogue"), "identify", *extra]) == 2
    assert message in capsys.readouterr().err


def _remove(catalogue, photo_id: int) -> None:
    from whalecat.catalogue.removal import remove_photo

    remove_photo(catalogue, photo_id)


def _mark_new_whale(catalogue, photo_id: int) -> None:
    with catalogue.session() as session:
        confirm_label(session, photo_id, NEW_WHALE, "manual")


@pytest.mark.parametrize("change", [_remove, _mark_new_whale])
def test_photo_changed_while_identified_skipped(tmp_path, monkeypatch, change):
    import whalecat.identification as identification

    real_record = identification.record_suggestions
    with _catalogue_with_card(tmp_path, card_size=2) as catalogue:
        with catalogue.session() as session:
            first, second = unidentified_photos(session)

        def record_after_change(session, photo_id, *args):
            if photo_id == first.id:  # changed in the window after its candidates were found
                change(catalogue, photo_id)
            real_record(session, photo_id, *args)

        monkeypatch.setattr(identification, "record_suggestions", record_after_change)
        report = identify_unidentified(Identifier(catalogue), Progress())
        with catalogue.session() as session:
            suggestions = first_suggestions(session)
    assert report.skipped == 1
    assert report.identified == 1
    assert report.failed == ()
    assert list(suggestions) == [second.id]  # a confirmed photo's suggestions are not listed


def test_command_line_interrupt_keeps_suggestions(tmp_path, capsys, monkeypatch):
    import whalecat.identification as identification

    _catalogue_with_card(tmp_path).close()

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(identification, "identify_unidentified", interrupted)
    assert main(["--catalogue", str(tmp_path / "catalogue"), "identify", "--unidentified"]) == 130
    assert "interrupted; the suggestions stored before are kept" in capsys.readouterr().err
