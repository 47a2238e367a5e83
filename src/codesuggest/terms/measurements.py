"""Measurements a code is read from: the adult body mass index (Z68.-).

A BMI written as a number ("BMI 33.4", "BMI of 41") is read as its Z68 code by the ranges of
the Tabular's titles; whether it is reported is the pre-selection's call (guideline I.B.14:
only beside an associated weight diagnosis).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from codesuggest.core.records import Section, Term

LABEL = "status"
SOURCE = "measurement (BMI)"
_BMI = re.compile(
    r"\b(?:BMI|body mass index)\b[^0-9\n]{0,15}?(\d{2}(?:\.\d+)?)(?!\s*(?:%|percentile|th))",
    re.IGNORECASE,
)
# Adult codes Z68.41-Z68.45 by their lower bounds (Z68.41 40.0-44.9 ... Z68.45 70 or greater).
_FORTY_PLUS = ((70.0, "Z68.45"), (60.0, "Z68.44"), (50.0, "Z68.43"), (45.0, "Z68.42"))


def bmi_code(value: float) -> str | None:
    """The adult Z68 code of a BMI value (None outside 10-150: not a BMI)."""
    if not 10 <= value <= 150:
        return None
    if value < 20:
        return "Z68.1"
    if value < 40:
        return f"Z68.{int(value)}"
    return next((code for low, code in _FORTY_PLUS if value >= low), "Z68.41")


def bmi_terms(text: str, sections: Sequence[Section], age: int | None = None) -> list[Term]:
    """A term for each BMI value in the note (adults: Z68.1-Z68.45; a note's patient under 20
    has percentile codes, Z68.5-, which a value alone does not give)."""
    if age is not None and age < 20:
        return []
    out = []
    for m in _BMI.finditer(text):
        code = bmi_code(float(m.group(1)))
        if code is None:
            continue
        start, end = m.start(), m.end()
        section = next((s.name for s in sections if s.start <= start < s.end), "")
        out.append(
            Term(
                text=text[start:end],
                start=start,
                end=end,
                label=LABEL,
                section=section,
                sentence_start=start,
                sentence_end=end,
                codes=(code,),
                source=SOURCE,
            )
        )
    return out
