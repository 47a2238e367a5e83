"""Problem statements: each entry of an assessment read as the diagnosis the provider states.

A coder reads the assessment line by line ("1. Patellofemoral pain syndrome, bilateral.") and
looks each statement up in the Alphabetic Index as written; the vocabulary may know only a
word of it ("pain"). Each statement becomes a term of its own, without vocabulary codes, so
that the Index reads it whole. Statements with a negation, uncertainty or history cue are left
to the terms of their words, whose assertion the context rules decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from codesuggest.core.records import ASSESSMENT_SECTIONS, PROBLEM_LABEL, Section, Term

LABEL = PROBLEM_LABEL
SOURCE = "assessment statement"
# A statement longer than this is prose, not a problem title.
MAX_WORDS = 10
_LINE = re.compile(r"[^\n]+")
# "1. ", "2) ", "#3", "Problem 4:" before a problem title; "- " and "* " bullets.
_NUMBERED = re.compile(
    r"^\s*(?:#\s*\d{0,2}|\d{1,2}\s*[.)]|problem\s*#?\s*\d{1,2}\s*[:.)]?)\s*", re.IGNORECASE
)
_BULLET = re.compile(r"^\s*[-\u2022*]\s*")
# A labelled line of the plan ("- Medical Reasoning: ...", "Plan: ..."), not a diagnosis;
# "Hypertension: continue lisinopril" is a problem with its plan.
_LABELLED = re.compile(
    r"^(?:medical\s+reasoning|medical\s+treatment|patient\s+education|patient\s+agreements?"
    r"|counsel+ing|plan|disposition|follow[- ]?up|recommendations?|orders?|additional\s+testing"
    r"|instructions?|education|treatment|goals?|return\s+precautions|prognosis"
    r"|reasons?\s+for\s+\w+|hospital\s+course)\b[^:\n]{0,30}:",
    re.IGNORECASE,
)
# Where the title ends: a sentence end, a colon, a dash or a parenthesis.
# A genus's initial is no end: "Urinary tract infection due to E. coli".
_TITLE_END = re.compile(r"(?:\.(?!(?<=\b[A-Z]\.)\s+[a-z])|[;:])(?:\s|$)|\s[-\u2013\u2014]\s|\(|$")
_CUES = re.compile(
    r"\b(?:former|formerly|quit|ex|past|prior|previous|old|remote|possible|possibly|probable|probably|presumed|suspect\w*|suspicio\w*|likely|unlikely"
    r"|rule[sd]? out|r/o|versus|vs|no|not|denies|negative|excluded|history|h/o"
    r"|hx|status|s/p|post|family|fh|concern\w*|question\w*|differential|resolved|screening"
    r"|follow\w*|rather|consider\w*|evaluat\w*|education|counsel\w*|plan|discussed|continue\w*"
    r"|start\w*|stop\w*|increas\w*|decreas\w*|call|return\w*|refer\w*|order\w*|obtain\w*"
    r"|check\w*|schedul\w*|recommend\w*|given|reviewed|take|taking|if|goal|patient|he|she)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]{2,}")
_SIDE = re.compile(r"\b(right|left|bilateral|bilaterally|both)\b", re.IGNORECASE)
_SIDES = {
    "right": "right",
    "left": "left",
    "bilateral": "bilateral",
    "bilaterally": "bilateral",
    "both": "bilateral",
}


def problem_terms(text: str, sections: Sequence[Section], terms: Sequence[Term]) -> list[Term]:
    """A term for each problem statement in the note's assessment sections."""
    out = []
    for section in sections:
        if section.name not in ASSESSMENT_SECTIONS:
            continue
        for title_start, title_end in _statements(text, section):
            line_end = text.find("\n", title_end) if "\n" in text[title_end:] else len(text)
            for start, end in ((title_start, title_end), *_conjuncts(text, title_start, title_end)):
                inside = [t for t in terms if start <= t.start and t.end <= end]
                out.append(
                    Term(
                        text=text[start:end],
                        start=start,
                        end=end,
                        label=LABEL,
                        section=section.name,
                        # The Index reads subterms from the title's own line: the entry's
                        # lines under it name other conditions and findings, which would
                        # open "with" subterms the provider did not link (ACI train).
                        sentence_start=title_start,
                        sentence_end=line_end,
                        attributes=_attributes(text[start:end], inside),
                        source=SOURCE,
                    )
                )
    return out


# "Newly reduced left ventricular dysfunction and moderate mitral regurgitation": two
# problems in one title, each a statement of its own beside the whole.
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_MIN_CONJUNCT_WORDS = 2


def _conjuncts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The parts of a title that joins two problems with "and", each of at least two
    words (a title's "nausea and vomiting" stays one statement)."""
    parts, at = [], start
    for m in _AND.finditer(text, start, end):
        parts.append((at, m.start()))
        at = m.end()
    if not parts:
        return []
    parts.append((at, end))
    if any(len(_WORD.findall(text[a:b])) < _MIN_CONJUNCT_WORDS for a, b in parts):
        return []
    return parts


def _statements(text: str, section: Section) -> Iterator[tuple[int, int]]:
    """Start and end of each problem title of one section.

    When the section numbers its problems ("1.", "#2"), the numbered lines are the titles;
    otherwise the first line of each paragraph is. Continuation lines (lower-case starts) and
    the plan's labelled lines ("- Medical Reasoning: ...") are never titles.
    """
    lines = []
    previous_end, seen_content = section.start, False
    for m in _LINE.finditer(text, section.start, section.end):
        start, line = m.start(), m.group()
        # A paragraph is the section's first content or follows a blank line.
        first = not seen_content or text.count("\n", previous_end, start) >= 2
        previous_end = m.end()
        if start == section.start:
            # The heading's line: a title may follow it ("Assessment: Acute lumbar strain.").
            head = re.match(rf"\s*{re.escape(section.title)}\s*:?\s*", line, re.IGNORECASE)
            if head is None:
                continue
            start, line = start + head.end(), line[head.end() :]
        seen_content = seen_content or bool(line.strip())
        numbered = _NUMBERED.match(line)
        bullet = numbered or _BULLET.match(line)
        offset = bullet.end() if bullet else 0
        lines.append((start + offset, line[offset:], bool(numbered), first))
    any_numbered = any(numbered for _, _, numbered, _ in lines)
    for begin, rest, numbered, first in lines:
        if (numbered if any_numbered else first) and (title := _title(rest)):
            yield begin, begin + len(title)


def _title(rest: str) -> str:
    """The problem's name at the start of a line, or '' when the line names none."""
    if (not rest[:1].isupper() and not rest[:1].isdigit()) or _LABELLED.match(rest):
        return ""
    end = _TITLE_END.search(rest)
    title = rest[: end.start() if end else len(rest)].rstrip(" ,")
    words = _WORD.findall(title)
    if not words or len(words) > MAX_WORDS or _CUES.search(title):
        return ""
    return title


def _attributes(title: str, inside: Sequence[Term]) -> dict[str, str]:
    """What the statement's own words say (laterality), then what its terms' readers found."""
    attributes: dict[str, str] = {}
    for term in inside:
        for key, value in term.attributes.items():
            attributes.setdefault(key, value)
    sides = {_SIDES[m.lower()] for m in _SIDE.findall(title)}
    if len(sides) == 1:
        attributes["laterality"] = sides.pop()
    elif len(sides) > 1:
        attributes["laterality"] = "bilateral"
    return attributes
