"""Age, sex and encounter date as a note states them ("58 y/o F", "Date of service: 03/11/2026").

What is read goes through ``core.context``'s parsers, the one validator of patient context: a
value they refuse (an age of 130, a date before ICD-10-CM) is not read. Only the first
statement of each counts: note headers state the patient's own age and the visit's date first,
and later mentions ("father diagnosed at age 58", "5 years ago") are not the patient's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from codesuggest.core.context import parse_age, parse_date, parse_sex
from codesuggest.core.errors import InputError

_SEX_WORDS = {
    "female": "F",
    "woman": "F",
    "girl": "F",
    "lady": "F",
    "f": "F",
    "male": "M",
    "man": "M",
    "boy": "M",
    "gentleman": "M",
    "m": "M",
}

_DESCRIBED = (
    r"(?:(?:right|left)-handed\s+|white\s+|black\s+|caucasian\s+|african[- ]american\s+"
    r"|hispanic\s+|latina?o?\s+|asian\s+)?"
)


def _sex(name: str) -> str:
    # "68-year-old right-handed man", "45 yo white female": one describing word may come first.
    return _DESCRIBED + rf"(?P<{name}>female|male|woman|man|girl|boy|lady|gentleman|F|M)\b"


# "58 y/o", "58yo", "62 year old", "46-year-old", "19 years, Male", "Age: 67", "Age/Sex: 46 M".
# A bare "5 years" is a duration ("5 years ago", "for 5 years"), never read as an age.
_AGE = re.compile(
    r"(?<![\w/.-])(?P<age>\d{1,3})\s*-?\s*"
    r"(?:(?:y/o|y\.o\.|yo|yrs?\s*old|years?[- ]old|year-old)(?:\s*,?\s*" + _sex("sex") + ")?"
    r"|years?,?\s+" + _sex("sex1") + ")"
    r"|\bage(?:\s*/\s*sex)?\s*:\s*(?P<age2>\d{1,3})\b(?:\s*(?:y(?:ears?|rs?|o)?)?\s*[,/]?\s*"
    + _sex("sex2")
    + ")?",
    re.IGNORECASE,
)
_SEX_LABEL = re.compile(r"\b(?:sex|gender)\s*:\s*(?P<sex>female|male|F|M)\b", re.IGNORECASE)
# Obstetric notation (gravida / para: "G2P1001") is written of the patient herself.
_OBSTETRIC = re.compile(r"\bG\d{1,2}\s*P\d{1,4}\b")
_DATE_VALUE = r"(?P<date>\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})"
_DATE = re.compile(
    r"\b(?:date\s+of\s+(?:service|visit|surgery|operation|procedure|exam|admission|encounter)|dos|"
    r"(?:service|visit|encounter|exam|procedure|admission)\s+date|arrival|admitted|date)"
    r"\s*:?\s*" + _DATE_VALUE,
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ReadValue:
    """A context value read from the note, with the words it was read from."""

    value: Any
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        value = self.value.isoformat() if isinstance(self.value, dt.date) else self.value
        return {"value": value, "start": self.start, "end": self.end, "text": self.text}


def _date(text: str) -> dt.date | None:
    if "/" in text:
        month, day, year = (int(x) for x in text.split("/"))
        try:
            text = dt.date(year, month, day).isoformat()
        except ValueError:
            return None
    try:
        return parse_date(text)
    except InputError:
        return None


def read_context(text: str) -> dict[str, ReadValue]:
    """``age``, ``sex`` and ``encounter_date`` as the note states them; a key is missing when
    the note does not state that value (or states one the validator refuses).

    Offsets are into ``text`` exactly as given.
    """
    found: dict[str, ReadValue] = {}
    for m in _AGE.finditer(text):
        group = "age" if m.group("age") else "age2"
        try:
            age = parse_age(m.group(group))
        except InputError:
            continue
        found["age"] = ReadValue(age, m.start(group), m.end(group), m.group(group))
        sex_group = next((g for g in ("sex", "sex1", "sex2") if m.group(g)), None)
        if sex_group is not None:
            found["sex"] = ReadValue(
                parse_sex(_SEX_WORDS[m.group(sex_group).lower()]),
                m.start(sex_group),
                m.end(sex_group),
                m.group(sex_group),
            )
        break
    if "sex" not in found:
        m = _SEX_LABEL.search(text)
        if m:
            found["sex"] = ReadValue(
                _SEX_WORDS[m.group("sex").lower()], m.start("sex"), m.end("sex"), m.group("sex")
            )
        elif m := _OBSTETRIC.search(text):
            found["sex"] = ReadValue("F", m.start(), m.end(), m.group())
    for m in _DATE.finditer(text):
        date = _date(m.group("date"))
        if date is not None:
            found["encounter_date"] = ReadValue(
                date, m.start("date"), m.end("date"), m.group("date")
            )
            break
    return found
