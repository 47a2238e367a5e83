"""Drugs given in the office: the HCPCS drug code and its units from the documented dose.

A sentence that says a drug was given today ("Injected 40 mg triamcinolone acetonide...") and
names a drug of the HCPCS table (by its generic name, or a brand in ``data/office_drugs.json``)
with a dose becomes a line: the drug's code, chosen among the codes of that drug by the words
of their descriptions the note documents (the not-otherwise-specified code when nothing tells
them apart), and as many units as the dose holds of the code's unit, read from the CMS
description (J3301 is 10 mg a unit, so 40 mg is 4 units). A dose the note does not give, a
drug ordered, prescribed or refused, and a local anaesthetic mixed into an injection give no
line.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from codesuggest.codebook.hcpcs import DrugCode, drug_codes, units_of
from codesuggest.core.records import Evidence, Section

RULES_FILE = "office_drugs.json"
# Sentence ends: a full stop that is not a decimal point, or a blank line.
_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?=\s|$)|\n\s*\n")
_DOSE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mg|milligrams?|mcg|micrograms?|g|grams?|ml|mls|cc|units?)\b(?!\s*%)",
    re.I,
)
_TO_CODE_UNIT = {
    ("mg", "mg"): 1.0,
    ("mcg", "mcg"): 1.0,
    ("mg", "mcg"): 1000.0,
    ("mcg", "mg"): 0.001,
    ("g", "mg"): 1000.0,
    ("units", "units"): 1.0,
    ("ml", "ml"): 1.0,
}
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Words of a description that tell two codes of one drug apart only when the note says them.
_FILLER = frozenset({"and", "or", "of", "for", "the", "with", "per", "up", "to", "hcl"})


@dataclass(frozen=True, slots=True)
class DrugLine:
    """A drug given at this visit: its HCPCS code, units and why."""

    code: str
    units: int
    evidence: Evidence
    why: str


@functools.cache
def rules() -> dict:
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _cue(name: str) -> re.Pattern[str]:
    words = sorted(rules()[name], key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(map(re.escape, words)) + ")", re.I)


@functools.cache
def _by_first_word() -> dict[str, tuple[DrugCode, ...]]:
    index: dict[str, list[DrugCode]] = {}
    for drug in drug_codes():
        words = _WORD.findall(drug.name)
        if words:
            index.setdefault(words[0], []).append(drug)
    return {k: tuple(v) for k, v in index.items()}


def _unit(word: str) -> str:
    w = word.lower()
    if w.startswith(("mg", "milligram")):
        return "mg"
    if w.startswith(("mcg", "microgram")):
        return "mcg"
    if w.startswith(("ml", "cc")):
        return "ml"
    if w.startswith("g"):
        return "g"
    return "units"


def sentences(note: str, sections: list[Section]) -> Iterator[tuple[int, str, str]]:
    """``(start, text, section)`` of each sentence; a line break does not end one."""
    start = 0
    for m in [*_SENTENCE_END.finditer(note), None]:
        end = m.end() if m else len(note)
        text = note[start:end]
        if text.strip():
            lead = len(text) - len(text.lstrip())
            section = next((s.name for s in sections if s.start <= start + lead < s.end), "")
            yield start + lead, text.strip(), section
        start = end


def _mentions(sentence: str) -> Iterator[tuple[int, int, str, str]]:
    """``(start, end, generic name or first word, brand)`` of each drug named in a sentence."""
    low = sentence.lower()
    brands = rules()["brands"]
    taken: list[tuple[int, int]] = []
    for brand in sorted(brands, key=len, reverse=True):
        for m in re.finditer(rf"(?<![a-z]){re.escape(brand)}(?![a-z])", low):
            if not any(a <= m.start() < b for a, b in taken):
                taken.append((m.start(), m.end()))
                yield m.start(), m.end(), brands[brand], brand
    index = _by_first_word()
    for m in _WORD.finditer(low):
        if m.group(0) in index and not any(a <= m.start() < b for a, b in taken):
            yield m.start(), m.end(), m.group(0), ""


def _choose(name: str, brand: str, sentence: str) -> DrugCode | None:
    """The drug code of a mention: the one whose description the sentence documents best."""
    words = set(_WORD.findall(sentence.lower()))
    if brand:
        words |= set(_WORD.findall(name))
    first = _WORD.findall(name)[0]

    def fit(drug: DrugCode) -> tuple[float, bool, str]:
        named = [w for w in _WORD.findall(drug.name) if w not in _FILLER]
        said = sum(w in words for w in named) / max(len(named), 1)
        extra = [w for q in drug.qualifiers for w in _WORD.findall(q) if w not in _FILLER]
        unsaid = sum(w not in words for w in extra)
        return (said - unsaid, drug.nos, drug.code)

    options = [d for d in _by_first_word().get(first, ()) if fit(d)[0] >= 0.5]
    if not options:
        return None
    return max(options, key=lambda d: (fit(d)[0], fit(d)[1], [-ord(c) for c in d.code]))


def _dose(sentence: str, at: int, drug: DrugCode, brand: str) -> tuple[float, str] | None:
    """The documented dose nearest the drug's name, in the code's unit, and as written."""
    options = []
    for m in _DOSE.finditer(sentence):
        amount, unit = float(m.group(1)), _unit(m.group(2))
        if unit == "ml" and drug.unit != "ml":
            strength = rules()["mg_per_ml"].get(brand)
            if strength is None:
                continue
            amount, unit = amount * strength, "mg"
        factor = _TO_CODE_UNIT.get((unit, drug.unit))
        if factor is None:
            continue
        options.append((abs(m.start() - at), amount * factor, m.group(0)))
    if not options:
        return None
    _, amount, written = min(options)
    return amount, written


def gave(sentence: str) -> str:
    """The words saying something was given today, or "" (also when planned or refused)."""
    said = _cue("given").search(sentence)
    return said[0] if said and not _cue("not_given").search(sentence) else ""


def given_drugs(note: str, sections: list[Section]) -> list[DrugLine]:
    """The HCPCS drug lines of the drugs the note documents as given at this visit."""
    lines: dict[str, DrugLine] = {}
    skip = tuple(rules()["not_separately_reported"])
    for start, sentence, section in sentences(note, sections):
        said = gave(sentence)
        if not said:
            continue
        for at, end, name, brand in _mentions(sentence):
            if name.startswith(skip):
                continue
            drug = _choose(name, brand, sentence)
            if drug is None:
                continue
            dose = _dose(sentence, at, drug, brand)
            if dose is None:
                continue
            amount, written = dose
            units = units_of(amount, drug)
            per = f"{drug.amount:g} {drug.unit}"
            evidence = Evidence(start, start + len(sentence), sentence, section, "present")
            why = (
                f"documented as given at this visit ('{said}'): "
                f"{written} of {sentence[at:end]} is {units} unit{'s' * (units != 1)} of "
                f"{drug.code} ({per} a unit)"
            )
            lines.setdefault(drug.code, DrugLine(drug.code, units, evidence, why))
    return list(lines.values())
