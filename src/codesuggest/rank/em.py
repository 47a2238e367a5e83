"""The E/M level of a visit, with its reasoning, from the 2021 AMA medical decision making table.

Office and outpatient visits (new 99202-99205, established 99212-99215) are levelled by MDM:
the number and complexity of problems addressed, the data reviewed or ordered, and the risk of
management, the level being the one that two of the three elements meet; or by the documented
total time on the date of the encounter, whichever is higher. Preventive visits take their
age-band code (99381-99397), emergency department visits 99281-99285, and inpatient stays the
initial, subsequent or discharge codes. Each level says which elements it found (with their
evidence in the note) and what documentation the next level would need.

The cue words live in ``data/em_rules.json`` so that a coder can read and extend them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from codesuggest.core.records import Evidence, Section
from codesuggest.rank.procedures import is_routine_prenatal

RULES_FILE = "em_rules.json"
# Where a note says what kind of encounter it is (title, chief complaint).
HEADER_CHARS = 200
LEVELS = ("straightforward", "low", "moderate", "high")
_OFFICE_NEW = ("99202", "99203", "99204", "99205")
_OFFICE_ESTABLISHED = ("99212", "99213", "99214", "99215")
_ED = ("99282", "99283", "99284", "99285")
_INPATIENT_INITIAL = ("99221", "99221", "99222", "99223")
_INPATIENT_SUBSEQUENT = ("99231", "99231", "99232", "99233")
# A visit in a major surgery's 90-day global period is part of the surgery (99024, no fee).
_POSTOP_VISIT, _GLOBAL_DAYS = "99024", 90
_POSTOP_DAY = re.compile(r"\b(?:postoperative|post-?op)\s+day\s+(\d{1,3})\b", re.I)
_GLOBAL = re.compile(r"\bglobal (?:surgical )?period\b", re.I)
_OUTSIDE_GLOBAL = re.compile(
    r"\b(?:outside|after|beyond|past) (?:the |its )?(?:\d+-day )?global\b", re.I
)


def _in_global_period(note: str) -> str:
    """What says the visit falls in a global surgical period ("postoperative day 42"), or ""."""
    if _OUTSIDE_GLOBAL.search(note):
        return ""
    day = _POSTOP_DAY.search(note)
    if day and int(day.group(1)) <= _GLOBAL_DAYS:
        return day.group(0)
    found = _GLOBAL.search(note[: HEADER_CHARS * 2])
    return found.group(0) if found else ""


# Hospital discharge day: 30 minutes or less, more than 30 minutes.
_DISCHARGE, _DISCHARGE_LONG, _DISCHARGE_MINUTES = "99238", "99239", 30
# Three problems addressed at one visit are at least a moderate number and complexity.
MANY_PROBLEMS = 3
# Total-time thresholds (minutes on the date of the encounter, 2021 office E/M): the lowest
# time each level needs, straightforward first.
_TIME_NEW = (15, 30, 45, 60)
_TIME_ESTABLISHED = (10, 20, 30, 40)
# Preventive medicine codes by age band: (upper age, new, established).
_PREVENTIVE = (
    (0, "99381", "99391"),
    (4, "99382", "99392"),
    (11, "99383", "99393"),
    (17, "99384", "99394"),
    (39, "99385", "99395"),
    (64, "99386", "99396"),
    (200, "99387", "99397"),
)
_TIME = re.compile(
    r"(?:spent|total(?: time)?(?: of)?|face[- ]to[- ]face(?: time)?)\D{0,40}?(\d{2,3})\s*"
    r"(?:minutes|mins?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Element:
    """One MDM element as documented: its level, why, and where the note says so."""

    name: str
    level: int
    why: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(slots=True)
class VisitLevel:
    """The E/M code of a visit with the elements that support it."""

    code: str
    kind: str
    elements: list[Element] = field(default_factory=list)
    reasoning: str = ""
    next_level: str = ""

    @property
    def evidence(self) -> list[Evidence]:
        spans = {(e.start, e.end): e for el in self.elements for e in el.evidence}
        return sorted(spans.values(), key=lambda e: e.start)


@functools.cache
def em_rules() -> dict[str, Any]:
    """The cue words of each MDM element (project-written from the AMA 2021 MDM table)."""
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@functools.cache
def _cue(name: str) -> re.Pattern[str]:
    words = sorted(em_rules()[name], key=len, reverse=True)
    return re.compile(
        r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?![a-z])", re.I
    )


def _find(name: str, text: str, start: int, end: int, section: str) -> list[Evidence]:
    return [
        Evidence(start + m.start(), start + m.end(), m.group(0), section, "present")
        for m in _cue(name).finditer(text, 0)
        if start + m.end() <= end
    ]


def _section_text(note: str, sections: Sequence[Section], names: frozenset[str]) -> list[Section]:
    return [s for s in sections if s.name in names]


_PLAN = frozenset({"assessment_and_plan", "assessment", "plan", "impression"})
_RESULTS = frozenset({"results", "data", "labs", "imaging", "diagnostic_data", "studies"})


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem addressed at the visit: its code and whether it is chronic or worsening."""

    code: str
    chronic: bool
    worsening: bool
    evidence: Evidence


