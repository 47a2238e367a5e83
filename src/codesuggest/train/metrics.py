"""Ranking and selection metrics for code suggestion, in three matching modes.

- ``exact``: same code after normalisation (case, dot, trailing placeholder ``X``).
- ``prefix``: one code is a prefix of the other (a gold ``R51`` header, subdivided since 2018,
  is matched by ``R51.9``; a gold ``S02.0`` without its 7th character by ``S02.0XXA``).
- ``category``: same three-character category.

MAP is the CodiEsp shared-task metric: the mean over documents of average precision, where a
document's AP sums precision@k at each rank k holding a correct code and divides by the number
of gold codes. Each gold code can be matched once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codesuggest.core.codes import _norm, matcher


def _hits(
    ranked: Sequence[str], gold: Sequence[str], match: Callable[[str, str], bool]
) -> list[bool]:
    """Whether each ranked code matches a gold code not already matched."""
    free = list(dict.fromkeys(gold))
    out = []
    for p in ranked:
        j = next((i for i, g in enumerate(free) if match(p, g)), None)
        if j is None:
            out.append(False)
        else:
            free.pop(j)
            out.append(True)
    return out


def _dedupe(ranked: Sequence[str], mode: str) -> list[str]:
    if mode != "category":
        return list(dict.fromkeys(ranked))
    seen: set[str] = set()
    out = []
    for c in ranked:
        k = _norm(c)[:3]
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def average_precision(ranked: Sequence[str], gold: Sequence[str], mode: str = "exact") -> float:
    gold_u = _dedupe(gold, mode)
    if not gold_u:
        return 0.0
    hits = _hits(_dedupe(ranked, mode), gold_u, matcher(mode))
    total, found = 0.0, 0
    for k, hit in enumerate(hits, start=1):
        if hit:
            found += 1
            total += found / k
    return total / len(gold_u)


@dataclass(slots=True)
class Scores:
    """Aggregated metrics for one matching mode."""

    mode: str
    map: float = 0.0
    p_at_5: float = 0.0
    p_at_10: float = 0.0
    r_at_10: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    docs: int = 0
    per_chapter: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "mode": self.mode,
            "docs": self.docs,
            "MAP": round(self.map, 4),
            "P@5": round(self.p_at_5, 4),
            "P@10": round(self.p_at_10, 4),
            "R@10": round(self.r_at_10, 4),
            "selected_P": round(self.precision, 4),
            "selected_R": round(self.recall, 4),
            "selected_F1": round(self.f1, 4),
        }
        if self.per_chapter:
            d["per_chapter"] = self.per_chapter
        return d


def score(
    ranked: Sequence[Sequence[str]],
    selected: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    mode: str = "exact",
) -> Scores:
    """Metrics over documents: ``ranked`` codes per document, the ``selected`` subset, ``gold``."""
    if not (len(ranked) == len(selected) == len(gold)):
        raise ValueError("ranked, selected and gold must hold one entry per document")
    m = matcher(mode)
    s = Scores(mode=mode, docs=len(gold))
    tp = fp = fn = 0
    chapter_counts: dict[str, list[int]] = {}
    for r, sel, g in zip(ranked, selected, gold, strict=True):
        r_u, g_u = _dedupe(r, mode), _dedupe(g, mode)
        s.map += average_precision(r_u, g_u, mode)
        hits = _hits(r_u, g_u, m)
        s.p_at_5 += sum(hits[:5]) / 5
        s.p_at_10 += sum(hits[:10]) / 10
        s.r_at_10 += (sum(hits[:10]) / len(g_u)) if g_u else 0.0
        sel_u = _dedupe(sel, mode)
        sel_hits = _hits(sel_u, g_u, m)
        tp += sum(sel_hits)
        fp += len(sel_hits) - sum(sel_hits)
        fn += len(g_u) - sum(sel_hits)
        for code in g_u:
            ch = _norm(code)[:1]
            c = chapter_counts.setdefault(ch, [0, 0])
            c[1] += 1
        free = list(sel_u)
        for code in g_u:
            j = next((i for i, p in enumerate(free) if m(p, code)), None)
            if j is not None:
                free.pop(j)
                chapter_counts[_norm(code)[:1]][0] += 1
    n = max(1, len(gold))
    s.map /= n
    s.p_at_5 /= n
    s.p_at_10 /= n
    s.r_at_10 /= n
    s.precision = tp / (tp + fp) if tp + fp else 0.0
    s.recall = tp / (tp + fn) if tp + fn else 0.0
    s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall) if tp else 0.0
    s.per_chapter = {
        ch: {"gold": float(total), "selected_recall": round(found / total, 4)}
        for ch, (found, total) in sorted(chapter_counts.items())
    }
    return s
