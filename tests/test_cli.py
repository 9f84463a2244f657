import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.helpers import save_fluke, save_labelled_flukes
from whalecat.catalogue import Catalogue
from whalecat.catalogue.models import Photo, Whale
from whalecat.cli import COMMANDS, main
from whalecat.identification import Identifier
from whalecat.imaging.io import ImageError
from whalecat.importing.importer import import_paths
from whalecat.matching.keypoints import KeypointMethod


def test_import_export_round_trip(tmp_path, capsys):
    for name, individual, sighting in [("a.jpg", 1, 0), ("b.jpg", 1, 1), ("c.jpg", 2, 0)]:
        save_fluke(tmp_path / "photos" / name, individual=individual, sighting=sighting)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_1287fbc\nb.jpg,w_1287fbc\nc.jpg,new_whale\n")
    first = tmp_path / "first"

    assert main(["--catalogue", str(first), "import", str(tmp_path / "photos"), "--labels", str(labels)]) == 1
    printed = capsys.readouterr().out
    assert "3 imported, 0 already in the catalogue, 1 failed" in printed
    assert "broken.jpg" in printed

    exported = tmp_path / "out.csv"
    assert main(["--catalogue", str(first), "export", "--format", "kaggle", str(exported)]) == 0
    rows = sorted(tuple(r.values()) for r in csv.DictReader(exported.open()))
    assert rows == [("a.jpg", "w_1287fbc"), ("b.jpg", "w_1287fbc"), ("c.jpg", "new_whale")]
    capsys.readouterr()
    assert main(["--catalogue", str(first), "export", "-"]) == 0
    streams = capsys.readouterr()
    assert streams.out.splitlines()[0] == "Image,Id"
    assert streams.err == "wrote 3 rows to standard output\n"
    sightings = tmp_path / "sightings.csv"
    assert main(["--catalogue", str(first), "export", "--format", "sightings", str(sightings)]) == 0
    rows = list(csv.DictReader(sightings.open()))
    assert [(row["image"], row["whale_id"]) for row in rows] == [
        ("a.jpg", "w_1287fbc"), ("b.jpg", "w_1287fbc"), ("c.jpg", "new_whale")
    ]
    assert rows[0]["original_folder"] == str(tmp_path / "photos")

    second = tmp_path / "second"
    assert main(["--catalogue", str(second), "import", str(tmp_path / "photos"), "--labels", str(exported)]) == 1
    capsys.readouterr()
    assert main(["--catalogue", str(second), "whales"]) == 0
    listing = capsys.readouterr().out
    assert ["w_1287fbc", "2"] in [line.split() for line in listing.splitlines()]
    assert "1 whale" in listing


def test_missing_path_is_a_clear_error(tmp_path, capsys):
    assert main(["--catalogue", str(tmp_path / "c"), "import", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert "nowhere not found" in error


def test_missing_path_among_others_fails_alone(tmp_path, fluke_data, capsys):
    photo = fluke_data / "images" / "0000e88ab.jpg"
    arguments = ["--catalogue", str(tmp_path / "c"), "import", str(tmp_path / "nope.jpg"), str(photo)]
    assert main(arguments) == 1
    output = capsys.readouterr().out
    assert "nope.jpg: file not found" in output
    assert "1 imported" in output


def test_catalogue_path_that_is_a_file(tmp_path, capsys):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    assert main(["--catalogue", str(not_a_folder), "whales"]) == 2
    assert "must be a folder" in capsys.readouterr().err


def test_database_failing_after_opening_is_one_clear_line(tmp_path, capsys):
    """A table dropped by hand passes SQLite's check on opening but fails the first query."""
    Catalogue.open(tmp_path / "c").close()
    with sqlite3.connect(tmp_path / "c" / "catalogue.sqlite") as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("DROP TABLE whale")

    assert main(["--catalogue", str(tmp_path / "c"), "whales"]) == 2

    printed = capsys.readouterr().err
    assert printed.startswith("whalecat whales: error: the catalogue's database failed: no such table: whale;")
    assert "SELECT" not in printed
    assert "Traceback" not in printed


def test_python_dash_m_runs(tmp_path):
    Catalogue.open(tmp_path / "c").close()
    result = subprocess.run(
        [sys.executable, "-m", "whalecat", "--catalogue", str(tmp_path / "c"), "whales"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "0 whales" in result.stdout
    assert "tensorflow" not in json.dumps(result.stderr).lower()


def test_identify_bad_photo_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    assert main(["--catalogue", str(tmp_path / "c"), "identify", str(bad)]) == 2
    error = capsys.readouterr().err
    assert "notes.jpg" in error
    assert "Traceback" not in error


def test_train_rejects_zero_epochs(tmp_path, capsys, monkeypatch):
    # train turns oneDNN on for its own process unless the variable is set. Here that process
    # is the test run, which keeps it off (TensorFlow loaded later would run with it), and
    # monkeypatch removes the variable again afterwards.
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    Catalogue.open(tmp_path / "c").close()
    assert main(["--catalogue", str(tmp_path / "c"), "train", "--epochs", "0"]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err


def test_reimport_keeps_confirmed_label(tmp_path, capsys):
    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    first = tmp_path / "first.csv"
    first.write_text("Image,Id\na.jpg,w_1287fbc\n")
    second = tmp_path / "second.csv"
    second.write_text("Image,Id\na.jpg,w_other\nmissing.jpg,w_1287fbc\n")
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "photos"), "--labels", str(first)]) == 0
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "photos"), "--labels", str(second)]) == 0
    printed = capsys.readouterr().out
    assert "confirmed as w_1287fbc; the labels file says w_other" in printed
    assert "labels for files not in this import: missing.jpg" in printed
    assert main(["--catalogue", catalogue, "whales"]) == 0
    listing = capsys.readouterr().out
    assert "w_other" not in listing
    assert "w_1287fbc" in listing


