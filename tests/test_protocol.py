"""The catalogue replay split and its metrics, on small hand-made lists with known results."""

from __future__ import annotations

import math

import pytest

from whalecat.evaluation.protocol import (
    LabelledPhoto,
    Query,
    best_new_whale_cut,
    is_unseen,
    natural_key,
    read_labels,
    score_queries,
    split_catalogue,
)
from whalecat.evaluation.runner import evaluate, format_table
from whalecat.matching.base import NEW_WHALE
from whalecat.matching.keypoints import KeypointMethod
from whalecat.progress import Progress

# Computed once from the sha1 rule: "f" and "h" are unseen, "a" and "b" are not.
UNSEEN_ID = "f"
SEEN_IDS = ("a", "b")


def test_unseen_rule_matches_sha1():
    assert is_unseen(UNSEEN_ID)
    assert is_unseen("h")
    assert not is_unseen("a")
    assert not is_unseen("b")


def test_natural_key_orders_numbers_by_value():
    names = ["w_10.jpg", "w_2.jpg", "w_1.jpg", "W_3.jpg"]
    assert sorted(names, key=natural_key) == ["w_1.jpg", "w_2.jpg", "W_3.jpg", "w_10.jpg"]


def test_split_sends_first_half_to_catalogue():
    photos = [LabelledPhoto(f"w_{i}.jpg", "a") for i in (10, 2, 1, 3, 20)]
    split = split_catalogue(photos)
    assert [p.image for p in split.catalogue] == ["w_1.jpg", "w_2.jpg", "w_3.jpg"]
    assert split.queries == [Query("w_10.jpg", "a"), Query("w_20.jpg", "a")]


def test_split_single_photo_is_catalogue_only():
    split = split_catalogue([LabelledPhoto("only.jpg", "b")])
    assert split.catalogue == [LabelledPhoto("only.jpg", "b")]
    assert split.queries == []


def test_split_unseen_whale_is_all_queries():
    photos = [LabelledPhoto("x_1.jpg", UNSEEN_ID), LabelledPhoto("x_2.jpg", UNSEEN_ID)]
    split = split_catalogue(photos)
    assert split.catalogue == []
    assert split.queries == [Query("x_1.jpg", NEW_WHALE), Query("x_2.jpg", NEW_WHALE)]


def test_read_labels_skips_empty_and_new_whale(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("Image,Id\n1.jpg,a\n2.jpg,\n3.jpg,new_whale\n4.jpg,b\n", encoding="utf-8")
    assert read_labels(labels) == [LabelledPhoto("1.jpg", "a"), LabelledPhoto("4.jpg", "b")]


def test_score_queries_hand_computed():
    answers = ["a", "b", NEW_WHALE, "c"]
    predictions = [
        ["a", "x", "y", "z", "w"],  # rank 1
        ["x", "y", "b", "z", "w"],  # rank 3
        [NEW_WHALE, "a", "b", "c", "d"],  # rank 1, new_whale right
        [NEW_WHALE, "a", "b", "d", "e"],  # missed, new_whale wrong
    ]
    scores = score_queries(answers, predictions)
    assert scores["map5"] == pytest.approx((1 + 1 / 3 + 1 + 0) / 4)
    assert scores["top1"] == pytest.approx(0.5)
    assert scores["top5"] == pytest.approx(0.75)
    assert scores["known_top5"] == pytest.approx(2 / 3)
    assert scores["new_precision"] == pytest.approx(0.5)
    assert scores["new_recall"] == pytest.approx(1.0)
    assert scores["queries_known"] == 3
    assert scores["queries_new"] == 1


def test_score_queries_ignores_labels_past_five():
    scores = score_queries(["a"], [["v", "w", "x", "y", "z", "a"]])
    assert scores["map5"] == 0.0
    assert scores["top5"] == 0.0


def test_score_queries_without_new_whale_is_nan():
    scores = score_queries(["a"], [["a"]])
    assert math.isnan(scores["new_precision"])
    assert math.isnan(scores["new_recall"])


def test_score_queries_rejects_length_mismatch():
    with pytest.raises(ValueError, match="1 answers but 2 predictions"):
        score_queries(["a"], [["a"], ["b"]])


def test_best_new_whale_cut_hand_computed():
    answers = ["w_a", NEW_WHALE, "w_b", NEW_WHALE, "w_c"]
    best_scores = [0.9, 0.2, 0.3, 0.4, 0.35]

    best = best_new_whale_cut(answers, best_scores)

    # Cutting above 0.2 gives P 1 R 0.5; above 0.4 gives P 0.5 R 1; between them P 0.5 R 0.5.
    assert best == {"new_precision_best_cut": 1.0, "new_recall_best_cut": 0.5}


def test_best_new_whale_cut_keeps_ties_together():
    best = best_new_whale_cut([NEW_WHALE, "w_a", "w_b"], [0.5, 0.5, 0.9])

    assert best == {"new_precision_best_cut": 0.5, "new_recall_best_cut": 1.0}
    assert math.isnan(best_new_whale_cut(["w_a"], [0.5])["new_recall_best_cut"])


def test_split_real_rightwhale_labels(rightwhale_data):
    split = split_catalogue(read_labels(rightwhale_data / "labels.csv"))
    catalogue_ids = {photo.whale_id for photo in split.catalogue}
    assert len(split.catalogue) + len(split.queries) == 2702
    assert all(q.answer in catalogue_ids for q in split.queries if q.answer != NEW_WHALE)
    assert not any(is_unseen(whale_id) for whale_id in catalogue_ids)


def test_format_table_marks_missing_figures():
    table = format_table([{"method": "keypoints", "map5": 0.5, "new_recall": math.nan}])
    lines = table.splitlines()
    assert lines[0].startswith("| method | MAP@5")
    assert "| keypoints | 0.500 |" in lines[2]
    assert "n/a" in lines[2]


def test_evaluate_keypoints_on_small_replay(rightwhale_data, tmp_path):
    rows = read_labels(rightwhale_data / "labels.csv")
    seen = sorted({row.whale_id for row in rows if not is_unseen(row.whale_id)})[:3]
    unseen = sorted({row.whale_id for row in rows if is_unseen(row.whale_id)})[:1]
    chosen = [row for row in rows if row.whale_id in set(seen + unseen)]
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "Image,Id\n" + "".join(f"{row.image},{row.whale_id}\n" for row in chosen),
        encoding="utf-8",
    )
    reports = []
    progress = Progress(lambda done, total, message: reports.append((done, total)))
    result = evaluate(labels, rightwhale_data / "images", [KeypointMethod()], progress)[0]
    split = split_catalogue(chosen)
    assert result["method"] == "keypoints"
    assert result["catalogue_photos"] == len(split.catalogue)
    assert result["catalogue_whales"] == 3
    assert result["queries_known"] + result["queries_new"] == len(split.queries)
    assert 0.0 <= result["map5"] <= 1.0
    assert 0.0 <= result["new_precision_best_cut"] <= 1.0
    assert result["seconds_per_query"] > 0
    assert reports[-1] == (len(split.queries), len(split.queries))