def one_per_entry(note: str, problems: Sequence[Problem]) -> list[Problem]:
    """The problems addressed, a symptom counted with the entry it is written in.

    "1. Dysuria with urinary frequency - possible UTI" is one problem addressed, however many
    symptom codes it takes; two diagnoses of one line stay two problems.
    """
    out: list[Problem] = []
    entries: dict[tuple[int, int], int] = {}
    for p in problems:
        start = note.rfind("\n", 0, p.evidence.start) + 1
        end = note.find("\n", p.evidence.end)
        entry = (start, len(note) if end < 0 else end)
        at = entries.get(entry)
        if at is not None and (p.code[:1] == "R" or out[at].code[:1] == "R"):
            # The entry's diagnosis stands for it; among symptoms only, the first.
            kept = p if out[at].code[:1] == "R" and p.code[:1] != "R" else out[at]
            out[at] = replace(
                kept,
                chronic=kept.chronic or out[at].chronic or p.chronic,
                worsening=out[at].worsening or p.worsening,
            )
            continue
        entries.setdefault(entry, len(out))
        out.append(p)
    return out


def is_em_code(code: str) -> bool:
    """Evaluation and management codes (99202-99499): one per visit."""
    return len(code) == 5 and code.isdigit() and "99202" <= code <= "99499"


def is_chronic(code: str) -> bool:
    """Whether a diagnosis is a chronic illness for MDM (the categories in em_rules.json)."""
    return code.startswith(tuple(em_rules()["chronic_categories"]))


def worsening(note: str, evidence: Evidence) -> bool:
    """Whether the problem entry around ``evidence`` documents it worsening or uncontrolled."""
    start = note.rfind("\n\n", 0, evidence.start) + 1
    end = note.find("\n\n", evidence.end)
    block = note[start : end if end >= 0 else len(note)]
    return bool(_cue("worsening").search(block))