def test_export_into_missing_folder(tmp_path, capsys):
    Catalogue.open(tmp_path / "c").close()
    out = tmp_path / "no_such_folder" / "out.csv"
    assert main(["--catalogue", str(tmp_path / "c"), "export", str(out)]) == 2
    error = capsys.readouterr().err
    assert "no_such_folder not found" in error
    assert ".part" not in error


def test_commands_need_an_existing_catalogue(tmp_path, capsys):
    photo = save_fluke(tmp_path / "query.jpg", individual=1)
    mistyped = tmp_path / "no_such_catalogue"
    for command in (["identify", str(photo)], ["whales"], ["models"], ["export", str(tmp_path / "out.csv")]):
        assert main(["--catalogue", str(mistyped), *command]) == 2
        assert f"no catalogue at {mistyped}" in capsys.readouterr().err
        assert not mistyped.exists()

    save_fluke(tmp_path / "new" / "a.jpg", individual=2)
    assert main(["--catalogue", str(tmp_path / "c"), "import", str(tmp_path / "new")]) == 0
    capsys.readouterr()
    assert main(["--catalogue", str(tmp_path / "c"), "identify", str(photo)]) == 2
    assert "no confirmed whales to match against" in capsys.readouterr().err


def test_identify_prints_confidences(tmp_path, capsys):
    photos = [("a.jpg", 1, 0), ("b.jpg", 1, 1), ("c.jpg", 2, 0), ("d.jpg", 2, 1)]
    for name, individual, sighting in photos:
        save_fluke(tmp_path / "photos" / name, individual=individual, sighting=sighting)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_first\nb.jpg,w_first\nc.jpg,w_second_with_a_long_id\n"
                      "d.jpg,w_second_with_a_long_id\n")
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "photos"), "--labels", str(labels)]) == 0
    query = save_fluke(tmp_path / "query.jpg", individual=1, sighting=2)
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "identify", str(query), "--method", "embedding", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["candidates"]
    assert all(0.0 <= row["confidence"] <= 1.0 for row in rows if row["label"] != "new_whale")
    assert [row["confidence"] for row in rows[1:] if row["label"] == "new_whale"] == [None]
    assert main(["--catalogue", catalogue, "identify", str(query), "--method", "embedding"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{query}: top 3 by method embedding, model bundled (")
    lines = [line for line in printed.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    whales = [line for line in lines if "new_whale" not in line]
    # Labels are padded to the longest, so the scores line up.
    assert len({line.index("score") for line in whales}) == 1
    assert all("confidence" in line for line in whales)
    new = [line for line in lines[1:] if "new_whale" in line]
    assert all("confidence" not in line and "threshold" in line for line in new)


def test_identify_without_fitted_threshold_shows_no_confidence(tmp_path, capsys):
    for name, individual in [("a.jpg", 1), ("b.jpg", 2)]:
        save_fluke(tmp_path / "photos" / name, individual=individual)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_first\nb.jpg,w_second\n")
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "photos"), "--labels", str(labels)]) == 0
    query = save_fluke(tmp_path / "query.jpg", individual=1, sighting=2)
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "identify", str(query), "--method", "embedding"]) == 0

    printed = capsys.readouterr()
    assert "no confidences yet: the new_whale threshold is a default" in printed.err
    assert "confidence" not in printed.out


# Four whales of the real fluke set, two photos each. The bundled model ranks photo
# 0e6abdd05.jpg's own whale first, then new_whale at the default threshold, then the others.
REAL_WHALES = {
    "0000e88ab.jpg": "w_f48451c", "aabd840b_0000e88ab.jpg": "w_f48451c",
    "0e6abdd05.jpg": "w_ac2c28e", "d6dce5f26.jpg": "w_ac2c28e",
    "000a6daec.jpg": "w_dd88965", "8482d45d_000a6daec.jpg": "w_dd88965",
    "1_IMG_1f2913e3.jpg": "w_1287fbc", "1_IMG_2c3b34a3.jpg": "w_1287fbc",
}


