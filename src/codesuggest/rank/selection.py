"""Which ranked codes are pre-selected: the codes a certified coder would report, and no more.

The ranker orders candidates; pre-selection asks what a coder asks of each line before signing
the claim, and says why a line is left unselected:

- the code is what a documented term reads as in the Alphabetic Index (or the vocabulary), not
  a code the document model or a training association proposed on its own (never a back door);
- the term is documented as present (or as a history / status code), and, in a note with an
  assessment, impression or diagnosis section, the condition is in it: those sections are
  where the provider states what was addressed (Guidelines IV.D, IV.J);
- a sign or symptom is not reported beside a confirmed diagnosis of the same problem entry
  (I.B.4-5: integral symptoms are not coded);
- a code folded into a combination code by the Index's "with" convention is not reported
  again (I.A.15, I.B.9);
- never both codes of an Excludes1 pair, nor an unspecified code beside a specific code of the
  same category.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from codesuggest.codebook.codeset import CodeSet
from codesuggest.codebook.hierarchy import names_no_site
from codesuggest.codebook.index import load_synonyms, words_of
from codesuggest.codebook.tabular import SUPPLEMENTARY_TITLE
from codesuggest.core.codes import drug_code_kind, parse_code_refs
from codesuggest.core.records import ICD10CM, Candidate, Evidence
from codesuggest.core.text import spans_between
from codesuggest.rank.candidates import ABSORBED, PRIMARY
from codesuggest.rank.em import is_chronic
from codesuggest.rank.features import PRIORITY_SECTIONS

# Where the provider states what was diagnosed and addressed at this encounter.
DIAGNOSTIC_SECTIONS = PRIORITY_SECTIONS | {"plan", "problem_list"}
# Sections whose mentions are never the patient's own current condition.
NOT_CODED_SECTIONS = frozenset({"family_history", "review_of_systems", "allergies"})
# Assertions a code may be reported from: inpatient coders code uncertain diagnoses at
# discharge as if established (II.H); outpatient coders code their symptoms (IV.H).
_CODED = {
    "outpatient": frozenset({"present", "historical"}),
    "inpatient": frozenset({"present", "historical", "uncertain"}),
}
# A ranker score below this vetoes a documented code (the model has seen it mis-read).
MIN_SCORE = 0.05
# History, status, long-term drug therapy and tobacco codes are reported from any section
# (the social history and medication list are where they are documented).
_ANY_SECTION = ("Z79", "Z8", "Z9", "Z66", "I25.2", "F17", "Z72.0", "V", "W", "X", "Y")
# External causes (V00-Y99) go with an injury (I.C.20), whose story the history tells.
_EXTERNAL_CAUSE = ("V", "W", "X", "Y")
_INJURIES = ("S", *(f"T{n:02d}" for n in range(35)), *(f"T{n}" for n in range(66, 80)))
# Family history codes (Z80-Z84) are read from the family history section.
_FAMILY_HISTORY = ("Z80", "Z81", "Z82", "Z83", "Z84")
_FAMILY_CANCER = "Z80"
# BMI codes and the weight diagnoses they are reported with (I.B.14).
_BMI = "Z68"
_RECEPTOR_STATUS = "Z17"
_BREAST_CANCER = "C50"
_WEIGHT_DIAGNOSES = ("E66", "E40", "E41", "E42", "E43", "E44", "E45", "E46", "R63.4", "R63.6")
# Encounters for screening: a family history is their reason.
_SCREENING = ("Z12", "Z13")
# Acquired absence of an organ (appendectomy, cholecystectomy, hysterectomy ...).
_ACQUIRED_ABSENCE = "Z90"
# Words of history and neoplasm descriptions that name no organ.
_GENERIC_WORDS = words_of(
    "family history personal malignant neoplasm disease disorder condition chronic primary "
    "secondary carcinoma cancer abuse dependence encounter screening examination"
)
# Injury of an unspecified body region says less than any injury code with a site.
_NO_SITE_INJURY = "T14"
# Malignant neoplasm without specification of site says less than any cancer with its site.
_NO_SITE_CANCER = "C80"
_CONTINUING = re.compile(
    r"\b(?:continue[sd]?|taking|takes|remains? on|been on|is on|currently|current|refill\w*"
    r"|increas\w*|decreas\w*|adjust\w*|titrat\w*|resum\w*|restart\w*)\b",
    re.IGNORECASE,
)
_INTEGRAL = "a symptom of a diagnosis"
_UNSTATED = "a symptom the assessment does not state"
_NOT_ASSESSED = "not in the assessment or diagnoses"
_UNREAD = "no documented term reads as this code"
# Where a note lists what the patient already takes (an operative note's technique section
# names drugs given during the procedure, not therapy).
_ONGOING_SECTIONS = frozenset(
    {"medications", "history_of_present_illness", "past_medical_history", "social_history", ""}
)
_ON_DRUG = re.compile(r"\b(?:on|takes|taking)\s+(?:\w+\s+)?$", re.IGNORECASE)
# A drug stopped, held or discontinued is not current therapy (I.C.21.c.3).
_STOPPED = re.compile(
    r"\b(?:stopped|discontinu\w*|d/c'?d|held|holding|no longer|off of|came off|quit)\b",
    re.IGNORECASE,
)
_STOP_REACH = 25
_UNSAID = words_of("unspecified without complications complication nos other")
# Titles of a state of one moment, which a history mention does not carry to this visit.
_TIME_BOUND = re.compile(
    r"\b(?:acute|exacerbation|crisis|decompensat\w*|encounter|sequela|episode)\b", re.IGNORECASE
)
# A prescription written at this visit: not yet long-term therapy.
_NEW_RX = re.compile(
    r"\b(?:(?:i|we|i'm|we're)\s+(?:have\s+|will\s+|am\s+|are\s+|'ll\s+)?(?:going\s+to\s+)?"
    r"(?:also\s+)?(?:prescribed?|start(?:ed)?)|(?:was|were|is|been)\s+prescribed|"
    r"new\s+prescription|sent\s+in\s+a\s+prescription)\b",
    re.IGNORECASE,
)
_SHORT_COURSE = re.compile(
    r"\b(?:taper(?:ed|ing)?|burst|dose\s?pa(?:c)?k|medrol\s+pack|z-?pak|"
    r"\d+[-\s]day\s+course|course\s+of|x\s*\d+\s*days|for\s+\d+\s+days|"
    r"for\s+breakthrough|as\s+needed\s+for\s+(?:post-?op(?:erative)?\s+)?pain)\b"
    # A small quantity dispensed: "(#8)", "#10 tablets".
    r"|\(#\s?\d{1,2}\)|#\s?\d{1,2}\s+(?:tablets|tabs|pills)\b",
    re.IGNORECASE,
)
_NOT_YET = frozenset({"will", "to", "not", "never", "won't", "don't", "plan", "plans", "may"})
# Where a history mention of a chronic condition may say it is treated now.
_HISTORY_SECTIONS = frozenset(
    {"history_of_present_illness", "past_medical_history", "indication", "history", ""}
)
# Sections of a procedure or operative note, or of a hospital or emergency stay.
# (A "Procedures" heading may be a past history's list of them: not one of these.)
_STAY_SECTIONS = frozenset(
    {
        "indication",
        "technique",
        "preoperative_diagnosis",
        "postoperative_diagnosis",
        "hospital_course",
    }
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_LIST_SEPARATOR = re.compile(r"[,;]")
_MANAGED = re.compile(
    r"\b(?:on|taking|takes|controlled|managed|management|medications?|treated|treatment"
    r"|continues?|prescribed|maintained)\b",
    re.IGNORECASE,
)
# Reasons that make a line one a coder must not report (not merely one not documented enough).
_MUST_NOT = (
    "included in a combination",
    "documented only as negated",
    _INTEGRAL,
    _UNSTATED,
    "Excludes1 with",
    "less specific than",
    "an injury of unspecified body region",
)
# A problem entry ends at a blank line or a new list item; a bullet that is a part of the
# entry above ("Congestive heart failure.\n\u2022 Medical Reasoning: ... edema") does not end it.
_ENTRY_PART = (
    r"(?:medical\s+)?(?:reasoning|treatment|decision\s+making)|additional\s+testing|testing|"
    r"specialist\s+referrals?|referrals?|patient\s+(?:education|agreements?)\w*|plan|"
    r"diagnostics?|follow[- ]?up|counsel\w*"
)
_PARAGRAPH = re.compile(
    r"\n[ \t]*\n|\n(?=[ \t]*(?:\d{1,2}[.)]|[-*\u2022#])[ \t]+(?!(?:"
    + _ENTRY_PART
    + r")[^:\n]{0,30}:)\S)",
    re.IGNORECASE,
)
# Words that say what a symptom is or how bad, not where: what is left names the site.
_SYMPTOM_WORDS = words_of(
    "pain painful ache aching discomfort swelling tenderness stiffness acute chronic severe "
    "mild moderate intermittent unspecified other limb region site joint upper lower "
    "dorsalgia cervicalgia symptom sign left right bilateral"
)


@dataclass(slots=True)
class Selection:
    """The pre-selected candidates (by position) and, for the others, why not.

    ``assessed``: the note states an assessment (or diagnoses), so the codes it supports lead
    the list; in a narrative without one, the ranker's order leads. ``demoted``: candidates a
    coder must not report (negated, integral, folded into a combination, less specific, an
    Excludes1 clash), listed after every other alternative.
    """

    selected: set[int]
    reasons: dict[int, str]
    assessed: bool = False
    demoted: set[int] = field(default_factory=set)
    # The candidates' codes, by position (for the sequence of drug codes).
    codes: tuple[str, ...] = ()
    # Manifestation and infectious-agent codes ("in" / "as the cause of diseases classified
    # elsewhere"), by position: never listed before the condition they go with (I.A.13).
    manifestations: frozenset[int] = frozenset()

    def order(self, scores: Sequence[float], limit: int) -> list[int]:
        """Positions in display order: pre-selected first when assessed, then by score, the
        lines a coder must not report last. A symptom is only known to be integral to a
        diagnosis when the note states its assessment; in a narrative without one it keeps
        its place by score (it stays unselected either way)."""

        def key(i: int) -> tuple[float, int, float, int]:
            why = self.reasons.get(i, "")
            demoted = i in self.demoted and (self.assessed or not why.startswith(_INTEGRAL))
            tier = 0.0 if self.assessed and i in self.selected else (2.0 if demoted else 1.0)
            # Among the pre-selected codes: a poisoning first, an adverse effect after its
            # nature (guideline I.C.19.e.5).
            kind = drug_code_kind(self.codes[i]) if tier == 0.0 and self.codes else ""
            sequence = {"poisoning": -1, "adverse effect": 1, "underdosing": 1}.get(kind, 0)
            if tier == 0.0 and i in self.manifestations:
                sequence = 1
            return tier, sequence, -float(scores[i]), i

        ranked = sorted(range(len(scores)), key=key)[:limit]
        return ranked + [i for i in sorted(self.selected) if i not in set(ranked)]


def _paragraphs(text: str) -> list[tuple[int, int]]:
    return spans_between(_PARAGRAPH, text)


def _block_of(bounds: Sequence[tuple[int, int]], pos: int) -> int:
    return next((i for i, (s, e) in enumerate(bounds) if s <= pos < e), -1)


def _long_term(text: str, cand: Candidate) -> bool:
    """Whether a drug is documented as taken already (medication list, history, "continue"),
    not only prescribed or given at this visit (a prednisone taper, oxycodone for a stone,
    a drug given in the operating room are not long-term therapy)."""
    short = [
        bool(
            _SHORT_COURSE.search(_clause(text, e.start, e.end))
            or _NEW_RX.search(_sentence(text, e))
        )
        for e in cand.evidence
    ]
    listed = any(
        e.section == "medications" and not s for e, s in zip(cand.evidence, short, strict=True)
    )
    if any(short) and not listed:
        # "a prednisone taper", "a 5-day course of azithromycin", "I have prescribed
        # oxycodone": short-term or new use, which guideline I.C.21.c.3 leaves uncoded,
        # unless the medication list has it as well.
        return False
    for e in cand.evidence:
        if _stopped(_clause(text, e.start, e.end)):
            # "aspirin stopped 2025", "metformin was discontinued": not current therapy.
            continue
        if e.section in _ONGOING_SECTIONS or _ON_DRUG.search(text[max(0, e.start - 12) : e.start]):
            # A medication list or history, or "on metformin" anywhere.
            return True
        line_start = text.rfind("\n", 0, e.start) + 1
        line_end = text.find("\n", e.end)
        if _CONTINUING.search(text[line_start : line_end if line_end >= 0 else len(text)]):
            return True
    return False


def _sentence_start(text: str, pos: int) -> int:
    """Where the sentence (or list line) holding ``pos`` begins."""
    return max(text.rfind(b, 0, pos) for b in ".!?\n") + 1


def _sentence(text: str, e: Evidence) -> str:
    """The sentence (or list line) holding an evidence span."""
    start = _sentence_start(text, e.start)
    ends = [i for i in (text.find(b, e.end) for b in ".!?\n") if i >= 0]
    return text[start : min(ends) if ends else len(text)]


def _stopped(clause: str) -> bool:
    """Whether a clause says the drug was stopped: not a stop to come ("will discontinue it
    before surgery") or denied ("not held")."""
    for m in _STOPPED.finditer(clause):
        before = set(re.findall(r"[a-z']+", clause[: m.start()].lower())[-2:])
        if not before & _NOT_YET:
            return True
    return False


def _clause(text: str, start: int, end: int) -> str:
    """The words around a span up to the nearest clause break (; . newline) or
    ``_STOP_REACH`` characters, whichever is nearer."""
    lo = max(0, start - _STOP_REACH)
    hi = min(len(text), end + _STOP_REACH)
    before = max(text.rfind(b, lo, start) for b in ";.\n")
    after = [i for i in (text.find(b, end, hi) for b in ";.\n") if i >= 0]
    return text[max(lo, before + 1) : min(after) if after else hi]


# "Her previous year's echocardiogram demonstrated ... as well as some mitral regurgitation":
# an earlier study's result, restated in the reasoning for another problem.
_EARLIER_STUDY = re.compile(
    r"\b(?:previous|prior|recent|last|old|earlier|outside)\b[^.;]{0,30}?\b(?:echo\w*|"
    r"x-?rays?|ct|cat scan|mri|ultrasound|scan|imaging|study|stress test|ekg|ecg|"
    r"angiogram|catheterization|biopsy|colonoscopy|endoscopy|egd|labs?|bloodwork)\b[^.;]*?"
    r"\b(?:demonstrat\w*|show\w*|reveal\w*|found|indicat\w*|confirm\w*)\b"
    r"|\b(?:echo\w*|x-?rays?|ct|mri|ultrasound|scan|study|ekg|ecg|biopsy|labs?)\b[^.;]{0,20}?"
    r"\b(?:from|of)\s+(?:\d+|a|one|two|three|several)\s+(?:days?|weeks?|months?|years?)\s+ago"
    r"\b[^.;]*?\b(?:demonstrat\w*|show\w*|reveal\w*|found|indicat\w*|confirm\w*)\b",
    re.IGNORECASE,
)


def _earlier_study_finding(text: str, e: Evidence) -> bool:
    """Whether an assessment mention is a finding an earlier study reported, restated in
    the sentence before it: the study's result, not a condition the visit addresses
    (guideline IV.J: code the conditions that affect this visit's care). The same
    condition stated as a problem of its own, or managed, is still coded."""
    return bool(_EARLIER_STUDY.search(text[_sentence_start(text, e.start) : e.start]))


def _managed(text: str, e: Evidence, others: Sequence[tuple[int, int]] = ()) -> bool:
    """Whether the sentence of a history mention says the condition is under treatment,
    in its own part of the sentence: between the mentions of other conditions (``others``,
    their spans) around it ("hypothyroidism on levothyroxine, migraine": the levothyroxine
    is not the migraine's)."""
    if e.section not in _HISTORY_SECTIONS:
        return False
    # A sentence ends at a full stop before a space or a line end, not in "A1c 6.8%".
    before = [m.end() for m in _SENTENCE_END.finditer(text, max(0, e.start - 400), e.start)]
    start = before[-1] if before else max(0, e.start - 400)
    found = _SENTENCE_END.search(text, e.end)
    end = found.start() if found else len(text)
    # Back to the list's separator before it ("..., migraine"), forward to the next
    # condition named.
    separators = [m.end() for m in _LIST_SEPARATOR.finditer(text, start, e.start)]
    start = max([start, *separators[-1:], *(b for a, b in others if b <= e.start)])
    end = min([end, *(a for a, b in others if a >= e.end)])
    return bool(_MANAGED.search(text, start, end)) if start < end else False


def _documented(
    cand: Candidate,
    has_diagnoses: bool,
    setting: str,
    text: str = "",
    others: Sequence[tuple[int, int]] = (),
    comorbid: bool = False,
) -> str:
    """Why a candidate cannot be reported from its documentation ('' when it can).
    ``others``: where the note names the other candidates' conditions; ``comorbid``: the
    note is of a procedure or a hospital or emergency stay, whose chronic comorbidities the
    history lists."""
    if not cand.features.get(PRIMARY):
        return _UNREAD
    if cand.features.get(ABSORBED):
        return "included in a combination code"
    family_code = cand.code.startswith(_FAMILY_HISTORY)
    usable = [
        e
        for e in cand.evidence
        if e.assertion in _CODED[setting] and (e.section not in NOT_CODED_SECTIONS or family_code)
    ]
    if not usable:
        return "documented only as negated, uncertain, family or review-of-systems"
    if cand.code.startswith(_NO_SITE_INJURY):
        return "an injury of unspecified body region: code the injury by its documented site"
    if family_code:
        return ""
    if cand.code.startswith(_ANY_SECTION):
        return ""
    if all(e.assertion == "historical" for e in usable):
        return "documented only as history"
    if has_diagnoses and not any(
        e.section in DIAGNOSTIC_SECTIONS and not _earlier_study_finding(text, e) for e in usable
    ):
        if is_chronic(cand.code) and (
            (comorbid and "index" in cand.sources) or any(_managed(text, e, others) for e in usable)
        ):
            # A chronic condition the history documents as treated at this visit's
            # management (IV.I, IV.J: coexisting conditions that affect care are coded),
            # or, for a procedure or a hospital or emergency stay, one the history lists:
            # a comorbidity the anesthesia, the procedure or the stay's care allows for.
            return ""
        return _NOT_ASSESSED
    return ""


def _specific_readings(
    candidates: Sequence[Candidate], chosen: list[int], reasons: dict[int, str], icd: CodeSet
) -> list[int]:
    """Codes the history documents more specifically than the assessment's unspecified code
    of the same concept ("chronic congestive heart failure with diastolic dysfunction" in
    the history, "congestive heart failure" in the assessment: I50.32, not I50.9). The same
    concept is the same category, or an Index path the specific reading goes further down
    ("Osteoarthritis" in the assessment, "Regarding his osteoarthritis ... his knee" in the
    history: Osteoarthritis > knee, M17.9, not M19.90). The assessment's code then goes as
    the less specific one. A time-bound state (acute, an exacerbation, an encounter) is not
    carried over: it is the assessment's to say."""
    unspecified = [j for j in chosen if _unspecified(icd, candidates[j].code)]
    categories = {candidates[j].code[:3] for j in unspecified}
    # Diabetes is coded with every complication the note documents (I.C.4.a: as many codes
    # of its category as needed), once the assessment addresses the diabetes at all.
    diabetes = {candidates[j].code[:3] for j in chosen} & _DIABETES
    out = []
    for i, cand in enumerate(candidates):
        if reasons.get(i) != _NOT_ASSESSED:
            continue
        rec = icd.find(cand.code)
        if rec is None or names_no_site(rec.description) or _TIME_BOUND.search(rec.description):
            continue
        wider = [(j, path) for j in unspecified if (path := _further_down(candidates[j], cand))]
        same_category = (cand.code[:3] in categories and not _unspecified(icd, cand.code)) or (
            cand.code[:3] in diabetes and not cand.code.endswith(".9")
        )
        if not (same_category or wider):
            continue
        del reasons[i]
        out.append(i)
        for j, path in wider:
            reasons[j] = (
                f"less specific than {cand.code}, which the note documents further down the "
                f"Index ({' > '.join(path)})"
            )
    return out


_DIABETES = frozenset({"E08", "E09", "E10", "E11", "E13"})


def _same_concept(a: str, b: str) -> bool:
    """Whether two codes say one condition, one perhaps more specifically: the same category,
    except that diabetes's complications (E11.4- neuropathy, E11.621 foot ulcer) are each
    a condition of their own, coded side by side (I.C.4.a)."""
    if a[:3] != b[:3]:
        return False
    if a[:3] in _DIABETES and not (a.endswith(".9") or b.endswith(".9")):
        return a[:5] == b[:5]
    return True


def _further_down(wide: Candidate, narrow: Candidate) -> tuple[str, ...]:
    """The longest Index path of ``narrow`` that continues one of ``wide``'s (same main
    term, more subterms) to another code; () where none does. Signs and symptoms are left
    to the integral-symptom rule (I.B.4-5): "pain" in the assessment is not the history's
    "Pain > kidney"."""
    if wide.code == narrow.code or wide.code.startswith("R") or narrow.code.startswith("R"):
        return ()
    longer = [
        n
        for w in wide.index_paths
        for n in narrow.index_paths
        if len(n) > len(w) and n[: len(w)] == w
    ]
    return max(longer, key=len) if longer else ()


def select(
    text: str,
    candidates: Sequence[Candidate],
    scores: Sequence[float],
    icd: CodeSet,
    *,
    setting: str = "outpatient",
) -> Selection:
    """The coder's pre-selection over ranked candidates (see the module docstring)."""
    has_diagnoses = any(e.section in DIAGNOSTIC_SECTIONS for c in candidates for e in c.evidence)
    reasons: dict[int, str] = {}
    chosen: list[int] = []
    comorbid = any(e.section in _STAY_SECTIONS for c in candidates for e in c.evidence)
    # Where the note names each condition read as a code (for a mention's own clause).
    mentions = sorted(
        {
            (e.start, e.end)
            for c in candidates
            if c.system == ICD10CM and c.features.get(PRIMARY)
            for e in c.evidence
        }
    )
    for i, cand in enumerate(candidates):
        if cand.system != ICD10CM:
            reasons[i] = "procedure codes are selected by their own scorer"
            continue
        spans = [(e.start, e.end) for e in cand.evidence]
        others = [x for x in mentions if x not in spans] if mentions else []
        why = _documented(cand, has_diagnoses, setting, text, others, comorbid)
        if not why and cand.code.startswith("Z79") and not _long_term(text, cand):
            why = "long-term use is not documented (a short course, or started at this visit)"
        if (
            not why
            and cand.code.startswith(_ACQUIRED_ABSENCE)
            and not any(e.section in DIAGNOSTIC_SECTIONS for e in cand.evidence)
        ):
            why = (
                "an organ removed in the past is reported when its absence affects this "
                "visit's care (guideline I.C.21.c.3): the assessment does not discuss it"
            )
        if not why and "index" not in cand.sources and scores[i] < MIN_SCORE:
            why = "the ranker scores this reading as unlikely"
        if why:
            reasons[i] = why
        else:
            chosen.append(i)
    chosen += _specific_readings(candidates, chosen, reasons, icd)
    chosen = [i for i in chosen if i not in reasons]
    chosen.sort(key=lambda i: -scores[i])
    kept = _drop_integral_symptoms(text, candidates, chosen, reasons, has_diagnoses, icd)
    kept = _drop_conflicts(candidates, kept, reasons, icd)
    kept = _drop_unrelated_family_history(candidates, kept, reasons, icd)
    kept = _bmi_with_weight_diagnosis(candidates, kept, reasons)
    kept = _receptor_status_with_breast_cancer(candidates, kept, reasons)
    why = "an external cause is coded only with the injury it caused (guideline I.C.20)"
    kept = _companion_codes(candidates, kept, reasons, _EXTERNAL_CAUSE, _INJURIES, why)
    kept = _diabetes_drugs_with_diabetes(candidates, kept, reasons)
    if has_diagnoses:
        _mark_unstated_symptoms(candidates, kept, reasons, icd)
    demoted = {i for i, why in reasons.items() if why.startswith(_MUST_NOT)}
    manifestations = frozenset(i for i in kept if _is_manifestation(icd, candidates[i].code))
    codes = tuple(c.code for c in candidates)
    return Selection(set(kept), reasons, has_diagnoses, demoted, codes, manifestations)


def _is_manifestation(icd: CodeSet, code: str) -> bool:
    """A code reported only beside another: a manifestation ("in diseases classified
    elsewhere") or an infectious agent ("as the cause of diseases classified elsewhere")."""
    rec = icd.find(code)
    return rec is not None and bool(SUPPLEMENTARY_TITLE.search(rec.description))


def _mark_unstated_symptoms(
    candidates: Sequence[Candidate], kept: list[int], reasons: dict[int, str], icd: CodeSet
) -> None:
    """In a note whose assessment establishes a diagnosis, a sign or symptom the assessment
    does not state is integral to it or was not addressed (IV.D): a coder must not report
    it, so it goes to the end of the list with that reason."""
    if not any(
        not is_symptom(icd, candidates[i].code) and not candidates[i].code.startswith("Z")
        for i in kept
    ):
        return
    for i, why in reasons.items():
        cand = candidates[i]
        if cand.system == ICD10CM and why.startswith(_NOT_ASSESSED) and is_symptom(icd, cand.code):
            reasons[i] = f"{_UNSTATED}: integral to the diagnoses it states, or not addressed"


def _companion_codes(
    candidates: Sequence[Candidate],
    kept: list[int],
    reasons: dict[int, str],
    companion: str,
    partners: tuple[str, ...],
    why: str,
) -> list[int]:
    """Codes reported only beside a partner diagnosis, from whichever section documents them:
    kept (or brought back) with a partner, dropped with ``why`` without one."""
    beside = any(candidates[i].code.startswith(partners) for i in kept)
    out = [i for i in kept if beside or not candidates[i].code.startswith(companion)]
    for i, cand in enumerate(candidates):
        if not cand.code.startswith(companion) or i in out:
            continue
        usable = any(e.assertion == "present" for e in cand.evidence)
        if beside and usable and cand.features.get(PRIMARY):
            out.append(i)
            reasons.pop(i, None)
        elif not beside:
            reasons[i] = why
    return out


# Long-term insulin, oral hypoglycemic and injectable non-insulin antidiabetic drugs.
_DIABETES_DRUGS = ("Z79.4", "Z79.84", "Z79.85")
# Diabetes (E08-E13) and diabetes in pregnancy (O24).
_DIABETES_CODES = (*sorted(_DIABETES), "O24")


def _diabetes_drugs_with_diabetes(
    candidates: Sequence[Candidate], kept: list[int], reasons: dict[int, str]
) -> list[int]:
    """The diabetes drug codes go beside a diabetes code (guideline I.C.4.a.3): a visit that
    does not address the diabetes reports no metformin."""
    if any(candidates[i].code.startswith(_DIABETES_CODES) for i in kept):
        return kept
    out = []
    for i in kept:
        if candidates[i].code.startswith(_DIABETES_DRUGS):
            reasons[i] = "a diabetes drug is reported beside the diabetes code (I.C.4.a.3)"
            continue
        out.append(i)
    return out


def _bmi_with_weight_diagnosis(
    candidates: Sequence[Candidate], kept: list[int], reasons: dict[int, str]
) -> list[int]:
    """A BMI (Z68) is reported only beside an associated weight diagnosis the provider
    documents (obesity, overweight, malnutrition, underweight: I.B.14), from any section."""
    why = "a BMI is reported only with a weight diagnosis (guideline I.B.14)"
    return _companion_codes(candidates, kept, reasons, _BMI, _WEIGHT_DIAGNOSES, why)


def _receptor_status_with_breast_cancer(
    candidates: Sequence[Candidate], kept: list[int], reasons: dict[int, str]
) -> list[int]:
    """Estrogen receptor status (Z17) is the additional code C50.- asks for: reported beside
    a breast cancer, from wherever the note documents it (the pathology in the history)."""
    why = "receptor status is coded only with a breast cancer (C50.-)"
    return _companion_codes(candidates, kept, reasons, _RECEPTOR_STATUS, (_BREAST_CANCER,), why)


def _drop_unrelated_family_history(
    candidates: Sequence[Candidate], kept: list[int], reasons: dict[int, str], icd: CodeSet
) -> list[int]:
    """A family history is reported when it bears on this visit (I.C.21.c.4): the provider
    names it in the assessment; or, for a family history of cancer, the visit screens for
    cancer or a diagnosis of the visit concerns the same organ (a brother's lung cancer at a
    COPD visit; a mother's breast cancer is not relevant to a diabetes visit)."""
    family = [i for i in kept if candidates[i].code.startswith(_FAMILY_HISTORY)]
    if not family:
        return kept
    others = [i for i in kept if i not in family]
    screening = any(candidates[i].code.startswith(_SCREENING) for i in others)
    visit_sites = set().union(*(_sites(icd, candidates[i]) for i in others)) - _GENERIC_WORDS
    out = []
    for i in kept:
        cand = candidates[i]
        named = any(e.section in DIAGNOSTIC_SECTIONS for e in cand.evidence)
        cancer = cand.code.startswith(_FAMILY_CANCER)
        same_organ = cancer and bool((_sites(icd, cand) - _GENERIC_WORDS) & visit_sites)
        if i in family and not (named or (cancer and screening) or same_organ):
            reasons[i] = "a family history that no diagnosis or screening of this visit concerns"
            continue
        out.append(i)
    return out


def _drop_integral_symptoms(
    text: str,
    candidates: Sequence[Candidate],
    chosen: list[int],
    reasons: dict[int, str],
    has_diagnoses: bool,
    icd: CodeSet,
) -> list[int]:
    """A symptom code goes when a confirmed diagnosis accounts for it: one documented in the
    same problem entry, or one of the same site ("back pain" beside "lumbar strain"), or any
    diagnosis when the symptom names no site at all ("pain")."""
    bounds = _paragraphs(text)

    def blocks(i: int) -> set[int]:
        return {
            _block_of(bounds, e.start)
            for e in candidates[i].evidence
            if not has_diagnoses or e.section in DIAGNOSTIC_SECTIONS
        }

    # A drug's poisoning or adverse-effect code (T36-T50) names the drug, not the condition:
    # the symptoms it caused are coded beside it (guideline I.C.19.e.5).
    diagnoses = [
        i
        for i in chosen
        if not is_symptom(icd, candidates[i].code)
        and not candidates[i].code.startswith("Z")
        and not is_drug_code(candidates[i].code)
    ]
    diagnosis_blocks = set().union(*(blocks(i) for i in diagnoses)) if diagnoses else set()
    diagnosis_sites = set().union(*(_sites(icd, candidates[i]) for i in diagnoses))
    kept = []
    for i in chosen:
        if is_symptom(icd, candidates[i].code) and diagnoses:
            sites = _sites(icd, candidates[i], evidence_only=True)
            # An abnormal finding (R70-R94: hyperglycemia, an abnormal lab) is part of no
            # disease merely by naming no site; it goes only beside a diagnosis of its own
            # problem entry or site.
            siteless = not sites and not _is_finding(candidates[i].code)
            if _superimposed(text, bounds, candidates[i]) or _worked_up(text, candidates[i]):
                # "Altered mental status ... superimposed on Alzheimer dementia": an acute
                # change on a chronic baseline is a problem of its own, not its symptom. "An
                # echocardiogram to evaluate his murmur": a sign the plan works up is one no
                # diagnosis yet explains (I.B.6).
                kept.append(i)
                continue
            if blocks(i) <= diagnosis_blocks or siteless or sites & diagnosis_sites:
                reasons[i] = "a symptom of a diagnosis documented with it (guideline I.B.5)"
                continue
        kept.append(i)
    return kept


_SUPERIMPOSED = re.compile(
    r"\b(?:superimposed\s+on|on\s+top\s+of|on\s+a\s+background\s+of|acute\s+on\s+chronic)\b",
    re.IGNORECASE,
)


def _superimposed(text: str, bounds: Sequence[tuple[int, int]], cand: Candidate) -> bool:
    """Whether a symptom's problem entry (``bounds``, as ``_paragraphs`` gives them) says,
    after the symptom, that it is superimposed on a chronic baseline."""
    for e in cand.evidence:
        at = _block_of(bounds, e.start)
        end = bounds[at][1] if at >= 0 else len(text)
        if _SUPERIMPOSED.search(text, e.start, end):
            return True
    return False


# "to evaluate his murmur", "for further evaluation of the murmur", "to work up her anemia":
# the words of a plan that orders a study of the sign or symptom that follows them.
_WORKUP = re.compile(
    r"\b(?:evaluat(?:e|ion)|work(?:-|\s)?up|investigat(?:e|ion)|follow(?:-|\s)up\s+on)\s+"
    r"(?:of\s+|for\s+)?(?:(?:the|his|her|their|this|that|these|a|an|any|possible)\s+)?"
    r"(?:[A-Za-z/-]+\s+){0,3}$",
    re.IGNORECASE,
)


def _worked_up(text: str, cand: Candidate) -> bool:
    """Whether the plan orders a study of this sign or symptom ("I ordered an echocardiogram
    to evaluate his murmur"): one the visit's diagnoses do not account for. A visit "for
    evaluation of" a complaint, or a past work-up, orders nothing."""
    for e in cand.evidence:
        if e.section not in DIAGNOSTIC_SECTIONS:
            continue
        lead = text[max(0, e.start - 200) : e.start]
        lead = lead[max(lead.rfind("."), lead.rfind("\n")) + 1 :]
        if _WORKUP.search(lead) and _ORDERS.search(lead):
            return True
    return False


# A plan's order of a study or referral, in the sentence before the sign it works up.
_ORDERS = re.compile(
    r"\b(?:order(?:ed|ing)?|schedul\w*|obtain|get|refer\w*|will|plan\w*|recommend\w*)\b",
    re.IGNORECASE,
)


def _sites(icd: CodeSet, cand: Candidate, *, evidence_only: bool = False) -> set[str]:
    """The anatomical words of a candidate's evidence (and description), in the Index's
    wording, without the words that name the symptom itself."""
    texts = [e.text for e in cand.evidence]
    rec = icd.find(cand.code)
    if rec is not None and not evidence_only:
        texts.append(rec.description)
    synonyms = load_synonyms()
    words = set().union(*(words_of(synonyms.expand(t)) for t in texts)) if texts else set()
    return words - _SYMPTOM_WORDS


def is_drug_code(code: str) -> bool:
    """A poisoning, adverse-effect or underdosing code of a drug (T36-T50)."""
    return "T36" <= code[:3] <= "T50"


def _is_finding(code: str) -> bool:
    """An abnormal finding of examination, lab or imaging (R70-R94), not a symptom."""
    return "R70" <= code[:3] <= "R94"


def is_symptom(icd: CodeSet, code: str) -> bool:
    """A sign or symptom code: chapter 18, pain not elsewhere classified (G89), or a pain
    code of the body-system chapters."""
    if code.startswith(("R", "G89")):
        return True
    rec = icd.find(code)
    words = rec.description.lower() if rec else ""
    if words.startswith(("pain", "low back pain", "dorsalgia", "cervicalgia")):
        return True
    return code.startswith("M") and " pain" in words[:25]


def _drop_conflicts(
    candidates: Sequence[Candidate], chosen: list[int], reasons: dict[int, str], icd: CodeSet
) -> list[int]:
    """Keep the better of an Excludes1 pair, and a specific code over its unspecified
    sibling in the same category."""
    kept: list[int] = []
    sited_injury = any(candidates[i].code.startswith("S") for i in chosen)
    sited_cancer = any(
        candidates[i].code[:1] == "C" and not candidates[i].code.startswith(_NO_SITE_CANCER)
        for i in chosen
    )
    for i in chosen:
        code = candidates[i].code
        if code.startswith(_NO_SITE_INJURY) and sited_injury:
            reasons[i] = "an injury of unspecified body region beside an injury with its site"
            continue
        if code.startswith(_NO_SITE_CANCER) and sited_cancer:
            reasons[i] = "less specific than the malignant neoplasm with its site"
            continue
        clash = next((j for j in kept if _excludes1(icd, code, candidates[j].code)), None)
        if clash is not None and _finding_beside_diagnosis(candidates[clash].code, code):
            # A sign or finding never outranks the diagnosis it excludes (I.B.4-5): "fasting
            # glucose elevated" (R73.01) in type 2 diabetes with hyperglycemia (E11.65).
            reasons[clash] = f"Excludes1 with {code}, the diagnosis the finding belongs to"
            kept.remove(clash)
        elif clash is not None and _site_beside_unsited(icd, candidates[clash].code, code):
            # "Urinary tract infection, site not specified" (N39.0) excludes the infection of
            # the site the note names: "acute cystitis with hematuria" is N30.01.
            reasons[clash] = f"Excludes1 with {code}, the same condition at its documented site"
            kept.remove(clash)
        elif clash is not None and _site_beside_unsited(icd, code, candidates[clash].code):
            reasons[i] = (
                f"Excludes1 with {candidates[clash].code}, the same condition at its "
                "documented site"
            )
            continue
        elif clash is not None and (path := _further_down(candidates[clash], candidates[i])):
            # The same condition read further down the Index ("Sepsis due to ... Streptococcus
            # pneumoniae": Sepsis > pneumococcal, A40.3, not Sepsis, A41.9).
            reasons[clash] = (
                f"Excludes1 with {code}, which the note documents further down the Index "
                f"({' > '.join(path)})"
            )
            kept.remove(clash)
        elif clash is not None:
            reasons[i] = f"Excludes1 with {candidates[clash].code}, which the note supports better"
            continue
        same = next((j for j in kept if _same_concept(candidates[j].code, code)), None)
        if same is not None and _less_specific(icd, code, candidates[same].code):
            reasons[i] = f"less specific than {candidates[same].code}"
            continue
        if same is not None and _less_specific(icd, candidates[same].code, code):
            reasons[same] = f"less specific than {code}"
            kept.remove(same)
        kept.append(i)
    return kept


def _site_beside_unsited(icd: CodeSet, unsited: str, sited: str) -> bool:
    """Whether ``unsited`` is a code of a condition at no specified site ("Urinary tract
    infection, site not specified") and ``sited`` one that names its site."""
    a, b = icd.find(unsited), icd.find(sited)
    return (
        a is not None
        and b is not None
        and names_no_site(a.description)
        and not names_no_site(b.description)
    )


def _finding_beside_diagnosis(kept: str, code: str) -> bool:
    """Whether ``kept`` is a sign, symptom or abnormal finding (chapter 18) and ``code`` is
    not."""
    return kept.startswith("R") and not code.startswith("R")


def _excludes1(icd: CodeSet, a: str, b: str) -> bool:
    for x, y in ((a, b), (b, a)):
        if icd.find(x) is None:
            continue
        for _, note in icd.inherited(x, "excludes1"):
            if any(icd.in_range(y, ref) for ref in parse_code_refs(note)):
                return True
    return False


def _less_specific(icd: CodeSet, a: str, b: str) -> bool:
    """Whether ``a`` is the unspecified (or uncomplicated) reading of what ``b`` says."""
    if a == b:
        return False
    title_a, title_b = _title_words(icd, a), _title_words(icd, b)
    if title_a and title_b and title_a != title_b:
        # One title says all the other says and more: R11.2 "nausea with vomiting" over
        # R11.0 "nausea", E11.65 "... with hyperglycemia" over E11.9 "... without
        # complications".
        if title_a < title_b:
            return True
        if title_b < title_a:
            return False
    unspecified_a, unspecified_b = _unspecified(icd, a), _unspecified(icd, b)
    if unspecified_a and unspecified_b:
        # Both unspecified in something: the deeper code says more (M54.50 "low back pain,
        # unspecified" over M54.9 "dorsalgia, unspecified").
        return len(a.replace(".", "")) < len(b.replace(".", ""))
    return unspecified_a


def _title_words(icd: CodeSet, code: str) -> frozenset[str]:
    """A code's title words, without the words that only say what is not specified."""
    rec = icd.find(code)
    return words_of(rec.description) - _UNSAID if rec else frozenset()


def _unspecified(icd: CodeSet, code: str) -> bool:
    rec = icd.find(code)
    if rec is None:
        return False
    words = rec.description.lower()
    return "unspecified" in words or "without complication" in words