def level_visit(
    note: str,
    sections: Sequence[Section],
    problems: Sequence[Problem],
    *,
    setting: str,
    age: int | None,
    tests_done: Sequence[str] = (),
    procedures_done: Sequence[str] = (),
    studies_at: Sequence[tuple[int, int]] = (),
) -> VisitLevel | None:
    """The visit's E/M code, or None for notes that are not a visit (operative, imaging).

    ``tests_done``: the tests and studies performed at the visit (CPT codes); ordering one
    includes reviewing its result, so each counts as a unique test in the data element.
    ``procedures_done``: the minor procedures performed (an injection, an excision): the
    decision for one is at least low risk. ``studies_at``: where the note documents the
    studies it performs (their evidence spans): reading those is part of the study's own
    code, not an independent interpretation.
    """
    service = evaluation_service(note)
    if service is not None:
        return service
    kind = _visit_kind(note, sections, setting)
    if kind is None:
        return None
    postop = _in_global_period(note)
    if postop and kind == "office":
        return VisitLevel(
            _POSTOP_VISIT,
            "postoperative",
            reasoning=f"Postoperative follow-up within the global surgical period ({postop}): "
            f"the surgery's fee covers it; report {_POSTOP_VISIT}, not an E/M level.",
        )
    new = _is_new(note, sections)
    if kind == "inpatient" and _cue("inpatient_consult").search(note[:HEADER_CHARS]):
        new = True  # a consultation is initial hospital care
    if kind == "discharge":
        minutes = max((int(m.group(1)) for m in _TIME.finditer(note)), default=0)
        code = _DISCHARGE_LONG if minutes > _DISCHARGE_MINUTES else _DISCHARGE
        said = f"{minutes} minutes documented" if minutes else "no time documented"
        return VisitLevel(
            code,
            kind,
            reasoning=f"Hospital discharge day management, {said}: {code}.",
            next_level=""
            if code == _DISCHARGE_LONG
            else (
                f"Document the total time on the discharge day: more than "
                f"{_DISCHARGE_MINUTES} minutes supports {_DISCHARGE_LONG}."
            ),
        )
    if kind == "preventive":
        band = (
            next(b for b in _PREVENTIVE if age is None or age <= b[0])
            if age is not None
            else _PREVENTIVE[5]
        )
        code = band[1] if new else band[2]
        return VisitLevel(
            code,
            kind,
            reasoning=f"Preventive visit, {'new' if new else 'established'} patient"
            + (f", age {age}" if age is not None else ", age not given (40-64 assumed)")
            + ".",
        )
    data = _data(note, sections, tests_done, studies_at)
    plan = [s for s in sections if s.name in _PLAN]
    workup = _in_sections("workup", note, plan)
    surgery = _in_sections("surgery", note, plan)
    threat = _threats(note, sections) if kind in ("emergency", "inpatient") else []
    elements = [
        _problems(
            problems,
            data.level >= 2,
            workup=workup,
            surgery=surgery,
            assessed=any(note[p.start : p.end].strip() for p in plan),
            threat=threat,
        ),
        data,
        _risk(note, sections, procedures_done),
    ]
    ranked = sorted((e.level for e in elements), reverse=True)
    mdm = ranked[1]
    time_level, minutes = _time_level(note, new)
    level = max(mdm, time_level)
    codes = _codes(kind, new)
    code = codes[level]
    basis = (
        f"total time {minutes} min" if time_level > mdm else f"MDM {LEVELS[mdm]} (2 of 3 elements)"
    )
    # Emergency department codes do not tell new from established patients.
    who = (
        "Emergency department"
        if kind == "emergency"
        else (f"{'New' if new else 'Established'} patient {kind}")
    )
    reasoning = (
        f"{who} visit, {basis}: "
        + "; ".join(f"{e.name} {LEVELS[e.level]} ({e.why})" for e in elements)
        + "."
    )
    return VisitLevel(code, kind, elements, reasoning, _next_level(elements, level, codes))


# "moderate complexity" in a therapist's assessment; the nearest level word before it counts.
_COMPLEXITY = re.compile(r"\b(low|moderate|high)\s+complexity\b", re.I)


def evaluation_service(note: str) -> VisitLevel | None:
    """The code of an evaluation the note's title names (psychiatric diagnostic evaluation,
    PT / OT evaluation), which is reported instead of an E/M level; None for other notes."""
    head = note.lstrip()[:HEADER_CHARS].split("\n", 1)[0].lower()
    for service in em_rules()["evaluation_services"]:
        said = next((t for t in service["titles"] if t in head), None)
        if said is None:
            continue
        code, why = service["code"], f"the note's title names a {service['what']} ('{said}')"
        if "with medical services" in head and service.get("with_medical_services"):
            code = service["with_medical_services"]
            why += ", with medical services"
        levels = service.get("by_complexity")
        level = "high"  # a service without levels has no next one
        if levels:
            found = _COMPLEXITY.search(note)
            level = found.group(1).lower() if found else "low"
            code = levels[level]
            why += (
                f", {level} complexity documented"
                if found
                else ", no complexity documented (low assumed)"
            )
        return VisitLevel(
            code,
            "evaluation",
            reasoning=f"{why[:1].upper()}{why[1:]}: {code}, not an E/M level.",
            next_level=""
            if level == "high"
            else "Document the evaluation's complexity (history, examination, clinical "
            "presentation, decision making) to support a higher level.",
        )
    return None


