"""Adverse effects of drugs: the T36-T50 code beside the condition a drug caused.

Guideline I.C.19.e.5.a: when a drug correctly prescribed and properly administered causes a
condition, the condition is coded first ("hyperglycemia"), then the drug's adverse-effect code
from the Table of Drugs and Chemicals (T38.0X5- for prednisone). A coder reports it only where
the provider links the two in so many words: "steroid-induced hyperglycemia", "rash due to
amoxicillin", "hypokalemia secondary to furosemide", "cough, a side effect of lisinopril". A
link the provider hedges ("edema likely from amlodipine", "possibly statin-related") is not
coded in the outpatient setting (IV.H); a negated one ("not due to") never is.

Poisonings and overdoses are conditions of their own ("acetaminophen overdose") and reach the
table through the Index (Overdose - see Table of Drugs and Chemicals, by drug, poisoning).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from codesuggest.codebook.drugs import DrugTable
from codesuggest.codebook.index import words_of
from codesuggest.core.records import Term

ADVERSE_LABEL = "adverse effect"
REFERENCE = "Table of Drugs and Chemicals, categories T36-T50, with 6th character 5"
# Drug categories whose adverse effects the table codes (T36-T50).
_DRUG_CATEGORIES = ("T36", "T50")
_HEDGE = (
    r"likely|possibly|possible|probably|probable|perhaps|maybe|may\s+be|might\s+be|could\s+be|"
    r"suspected|questionable|presumably|presumed|unlikely|not|no|doubt"
)
_LINK = (
    r"due\s+to|secondary\s+to|caused\s+by|induced\s+by|from|attributed\s+to|"
    r"(?:an?\s+)?(?:adverse|side)\s+(?:effect|reaction)s?\s+(?:of|to|from)"
)
_LEAD = (
    r"the|his|her|their|a|an|recent|recently|new|current|high[-\s]dose|chronic|long[-\s]term|"
    r"oral|iv|daily|started|starting|taking|use\s+of|being\s+on|on"
)
# "<condition> [, which is] [likely] due to [the] <drug>".
_AFTER = re.compile(
    rf"^[\s,(-]*(?:(?:which|that)\s+(?:is|was|are|were)\s+|(?:is|was|are|were|felt\s+to\s+be|"
    rf"thought\s+to\s+be|believed\s+to\s+be)\s+)?(?P<hedge>(?:{_HEDGE})\s+)?(?:{_LINK})\s+"
    rf"(?:(?:{_LEAD})\s+)*(?P<drug>[a-z][\w-]*(?:\s+[a-z][\w-]*){{0,2}})",
    re.IGNORECASE,
)
# "[possibly] <drug>-induced <condition>".
_BEFORE = re.compile(
    rf"(?:(?P<hedge>{_HEDGE})\s+)?(?P<drug>[a-z][\w]*(?:\s+[a-z]\w*)?)[-\s]+"
    r"(?:induced|associated)\s*$",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:not|no|unlikely|doubt)\b", re.IGNORECASE)
_REACH = 80
# Conditions that are not the effect of a drug (drug terms, histories, injuries, the
# adverse-effect, poisoning and status codes themselves).
_NOT_EFFECTS = frozenset({"status", "procedure", "procedure_history", "drug", "medication"})


def adverse_effect_terms(
    text: str,
    conditions: Sequence[Term],
    table: DrugTable,
    *,
    hedged_ok: bool = False,
) -> Iterator[Term]:
    """A term for each drug a documented condition is attributed to, coded from the table.

    Args:
        text: the note.
        conditions: its present, coded conditions.
        table: the Table of Drugs and Chemicals.
        hedged_ok: a hedged link counts (inpatient, at discharge: guideline II.H).
    """
    seen: set[tuple[int, str]] = set()
    for cond in conditions:
        if cond.label in _NOT_EFFECTS or not cond.codes or cond.codes[0][:1] in "TVWXYZ":
            continue
        for start, end, link in _drug_spans(text, cond):
            if link == "negated" or (link == "hedged" and not hedged_ok):
                continue
            words = words_of(text[start:end])
            hit = table.lookup(REFERENCE, words, words, words)
            if hit is None or not _DRUG_CATEGORIES[0] <= hit.code[:3] <= _DRUG_CATEGORIES[1]:
                continue
            if (start, hit.code) in seen:
                continue
            seen.add((start, hit.code))
            # The drug's own words, not the filler the pattern allowed after it.
            start, end = _trim(text, start, end, hit.words)
            yield replace(
                cond,
                text=text[start:end],
                start=start,
                end=end,
                label=ADVERSE_LABEL,
                codes=(hit.code,),
                attributes={k: v for k, v in cond.attributes.items() if k == "encounter"},
                source=" > ".join(("Adverse effect", *hit.path)),
                expansion=f"adverse effect of {text[start:end]} ({cond.text})",
                ambiguous=(),
            )


def _drug_spans(text: str, cond: Term) -> Iterator[tuple[int, int, str]]:
    """Spans that name what the condition is attributed to, and how the link is written:
    "" (stated), "hedged" or "negated"."""
    stop = cond.sentence_end if cond.sentence_end > cond.end else len(text)
    after = text[cond.end : min(stop, cond.end + _REACH)]
    m = _AFTER.match(after)
    if m:
        yield cond.end + m.start("drug"), cond.end + m.end("drug"), _link_kind(m["hedge"] or "")
    begin = max(cond.sentence_start, cond.start - _REACH) if cond.sentence_end else 0
    before = text[max(begin, cond.start - _REACH) : cond.start]
    b = _BEFORE.search(before)
    if b:
        base = cond.start - len(before)
        hedge = b["hedge"] or " ".join(before[: b.start()].split()[-2:])
        yield base + b.start("drug"), base + b.end("drug"), _link_kind(hedge)


def _link_kind(words: str) -> str:
    """How the words before a link qualify it: negated ("not due to"), hedged ("likely")."""
    if _NEGATION.search(words):
        return "negated"
    return "hedged" if re.search(rf"\b(?:{_HEDGE})\b", words, re.IGNORECASE) else ""


def _trim(text: str, start: int, end: int, words: frozenset[str]) -> tuple[int, int]:
    """The span cut down to the words the table read (its first to its last)."""
    found = [
        (m.start(), m.end())
        for m in re.finditer(r"[A-Za-z][\w-]*", text[start:end])
        if words_of(m[0]) & words
    ]
    if not found:
        return start, end
    return start + found[0][0], start + found[-1][1]
