"""Status codes read from a surgery the note says the patient had: a replaced joint is the
presence of its implant (Z96.6-), a replaced heart valve that of a prosthetic valve (Z95.2),
whatever words the note uses ("s/p right TKA", "status post knee arthroplasty", "a history
of a right total knee arthroplasty", "right hip hemiarthroplasty 2022" in the surgical
history). The Tabular's side comes from the words (Z96.651 right knee); a surgery planned,
referred or being performed is not a status.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from codesuggest.core.records import Section, Term

LABEL = "procedure_history"
SOURCE = "status after surgery"
# Each replaced joint's category in the Tabular (Presence of ... joint implant); the side is
# its 6th character, completed from the term's laterality.
JOINTS = {
    "knee": "Z96.65",
    "hip": "Z96.64",
    "shoulder": "Z96.61",
    "elbow": "Z96.62",
    "wrist": "Z96.63",
    "ankle": "Z96.66",
}
ABBREVIATIONS = {"tka": "knee", "tkr": "knee", "tha": "hip", "thr": "hip", "tsa": "shoulder"}
VALVE = "Z95.2"  # Presence of prosthetic heart valve
_SECTIONS = frozenset({"past_surgical_history"})
_PAST = (
    r"(?:s/p|status[- ]post|history\s+of|hx\s+of|h/o|prior|previous|underwent|had|"
    r"is\s+\w+\s+(?:weeks?|months?|years?)\s+(?:out\s+from|post|after))"
    r"(?:\s+(?:a|an|his|her|the|their))?\s+"
)
_SIDE = r"(?:(right|left|bilateral)\s+)?"
_KIND = r"(?:(?:total|partial|reverse|unicompartmental|uni)\s+)?"
_SURGERY = (
    r"(?:(knee|hip|shoulder|elbow|wrist|ankle)\s+(?:joint\s+)?"
    r"(?:replacement|arthroplasty|hemiarthroplasty|resurfacing)"
    r"|(TKA|TKR|THA|THR|TSA)"
    r"|((?:aortic|mitral|tricuspid|pulmonic|pulmonary|heart)\s+valve\s+replacement|[AM]VR))\b"
)
_AFTER_SIDE = r"(?:,?\s+(right|left|bilateral)\b)?"
_STATUS = re.compile(rf"\b({_PAST})?{_SIDE}{_KIND}{_SURGERY}{_AFTER_SIDE}", re.IGNORECASE)
# A relative's surgery is the relative's.
_FAMILY = re.compile(
    r"\b(?:mother|father|sister|brother|son|daughter|aunt|uncle|grandmother|grandfather|"
    r"family|parents?|sibling)\b",
    re.IGNORECASE,
)


def status_terms(text: str, sections: Sequence[Section]) -> list[Term]:
    """A status term for each replaced joint or heart valve the patient has."""
    out = []
    for m in _STATUS.finditer(text):
        section = next((s.name for s in sections if s.start <= m.start() < s.end), "")
        if not m.group(1) and section not in _SECTIONS:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.end())
        line_end = len(text) if line_end < 0 else line_end
        sentence_start = max(line_start, text.rfind(". ", 0, m.start()) + 1)
        if _FAMILY.search(text, sentence_start, m.start()):
            continue
        code = _code(m)
        if code is None:
            continue
        side = (m.group(2) or m.group(6) or "").lower()
        out.append(
            Term(
                text=m.group(0),
                start=m.start(),
                end=m.end(),
                label=LABEL,
                section=section,
                sentence_start=sentence_start,
                sentence_end=line_end,
                assertion="historical",
                codes=(code,),
                attributes={"laterality": side} if side and code != VALVE else {},
                source=SOURCE,
            )
        )
    return out


def _code(m: re.Match[str]) -> str | None:
    if m.group(5):
        return VALVE
    joint = (m.group(3) or ABBREVIATIONS.get((m.group(4) or "").lower(), "")).lower()
    return JOINTS.get(joint)