def test_identify_new_whale_below_first(tmp_path, fluke_data, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in REAL_WHALES:
        shutil.copy(fluke_data / "images" / name, photos / name)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\n" + "".join(f"{name},{whale}\n" for name, whale in REAL_WHALES.items()))
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(photos), "--labels", str(labels)]) == 0
    query = photos / "0e6abdd05.jpg"
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "identify", str(query), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["candidates"]
    new = next(row for row in rows if row["label"] == "new_whale")
    below = [row for row in rows if row["rank"] > new["rank"]]
    assert new["rank"] == 2, rows
    assert new["confidence"] is None
    assert below, rows
    assert all(row["score"] < new["score"] for row in below)
    # Eight photos of whales with two photos are too few to fit a threshold, so none has a confidence.
    assert all(row["confidence"] is None for row in rows)

    assert main(["--catalogue", catalogue, "identify", str(query)]) == 0
    lines = capsys.readouterr().out.splitlines()
    new_line = next(line for line in lines if line.startswith("2. new_whale"))
    assert f"threshold {new['score']:.3f}" in new_line
    assert "the whales below scored under it" in new_line
    assert "confidence" not in new_line
    assert "%" not in new_line


def test_identify_help_explains_threshold(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["identify", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "new_whale's score is that threshold" in text
    assert "new_whale has a confidence only when it ranks first" in text


def test_every_command_help_has_description(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0, command
        # argparse prints the usage, a blank line, then the description if there is one.
        second_paragraph = capsys.readouterr().out.split("\n\n")[1]
        assert not second_paragraph.startswith(("positional arguments:", "options:")), command


def test_whales_name_column_only_when_named(tmp_path, capsys):
    for name, individual in [("a.jpg", 1), ("b.jpg", 2)]:
        save_fluke(tmp_path / "photos" / name, individual=individual)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_first\nb.jpg,w_second\n")
    catalogue = tmp_path / "c"
    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "photos"), "--labels", str(labels)]) == 0
    capsys.readouterr()

    assert main(["--catalogue", str(catalogue), "whales"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["whale", "photos"]
    assert lines[1].split() == ["w_first", "1"]
    assert all(line == line.rstrip() for line in lines)

    with Catalogue.open(catalogue) as opened, opened.session() as session:
        session.get(Whale, "w_first").name = "Notch"
        session.commit()
    assert main(["--catalogue", str(catalogue), "whales"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["whale", "photos", "name"]
    assert lines[1].split() == ["w_first", "1", "Notch"]
    assert lines[2].split() == ["w_second", "1"]


def test_models_activate_unknown_version(tmp_path, capsys):
    catalogue = tmp_path / "c"
    Catalogue.open(catalogue).close()

    assert main(["--catalogue", str(catalogue), "models", "activate", "nothere"]) == 2
    error = capsys.readouterr().err
    assert "model version 'nothere' not found" in error
    assert f"run 'whalecat --catalogue {catalogue} models' to list the versions" in error
    assert "'bundled' is the model shipped with whalecat" in error

    assert main(["--catalogue", str(catalogue), "models", "activate"]) == 2
    assert f"run 'whalecat --catalogue {catalogue} models'" in capsys.readouterr().err
    assert main(["--catalogue", str(catalogue), "models", "activate", "bundled"]) == 0
    assert "active model: bundled" in capsys.readouterr().out


def test_models_names_the_input(tmp_path, capsys):
    catalogue = tmp_path / "c"
    Catalogue.open(catalogue).close()

    assert main(["--catalogue", str(catalogue), "models"]) == 0

    bundled = capsys.readouterr().out.splitlines()[0]
    assert bundled.startswith("* bundled")
    assert "takes 192×192 RGB" in bundled


def test_closed_pipe_ends_quietly(tmp_path):
    # As `whalecat whales | head` once `head` has stopped reading.
    Catalogue.open(tmp_path / "c").close()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "whalecat", "--catalogue", str(tmp_path / "c"), "whales"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(write_end)
    assert writer.returncode == 0, writer.stderr
    assert "Broken pipe" not in writer.stderr


def test_progress_without_a_terminal_prints_tenths(capsys):
    from whalecat.cli.common import ProgressPrinter

    printer = ProgressPrinter()
    for done in range(1, 101):
        printer(done, 100, "Evaluating default")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("10/100 Evaluating default (about ")
    assert lines[-1] == "100/100 Evaluating default"
    assert len(lines) == 10


def test_in_process_commands_leave_onednn_alone():
    # Runs after the train test above (pytest keeps file order): TensorFlow loaded later in
    # this test process must not inherit the training process's oneDNN setting.
    import os

    from whalecat.matching.device import USER_ONEDNN

    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") in (USER_ONEDNN, "0")


def test_rotate_turns_an_imported_photo(tmp_path, capsys):
    photo = save_fluke(tmp_path / "photos" / "side.jpg", individual=2)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(photo), "--whole-photo"]) == 0
    capsys.readouterr()
    turns = [
        ("right", "now shown turned 90 degrees clockwise from how the camera stored it"),
        ("left", "now shown as the camera stored it"),
        ("left", "now shown turned 90 degrees anticlockwise from how the camera stored it"),
        ("left", "now shown upside down (turned 180 degrees) from how the camera stored it"),
    ]
    for direction, expected_message in turns:
        assert main(["--catalogue", catalogue, "rotate", str(photo), direction]) == 0
        assert capsys.readouterr().out.strip() == f"side.jpg: turned {direction}; {expected_message}"
    other = save_fluke(tmp_path / "other.jpg", individual=3)
    assert main(["--catalogue", catalogue, "rotate", str(other), "left"]) == 2
    error = capsys.readouterr().err
    assert f"{other} is not in the catalogue at {tmp_path / 'c'}" in error
    assert f"import it first with: whalecat --catalogue {tmp_path / 'c'} import {other}" in error


def test_remove_takes_photo_out(tmp_path, capsys):
    photo = save_fluke(tmp_path / "photos" / "dolphin.jpg", individual=2)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(photo)]) == 0
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "remove", str(photo)]) == 0

    printed = capsys.readouterr().out
    assert printed.startswith(f"dolphin.jpg: removed from the catalogue; its copy is kept as {tmp_path / 'c' / 'removed' / 'photos'}")
    assert "left the whale list" not in printed  # it was never confirmed
    assert main(["--catalogue", catalogue, "whales"]) == 0
    assert "0 photos not yet identified" in capsys.readouterr().out
    assert main(["--catalogue", catalogue, "remove", str(photo)]) == 2
    error = capsys.readouterr().err
    assert f"{photo} is not in the catalogue at" in error
    assert error.rstrip().endswith("so there is nothing to remove")

    assert main(["--catalogue", catalogue, "import", str(photo)]) == 0
    assert f"imported again after removal: {photo}" in capsys.readouterr().out


