"""The patient's sex as the note documents it ("a 59-year-old male", "Mrs. Smith", the
pronouns the note uses for the patient), for the Index's and the Tabular's male / female
subterms (Hypogonadism > male -> E29.1) when the caller gives none.
"""

from __future__ import annotations

import re

# "59-year-old male", "45 yo F", "a 3-year-old girl".
_STATED = re.compile(
    r"\b\d{1,3}[- ]?(?:year|yr|y)s?[- ]?(?:old|o)?[- ]"
    r"(male|female|man|woman|gentleman|lady|boy|girl|m|f)\b",
    re.IGNORECASE,
)
_HONORIFIC = re.compile(r"\b(Mr|Mrs|Ms|Miss)\b\.?\s+[A-Z]")
_HE = re.compile(r"\b(?:he|him|his|himself)\b", re.IGNORECASE)
_SHE = re.compile(r"\b(?:she|her|hers|herself)\b", re.IGNORECASE)
_WORDS = {
    "male": "M",
    "man": "M",
    "gentleman": "M",
    "boy": "M",
    "m": "M",
    "female": "F",
    "woman": "F",
    "lady": "F",
    "girl": "F",
    "f": "F",
}
_TITLES = {"mr": "M", "mrs": "F", "ms": "F", "miss": "F"}
# Pronouns decide only when one sex's outnumber the other's this many times over, and are
# counted in the note's first this many characters (the history speaks of the patient;
# a long note's later pages speak of relatives and staff too).
PRONOUN_MAJORITY = 3
PRONOUN_MINIMUM = 3
HEADER_CHARS = 3000


def documented_sex(text: str) -> str | None:
    """ "M", "F", or None where the note does not say (or says both)."""
    head = text[:HEADER_CHARS]
    stated = {_WORDS[m.group(1).lower()] for m in _STATED.finditer(head)}
    if len(stated) == 1:
        return stated.pop()
    if stated:
        return None
    titles = {_TITLES[m.group(1).lower()] for m in _HONORIFIC.finditer(head)}
    if len(titles) == 1:
        return titles.pop()
    he, she = len(_HE.findall(head)), len(_SHE.findall(head))
    if he >= PRONOUN_MINIMUM and he >= PRONOUN_MAJORITY * max(she, 1):
        return "M"
    if she >= PRONOUN_MINIMUM and she >= PRONOUN_MAJORITY * max(he, 1):
        return "F"
    return None
