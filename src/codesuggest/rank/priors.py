"""``Priors``: what coders did with each term in the training notes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from codesuggest.codebook.codeset import CodeSet
from codesuggest.codebook.hierarchy import specify
from codesuggest.core.codes import code_prefixes, matcher
from codesuggest.core.records import ICD10CM, Term
from codesuggest.core.text import tokens


def term_key(term: Term) -> str:
    """A term's wording reduced to search tokens, so "Hypertensions" and "hypertension" meet."""
    return " ".join(tokens(term.expansion or term.text))


def best_share(shares: dict[str, float], code: str) -> float:
    """``code``'s share in ``shares``, or that of the shorter code the labels used (R51)."""
    return max((shares.get(p, 0.0) for p in code_prefixes(code)), default=0.0)


# Assertions whose terms a coder may code (uncertain only in the inpatient setting).
_CODABLE = frozenset({"present", "historical", "uncertain"})


# An association is kept when it was seen in at least this many training notes.
_MIN_ASSOCIATION_NOTES = 2


@dataclass(slots=True)
class Priors:
    """What the training labels say about codes and terms, for the prior features.

    - ``code_counts`` / ``category_counts``: in how many notes each code / category was coded.
    - ``lookup_seen`` / ``lookup_hits``: in how many notes a term's lookup proposed a code, and
      in how many of those a coder actually assigned it (its lookup precision).
    - ``term_notes`` / ``term_codes``: in how many notes a term (by ``term_key``) was written,
      and how often each code was assigned alongside it, which teaches the wording the
      vocabulary does not link to a code ("80 g of alcohol a day" -> F10.10).
    """

    code_counts: dict[str, int] = field(default_factory=dict)
    category_counts: dict[str, int] = field(default_factory=dict)
    n_notes: int = 1
    lookup_seen: dict[str, int] = field(default_factory=dict)
    lookup_hits: dict[str, int] = field(default_factory=dict)
    term_notes: dict[str, int] = field(default_factory=dict)
    term_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    _overall_hit_rate: float | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_labels(cls, labels: Iterable[Sequence[str]]) -> Priors:
        codes: dict[str, int] = {}
        cats: dict[str, int] = {}
        n = 0
        for doc in labels:
            n += 1
            for c in set(doc):
                codes[c] = codes.get(c, 0) + 1
            for cat in {c[:3] for c in doc}:
                cats[cat] = cats.get(cat, 0) + 1
        return cls(codes, cats, max(n, 1))

    @classmethod
    def from_notes(
        cls, notes: Iterable[tuple[Sequence[Term], Sequence[str]]], icd: CodeSet
    ) -> Priors:
        """Priors from ``(terms, gold codes)`` per training note."""
        notes = list(notes)
        priors = cls.from_labels(gold for _, gold in notes)
        seen: dict[str, int] = {}
        hits: dict[str, int] = {}
        term_notes: dict[str, int] = {}
        pairs: dict[str, dict[str, int]] = {}
        right = matcher("prefix")
        for terms, gold in notes:
            proposed: set[str] = set()
            keys: set[str] = set()
            for term in terms:
                if term.assertion not in _CODABLE:
                    continue
                if term.codes and term.system == ICD10CM:
                    proposed.add(specify(icd, term.codes[0], term.attributes).code)
                key = term_key(term)
                if key:
                    keys.add(key)
            for code in proposed:
                seen[code] = seen.get(code, 0) + 1
                if any(right(code, g) for g in gold):
                    hits[code] = hits.get(code, 0) + 1
            for key in keys:
                term_notes[key] = term_notes.get(key, 0) + 1
                row = pairs.setdefault(key, {})
                for g in set(gold):
                    row[g] = row.get(g, 0) + 1
        priors.lookup_seen = dict(sorted(seen.items()))
        priors.lookup_hits = dict(sorted(hits.items()))
        kept = {
            key: dict(sorted((g, n) for g, n in row.items() if n >= _MIN_ASSOCIATION_NOTES))
            for key, row in sorted(pairs.items())
        }
        priors.term_codes = {k: v for k, v in kept.items() if v}
        priors.term_notes = {k: term_notes[k] for k in priors.term_codes}
        return priors

    def code(self, c: str) -> float:
        return math.log1p(self.code_counts.get(c, 0)) / math.log1p(self.n_notes)

    def category(self, c: str) -> float:
        return math.log1p(self.category_counts.get(c[:3], 0)) / math.log1p(self.n_notes)

    def lookup_rate(self, c: str) -> tuple[float, float]:
        """(smoothed share of notes where a lookup of ``c`` was right, log notes seen)."""
        seen = self.lookup_seen.get(c, 0)
        if not self.lookup_seen:
            return 0.0, 0.0
        overall = self._overall_hit_rate
        if overall is None:
            overall = sum(self.lookup_hits.values()) / max(1, sum(self.lookup_seen.values()))
            self._overall_hit_rate = overall
        rate = (self.lookup_hits.get(c, 0) + 2 * overall) / (seen + 2)
        return rate, math.log1p(seen) / math.log1p(self.n_notes)

    def note_associations(self, keys: Iterable[str]) -> dict[str, float]:
        """Codes assigned alongside any of the terms ``keys``, each with its best share: the
        part of a term's training notes (plus one, so that one note is not certainty) in
        which coders assigned the code."""
        best: dict[str, float] = {}
        for key in keys:
            row = self.term_codes.get(key)
            if not row:
                continue
            n = self.term_notes.get(key, 0) + 1
            for code, count in row.items():
                share = count / n
                if share > best.get(code, 0.0):
                    best[code] = share
        return best

    def associations(self, key: str) -> list[tuple[str, float]]:
        """Codes assigned alongside a term, strongest first."""
        shares = self.note_associations([key])
        return sorted(shares.items(), key=lambda gc: (-gc[1], gc[0]))

    def association(self, key: str, code: str) -> float:
        """How strongly a term goes with ``code`` (or the shorter code it was labelled as)."""
        return best_share(self.note_associations([key]), code)

    def to_dict(self) -> dict[str, object]:
        return {
            "codes": self.code_counts,
            "categories": self.category_counts,
            "n": self.n_notes,
            "lookup_seen": self.lookup_seen,
            "lookup_hits": self.lookup_hits,
            "term_notes": self.term_notes,
            "term_codes": self.term_codes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Priors:
        return cls(
            dict(d["codes"]),  # type: ignore[arg-type]
            dict(d["categories"]),  # type: ignore[arg-type]
            int(d["n"]),  # type: ignore[arg-type]
            dict(d.get("lookup_seen", {})),  # type: ignore[arg-type]
            dict(d.get("lookup_hits", {})),  # type: ignore[arg-type]
            dict(d.get("term_notes", {})),  # type: ignore[arg-type]
            {k: dict(v) for k, v in dict(d.get("term_codes", {})).items()},  # type: ignore[arg-type]
        )