def test_import_prints_time_left(tmp_path, capsys):
    for sighting in range(6):
        save_fluke(tmp_path / "photos" / f"s{sighting}.jpg", individual=1, sighting=sighting)

    assert main(["--catalogue", str(tmp_path / "cat"), "import", str(tmp_path / "photos")]) == 0

    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if line.startswith(("0/6", "1/6", "2/6", "3/6", "4/6", "5/6", "6/6"))]
    assert len(progress) == 7
    assert all("left)" not in line for line in progress[:3])
    assert all("left)" in line for line in progress[3:6])
    assert "left)" not in progress[6]


def test_damaged_catalogue_is_one_line(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "catalogue.sqlite").write_bytes(b"not a database, but notes saved over it" * 200)

    assert main(["--catalogue", str(tmp_path / "c"), "whales"]) == 2

    error = capsys.readouterr().err
    assert error.startswith("whalecat whales: error: the database ")
    assert "is damaged (file is not a database); restore catalogue.sqlite from a backup" in error
    assert "Traceback" not in error
    assert len(error.splitlines()) == 1


def test_import_names_each_failed_file_once(tmp_path):
    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    (tmp_path / "photos" / "notes.jpg").write_text("field notes, saved with the wrong suffix")
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_1287fbc\n")
    command = [sys.executable, "-m", "whalecat", "--catalogue", str(tmp_path / "cat")]
    photos = str(tmp_path / "photos")

    imported = subprocess.run(command + ["import", photos, photos + "/a.jpg", "--labels", str(labels)],
                              capture_output=True, text=True, timeout=120)
    whales = subprocess.run(command + ["whales"], capture_output=True, text=True, timeout=120)

    assert imported.returncode == 1
    assert imported.stdout.count("notes.jpg") == 1, imported.stdout
    assert "notes.jpg" not in imported.stderr.replace("1/2 notes.jpg", ""), imported.stderr
    assert "1 imported, 0 already in the catalogue, 1 failed, 1 labelled" in imported.stdout
    assert whales.stdout.splitlines()[-1] == "1 whale; 0 photos confirmed as new_whale; 0 photos not yet identified"


def test_export_keeps_an_existing_file_unless_forced(tmp_path, capsys):
    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,w_1287fbc\n")
    catalogue = ["--catalogue", str(tmp_path / "cat")]
    assert main(catalogue + ["import", str(tmp_path / "photos"), "--labels", str(labels)]) == 0
    labels.write_text("Image,Id\na.jpg,w_1287fbc\nb.jpg,w_dd88965\n")
    capsys.readouterr()

    assert main(catalogue + ["export", str(labels)]) == 2
    assert capsys.readouterr().err == (
        f"whalecat export: error: {labels} exists; add --force to replace it, or name another file\n"
    )
    assert "b.jpg" in labels.read_text()
    assert main(catalogue + ["export", "--force", str(labels)]) == 0
    assert labels.read_text().splitlines() == ["Image,Id", "a.jpg,w_1287fbc"]


