"""Evaluation of a model on labelled notes, threshold tuning and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve

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
    """Mean predicted score vs observed precision per score bin (scikit-learn's
    ``calibration_curve``, uniform bins: [0, 0.2], (0.2, 0.4], ...); empty bins are left out."""
    m = metrics.matcher(match)
    scores, hits = [], []
    for r, sc, g in zip(ev.ranked, ev.scores, ev.gold, strict=True):
        for c, s in zip(r, sc, strict=True):
            scores.append(s)
            hits.append(int(any(m(c, x) for x in g)))
    if not scores:
        return []
    precision, mean_score = calibration_curve(hits, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # The bin of each score as calibration_curve assigns it, for the labels and counts it
    # does not return.
    counts = np.bincount(np.searchsorted(edges[1:-1], scores), minlength=bins)
    filled = [i for i in range(bins) if counts[i]]
    return [
        {
            "bin": f"{edges[i]:.1f}-{edges[i + 1]:.1f}",
            "n": int(counts[i]),
            "mean_score": round(float(mean), 3),
            "precision": round(float(p), 3),
        }
        for i, mean, p in zip(filled, mean_score, precision, strict=True)
    ]