def _codes(kind: str, new: bool) -> tuple[str, ...]:
    if kind == "emergency":
        return _ED
    if kind == "inpatient":
        return _INPATIENT_INITIAL if new else _INPATIENT_SUBSEQUENT
    return _OFFICE_NEW if new else _OFFICE_ESTABLISHED


def _visit_kind(note: str, sections: Sequence[Section], setting: str) -> str | None:
    head = note[:HEADER_CHARS].lower()
    if is_routine_prenatal(note):
        return None  # part of the global obstetric package
    if _cue("not_a_visit").search(head) and not any(s.name in _PLAN for s in sections):
        return None
    if _cue("preventive").search(_chief_complaint(note, sections)):
        if not _changes_drugs(note, sections):
            return "preventive"
        if any(s.name in _PLAN for s in sections):
            return "office"
    in_ed = _cue("emergency").search(head) and not _cue("after_emergency").search(head)
    if in_ed or any(s.name.startswith("ed_") for s in sections):
        return "emergency"
    if setting == "inpatient":
        return "discharge" if _cue("discharge").search(head) else "inpatient"
    if not any(s.name in _PLAN for s in sections):
        return None
    return "office"


def _chief_complaint(note: str, sections: Sequence[Section]) -> str:
    cc = next((s for s in sections if s.name == "chief_complaint"), None)
    return (note[cc.start : cc.end] if cc else note[:200]).lower()


def _is_new(note: str, sections: Sequence[Section]) -> bool:
    """New patient: the history says so (referred, new patient); a plan's referral does not."""
    plan = min((s.start for s in sections if s.name in _PLAN), default=len(note))
    history = note[:plan]
    return bool(_cue("new_patient").search(history)) and not _cue("established_patient").search(
        history
    )


def _problems(
    problems: Sequence[Problem],
    imaging: bool,
    *,
    workup: Sequence[Evidence] = (),
    surgery: Sequence[Evidence] = (),
    assessed: bool = False,
    threat: Sequence[Evidence] = (),
) -> Element:
    """Number and complexity of problems addressed.

    Moderate also for an acute injury for which surgery is considered (an acute complicated
    injury) and for a problem that is not chronic with a diagnostic workup ordered in the plan
    (an undiagnosed new problem with uncertain prognosis).
    """
    chronic = [p for p in problems if p.chronic]
    worse = [p for p in problems if p.worsening]
    new_acute = [p for p in problems if not p.chronic and p.code[:1] in "ST"]
    ev = tuple(p.evidence for p in problems[:6])
    if threat:
        return Element(
            "problems",
            3,
            "acute illness posing a threat to life or bodily function",
            (*threat[:2],),
        )
    fractures = [p for p in new_acute if _is_new_fracture(p.code)]
    if fractures:
        return Element("problems", 2, "acute complicated injury: a new fracture", ev)
    if new_acute and surgery:
        return Element(
            "problems", 2, "acute injury for which surgery is considered", (*ev, *surgery[:1])
        )
    if workup and any(not p.chronic and _undiagnosed(p) for p in problems):
        return Element(
            "problems",
            2,
            "new problem with uncertain prognosis: workup ordered",
            (*ev, *workup[:2]),
        )
    if worse:
        return Element("problems", 2, f"{len(worse)} problem(s) worsening or not at goal", ev)
    if len(chronic) >= 2:
        return Element("problems", 2, f"{len(chronic)} stable chronic illnesses", ev)
    if len(problems) >= MANY_PROBLEMS:
        return Element("problems", 2, f"{len(problems)} problems addressed", ev)
    if new_acute and imaging:
        return Element("problems", 2, "acute injury worked up with imaging", ev)
    if problems:
        return Element("problems", 1, f"{len(problems)} problem(s), stable or uncomplicated", ev)
    if assessed:
        # The assessment addresses a problem even when no diagnosis code was pre-selected.
        return Element("problems", 1, "a problem assessed in the plan (no code pre-selected)", ev)
    return Element("problems", 0, "no problem documented as addressed", ev)