def test_lost_photo_copy_is_named_and_left_out(tmp_path, capsys, caplog):
    images, labels = save_labelled_flukes(tmp_path, whales=3, photos_per_whale=2)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(images), "--labels", str(labels), "--whole-photo"]) == 0
    with Catalogue.open(catalogue) as opened, opened.session() as session:
        stored = session.scalar(select(Photo.stored_name).where(Photo.original_name == "w0_s0.jpg"))
    (tmp_path / "c" / stored).unlink()
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "identify", str(images / "w1_s1.jpg"), "--method", "keypoints"]) == 0
    assert "w_0000001" in capsys.readouterr().out
    # The command line logs warnings to stderr; pytest takes the log records over.
    assert "1 confirmed photo is missing from the catalogue's photos/ folder: w0_s0.jpg (w_0000000)" in caplog.text

    assert main(["--catalogue", catalogue, "train", "--epochs", "1"]) == 2
    assert "cannot train: 1 confirmed photo is missing" in capsys.readouterr().err

    assert main(["--catalogue", catalogue, "remove", str(images / "w0_s0.jpg")]) == 0
    assert "its copy was already missing from photos/" in capsys.readouterr().out


def test_damaged_photo_copy_is_named_and_left_out(tmp_path, capsys, caplog):
    images, labels = save_labelled_flukes(tmp_path, whales=3, photos_per_whale=2)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(images), "--labels", str(labels), "--whole-photo"]) == 0
    with Catalogue.open(catalogue) as opened, opened.session() as session:
        stored = tmp_path / "c" / session.scalar(select(Photo.stored_name).where(Photo.original_name == "w0_s0.jpg"))
    stored.write_bytes(stored.read_bytes()[:500])  # cut short, as by a full disk
    shutil.rmtree(tmp_path / "c" / "cache")  # so the copy must be decoded
    identify = ["--catalogue", catalogue, "identify", str(images / "w1_s1.jpg"), "--method", "keypoints"]
    capsys.readouterr()

    assert main(identify) == 0
    assert "w_0000001" in capsys.readouterr().out
    assert f"Left out of matching: w0_s0.jpg: the catalogue's copy ({stored}) cannot be read (" in caplog.text
    assert "); import the original photo again to replace it, or restore the catalogue folder from a backup" in caplog.text

    assert main(["--catalogue", catalogue, "import", str(images / "w0_s0.jpg")]) == 0
    assert "1 lost or damaged copy restored" in capsys.readouterr().out
    caplog.clear()
    assert main(identify) == 0
    assert "Left out of matching" not in caplog.text


def test_identify_lost_copy_names_photo(tmp_path):
    images, labels = save_labelled_flukes(tmp_path, whales=2, photos_per_whale=2)
    with Catalogue.open(tmp_path / "c") as catalogue:
        import_paths(catalogue, [images], labels, find_fluke=False)
        with catalogue.session() as session:
            photo = session.scalars(select(Photo).where(Photo.original_name == "w0_s0.jpg")).one()
            photo_id, stored = photo.id, photo.stored_name
        (catalogue.folder / stored).unlink()
        identifier = Identifier(catalogue, method=KeypointMethod())

        with pytest.raises(ImageError, match=r"^w0_s0.jpg: the catalogue's copy \(photos/.*\) is missing; restore"):
            identifier.identify_photo(photo_id, record=False)


def test_import_catalogue_into_itself_rejected(tmp_path, capsys):
    from whalecat.importing.files import supported_formats_sentence

    save_fluke(tmp_path / "photos" / "a.jpg", individual=1)
    catalogue = tmp_path / "cat"
    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "photos")]) == 0
    capsys.readouterr()

    assert main(["--catalogue", str(catalogue), "import", str(catalogue)]) == 2

    streams = capsys.readouterr()
    assert streams.out == (
        f"skipped the catalogue folder {catalogue}; to import the photos in it, name its photos folder\n"
    )
    assert streams.err == f"whalecat import: error: no photos found in {catalogue}; {supported_formats_sentence()}\n"


def test_import_folder_without_photos(tmp_path, capsys):
    from PIL import Image

    from whalecat.importing.files import supported_formats_sentence

    card = tmp_path / "card"
    card.mkdir()
    Image.new("RGB", (64, 48)).save(card / "a.webp", format="WEBP")
    (card / "notes.txt").write_text("no whales today")

    assert main(["--catalogue", str(tmp_path / "cat"), "import", str(card)]) == 2

    streams = capsys.readouterr()
    assert streams.out == (
        "skipped 1 file in formats whalecat cannot import (a.webp); convert it to JPEG or TIFF to import it\n"
    )
    assert streams.err == f"whalecat import: error: no photos found in {card}; {supported_formats_sentence()}\n"
    assert not (tmp_path / "cat").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="macOS and Windows reject file names that are not valid UTF-8")
