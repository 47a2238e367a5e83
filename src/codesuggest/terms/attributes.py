"""Attributes that pick a specific code: laterality, acuity, severity, encounter, stage,
diabetes type, weeks of gestation and trimester.

``AttributeRules`` holds the expressions, built once from ``data/term_rules.json`` and the
dictionary's laterality shorthand; an ``AttributeReader`` reads them for the terms of one Doc.
"""

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spacy.tokens import Doc, Span

from codesuggest.terms.datafiles import term_rules
from codesuggest.terms.lexicon import dictionary_rows
from codesuggest.terms.normalise import fold
from codesuggest.terms.records import Match
from codesuggest.terms.sentences import sentence_of

# Tokens either side of a term searched for its side, acuity, severity and diabetes type; such
# words mostly come before the term ("acute on chronic systolic heart failure").
_BEFORE, _AFTER = 6, 3
# A stage or grade mostly follows its term ("CKD stage 3a", "pressure ulcer, stage 2").
_STAGE_BEFORE, _STAGE_AFTER = 3, 4
# Cheap tests that rule the words out before the acuity and severity expressions run.
_ACUITY_HINTS = ("acute", "chronic", "aoc")
_SEVERITY_HINTS = ("mild", "moderate", "severe")
# All-capital side shorthand this short ("OS", "LLL") is a side only in capitals: "os" is a bone.
_CASED_SHORTHAND = 3
# ICD-10-CM: the first trimester ends before 14 weeks 0 days, the second before 28 weeks 0 days.
_SECOND_TRIMESTER, _THIRD_TRIMESTER = 14, 28
_TRIMESTER_WORDS = {"f": "1", "1": "1", "s": "2", "2": "2", "t": "3", "3": "3"}  # "first", "1st"


@dataclass(frozen=True, slots=True)
class _Near:
    """The words around a term, within its sentence and short of its neighbours."""

    text: str
    low: str
    base: int  # where ``text`` starts in the Doc's text
    anchor: tuple[int, int]  # the term's own characters


@dataclass(slots=True)
class _Facts:
    """What one sentence, or the whole note, says about encounter, weeks and trimester."""

    encounter: list[tuple[int, int, int, str]]  # (start char, end char, rank, value)
    weeks: int | None
    trimester: str | None


def _alternation(words: Iterable[str]) -> str:
    parts = sorted({re.escape(w).replace(r"\ ", r"[\s-]+") for w in words}, key=len, reverse=True)
    return "|".join(parts)


# "Both" names the two sides only before the paired part it qualifies.
_BOTH_SIDES = (
    r"(?i:(?<![\w/])both(?=\s+(?:the\s+|of\s+(?:the|his|her|their)\s+)?(?:sides?|knees?|hips?|"
    r"ankles?|feet|foot|legs?|arms?|hands?|wrists?|elbows?|shoulders?|eyes?|ears?|breasts?|"
    r"lungs?|kidneys?|thighs?|calf|calves|heels?|toes?|fingers?|thumbs?|lower|upper|"
    r"extremities|ovaries|testes|testicles|feet|great)\b))"
)


