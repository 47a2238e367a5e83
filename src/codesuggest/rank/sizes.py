"""Lesion excisions and wound repairs coded by size, as the CPT size bands require.

A procedure line read from the note whose code belongs to an excision or repair family
(``data/procedure_sizes.json``) is moved to the family's code for the documented size: the
excised diameter (stated, or the lesion plus twice its margin) for an excision, the total length
repaired for a repair. An excision whose line documents a layered (intermediate) closure also
gets the intermediate repair of its site group, sized by the repair length. Without a size the
line keeps its code and says that the size decides it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace
from importlib import resources

from codesuggest.rank.procedures import ProcedureLine

RULES_FILE = "procedure_sizes.json"
_CM = r"(\d+(?:\.\d+)?)\s*cm\b"
_EXCISED = re.compile(rf"excised diameter(?: of)?\D{{0,10}}{_CM}", re.I)
_LESION = re.compile(rf"{_CM}[^.]{{0,60}}?\b(?:lesion|nodule|cyst|mass|papule|plaque)\b", re.I)
_MARGIN = re.compile(r"(\d+(?:\.\d+)?)\s*(mm|cm)\s+margins?", re.I)
_REPAIR_LENGTH = re.compile(
    rf"(?:repair|closure|wound|laceration)[^.]{{0,40}}?length(?: of)?\D{{0,10}}{_CM}", re.I
)


@functools.cache
def rules() -> dict:
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return json.loads(text)


def _family(code: str) -> dict | None:
    return next((f for f in rules()["families"] if code in f["codes"]), None)


def _by_name(name: str) -> dict:
    return next(f for f in rules()["families"] if f.get("name") == name)


def _code_for(family: dict, cm: float) -> str:
    for code, top in zip(family["codes"], family["max_cm"], strict=True):
        if top is None or cm <= top + 1e-9:
            return code
    return family["codes"][-1]


def _excised_cm(note: str) -> float | None:
    stated = _EXCISED.search(note)
    if stated:
        return float(stated.group(1))
    lesion, margin = _LESION.search(note), _MARGIN.search(note)
    if lesion and margin:
        m = float(margin.group(1)) / (10 if margin.group(2).lower() == "mm" else 1)
        return float(lesion.group(1)) + 2 * m
    return None


def _repair_cm(note: str, line: ProcedureLine) -> float | None:
    stated = _REPAIR_LENGTH.search(note)
    if stated:
        return float(stated.group(1))
    on_line = re.search(_CM, line.evidence.text, re.I)
    return float(on_line.group(1)) if on_line else None


def sized(note: str, lines: list[ProcedureLine]) -> list[ProcedureLine]:
    """The lines with excisions and repairs moved to the code of their documented size."""
    out: list[ProcedureLine] = []
    for line in lines:
        family = _family(line.code)
        if family is None:
            out.append(line)
            continue
        if family["kind"] == "excision":
            cm = _excised_cm(note)
            if cm is not None:
                code = _code_for(family, cm)
                line = replace(line, code=code, why=f"{line.why}; excised diameter {cm:g} cm")
            out.append(line)
            layered = "|".join(map(re.escape, rules()["layered_closure"]))
            if family.get("closure") and re.search(rf"\b(?:{layered})\b", line.evidence.text, re.I):
                repair = _by_name(family["closure"])
                length = _repair_cm(note, line)
                if length is not None:
                    out.append(
                        replace(
                            line,
                            code=_code_for(repair, length),
                            why=f"layered (intermediate) closure of the excision, {length:g} cm",
                        )
                    )
            continue
        cm = _repair_cm(note, line)
        if cm is not None:
            line = replace(line, code=_code_for(family, cm), why=f"{line.why}; {cm:g} cm repaired")
        out.append(line)
    return out