def test_import_prints_undecodable_names(tmp_path):
    card = save_fluke(tmp_path / "card" / "a.jpg", individual=1).parent
    os.rename(card / "a.jpg", os.fsencode(card / "caf") + b"\xe9.jpg")
    with open(os.fsencode(card / "caf") + b"\xe9_notes.jpg", "wb") as broken:
        broken.write(b"field notes, saved with the wrong suffix")
    command = [sys.executable, "-m", "whalecat", "--catalogue", str(tmp_path / "cat"), "import", str(card)]
    # A terminal that rejects text which is not valid UTF-8, as most do outside the C locale.
    strict = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}

    imported = subprocess.run(command, capture_output=True, text=True, timeout=120, env=strict)

    assert imported.returncode == 1, imported.stderr
    assert f"failed: {card}/caf\\xe9_notes.jpg: not an image file" in imported.stdout
    assert "1 imported, 0 already in the catalogue, 1 failed" in imported.stdout
    assert "Traceback" not in imported.stderr


def _stop_at_second_thumbnail(tmp_path, monkeypatch, stop) -> None:
    """Save three photos to import, and call `stop` once the second one's preview is written,
    as Ctrl+C or a signal would arrive in the middle of an import."""
    from PIL import Image

    for index in range(3):
        save_fluke(tmp_path / "photos" / f"{index}.jpg", individual=index)
    save_image = Image.Image.save
    thumbnails = []

    def save_then_stop(image, target, *args, **kwargs):
        save_image(image, target, *args, **kwargs)
        if str(target).endswith(".part"):
            thumbnails.append(target)
            if len(thumbnails) == 2:
                stop()

    monkeypatch.setattr(Image.Image, "save", save_then_stop)


def test_import_interrupted_prints_summary(tmp_path, capsys, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    _stop_at_second_thumbnail(tmp_path, monkeypatch, interrupt)
    catalogue = tmp_path / "cat"

    try:
        code = main(["--catalogue", str(catalogue), "import", str(tmp_path / "photos")])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped the import command")

    assert code == 130
    assert "1 imported, 0 already in the catalogue, 0 failed (interrupted) in " in capsys.readouterr().out
    assert not list(catalogue.rglob("*.part"))
    assert not list(catalogue.rglob(".importing-*"))
    assert len([path for path in (catalogue / "photos").rglob("*") if path.is_file()]) == 1
    with Catalogue.open(catalogue) as opened, opened.session() as session:
        assert len(session.scalars(select(Photo)).all()) == 1


def test_import_ended_by_sigterm_prints_summary(tmp_path, capsys, monkeypatch):
    import signal

    _stop_at_second_thumbnail(tmp_path, monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)

    code = main(["--catalogue", str(tmp_path / "cat"), "import", str(tmp_path / "photos")])

    assert code == 130
    assert "(interrupted) in " in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before
    assert not list((tmp_path / "cat").rglob("*.part"))


def test_import_full_disk_is_one_message(tmp_path, capsys, monkeypatch):
    """A real full disk cannot be made in a unit test, so every write of a photo's copy
    fails with ENOSPC, as it would on a full disk."""
    import errno

    for index in range(3):
        save_fluke(tmp_path / "photos" / f"{index}.jpg", individual=index)

    def fdopen_on_full_disk(handle, *args, **kwargs):
        os.close(handle)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", fdopen_on_full_disk)
    catalogue = tmp_path / "cat"

    assert main(["--catalogue", str(catalogue), "import", "--whole-photo", str(tmp_path / "photos")]) == 1

    streams = capsys.readouterr()
    assert "Traceback" not in streams.err
    lines = streams.out.splitlines()
    assert lines[0] == (
        f"the disk holding the catalogue {catalogue} is full (No space left on device), so 3 files were not "
        f"imported; free space on the disk holding {catalogue}, then import again; the photos imported so "
        "far are kept"
    )
    assert lines[1].startswith("0 imported, 0 already in the catalogue, 0 failed (stopped) in ")
    assert len(lines) == 2


def test_import_makes_no_catalogue_in_a_card_folder(tmp_path, capsys):
    card = tmp_path / "card"
    save_fluke(card / "IMG_0001.jpg", individual=1)

    assert main(["--catalogue", str(card), "import", str(card / "IMG_0001.jpg")]) == 2

    assert capsys.readouterr().err == (
        f"whalecat import: error: cannot make a new catalogue: {card} is not empty. "
        "Choose an empty folder for a new catalogue, or open an existing one.\n"
    )
    assert sorted(p.name for p in card.iterdir()) == ["IMG_0001.jpg"]


def test_remove_only_photo_of_whale(tmp_path, capsys):
    images, labels = save_labelled_flukes(tmp_path, whales=2, photos_per_whale=1)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(images), "--labels", str(labels)]) == 0
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "remove", str(images / "w0_s0.jpg")]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("w_0000000 had no other photo, so it left the whale list; to bring it back, import ")
    assert lines[1].endswith(" again and confirm it as w_0000000")



