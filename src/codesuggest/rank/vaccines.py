"""Vaccines given at the visit: the product codes and their administration codes.

A sentence that says a vaccine was given today ("Tdap given today, left deltoid") names a
product by one of its CPT synonyms; each product is a line, and the administration follows
the rules coders apply: under age 19 with counselling documented, 90460 for each vaccine's
first component and 90461 for each further component (Tdap has three); otherwise 90471 for the
first injected vaccine and 90472 for each further one, 90473 / 90474 for vaccines by mouth or
nose. A vaccine offered and declined, due, or given elsewhere gives no line. Components and cue
words live in ``data/vaccines.json``.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from codesuggest.codebook.codeset import CodeSet
from codesuggest.core.records import Evidence, Section
from codesuggest.rank.claim import in_ranges
from codesuggest.rank.drugs import gave, sentences
from codesuggest.rank.procedures import ProcedureLine

RULES_FILE = "vaccines.json"
_WORD = re.compile(r"[a-z0-9]+")


@functools.cache
def rules() -> dict:
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return json.loads(text)


@functools.cache
def _phrases(cpt: CodeSet) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    """Each vaccine synonym as a pattern, with the product codes it names."""
    by_phrase: dict[str, list[str]] = {}
    for info in cpt:
        if info.code.isdigit() and in_ranges(info.code, rules()["products"]):
            for s in info.synonyms:
                by_phrase.setdefault(s.lower(), []).append(info.code)
    return tuple(
        (re.compile(rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])", re.I), tuple(codes))
        for p, codes in sorted(by_phrase.items(), key=lambda kv: -len(kv[0]))
    )


def _product(sentence: str, codes: tuple[str, ...], cpt: CodeSet) -> str:
    """Of the products a phrase names, the one whose description the sentence says most of."""
    words = set(_WORD.findall(sentence.lower()))

    def fit(code: str) -> tuple[int, int]:
        said = sum(w in words for w in _WORD.findall(cpt.get(code).description.lower()))
        return said, -int(code)

    return max(codes, key=fit)


def vaccine_lines(
    note: str, sections: list[Section], cpt: CodeSet, *, age: int | None
) -> list[ProcedureLine]:
    """Vaccine products given today and their administration lines, in that order."""
    products: dict[str, ProcedureLine] = {}
    for start, sentence, section in sentences(note, sections):
        said = gave(sentence)
        if not said:
            continue
        for pattern, codes in _phrases(cpt):
            m = pattern.search(sentence)
            if m is None:
                continue
            code = _product(sentence, codes, cpt)
            if code in products:
                continue
            evidence = Evidence(start, start + len(sentence), sentence, section, "present")
            why = f"vaccine documented as given at this visit ('{said}': {m.group(0)})"
            products[code] = ProcedureLine(code, evidence, "", why)
    if not products:
        return []
    return [*products.values(), *_administration(note, list(products.values()), cpt, age)]


def _administration(
    note: str, products: list[ProcedureLine], cpt: CodeSet, age: int | None
) -> list[ProcedureLine]:
    table = rules()
    admin = table["administration"]
    low = note.lower()
    counselled = (
        age is not None
        and age < table["counselled_age_below"]
        and any(w in low for w in table["counselling"])
    )
    evidence = products[0].evidence
    named = ", ".join(p.code for p in products)
    if counselled:
        extra = sum(table["components"].get(p.code, 1) - 1 for p in products)
        why = (
            f"administration with counselling under age {table['counselled_age_below']}: "
            f"one 90460 per vaccine ({named})"
        )
        lines = [ProcedureLine(admin["counselled_first"], evidence, "", why, units=len(products))]
        if extra:
            why = f"each further vaccine component ({extra} in {named})"
            lines.append(
                ProcedureLine(admin["counselled_additional_component"], evidence, "", why, extra)
            )
        return lines
    nasal = [
        p
        for p in products
        if any(w in cpt.get(p.code).description.lower() for w in table["by_mouth_or_nose"])
    ]
    injected = [p for p in products if p not in nasal]
    lines = []
    if injected:
        why = f"administration of the first injected vaccine ({injected[0].code})"
        lines.append(ProcedureLine(admin["injection_first"], evidence, "", why))
        if len(injected) > 1:
            why = f"each further injected vaccine ({', '.join(p.code for p in injected[1:])})"
            lines.append(
                ProcedureLine(admin["injection_additional"], evidence, "", why, len(injected) - 1)
            )
    if nasal:
        first = 0 if injected else 1
        if not injected:
            why = f"administration of a vaccine by mouth or nose ({nasal[0].code})"
            lines.append(ProcedureLine(admin["nasal_oral_first"], evidence, "", why))
        if len(nasal) - first:
            why = f"each further vaccine by mouth or nose ({', '.join(p.code for p in nasal)})"
            lines.append(
                ProcedureLine(admin["nasal_oral_additional"], evidence, "", why, len(nasal) - first)
            )
    return [line for line in lines if cpt.find(line.code) is not None]