def _undiagnosed(problem: Problem) -> bool:
    """A problem the visit has not diagnosed: a sign or symptom (chapter 18), or a code with
    no condition of its own. A named diagnosis ("carpal tunnel syndrome") worked up to
    confirm it is not an undiagnosed new problem of uncertain prognosis."""
    return problem.code[:1] == "R" or not problem.code


# Where an encounter's problems are named; a negation or "history of" before a cue undoes it.
_ASSESSED = _PLAN | {"diagnoses", "diagnosis"}
_NOT_NOW = re.compile(
    r"\b(?:no|not|without|denies|history of|hx of|ruled out|r/o)\W+(?:\w+\W+){0,3}$", re.I
)


def _threats(note: str, sections: Sequence[Section]) -> list[Evidence]:
    """Problems in the assessment posing a threat to life or bodily function ("concern for
    sepsis"), as an emergency or hospital encounter documents them."""
    assessed = [s for s in sections if s.name in _ASSESSED]
    return [
        e
        for e in _in_sections("threat_to_life", note, assessed)
        if not _NOT_NOW.search(note[max(0, e.start - 40) : e.start])
    ]


def _is_new_fracture(code: str) -> bool:
    """An injury code of a fracture (S?2 categories) at its initial encounter (A or B)."""
    plain = code.replace(".", "")
    return plain[:1] == "S" and plain[2:3] == "2" and len(plain) == 7 and plain[-1] in "AB"


_TRACING_READ = re.compile(
    r"\b(?:ekg|ecg|electrocardiogram|rhythm strip)\s*(?::|(?:shows|showed|reveals|revealed"
    r"|demonstrates|demonstrated)\b)\s*[a-z]",
    re.IGNORECASE,
)


def _sentence_of(note: str, start: int, end: int) -> tuple[int, int]:
    """The span of the sentence (or line) around ``start``-``end``."""
    before = max(note.rfind(". ", 0, start), note.rfind("\n", 0, start))
    after = [i for i in (note.find(". ", end), note.find("\n", end)) if i >= 0]
    return before + 1, min(after) if after else len(note)


