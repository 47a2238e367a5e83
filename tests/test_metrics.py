"""Ranking metrics as CodiEsp defines them, in exact, prefix and category matching."""

from __future__ import annotations

import pytest

from codesuggest.train import metrics


def test_average_precision_rewards_correct_codes_ranked_first():
    gold = ["I10", "E11.9"]
    assert metrics.average_precision(["I10", "E11.9", "R52"], gold) == pytest.approx(1.0)
    assert metrics.average_precision(["R52", "I10", "E11.9"], gold) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )


def test_missing_gold_codes_lower_average_precision():
    assert metrics.average_precision(["I10"], ["I10", "E11.9"]) == pytest.approx(0.5)


def test_each_gold_code_is_matched_once():
    assert metrics.average_precision(["I10", "I10"], ["I10"]) == pytest.approx(1.0)
    s = metrics.score([["R51.9", "R51.0"]], [["R51.9", "R51.0"]], [["R51"]], "prefix")
    assert s.precision == pytest.approx(0.5)


def test_prefix_match_accepts_codes_subdivided_since_2018():
    assert metrics.average_precision(["R51.9"], ["r51"], "prefix") == pytest.approx(1.0)
    assert metrics.average_precision(["R51.9"], ["r51"], "exact") == 0.0
    assert metrics.average_precision(["S02.0XXA"], ["s02.0xx"], "prefix") == pytest.approx(1.0)


def test_category_match_compares_three_character_categories():
    assert metrics.average_precision(["E11.65"], ["E11.9"], "category") == pytest.approx(1.0)
    assert metrics.average_precision(["E10.65"], ["E11.9"], "category") == 0.0


def test_selected_codes_give_micro_precision_recall_f1():
    s = metrics.score([["I10", "R52", "E11.9"]], [["I10", "R52"]], [["I10", "E11.9"]], "exact")
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(0.5)
    assert s.p_at_5 == pytest.approx(2 / 5)
    assert s.r_at_10 == pytest.approx(1.0)


def test_score_refuses_misaligned_inputs():
    with pytest.raises(ValueError, match="one entry per document"):
        metrics.score([["I10"]], [], [["I10"]])
