"""Training splits and the model card: which notes fit, tune and measure a model."""

from __future__ import annotations

import pytest

from codesuggest.core.errors import InputError
from codesuggest.rank.model import Model
from codesuggest.train.evaluation import Evaluation, calibration_table
from codesuggest.train.recipe import _folds, _tuning_split, load_config, model_card, split


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


def test_threshold_is_tuned_on_other_validation_notes_than_those_measured():
    config = load_config(None)
    notes = [f"n{i}" for i in range(11)]
    tune, measure = _tuning_split(notes, config, seed=0)  # type: ignore[arg-type]
    assert set(tune).isdisjoint(measure)
    assert sorted(tune + measure) == sorted(notes)
    assert len(tune) == 5
    with pytest.raises(InputError, match="at least 2"):
        _tuning_split(notes[:1], config, seed=0)  # type: ignore[arg-type]


def test_model_card_says_which_notes_its_metrics_are_measured_on():
    model = Model(
        None,
        None,
        None,
        0.3,
        meta={
            "validation_notes": 150,
            "tuning_notes": 75,  # type: ignore[arg-type]
            "metrics_notes": 75,
        },
    )
    card = model_card(model)
    assert "tuned for micro F1 on 75 of the validation notes" in card
    assert "Measured on the other 75 validation notes, not those the threshold was tuned on" in card


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
