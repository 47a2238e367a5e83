"""Training splits and the model card: which notes fit, tune and measure a model."""

from __future__ import annotations

import pytest

from codesuggest.core.errors import InputError
from codesuggest.train.evaluation import Evaluation, calibration_table
from codesuggest.train.recipe import _folds, split


def test_cross_fitting_folds_hold_out_every_note_exactly_once():
    folds = _folds(23, 5, seed=0)
    held = [i for fold in folds for i in fold]
    assert sorted(held) == list(range(23))
    assert [len(f) for f in folds] == [5, 5, 5, 4, 4]
    assert folds == _folds(23, 5, seed=0)
    assert folds != _folds(23, 5, seed=1)


def test_validation_split_is_seeded_and_independent_of_input_order():
    ids = [f"note-{i:02d}" for i in range(20)]
    train, val = split(ids, 0.2, seed=3)
    assert len(val) == 4
    assert sorted(train + val) == list(range(20))
    shuffled = ids[::-1]
    _, val_r = split(shuffled, 0.2, seed=3)
    assert sorted(shuffled[i] for i in val_r) == sorted(ids[i] for i in val)


def test_validation_fraction_outside_zero_and_one_is_refused():
    with pytest.raises(InputError, match="validation_fraction"):
        split(["a", "b", "c"], 0.0, seed=0)


def test_calibration_table_counts_and_averages_each_score_bin():
    ev = Evaluation(
        ranked=[["I10", "E11.9", "J18.9"], ["I10", "R50.9"]],
        scores=[[0.95, 0.9, 0.1], [0.85, 0.5]],
        gold=[["I10", "J18.9"], ["R50.9"]],
    )
    table = calibration_table(ev, "prefix")
    assert table == [
        {"bin": "0.0-0.2", "n": 1, "mean_score": 0.1, "precision": 1.0},
        {"bin": "0.4-0.6", "n": 1, "mean_score": 0.5, "precision": 1.0},
        {"bin": "0.8-1.0", "n": 3, "mean_score": 0.9, "precision": 0.333},
    ]
    assert calibration_table(Evaluation([], [], []), "prefix") == []