def _inside(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _in_sections(name: str, note: str, sections: Sequence[Section]) -> list[Evidence]:
    return [e for s in sections for e in _find(name, note[s.start : s.end], s.start, s.end, s.name)]


# Prior external notes reviewed (AMA 2021 data, category 1): "The patient's emergency
# department records from her 10/2020 visit were reviewed", "I reviewed his outside records".
_RECORDS_REVIEWED = re.compile(
    r"\b(?:records|notes|discharge summar\w+|consult(?:ation)? notes?)\b[^.;\n]{0,60}?"
    r"\b(?:were|was|are|is|have\s+been|has\s+been)\s+(?:all\s+)?reviewed\b"
    r"|\breviewed\s+(?:the\s+|his\s+|her\s+|their\s+)?(?:\w+\s+){0,3}"
    r"(?:records|discharge summar\w+|consult(?:ation)? notes?)\b",
    re.IGNORECASE,
)


def _data(
    note: str,
    sections: Sequence[Section],
    tests_done: Sequence[str] = (),
    studies_at: Sequence[tuple[int, int]] = (),
) -> Element:
    plan = [s for s in sections if s.name in _PLAN]
    results = [s for s in sections if s.name in _RESULTS]
    # "X-rays of the right knee taken in office today reveal ...": a study done here counts
    # once, by its code in ``tests_done``, and the provider's reading of it is that study's
    # interpretation, not an independent one (AMA 2021). A study the note only mentions or
    # whose report it reviewed is a unique test (category 1); the provider's own reading of
    # it must be said ("Independent review of the images shows ...").
    done = [_sentence_of(note, start, end) for start, end in studies_at]
    ordered = [e for e in _in_sections("tests", note, plan) if not _inside(e.start, done)]
    reviewed = [e for e in _in_sections("tests", note, results) if not _inside(e.start, done)]
    read = [
        _sentence_of(note, e.start, e.end)
        for e in _in_sections("independent_interpretation", note, results)
    ]
    # A tracing whose findings the provider writes ("ECG: sinus tachycardia, normal
    # intervals") is the provider's read: a tracing in the visit has no report of its own.
    read += [
        _sentence_of(note, m.start(), m.end())
        for sec in results
        for m in _TRACING_READ.finditer(note, sec.start, sec.end)
    ]
    interpreted = [
        e
        for e in _in_sections("imaging", note, results)
        if not _inside(e.start, done) and _inside(e.start, read)
    ]
    discussed = _find("external_discussion", note, 0, len(note), "")
    historian = _find("historian", note, 0, len(note), "")
    # Outside records reviewed: one source, however often the note says so.
    said = _RECORDS_REVIEWED.search(note)
    records = [Evidence(said.start(), said.end(), said[0], "", "present")] if said else []
    unique = {e.text.lower() for e in ordered} | {e.text.lower() for e in reviewed}
    count = len(unique | set(tests_done)) + bool(historian) + len(records)
    ev = tuple((interpreted + discussed + ordered + reviewed + records + historian)[:6])
    # Extensive data: two of the three categories (tests / documents / historian, independent
    # interpretation, discussion with an external physician).
    categories = (count >= 3) + bool(interpreted) + bool(discussed)
    if categories >= 2:
        return Element("data", 3, "two categories of data (tests, interpretation, discussion)", ev)
    if discussed:
        return Element("data", 2, "management discussed with an external physician", ev)
    if interpreted:
        return Element("data", 2, "independent interpretation of imaging or tracing", ev)
    if count >= 3:
        return Element(
            "data", 2, f"{count} of tests ordered or reviewed, outside records, historian", ev
        )
    if count >= 2:
        return Element("data", 1, f"{count} of tests ordered or reviewed, outside records", ev)
    return Element("data", 0, "little data reviewed or ordered", ev)


@functools.cache
def _drug_action() -> re.Pattern[str]:
    rules = em_rules()
    verbs = "|".join(re.escape(v) for v in rules["prescription_verbs"])
    stems = "|".join(re.escape(s) for s in rules["drug_suffixes"])
    return re.compile(
        rf"\b(?:{verbs})\b(?:\W+\w+){{0,4}}?\W+(?:\w*(?:{stems})\b|\d+(?:\.\d+)?\s?mg\b)",
        re.IGNORECASE,
    )


@functools.cache
def _drug_change() -> re.Pattern[str]:
    rules = em_rules()
    verbs = "|".join(re.escape(v) for v in rules["management_change_verbs"])
    stems = "|".join(re.escape(s) for s in rules["drug_suffixes"])
    return re.compile(
        rf"\b(?:{verbs})\b(?:\W+\w+){{0,4}}?\W+(?:\w*(?:{stems})\b|\d+(?:\.\d+)?\s?mg\b)",
        re.IGNORECASE,
    )


def _changes_drugs(note: str, sections: Sequence[Section]) -> bool:
    """Whether the plan changes a drug ("increase her lisinopril to 40 mg"): problem-oriented
    management, which a preventive visit's plan (continue, refill) does not have."""
    return any(_drug_change().search(note[s.start : s.end]) for s in sections if s.name in _PLAN)


def _drug_management(note: str, sections: Sequence[Section]) -> list[Evidence]:
    return [
        Evidence(s.start + m.start(), s.start + m.end(), m.group(0), s.name, "present")
        for s in sections
        for m in _drug_action().finditer(note[s.start : s.end])
    ]


# What was done in the ED or on the ward is management too ("ED Course: ibuprofen 600 mg PO").
_COURSE = frozenset({"hospital_course", "ed_course"})


# How far after a management cue its drug is named ("continue taking ibuprofen").
_DRUG_REACH = 30


def _otc_drug(note: str, cue: Evidence) -> bool:
    """Whether the drug a management cue acts on is an over-the-counter one."""
    after = note[cue.start : cue.end + _DRUG_REACH].split(".")[0]
    drugs = _cue("otc").findall(after)
    return any(d.lower() in em_rules()["otc_drugs"] for d in drugs)


_PAST_STAY = re.compile(
    r"\b(?:recent|recently|prior|previous|last|since|after|following|during|his|her|their)\W+"
    r"(?:\w+\W+){0,2}$",
    re.IGNORECASE,
)


def _risk(note: str, sections: Sequence[Section], procedures: Sequence[str] = ()) -> Element:
    plan = [s for s in sections if s.name in _PLAN] or list(sections)
    course = [s for s in sections if s.name in _COURSE]
    found = {
        name: [e for s in plan for e in _find(name, note[s.start : s.end], s.start, s.end, s.name)]
        for name in ("high_risk", "prescription", "surgery", "otc")
    }
    # A drug given in the course is not a prescription; only its low and high risk count.
    for name in ("high_risk", "otc"):
        found[name] += [
            e for s in course for e in _find(name, note[s.start : s.end], s.start, s.end, s.name)
        ]
    # "since his recent hospitalization", "following a visit to the emergency department":
    # a stay that happened is history, not a decision this visit made.
    found["high_risk"] = [
        e for e in found["high_risk"] if not _PAST_STAY.search(note[max(0, e.start - 40) : e.start])
    ]
    found["prescription"] += _drug_management(note, plan)
    # "Continue taking ibuprofen as needed": managing an over-the-counter drug is low risk.
    otc = [e for e in found["prescription"] if _otc_drug(note, e)]
    found["prescription"] = [e for e in found["prescription"] if e not in otc]
    found["otc"] += otc
    if found["high_risk"]:
        return Element(
            "risk",
            3,
            "hospitalization or drug therapy needing intensive monitoring",
            tuple(found["high_risk"][:3]),
        )
    if found["prescription"] or found["surgery"]:
        why = "prescription drug management" if found["prescription"] else "decision for surgery"
        return Element("risk", 2, why, tuple((found["prescription"] + found["surgery"])[:3]))
    if found["otc"]:
        return Element(
            "risk", 1, "over-the-counter drugs or low-risk management", tuple(found["otc"][:3])
        )
    if procedures:
        # A minor procedure decided on and done at the visit, without documented risk
        # factors (low risk, as in the AMA's examples).
        return Element("risk", 1, f"minor procedure performed ({', '.join(procedures)})", ())
    # Low risk of morbidity from additional diagnostic testing: a test ordered in the plan.
    tests = [e for s in plan for e in _find("tests", note[s.start : s.end], s.start, s.end, s.name)]
    if tests and any(s.name in _PLAN for s in plan):
        return Element("risk", 1, "diagnostic testing ordered (low risk)", tuple(tests[:3]))
    return Element("risk", 0, "minimal risk", ())


def _time_level(note: str, new: bool) -> tuple[int, int]:
    minutes = max((int(m.group(1)) for m in _TIME.finditer(note)), default=0)
    if not minutes:
        return 0, 0
    thresholds = _TIME_NEW if new else _TIME_ESTABLISHED
    reached = [i for i, t in enumerate(thresholds) if minutes >= t]
    return (reached[-1] if reached else 0), minutes


def _next_level(elements: Sequence[Element], level: int, codes: Sequence[str]) -> str:
    if level >= len(LEVELS) - 1:
        return ""
    short = [e.name for e in elements if e.level <= level]
    return (
        f"For {codes[level + 1]}, two of the three elements must reach {LEVELS[level + 1]}: "
        f"document more on {', '.join(short)} (or the total time spent)."
    )