class AttributeRules:
    """Regular expressions for the attributes that pick a specific code."""

    def __init__(self, rules: dict[str, Any], modifiers: list[dict[str, str]]) -> None:
        lat = {k: list(v) for k, v in rules["laterality"].items()}
        for row in modifiers:  # the dictionary's laterality shorthand (LLE, b/l, rt ...)
            exp = fold(row["expansion"])
            for value in ("bilateral", "left", "right"):
                if re.search(rf"\b{value}\b", exp):
                    lat[value].append(row["term"].strip())
                    break
        strict = set(rules["laterality_case_sensitive"])
        self.laterality: list[tuple[str, re.Pattern[str]]] = []
        for value in ("bilateral", "left", "right"):
            words = set(lat[value])
            loose = [
                w
                for w in words
                if w not in strict and not (len(w) <= _CASED_SHORTHAND and w.isupper())
            ]
            exact = [w for w in words if w not in loose]
            pats = []
            if "both" in loose:
                # "both knees" is bilateral; "pain on both flexion and extension" is not.
                loose.remove("both")
                pats.append(_BOTH_SIDES)
            if loose:
                pats.append(rf"(?i:(?<![\w/])(?:{_alternation(loose)})(?![\w/]))")
            if exact:
                pats.append(rf"(?<![\w/])(?:{_alternation(exact)})(?![\w/])")
            self.laterality.append((value, re.compile("|".join(pats))))
        self.lone_side = re.compile(r"(?<![\w./])([LR])(?=\s+[A-Za-z])(?![\w/])")
        self.acuity = self._table(rules["acuity"])
        self.severity = self._table(rules["severity"])
        self.displacement = self._table(rules["displacement"])
        self.encounter = self._table(rules["encounter"])
        self.diabetes = [
            (k, re.compile(rf"(?<![\w])(?:{_alternation(v)})(?![\w])", re.I))
            for k, v in rules["diabetes_type"].items()
        ]
        roman = r"(?:[1-5]|i{1,3}|iv|v)[ab]?"
        self.stage = re.compile(
            rf"\b(?:stage|stg|grade)\s*({roman})\b|\b(?:ckd|chronic kidney disease)\s*({roman})\b"
            r"|\b(unstageable)\b",
            re.I,
        )
        self.ckd_glued = re.compile(r"\bckd([1-5][ab]?)\b", re.I)
        self.weeks = re.compile(
            r"\b(\d{1,2})\s*w(?:ks?|eeks?)?\s*\+?\s*\d\s*d(?:ays?)?\b"
            r"|\b(\d{1,2})(?:\s*\+\s*\d)?\s*(?:weeks?|wks?)'?\s*(?:and\s+\d\s+days?\s+)?"
            r"(?:of\s+)?(?:gestation|gestational|pregnant|pregnancy|ega|ga\b|iup)"
            r"|\b(?:ega|ga|gestational age)\s*(?:of|:|=)?\s*(\d{1,2})\b",
            re.I,
        )
        self.trimester = re.compile(r"\b(first|1st|second|2nd|third|3rd)\s+trimester\b", re.I)
        # Cheap tests that rule a note or sentence out before the full expressions run.
        self.encounter_hint = re.compile(r"encounter|visit|sequel|late effect|healing|treatment")
        self.stage_hint = re.compile(r"(?i)stage|stg|grade|ckd|kidney disease|unstageable")
        self.weeks_hint = re.compile(r"\d\s*(?:w|\+)|\bega?\b|gestational age")

    def facts(self, span: Span) -> "_Facts":
        """What a sentence (or the note) says about encounter, weeks and trimester."""
        text, base = span.text, span.start_char
        low = text.lower()
        encounter = []
        if self.encounter_hint.search(low):
            for rank, (value, pat) in enumerate(self.encounter):
                encounter.extend(
                    (m.start() + base, m.end() + base, rank, value) for m in pat.finditer(text)
                )
        weeks = self.gestation(text) if self.weeks_hint.search(low) else None
        trimester = None
        if "trimester" in low:
            t = self.trimester.search(text)
            if t is not None:
                trimester = _TRIMESTER_WORDS[t.group(1)[0].lower()]
        return _Facts(encounter, weeks, trimester)

    def gestation(self, text: str) -> int | None:
        """Weeks of gestation written in ``text`` ("28w3d", "32 weeks gestation"), if any."""
        m = self.weeks.search(text)
        return int(next(g for g in m.groups() if g)) if m else None

    @staticmethod
    def _table(table: dict[str, list[str]]) -> list[tuple[str, re.Pattern[str]]]:
        return [
            (k, re.compile(rf"(?<![\w])(?:{_alternation(v)})(?![\w])", re.I))
            for k, v in table.items()
        ]

    @staticmethod
    def nearest(
        table: list[tuple[str, re.Pattern[str]]], text: str, anchor: tuple[int, int], base: int
    ) -> str | None:
        """The value whose words sit closest to the term (inside it counts as distance 0)."""
        best: tuple[int, int, str] | None = None
        for rank, (value, pat) in enumerate(table):
            for m in pat.finditer(text):
                cand = (_distance(m.start() + base, m.end() + base, anchor), rank, value)
                if best is None or cand < best:
                    best = cand
        return best[2] if best else None