def test_remove_by_file_name(tmp_path, capsys):
    first = save_fluke(tmp_path / "card1" / "IMG_0001.jpg", individual=1)
    save_fluke(tmp_path / "card1" / "IMG_0002.jpg", individual=2)
    save_fluke(tmp_path / "card2" / "IMG_0002.jpg", individual=3)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "card1"), str(tmp_path / "card2")]) == 0
    shutil.rmtree(tmp_path / "card1")
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "remove", str(first)]) == 0
    assert capsys.readouterr().out.startswith("IMG_0001.jpg: removed from the catalogue")

    assert main(["--catalogue", catalogue, "remove", "IMG_0002.jpg"]) == 2
    error = capsys.readouterr().err
    assert "2 catalogue photos were imported from files named IMG_0002.jpg" in error
    assert str(tmp_path / "card2") in error
    # With the folder of a card that is gone, the name is enough again.
    assert main(["--catalogue", catalogue, "rotate", str(tmp_path / "card1" / "IMG_0002.jpg"), "left"]) == 0
    assert capsys.readouterr().out.startswith("IMG_0002.jpg: turned left")
    assert main(["--catalogue", catalogue, "rotate", "IMG_9999.jpg", "left"]) == 2
    assert "no catalogue photo was imported from a file of that name" in capsys.readouterr().err


def test_import_again_lists_ten_files_already_there(tmp_path, capsys):
    for index in range(12):
        save_fluke(tmp_path / "card" / f"{index:02d}.jpg", individual=index)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(tmp_path / "card")]) == 0
    capsys.readouterr()

    assert main(["--catalogue", catalogue, "import", str(tmp_path / "card")]) == 0

    lines = capsys.readouterr().out.splitlines()
    listed = [line for line in lines if line.startswith("already in the catalogue: ")]
    assert len(listed) == 11
    assert listed[-1] == "already in the catalogue: 2 more files; -v lists each one"


