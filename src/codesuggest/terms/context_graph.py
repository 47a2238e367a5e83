"""medspaCy's ConText, with a graph that skips the pairs that cannot interact.

medspaCy's ``ConTextGraph`` checks every modifier against every other modifier and every
target in the Doc: a 20,000-character chunk with 2,000 negations ("no fever, no cough, ...")
is four million checks, twice, and made a note of them take 25 s per 100,000 characters. A
modifier only acts on what its scope touches, and scopes only shrink, so a pair whose scopes
(or scope and target) are apart at the start is never acted on. ``_SparseGraph`` visits only
the other pairs, in the order medspaCy does, and calls medspaCy's own ``limit_scope`` and
``modifies`` on them: the edges are the same, found in time that grows with the Doc.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from codesuggest.terms.assertion import import_medspacy

import_medspacy()

from medspacy.context import ConText  # noqa: E402 - after medspaCy's import is tamed
from medspacy.context.context_graph import ConTextGraph  # noqa: E402
from medspacy.context.context_modifier import ConTextModifier  # noqa: E402


def _touching(spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[int], int]:
    """Indices of ``spans`` by start, their starts, and the longest span's length."""
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    longest = max((e - s for s, e in spans), default=0)
    return order, [spans[i][0] for i in order], longest


def _near(order: list[int], starts: list[int], longest: int, start: int, end: int) -> list[int]:
    """Indices (ascending) of the spans that may touch ``start:end``: a superset of those
    ``tuple_overlaps`` can find overlapping, in either order of its arguments."""
    lo = bisect.bisect_left(starts, start - longest)
    hi = bisect.bisect_right(starts, end)
    return sorted(order[lo:hi])


class _SparseGraph(ConTextGraph):
    def update_scopes(self) -> None:
        mods = self.modifiers
        order, starts, longest = _touching([m.scope_span for m in mods])
        scopes = [m.scope_span for m in mods]
        for i, first in enumerate(mods):
            for j in _near(order, starts, longest, *scopes[i]):
                if j > i:
                    first.limit_scope(mods[j])
                    mods[j].limit_scope(first)

    def apply_modifiers(self) -> None:
        if self.prune_on_modifier_overlap:
            super().apply_modifiers()
            return
        mods = self.modifiers
        order, starts, longest = _touching([m.scope_span for m in mods])
        for target in self.targets:
            for i in _near(order, starts, longest, target.start, target.end):
                if mods[i].modifies(target):
                    mods[i].modify(target)
        edges = []
        for modifier in mods:
            modifier.reduce_targets()
            edges.extend((target, modifier) for target in modifier._targets)
        self.edges = edges


class SparseConText(ConText):
    """medspaCy's ConText component, running ``_SparseGraph``."""

    def __call__(self, doc: Doc, targets: Any = None) -> Doc:
        if not targets and self.input_span_type == "ents":
            targets = doc.ents
        elif not targets and self.input_span_type == "group":
            targets = doc.spans[self.span_group_name]
        elif targets:
            targets = getattr(doc._, targets)
        graph = _SparseGraph(prune_on_modifier_overlap=self.prune_on_target_overlap)
        graph.targets = targets
        matcher = self._ConText__matcher  # medspaCy keeps its matcher private
        graph.modifiers = [
            ConTextModifier(
                matcher.rule_map[self.nlp.vocab[match_id].text],
                start,
                end,
                doc,
                max_scope=self.max_scope,
            )
            for match_id, start, end in matcher(doc)
        ]
        graph.update_scopes()
        graph.apply_modifiers()
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        if self.context_attributes_mapping:
            self.set_context_attributes(graph.edges)
        doc._.context_graph = graph
        return doc


Language.factory("codesuggest_context")(SparseConText)