def _roman_stage(raw: str) -> str:
    raw = raw.lower()
    suffix = raw[-1] if raw[-1] in "ab" and raw not in ("a", "b") else ""
    core = raw[:-1] if suffix else raw
    numeral = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5"}.get(core, core)
    return numeral + suffix


def trimester_of(weeks: int) -> str:
    """ICD-10-CM trimester: first before 14 weeks 0 days, second before 28 weeks 0 days."""
    return "1" if weeks < _SECOND_TRIMESTER else "2" if weeks < _THIRD_TRIMESTER else "3"


@functools.cache
def attribute_rules(dictionary: str | None) -> AttributeRules:
    """The attribute rules, with the laterality shorthand of ``dictionary`` (None: packaged)."""
    modifiers = [r for r in dictionary_rows(dictionary) if r["kind"].strip() == "modifier"]
    return AttributeRules(term_rules(), modifiers)


class AttributeReader:
    """Reads the attributes of the terms of one Doc.

    One reader per Doc: it remembers what each sentence, and the whole note, says about
    encounter, weeks and trimester, so a note with many terms reads each sentence once.
    """

    def __init__(self, rules: AttributeRules, doc: Doc, sentences: list[tuple[int, int]]) -> None:
        self.rules = rules
        self.doc = doc
        self.sentences = sentences
        self._by_sentence: dict[int, _Facts] = {}  # keyed by the sentence's first token
        self._note: _Facts | None = None

    def read(self, span: Span, match: Match, free: tuple[int, int]) -> dict[str, str]:
        """The attributes of one term, from the words in and around it.

        ``free`` is the token range between the neighbouring terms: words past them belong to
        those terms. The match's own attributes (how an abbreviation was read) come first.
        """
        s_start, s_end = sentence_of(self.sentences, span.start)
        lo, hi = max(s_start, free[0]), min(s_end, free[1])
        words = self.doc[max(lo, span.start - _BEFORE) : min(hi, span.end + _AFTER)]
        near = _Near(
            words.text, words.text.lower(), words.start_char, (span.start_char, span.end_char)
        )
        facts = self._sentence_facts(s_start, s_end)
        weeks = self._weeks(facts, match, span)
        side = self._laterality(near)
        if side is None and _is_injury(match):
            # An injury's side may sit further off in its own statement ("displaced fracture
            # of the base of the second metatarsal, left foot"): any side of the words between
            # the neighbouring terms, when they name one side only.
            clause = self.doc[lo:hi].text
            sides = {value for value, pat in self.rules.laterality if pat.search(clause)}
            side = sides.pop() if len(sides) == 1 else None
        found = (
            ("laterality", side),
            ("acuity", self._qualifier(self.rules.acuity, _ACUITY_HINTS, near)),
            ("severity", self._qualifier(self.rules.severity, _SEVERITY_HINTS, near)),
            ("displacement", self._qualifier(self.rules.displacement, ("displac",), near)),
            ("encounter", self._encounter(facts, match, near.anchor)),
            ("stage", self._stage(span, lo, hi)),
            ("diabetes_type", self._diabetes_type(span, match, near.text)),
            ("weeks", None if weeks is None else str(weeks)),
            ("trimester", facts.trimester or (None if weeks is None else trimester_of(weeks))),
        )
        out = dict(match.attributes)
        out.update((key, value) for key, value in found if value)
        return out

    def _laterality(self, near: _Near) -> str | None:
        """A side word nearest the term, else a lone "L" or "R" before a word ("L knee")."""
        a = self.rules
        side = a.nearest(a.laterality, near.text, near.anchor, near.base)
        if side is None:
            lone = list(a.lone_side.finditer(near.text))
            if lone:
                side = "left" if lone[-1].group(1) == "L" else "right"
        return side

    @staticmethod
    def _qualifier(
        table: list[tuple[str, re.Pattern[str]]], hints: tuple[str, ...], near: _Near
    ) -> str | None:
        """The value of ``table`` nearest the term; ``hints`` skip words that hold none."""
        if not any(h in near.low for h in hints):
            return None
        return AttributeRules.nearest(table, near.text, near.anchor, near.base)

    def _encounter(self, facts: _Facts, match: Match, anchor: tuple[int, int]) -> str | None:
        """The encounter in the term's sentence; for an injury, anywhere in the note."""
        encounter = _nearest_hit(facts.encounter, anchor)
        if encounter is None and _is_injury(match):
            encounter = _nearest_hit(self._note_facts().encounter, anchor)
        return encounter

    def _stage(self, span: Span, lo: int, hi: int) -> str | None:
        """A stage or grade just around the term ("CKD stage 3a", "stage II"), or "ckd3"."""
        a = self.rules
        window = self.doc[
            max(lo, span.start - _STAGE_BEFORE) : min(hi, span.end + _STAGE_AFTER)
        ].text
        if not a.stage_hint.search(window):
            return None
        m = a.stage.search(window) or a.ckd_glued.search(span.text)
        return _roman_stage(next(g for g in m.groups() if g)) if m else None

    def _diabetes_type(self, span: Span, match: Match, near: str) -> str | None:
        """For a diabetes term, its type from its own words, its expansion or the words near."""
        if not _is_diabetes(match, span):
            return None
        words = f"{span.text} {match.expansion} {match.entry.text}"
        for value, pat in self.rules.diabetes:
            if pat.search(words) or pat.search(near):
                return value
        return None

    def _weeks(self, facts: _Facts, match: Match, span: Span) -> int | None:
        """Weeks of gestation in the sentence; for a pregnancy term, anywhere in the note."""
        if facts.weeks is None and _is_pregnancy(match, span):
            return self._note_facts().weeks
        return facts.weeks

    def _sentence_facts(self, start: int, end: int) -> _Facts:
        facts = self._by_sentence.get(start)
        if facts is None:
            facts = self._by_sentence[start] = self.rules.facts(self.doc[start:end])
        return facts

    def _note_facts(self) -> _Facts:
        if self._note is None:
            self._note = self.rules.facts(self.doc[:])
        return self._note


