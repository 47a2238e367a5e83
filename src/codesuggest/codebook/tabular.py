"""What the ICD-10-CM Tabular List says about a code beyond its own record.

The Tabular's conventions (Official Guidelines I.A) hang notes on a code or on any heading above
it: Excludes1 and Excludes2 notes, "code first" and "use additional code" instructions, titles
"in diseases classified elsewhere" that mark manifestation codes, and 7th characters defined at
a category for every code beneath it. ``Tabular`` reads them for one code set: each note parsed
into the code references it names, with the qualifiers ("E08-E13 with .42") it can read, and
the sibling codes that differ from a code only in the side of the body. The coding-rule edits
(``codesuggest.rules``) are its main reader.

Answers are computed once per code and kept for the life of the ``Tabular``; ``tabular_for``
keeps one per code set, so every caller shares the work.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.core.codes import normalize_icd, parse_code_refs

# What a 7th character's meaning begins with when it names the encounter (I.C.19.a).
ENCOUNTERS = ("initial", "subsequent", "sequela")
# The side words of lateral codes (I.B.13), in the order fixes offer them.
SIDES = ("right", "left", "bilateral")

# Characters before the 7th; the placeholder X fills the empty ones (I.A.4).
_BEFORE_SEVENTH = 6
# Kinds of heading above a category whose notes apply chapter- or block-wide.
_STRUCTURAL = ("chapter", "section")
# Where the 5th character sits in an undotted code ("B27.0-B27.9 with fifth character 1").
_FIFTH = slice(4, 5)
# How many code sets to keep a Tabular for; a process normally loads one ICD-10-CM set.
_TABULARS_KEPT = 4

_PAREN = re.compile(r"\(([^()]*)\)")
_WITH = re.compile(r"\bwith\b", re.IGNORECASE)
_WITH_SUFFIX = re.compile(r"\bwith\s+\.([0-9A-Z]+)", re.IGNORECASE)
_WITH_FIFTH = re.compile(r"\bwith\s+fifth\s+character\s+([0-9A-Z])", re.IGNORECASE)
# Wording that makes a "use additional code" instruction a suggestion rather than a demand.
_OPTIONAL = re.compile(
    r"if applicable|where applicable|if known|if present|if desired|such as|infectious agent"
    r"|organism|resistance to antimicrobial",
    re.IGNORECASE,
)
_ELSEWHERE = r"(?:other )?(?:diseases|conditions|disorders) classified elsewhere\b"
_MANIFESTATION = re.compile(rf"\bin {_ELSEWHERE}", re.IGNORECASE)
# The title of a code reported only beside another's: a manifestation ("in diseases
# classified elsewhere") or an infectious agent, B95-B97 ("as the cause of diseases ...").
SUPPLEMENTARY_TITLE = re.compile(rf"\b(?:in|as the cause of) {_ELSEWHERE}", re.IGNORECASE)
_SIDE_WORD = re.compile(r"\b(unspecified|right|left|bilateral)\b( [a-z]+)?")


def ref_span(ref: str) -> tuple[str, str]:
    """Undotted bounds of a reference, ``E08-E13`` -> ``("E08", "E13")``; no upper bound is ""."""
    lo, _, hi = ref.partition("-")
    return lo.replace(".", ""), hi.replace(".", "")


def in_spans(code: str, spans: Iterable[tuple[str, str]]) -> bool:
    """Whether a canonical ICD-10-CM code falls under any ``ref_span`` (``CodeSet.in_range``).

    Edits run per note in batch scoring; comparing pre-split strings is several times faster
    than re-normalising the code for every reference.
    """
    c = code.replace(".", "")
    for lo, hi in spans:
        if (lo <= c[: len(lo)] and c[: len(hi)] <= hi) if hi else c.startswith(lo):
            return True
    return False


def with_seventh(base: str, letter: str) -> str:
    """``S13.4`` + ``A`` -> ``S13.4XXA``: placeholder X up to six characters, then the 7th."""
    return normalize_icd(base.replace(".", "").ljust(_BEFORE_SEVENTH, "X") + letter)


def needs_placeholder(code: str) -> bool:
    """Whether ``code`` is too short for a 7th character without the placeholder X."""
    return len(code.replace(".", "")) < _BEFORE_SEVENTH


def encounter_letters(options: Mapping[str, str], encounter: str | None) -> list[str]:
    """The 7th characters among ``options`` whose meaning names ``encounter`` (none if None)."""
    if not encounter:
        return []
    return [k for k, meaning in options.items() if meaning.lower().startswith(encounter)]


@dataclass(frozen=True, slots=True)
class NoteRef:
    """A code, category or range named in a Tabular note, with an optional qualifier.

    Attributes:
        ref: the reference as written, ``E08-E13`` or ``O24.4``.
        suffix: "E08-E13 with .42": the characters after the dot start with ``42``.
        fifth: "B27.0-B27.9 with fifth character 1": the 5th character is ``1``.
        span: ``ref_span(ref)``, split once.
    """

    ref: str
    suffix: str = ""
    fifth: str = ""
    span: tuple[str, str] = ("", "")

    def matches(self, code: str) -> bool:
        """Whether a canonical code falls under the reference and meets its qualifier."""
        c = code.replace(".", "")
        lo, hi = self.span
        if not ((lo <= c[: len(lo)] and c[: len(hi)] <= hi) if hi else c.startswith(lo)):
            return False
        if self.suffix and not code.partition(".")[2].startswith(self.suffix):
            return False
        return not (self.fifth and c[_FIFTH] != self.fifth)


@dataclass(frozen=True, slots=True)
class NoteItem:
    """One line of a Tabular note and the code references it names.

    Attributes:
        declared_on: the code or heading that carries the note.
        line: the note line as written.
        refs: the references read from it.
        optional: a "use additional code" the coder adds only when it applies ("if known").
        lead: the line introducing a list, such as "underlying disease, such as:".
        local: declared on a category or below, not on a chapter or block.
    """

    declared_on: str
    line: str
    refs: tuple[NoteRef, ...]
    optional: bool = False
    lead: str = ""
    local: bool = True

    @property
    def text(self) -> str:
        """The line with its lead-in, as a coder reads it in the Tabular."""
        return f"{self.lead} {self.line}".strip()

    def matches(self, code: str) -> bool:
        """Whether the note names ``code``."""
        return any(r.matches(code) for r in self.refs)


def note_refs(text: str) -> tuple[NoteRef, ...]:
    """The code references of a note; a qualifier this parser cannot read drops the group.

    Skipping an unreadable group ("E08-E13 with ..." in a form not handled) costs a missed
    edit; reading it as the bare range would flag every diabetes code, which is worse.
    """
    groups = _PAREN.findall(text) or [text]
    out: list[NoteRef] = []
    for group in groups:
        refs = parse_code_refs(group)
        if not refs:
            continue
        suffix = fifth = ""
        if _WITH.search(group):
            m, m5 = _WITH_SUFFIX.search(group), _WITH_FIFTH.search(group)
            if m:
                suffix = m.group(1).upper()
            elif m5:
                fifth = m5.group(1).upper()
            else:
                continue
        out.extend(NoteRef(r, suffix, fifth, ref_span(r)) for r in refs)
    return tuple(out)


class Tabular:
    """The Tabular notes, manifestation titles and side siblings of an ICD-10-CM code set.

    Every answer is computed on first use for a code and then kept: batch scoring asks about
    the same few thousand codes over and over. The caches are bounded by the code set itself.

    Args:
        icd: the ICD-10-CM ``CodeSet`` to read.
    """

    def __init__(self, icd: CodeSet) -> None:
        self.icd = icd
        # Each instance caches its own answers (the instance attribute shadows the method): a
        # cache decorating the method would be shared by every Tabular and keep each alive.
        self.lineage = functools.cache(self.lineage)  # type: ignore[method-assign]
        self.excludes = functools.cache(self.excludes)  # type: ignore[method-assign]
        self.instructions = functools.cache(self.instructions)  # type: ignore[method-assign]
        self.is_manifestation = functools.cache(self.is_manifestation)  # type: ignore[method-assign]
        self.sides = functools.cache(self.sides)  # type: ignore[method-assign]

    def lineage(self, code: str) -> tuple[CodeInfo, ...]:
        """The code and its ancestors, nearest first; stops at a cycle in the hierarchy."""
        out: list[CodeInfo] = []
        seen: set[str] = set()
        rec = self.icd.find(code)
        while rec is not None and rec.code not in seen:
            out.append(rec)
            seen.add(rec.code)
            rec = self.icd.find(rec.parent) if rec.parent else None
        return tuple(out)

    def children(self, code: str) -> list[str]:
        """The codes directly beneath ``code`` (never the code itself)."""
        return [c for c in self.icd.children(code) if c != code]

    def notes(self, code: str, name: str, *, local: bool = False) -> list[tuple[str, str]]:
        """``(declared_on, text)`` from the code up; ``local`` stops below sections/chapters."""
        return [
            (rec.code, text)
            for rec in self.lineage(code)
            if not (local and rec.kind in _STRUCTURAL)
            for text in rec.note(name)
        ]

    def excludes(self, code: str, name: str) -> tuple[NoteItem, ...]:
        """The ``excludes1`` or ``excludes2`` lines that apply to ``code`` and name codes.

        Excludes2 notes count from the category down: the broad ranges a chapter or block
        lists would put a note on nearly every pair of codes.
        """
        local = name == "excludes2"
        items = []
        for origin, text in self.notes(code, name, local=local):
            refs = note_refs(text)
            if refs:
                items.append(NoteItem(origin, text, refs))
        return tuple(items)

    def instructions(self, code: str, name: str) -> tuple[NoteItem, ...]:
        """``code_first`` or ``use_additional_code`` items, each with its lead-in line kept.

        A line ending in ":" ("any associated:") introduces the lines after it; items under a
        lead-in are optional, like those worded "if known" or "such as".
        """
        items: list[NoteItem] = []
        header: dict[str, str] = {}
        kinds = {rec.code: rec.kind for rec in self.lineage(code)}
        for origin, raw in self.notes(code, name):
            text = raw.strip()
            refs = note_refs(text)
            lead = header.get(origin, "")
            if refs:
                optional = bool(lead) or bool(_OPTIONAL.search(text))
                local = kinds.get(origin) not in _STRUCTURAL
                items.append(NoteItem(origin, text, refs, optional, lead, local))
            if not refs or text.endswith(":"):
                header[origin] = text
        return tuple(items)

    def is_manifestation(self, code: str) -> bool:
        """A code titled "in diseases classified elsewhere" (itself or its category)."""
        return any(
            rec.kind not in _STRUCTURAL and _MANIFESTATION.search(rec.description)
            for rec in self.lineage(code)
        )

    def sides(self, code: str) -> tuple[str | None, dict[str, str]]:
        """The side a code names (or ``"unspecified"``) and its sibling code for each side.

        A sibling counts only when its description is this code's description with the side
        word swapped, so "Left ventricular failure" never reads as a side of the body.
        """
        rec = self.icd.find(code)
        if rec is None:
            return None, {}
        base, letter = rec, ""
        if rec.kind == "extended subcategory" and rec.parent:
            base, letter = self.icd.get(rec.parent), rec.code[-1]
        if base.parent is None:
            return None, {}
        siblings = {
            self.icd.get(c).description.lower(): c
            for c in self.children(base.parent)
            if c != base.code
        }
        own: str | None = None
        found: dict[str, str] = {}
        desc = base.description.lower()
        for m in _SIDE_WORD.finditer(desc):
            word = m.group(1)
            for side in SIDES:
                if side == word:
                    continue
                for variant in _side_variants(desc, m, side):
                    sibling = siblings.get(variant)
                    if sibling is None:
                        continue
                    full = self._with_letter(sibling, letter) if letter else sibling
                    if full is not None:
                        found.setdefault(side, full)
                        own = own or word
        return own, found

    def _with_letter(self, base: str, letter: str) -> str | None:
        full = with_seventh(base, letter)
        return full if full in self.icd else None

    def seventh_character_codes(self, base: str, letters: Iterable[str]) -> list[str]:
        """``base`` completed with each 7th character in ``letters``, where that code exists."""
        return [c for c in (with_seventh(base, k) for k in letters) if c in self.icd]


def _side_variants(desc: str, m: re.Match[str], side: str) -> list[str]:
    """``desc`` with the side word of ``m`` replaced by ``side``.

    For "bilateral" the following word may be plural ("right ear" -> "bilateral ears").
    """
    following = m.group(2) or ""
    variants = [desc[: m.start(1)] + side + desc[m.end(1) :]]
    if side == "bilateral" and following:
        variants.append(desc[: m.start()] + "bilateral" + desc[m.end() :])
        variants.append(desc[: m.start()] + f"bilateral{following}s" + desc[m.end() :])
    return variants


@functools.lru_cache(maxsize=_TABULARS_KEPT)
def tabular_for(icd: CodeSet) -> Tabular:
    """The shared ``Tabular`` of a code set, so its caches outlive a single call."""
    return Tabular(icd)
