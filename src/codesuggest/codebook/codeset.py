"""``CodeSet``: one code system's records, hierarchy, specificity and search."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from codesuggest.codebook.search import SearchIndex
from codesuggest.core.codes import looks_like_cpt, looks_like_icd, normalize_icd
from codesuggest.core.errors import InputError, UnknownCodeError
from codesuggest.core.records import ICD10CM, CodeSetVersion

NOTE_FIELDS = (
    "inclusion_terms",
    "includes",
    "excludes1",
    "excludes2",
    "code_first",
    "use_additional_code",
    "code_also",
    "notes",
)


KINDS = ("chapter", "section", "category", "subcategory", "extended subcategory", "procedure")


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """Everything the tool knows about one code.

    ``billable`` is true for leaves (ICD-10-CM) and for every procedure code. For a code that
    needs a 7th character, ``requires_7th`` is true and ``seventh_characters`` lists the options.
    """

    code: str
    system: str
    description: str
    billable: bool
    kind: str
    parent: str | None = None
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    requires_7th: bool = False
    seventh_characters: dict[str, str] = field(default_factory=dict)
    category: str = ""
    addon: bool = False
    primary_codes: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    def note(self, name: str) -> tuple[str, ...]:
        """One of ``NOTE_FIELDS`` as declared on this code itself (not inherited)."""
        return self.notes.get(name, ())

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "billable": self.billable,
            "kind": self.kind,
            "parent": self.parent,
        }
        if self.system == ICD10CM:
            d["notes"] = {k: list(v) for k, v in self.notes.items()}
            d["requires_7th"] = self.requires_7th
            if self.seventh_characters:
                d["seventh_characters"] = dict(self.seventh_characters)
        else:
            d.update(
                category=self.category,
                addon=self.addon,
                primary_codes=list(self.primary_codes),
            )
        return d


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A code found by ``search``; ``matched`` is the description or term that matched."""

    code: str
    system: str
    description: str
    billable: bool
    score: float
    matched: str

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "billable": self.billable,
            "score": round(self.score, 4),
            "matched": self.matched,
        }


class CodeSet:
    """One code system: records, hierarchy and fuzzy search."""

    def __init__(
        self,
        version: CodeSetVersion,
        codes: list[str],
        records: Mapping[str, CodeInfo],
        index: SearchIndex,
    ) -> None:
        self.version = version
        self.codes = codes
        self._records = records
        self.index = index

    @property
    def name(self) -> str:
        return self.version.name

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.canonical(code) in self._records

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[CodeInfo]:
        return (self._records[c] for c in self.codes)

    def canonical(self, code: str) -> str:
        """The code as this set spells it (case, dot placement)."""
        return normalize_icd(code) if self.name == ICD10CM else code.strip().upper()

    def get(self, code: str) -> CodeInfo:
        """The record of ``code``; raises ``UnknownCodeError`` for a code not in the set."""
        c = self.canonical(code)
        try:
            return self._records[c]
        except KeyError:
            raise UnknownCodeError(code, self.name, self.version.version) from None

    def find(self, code: str) -> CodeInfo | None:
        """Like ``get`` but ``None`` for an unknown code."""
        return self._records.get(self.canonical(code))

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        pairs = (
            self._records.parent_pairs()
            if hasattr(self._records, "parent_pairs")
            else ((c, self._records[c].parent) for c in self.codes)
        )
        out: dict[str, list[str]] = {}
        for c, p in pairs:
            if p is not None:
                out.setdefault(p, []).append(c)
        return out

    def children(self, code: str) -> list[str]:
        return list(self._children.get(self.get(code).code, ()))

    def ancestors(self, code: str) -> list[str]:
        """Parents up to the chapter, nearest first."""
        out: list[str] = []
        p = self.get(code).parent
        while p is not None:
            out.append(p)
            p = self._records[p].parent
        return out

    def descendants(self, code: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.children(code)))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self._children.get(c, ())))
        return out

    def billable_descendants(self, code: str) -> list[str]:
        return [c for c in self.descendants(code) if self._records[c].billable]

    def inherited(self, code: str, name: str) -> list[tuple[str, str]]:
        """A note field from ``code`` and its ancestors, as ``(declared_on, text)`` pairs.

        Excludes, code-first and use-additional notes at a category apply to every code below it.
        """
        out: list[tuple[str, str]] = []
        for c in [self.get(code).code, *self.ancestors(code)]:
            out.extend((c, text) for text in self._records[c].note(name))
        return out

    def in_range(self, code: str, ref: str) -> bool:
        """Whether ``code`` falls under a reference such as ``E10``, ``O24.4`` or ``E00-E07``."""
        c = self.canonical(code).replace(".", "")
        if "-" in ref:
            lo, hi = (r.replace(".", "") for r in ref.split("-", 1))
            return lo <= c[: len(lo)] and c[: len(hi)] <= hi
        return c.startswith(ref.replace(".", ""))

    def search(
        self, query: str, *, limit: int = 10, billable_first: bool = True
    ) -> list[SearchResult]:
        """Fuzzy search over descriptions, inclusion terms and synonyms.

        A query that looks like a code lists that code and its descendants. Billable codes are
        ranked before headers that score about the same.
        """
        query = query.strip()
        if not query:
            raise InputError("The search query is empty: give a description or a code.")
        by_code = self._search_by_code(query, limit)
        if by_code:
            return by_code
        hits = self.index.search(query, limit=limit * 3)
        bonus_max = 0.05 if billable_first else 0.0
        # Hits come best first: one that even with the billable bonus stays below the
        # ``limit``-th raw score cannot reach the list, so its record is never read.
        floor = hits[limit - 1].score - bonus_max - 1e-6 if 0 < limit <= len(hits) else -1.0
        results = []
        for h in hits:
            if h.score < floor:
                break
            rec = self._records[self.codes[h.owner]]
            bonus = bonus_max if rec.billable else 0.0
            results.append(
                SearchResult(
                    code=rec.code,
                    system=rec.system,
                    description=rec.description,
                    billable=rec.billable,
                    score=min(1.0, h.score + bonus),
                    matched=self.index.texts[h.doc],
                )
            )
        results.sort(key=lambda r: (-round(r.score, 6), not r.billable, len(r.code), r.code))
        return results[:limit]

    def _search_by_code(self, query: str, limit: int) -> list[SearchResult]:
        q = query.replace(" ", "").upper()
        if not (looks_like_icd(q) or looks_like_cpt(q) or re.fullmatch(r"[0-9]{2,5}", q)):
            return []
        key = q.replace(".", "")
        exact = self.find(q)
        matches = [exact.code] if exact else []
        for c in self.codes:
            if c.replace(".", "").startswith(key) and c not in matches:
                matches.append(c)
                if len(matches) >= limit:
                    break
        out = []
        for c in matches:
            rec = self._records[c]
            score = 1.0 if exact and c == exact.code else 0.9
            out.append(SearchResult(c, rec.system, rec.description, rec.billable, score, c))
        return out