def _distance(start: int, end: int, anchor: tuple[int, int]) -> int:
    """Characters between ``start:end`` and the term at ``anchor``; 0 when they overlap."""
    if start < anchor[1] and end > anchor[0]:
        return 0
    return min(abs(start - anchor[1]), abs(anchor[0] - end))


def _nearest_hit(hits: list[tuple[int, int, int, str]], anchor: tuple[int, int]) -> str | None:
    best: tuple[int, int, str] | None = None
    for s, e, rank, value in hits:
        cand = (_distance(s, e, anchor), rank, value)
        if best is None or cand < best:
            best = cand
    return best[2] if best else None


def _is_injury(match: Match) -> bool:
    return match.label == "injury" or any(c[:1] in "ST" for c in match.codes)


def _is_diabetes(match: Match, span: Span) -> bool:
    if any(c[:3] in ("E08", "E09", "E10", "E11", "E13", "O24") for c in match.codes):
        return True
    return "diabet" in fold(span.text) or "diabet" in fold(match.expansion)


def _is_pregnancy(match: Match, span: Span) -> bool:
    if any(c[:1] == "O" or c[:3] in ("Z3A", "Z33", "Z34") for c in match.codes):
        return True
    low = fold(span.text)
    return "pregnan" in low or "gestation" in low or "prenatal" in low