def test_check_finds_and_repairs_what_a_copy_lost(tmp_path, capsys):
    for name, individual in [("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3)]:
        save_fluke(tmp_path / "card" / name, individual=individual)
    catalogue = tmp_path / "c"
    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "card")]) == 0
    assert main(["--catalogue", str(catalogue), "check"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 photos checked, no problems found"
    with Catalogue.open(catalogue) as opened, opened.session() as session:
        stored = dict(session.execute(select(Photo.original_name, Photo.stored_name)).all())
        sha256 = dict(session.execute(select(Photo.original_name, Photo.sha256)).all())
    (catalogue / stored["a.jpg"]).unlink()
    (catalogue / "thumbnails" / f"{sha256['b.jpg']}.jpg").unlink()
    (catalogue / "photos" / "zz").mkdir()
    (catalogue / "photos" / "zz" / "stray.jpg").write_bytes(b"left by a killed import")
    (catalogue / "photos" / "notes.txt").write_text("put here by hand")

    assert main(["--catalogue", str(catalogue), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"missing copy: a.jpg (stored as {stored['a.jpg']}); import the original again to put it back" in lines
    assert "missing preview: b.jpg; run whalecat check --repair to make it again" in lines
    assert "file without a photo: photos/zz/stray.jpg; import the card again, which adds it" in lines
    assert "file that is not a photo copy: photos/notes.txt; move it out of the photos folder" in lines
    assert lines[-1] == "3 photos checked, 4 problems found"

    assert main(["--catalogue", str(catalogue), "check", "--repair"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "preview made again: b.jpg" in lines
    assert lines[-1] == "3 photos checked, 3 problems found, 1 preview made again"
    assert (catalogue / "thumbnails" / f"{sha256['b.jpg']}.jpg").is_file()

    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "card" / "a.jpg")]) == 0
    (catalogue / "photos" / "zz" / "stray.jpg").unlink()
    (catalogue / "photos" / "notes.txt").unlink()
    assert main(["--catalogue", str(catalogue), "check"]) == 0


def test_check_names_missing_active_model(tmp_path, capsys, caplog):
    from whalecat.matching.versions import BUNDLED_VERSION, active_version, set_active_version

    with Catalogue.open(tmp_path / "c") as catalogue:
        model = catalogue.models_dir / "embedding-20261206-010601" / "model.keras"
        model.parent.mkdir()
        model.write_bytes(b"a model file")
        model.with_name("model.json").write_text('{"kind": "embedding"}', encoding="utf-8")
        set_active_version(catalogue, "embedding-20261206-010601")
        model.unlink()  # as a partial restore of the folder would
        assert active_version(catalogue) == BUNDLED_VERSION
    assert "Active model embedding-20261206-010601 is missing" in caplog.text

    assert main(["--catalogue", str(tmp_path / "c"), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        "active model embedding-20261206-010601 is missing (models/embedding-20261206-010601/model.keras); restore "
        "the models folder from a backup, or choose another version with whalecat models activate VERSION"
    ) in lines
    assert lines[-1] == "0 photos checked, 1 problem found"
    assert main(["--catalogue", str(tmp_path / "c"), "models"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("* bundled ")
    assert "its model file is missing, so it cannot be used" in listed


def test_identify_a_card_as_kaggle_rows(tmp_path, capsys):
    images, labels = save_labelled_flukes(tmp_path, whales=3, photos_per_whale=2)
    catalogue = str(tmp_path / "c")
    assert main(["--catalogue", catalogue, "import", str(images), "--labels", str(labels)]) == 0
    card = tmp_path / "card"
    save_fluke(card / "day1, first.jpg", individual=0, sighting=3)
    save_fluke(card / "day1_second.jpg", individual=2, sighting=3)
    (card / "day1_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    capsys.readouterr()

    code = main(["--catalogue", catalogue, "identify", str(card), "--method", "keypoints", "--csv", "--top", "3"])

    printed = capsys.readouterr()
    assert code == 1
    rows = list(csv.reader(printed.out.splitlines()))
    assert rows[0] == ["Image", "Id"]
    assert [row[0] for row in rows[1:]] == ["day1, first.jpg", "day1_second.jpg"]
    assert all(len(row[1].split(" ")) == 3 for row in rows[1:])
    assert rows[1][1].split(" ")[0] == "w_0000000"
    assert rows[2][1].split(" ")[0] == "w_0000002"
    assert f"failed: {card / 'day1_broken.jpg'}: " in printed.err
    assert "1 photo of 3 could not be identified" in printed.err

    assert main(["--catalogue", catalogue, "identify", str(card), "--method", "keypoints", "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(line["photo"]).name for line in lines] == ["day1, first.jpg", "day1_broken.jpg", "day1_second.jpg"]
    assert "candidates" not in lines[1]
    assert lines[1]["error"]


def test_folder_without_its_database_is_named(tmp_path, capsys):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    catalogue = tmp_path / "c"
    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "card")]) == 0
    (catalogue / "catalogue.sqlite").unlink()  # as a partial copy of the folder would
    capsys.readouterr()

    for command in (["whales"], ["import", str(tmp_path / "card")]):
        assert main(["--catalogue", str(catalogue), *command]) == 2
        assert capsys.readouterr().err.startswith(
            f"whalecat {command[0]}: error: {catalogue} has imported photos in photos/ but no catalogue.sqlite, "
            "so its database is missing; restore catalogue.sqlite from a backup of the folder"
        )
    assert not (catalogue / "catalogue.sqlite").exists()


def test_catalogue_path_that_is_a_file_is_explained(tmp_path, capsys):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")

    assert main(["--catalogue", str(afile), "import", str(tmp_path / "card")]) == 2
    assert capsys.readouterr().err.rstrip().endswith(
        f"cannot make a new catalogue: {afile} is a file. Give --catalogue a folder, new or holding a catalogue."
    )


def test_check_names_second_copy_and_lost_photos_folder(tmp_path, capsys):
    for name, individual in [("a.jpg", 1), ("b.jpg", 2)]:
        save_fluke(tmp_path / "card" / name, individual=individual)
    catalogue = tmp_path / "c"
    assert main(["--catalogue", str(catalogue), "import", str(tmp_path / "card")]) == 0
    shutil.copy(tmp_path / "card" / "a.jpg", catalogue / "photos" / "a.jpg")  # put there by hand
    capsys.readouterr()

    assert main(["--catalogue", str(catalogue), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "second copy of a.jpg: photos/a.jpg; delete it, since the catalogue keeps its own copy" in lines

    shutil.rmtree(catalogue / "photos")
    assert main(["--catalogue", str(catalogue), "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("missing copies: all 2 photos' copies are missing from photos/; restore that folder from "
                        "a backup of the catalogue folder, or import the original photos again")
    assert lines[-1] == "2 photos checked, 2 problems found"


def test_invalid_labels_create_no_catalogue(tmp_path, capsys):
    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\na.jpg,new whale\n", encoding="utf-8")

    assert main(["--catalogue", str(tmp_path / "c"), "import", str(tmp_path / "card"), "--labels", str(labels)]) == 2
    assert "line 2: invalid whale id 'new whale'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_check_reads_a_read_only_catalogue(tmp_path, capsys, monkeypatch):
    """A backup on a read-only share. Root may write anywhere, so the folder's test for writing is made to fail."""
    import os

    from whalecat.cli import catalogue_commands

    save_fluke(tmp_path / "card" / "a.jpg", individual=1)
    folder = tmp_path / "backup"
    assert main(["--catalogue", str(folder), "import", str(tmp_path / "card")]) == 0
    (folder / "thumbnails").rename(tmp_path / "previews")  # a problem for the check to find
    before = sorted(path.name for path in folder.iterdir())
    monkeypatch.setattr(catalogue_commands.os, "access", lambda path, mode: mode != os.W_OK)
    capsys.readouterr()

    assert main(["--catalogue", str(folder), "check"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 photo checked, 1 problem found"
    assert sorted(path.name for path in folder.iterdir()) == before  # nothing made or written
    assert main(["--catalogue", str(folder), "check", "--repair"]) == 2
    assert "is read-only, so check --repair cannot make previews there" in capsys.readouterr().err
