"""Evaluation of a model on labelled notes, threshold tuning and calibration."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codesuggest.codebook.book import Codebook
from codesuggest.codebook.index import load_index
from codesuggest.core.codes import MODES, looks_like_cpt
from codesuggest.core.context import PatientContext
from codesuggest.core.errors import InputError
from codesuggest.core.records import CPT, HCPCS, ICD10CM, SETTINGS
from codesuggest.pipeline import Suggester
from codesuggest.rank.model import Model
from codesuggest.train import metrics
from codesuggest.train.prepare import Prepared, _gold_labels


@dataclass(slots=True)
class Evaluation:
    """Ranked and scored codes per note, and the metrics in every matching mode."""

    ranked: list[list[str]]
    scores: list[list[float]]
    gold: list[list[str]]
    results: dict[str, metrics.Scores] = field(default_factory=dict)
    calibration: list[dict[str, float]] = field(default_factory=list)

    def select(self, threshold: float) -> list[list[str]]:
        return [
            [c for c, s in zip(r, sc, strict=True) if s >= threshold]
            for r, sc in zip(self.ranked, self.scores, strict=True)
        ]


def _setting(config: dict[str, dict[str, Any]]) -> str:
    """The care setting whose coding rules the training notes follow (uncertain diagnoses)."""
    setting = str(config["training"].get("setting", "outpatient"))
    if setting not in SETTINGS:
        raise InputError(f"training.setting must be one of {SETTINGS}, not {setting!r}.")
    return setting


def predict(
    model: Model,
    prepared: Sequence[Prepared],
    codebook: Codebook,
    *,
    setting: str = "outpatient",
    systems: frozenset[str] | None = None,
) -> tuple[list[list[str]], list[list[float]], list[list[str]]]:
    """Ranked codes, their scores and the pre-selected codes per note, through the serving
    path (``Suggester.score_terms``) so that evaluation measures what users get.

    ``systems``: keep only codes of these code systems (a corpus labelled with ICD-10-CM
    alone, as CodiEsp, says nothing of the CPT lines; None keeps every line)."""
    suggester = Suggester(model, codebook, None, load_index())
    patient = PatientContext(setting=setting)
    ranked, scores, chosen = [], [], []
    for p in prepared:
        suggestions, _ = suggester.score_terms(p.note.text, p.terms, [], patient)
        if systems is not None:
            suggestions = [s for s in suggestions if s.system in systems]
        ranked.append([s.code for s in suggestions])
        scores.append([s.score for s in suggestions])
        chosen.append([s.code for s in suggestions if s.selected])
    return ranked, scores, chosen


def evaluate(
    model: Model,
    prepared: Sequence[Prepared],
    codebook: Codebook,
    *,
    setting: str = "outpatient",
) -> Evaluation:
    """Score ``prepared`` notes coded as in ``setting`` (``inpatient`` codes uncertain
    diagnoses as established, ``outpatient`` their symptoms)."""
    gold = _gold_labels(prepared)
    systems = labelled_systems(gold)
    ranked, scores, selected = predict(model, prepared, codebook, setting=setting, systems=systems)
    ev = Evaluation(ranked, scores, gold)
    for mode in MODES:
        ev.results[mode] = metrics.score(ranked, selected, ev.gold, mode)
    ev.calibration = calibration_table(ev, "prefix")
    return ev


def labelled_systems(gold: Sequence[Sequence[str]]) -> frozenset[str]:
    """The code systems a labelled corpus codes: ICD-10-CM always, procedures when any note
    has a CPT / HCPCS label (their absence then means 'not reported', not 'not labelled')."""
    codes = [c for g in gold for c in g]
    if any(looks_like_cpt(c) for c in codes):
        return frozenset({ICD10CM, CPT, HCPCS})
    return frozenset({ICD10CM})


def tune_threshold(ev: Evaluation, match: str) -> float:
    """The score threshold that maximises micro F1 of selected codes."""
    best_t, best_f1 = 0.5, -1.0
    for t in np.round(np.arange(0.05, 0.95, 0.025), 3):
        f1 = metrics.score(ev.ranked, ev.select(float(t)), ev.gold, match).f1
        if f1 > best_f1 + 1e-9:
            best_t, best_f1 = float(t), f1
    return best_t


def calibration_table(ev: Evaluation, match: str, bins: int = 5) -> list[dict[str, float]]:
    """Mean predicted score vs observed precision per score bin."""
    m = metrics.matcher(match)
    pairs = []
    for r, sc, g in zip(ev.ranked, ev.scores, ev.gold, strict=True):
        for c, s in zip(r, sc, strict=True):
            pairs.append((s, int(any(m(c, x) for x in g))))
    table = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = [(s, y) for s, y in pairs if lo <= s < hi or (hi == 1 and s == 1)]
        if inside:
            table.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": len(inside),
                    "mean_score": round(float(np.mean([s for s, _ in inside])), 3),
                    "precision": round(float(np.mean([y for _, y in inside])), 3),
                }
            )
    return table
