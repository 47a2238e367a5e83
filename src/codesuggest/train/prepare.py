"""Labelled notes run through term extraction and candidate building.

Shared by training and evaluation, so both see the candidates users get.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codesuggest.core.records import Term
from codesuggest.train.corpus import LabelledNote


@dataclass(slots=True)
class Prepared:
    """A labelled note with its extracted terms (extraction is the slow step; done once)."""

    note: LabelledNote
    terms: list[Term]
    gold: list[str] = field(default_factory=list)


def prepare(
    notes: Sequence[LabelledNote],
    extractor: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[Prepared]:
    out = []
    for i, n in enumerate(notes):
        terms = extractor.extract(n.text).terms
        out.append(Prepared(n, terms, [c for _, c in n.codes]))
        if progress:
            progress(i + 1, len(notes))
    return out


def _gold_labels(prepared: Sequence[Prepared]) -> list[list[str]]:
    return [p.gold for p in prepared]
