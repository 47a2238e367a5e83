"""Tabular completion: from a documented code to its billable child by the note's attributes."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.core.text import tokens

_SIDE_WORDS = {
    "right": ("right",),
    "left": ("left",),
    "bilateral": ("bilateral",),
}


# Words of an unspecified code's title that its sided siblings need not repeat.
_NOT_A_DETAIL = frozenset({"unspecified", "of", "and", "the", "site", "side", "laterality"})

# What a sided code may add to an unspecified one without the note saying it: the Index's
# defaults (osteoarthritis is primary unless documented otherwise).
_DEFAULT_DETAILS = frozenset({"unilateral", "bilateral", "primary"})

# The words the Tabular (and the Index) write a patient's sex in.
SEX_WORDS = {"F": "female", "M": "male"}

_ENCOUNTER_PREFIX = {
    "initial": "initial encounter",
    "subsequent": "subsequent encounter",
    "sequela": "sequela",
}


@dataclass(slots=True)
class Specified:
    """The code chosen for a term, and what documentation would make it more specific."""

    code: str
    by_attributes: bool = False
    missing: list[str] = field(default_factory=list)
    # Codes reported beside ``code``: the left side of a bilateral condition whose category
    # has no bilateral code (guideline I.B.13: one code for each side).
    also: list[str] = field(default_factory=list)


def _attribute_words(attributes: dict[str, str]) -> set[str]:
    words: set[str] = set()
    side = attributes.get("laterality")
    if side:
        words.update(_SIDE_WORDS.get(side, (side,)))
    acuity = attributes.get("acuity")
    if acuity == "acute_on_chronic":
        words.update({"acute", "chronic"})
    elif acuity:
        words.add(acuity)
    # The patient's sex picks between codes the Tabular splits by it (C50.41- female / male
    # breast); it is never a documented detail of its own.
    sex = SEX_WORDS.get(attributes.get("sex", ""))
    if sex:
        words.add(sex)
    for key in ("stage", "severity", "trimester", "diabetes_type", "displacement"):
        v = attributes.get(key)
        if v:
            words.update(tokens(str(v)))
    return words


def _told_apart(children: Sequence[CodeInfo], written: set[str]) -> set[str]:
    """The term's own words that some children's titles say and others do not ("middle" of
    "distal phalanx fracture of the right middle finger" among S62.63-'s fingers)."""
    if not written:
        return set()
    titles = [set(tokens(c.description)) for c in children]
    said = {w for w in written if any(w in t for t in titles)}
    return {w for w in said if not all(w in t for t in titles)}


def _child_fit(child: CodeInfo, wanted: set[str]) -> float:
    desc = set(tokens(child.description))
    score = len(desc & wanted)
    if "unspecified" in desc:
        score -= 0.5
    return score


def specify(icd: CodeSet, code: str, attributes: dict[str, str]) -> Specified:
    """The most specific billable code under ``code`` that ``attributes`` support.

    Falls back to the unspecified child where the note lacks a detail, and to the 7th
    character for the documented encounter (initial when undocumented, said in ``missing``).
    """
    rec = icd.find(code)
    if rec is None:
        return Specified(code)
    out = Specified(rec.code)
    wanted = _attribute_words(attributes)
    written = set(tokens(attributes.get("written", "")))
    guard = 0
    while not rec.billable and guard < 6:
        guard += 1
        children = [icd.get(c) for c in icd.children(rec.code)]
        if not children:
            break
        if rec.requires_7th:
            encounter = attributes.get("encounter")
            if not encounter:
                out.missing.append("encounter (initial, subsequent or sequela)")
                encounter = "initial"
            prefix = _ENCOUNTER_PREFIX.get(encounter, encounter)
            chosen = next(
                (
                    c
                    for c in children
                    if rec.seventh_characters.get(c.code[-1], "").startswith(prefix)
                ),
                children[0],
            )
            out.by_attributes = out.by_attributes or "encounter" in attributes
        else:
            here = wanted | _told_apart(children, written)
            ranked = sorted(children, key=lambda c: -_child_fit(c, here))
            best = ranked[0]
            if _child_fit(best, here) <= 0 or not here:
                unspecified = [
                    c
                    for c in children
                    if "unspecified" in c.description.lower() or c.code.endswith("9")
                ]
                chosen = unspecified[0] if unspecified else best
                out.missing.append(_missing_detail(children))
            else:
                # Children the documented details fit equally ("female" fits the right,
                # left and unspecified female breast): the note does not tell them apart,
                # so the unspecified one, and say what is missing.
                top = len(set(tokens(best.description)) & here)
                tied = [c for c in children if len(set(tokens(c.description)) & here) == top]
                unspecified = [c for c in tied if "unspecified" in c.description.lower()]
                if len(tied) > 1 and unspecified:
                    chosen = unspecified[0]
                    out.missing.append(_missing_detail(tied))
                else:
                    chosen = best
                out.by_attributes = True
        rec = chosen
        out.code = rec.code
    if rec.billable and wanted & {"right", "left", "bilateral"}:
        lateral = _lateral_sibling(icd, rec, wanted)
        if lateral is not None:
            out.code, out.by_attributes = lateral, True
            out.missing = [m for m in out.missing if not m.startswith("laterality")]
        elif "bilateral" in wanted:
            right = _lateral_sibling(icd, rec, {"right"})
            left = _lateral_sibling(icd, rec, {"left"})
            if right is not None and left is not None:
                out.code, out.also, out.by_attributes = right, [left], True
                out.missing = [m for m in out.missing if not m.startswith("laterality")]
    if rec.billable and (severity := wanted & _SEVERITIES):
        graded = _graded_sibling(icd, icd.get(out.code) or rec, severity)
        if graded is not None:
            out.code, out.by_attributes = graded, True
            out.missing = [m for m in out.missing if m != "severity"]
    out.missing = [m for m in dict.fromkeys(out.missing) if m]
    return out


_SEVERITIES = frozenset({"mild", "moderate", "severe"})


def _graded_sibling(icd: CodeSet, rec: CodeInfo, severity: set[str]) -> str | None:
    """For an unspecified code ("Major depressive disorder, recurrent, unspecified"), the
    one sibling whose title names the documented severity ("..., moderate": F33.1), or None
    where none or several do (severe with and without psychotic features)."""
    desc = rec.description.lower()
    if "unspecified" not in desc or rec.parent is None:
        return None
    # The same concept: the sibling's title begins as this one's does before "unspecified"
    # ("Depression, unspecified" is not "Major depressive disorder, single episode, mild").
    head = list(tokens(desc[: desc.rfind("unspecified")]))
    found = [
        s.code
        for sib in icd.children(rec.parent)
        if (s := icd.get(sib)).billable
        and s.code != rec.code
        and list(tokens(s.description))[: len(head)] == head
        and severity & set(tokens(s.description))
    ]
    return found[0] if len(found) == 1 else None


def _missing_detail(children: Sequence[CodeInfo]) -> str:
    words = {w for c in children for w in tokens(c.description)}
    if words & {"right", "left", "bilateral"}:
        return "laterality (right, left or bilateral)"
    if words & {"acute", "chronic"}:
        return "acuity (acute, chronic or acute on chronic)"
    if "stage" in words:
        return "stage"
    if "trimester" in words:
        return "trimester"
    if words & {"mild", "moderate", "severe"}:
        return "severity"
    return "more specific documentation"


@functools.lru_cache(maxsize=8192)
def sided_code(icd: CodeSet, code: str, side: str) -> str | None:
    """The code of an unspecified-side ``code`` for ``side`` ("right", "left" or
    "bilateral"), or None where the Tabular has no such code."""
    rec = icd.find(code)
    if rec is None or not rec.billable:
        return None
    return _lateral_sibling(icd, rec, {side})


def _lateral_sibling(icd: CodeSet, rec: CodeInfo, wanted: set[str]) -> str | None:
    """For an unspecified-side code, the sibling naming the documented side."""
    desc = rec.description.lower()
    if "unspecified" not in desc or rec.parent is None:
        return None
    side = next(w for w in ("bilateral", "right", "left") if w in wanted)
    # The side is named where the unspecified one was: "..., unspecified ear" -> "..., left ear".
    cut = desc.rfind("unspecified")
    head = desc[:cut]
    for sib in icd.children(rec.parent):
        s = icd.get(sib)
        other = s.description.lower()
        if s.billable and other.startswith(head) and side in other[cut:].split():
            return s.code
    return _sided_in_category(icd, rec.code, side)


# A fact of the code set, asked again for every note that names the condition with a side.
@functools.lru_cache(maxsize=8192)
def _sided_in_category(icd: CodeSet, code: str, side: str) -> str | None:
    """The first billable code of the category that says everything the unspecified code
    says and names the side, where the sides sit in other subcategories ("Osteoarthritis of
    knee, unspecified" M17.9 -> "Unilateral primary osteoarthritis, right knee" M17.11: the
    Index's default for osteoarthritis is primary)."""
    rec = icd.get(code)
    if "unspecified site" in rec.description.lower():
        return None  # the side of an unknown site says nothing
    wanted = set(tokens(rec.description.lower())) - _NOT_A_DETAIL
    category = rec.code[:3]
    stack = [category]
    while stack:
        code = stack.pop(0)
        info = icd.find(code)
        if info is None:
            continue
        words = set(tokens(info.description.lower()))
        sided = info.billable and info.code != rec.code and side in words and wanted <= words
        if sided and words - wanted - {side} <= _DEFAULT_DETAILS:
            return info.code
        stack.extend(icd.children(code))
    return None


# Titles of a condition at no documented site: "Other bacterial infections of unspecified
# site" (A49.8), "Urinary tract infection, site not specified" (N39.0).
_NO_SITE = re.compile(r"\b(?:unspecified site|site not specified)\b", re.IGNORECASE)


def names_no_site(description: str) -> bool:
    """Whether a code's title says its condition is at no specified site."""
    return bool(_NO_SITE.search(description))
