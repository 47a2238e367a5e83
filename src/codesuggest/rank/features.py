"""The ranker's feature names, the feature matrix and description-overlap features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codesuggest.codebook.codeset import CodeSet
from codesuggest.core.records import ASSESSMENT_SECTIONS, Candidate
from codesuggest.core.text import tokens

# Sections whose diagnoses a coder trusts most; ROS and family history are not diagnoses.
PRIORITY_SECTIONS = ASSESSMENT_SECTIONS


FEATURES: tuple[str, ...] = (
    "lookup_score",
    "lookup_exact",
    "mentions",
    "present_mentions",
    "priority_section",
    "first_position",
    "from_dictionary",
    "from_codeset",
    "classifier",
    "knn",
    "prior",
    "category_prior",
    "seen_in_training",
    "description_overlap",
    "specificity",
    "billable",
    "specified_by_attributes",
    "uncertain_only",
    "symptom_code",
    "procedure",
    "is_doc_only",
    "lookup_hit_rate",
    "lookup_seen",
    "association",
    "historical_only",
    "doc_rank",
)


def _note_token_set(text: str) -> set[str]:
    return set(tokens(text))


def description_weights(icd_or_cpt: CodeSet, code: str) -> dict[str, float]:
    """A code's description words with their search weights (IDF; 1 for unindexed words)."""
    rec = icd_or_cpt.find(code)
    if rec is None:
        return {}
    out = {}
    for w in set(tokens(rec.description)):
        weight = icd_or_cpt.index.weight(w)
        out[w] = 1.0 if weight is None else weight
    return out


def description_overlap(icd_or_cpt: CodeSet, code: str, note_tokens: set[str]) -> float:
    """How much of a code's description (IDF-weighted) appears anywhere in the note."""
    return _weighted_share(description_weights(icd_or_cpt, code), note_tokens)


def _weighted_share(weights: dict[str, float], present: set[str]) -> float:
    total = found = 0.0
    for w, weight in weights.items():
        total += weight
        if w in present:
            found += weight
    return found / total if total else 0.0


def feature_matrix(candidates: Sequence[Candidate]) -> np.ndarray:
    """Rows of ``FEATURES`` for the ranker, in candidate order."""
    return np.array(
        [[c.features.get(name, 0.0) for name in FEATURES] for c in candidates], dtype=np.float64
    ).reshape(len(candidates), len(FEATURES))
