"""In-office imaging and tests a coder reports because the note documents them done today.

The CodiEsp ranker has never seen a procedure label, so procedures are read from the
documentation, transparently: an X-ray of a documented site (by its lowest-view code, or the
views documented) or an ECG, in a sentence that says it was obtained at this visit, and
nothing that says it was ordered, scheduled, done elsewhere or earlier. Each line carries its
evidence sentence, the laterality modifier the site takes, and why it was read as performed.
The cue words live in ``data/office_procedures.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from codesuggest.core.records import CPT, HCPCS, Evidence, Section, Term
from codesuggest.core.text import tokens
from codesuggest.rank.drugs import given_drugs

RULES_FILE = "office_procedures.json"
_SENTENCE = re.compile(r"[^.\n]+[.\n]?")
_VIEWS = re.compile(r"\b(\d|one|two|three|four)\s+views?\b", re.IGNORECASE)
_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4"}


@dataclass(frozen=True, slots=True)
class ProcedureLine:
    """A procedure read as performed at this visit.

    ``modifier`` is the side documented (RT, LT, or 50 for both), ``units`` the units of
    service (a drug's units from its dose).
    """

    code: str
    evidence: Evidence
    modifier: str
    why: str
    units: int = 1
    system: str = CPT


@functools.cache
def rules() -> dict:
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return json.loads(text)


def _words(name: str) -> re.Pattern[str]:
    return _pattern(tuple(rules()[name]))


@functools.cache
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternation})(?![a-z])", re.IGNORECASE)


def _sentences(note: str, sections: list[Section]) -> Iterator[tuple[int, str, str]]:
    for section in sections:
        body = note[section.start : section.end]
        for m in _SENTENCE.finditer(body):
            yield section.start + m.start(), m.group(0), section.name


def performed_procedures(note: str, sections: list[Section]) -> list[ProcedureLine]:
    """The X-rays and ECGs the note documents as done at this visit, one line per code."""
    table = rules()
    lines: dict[str, ProcedureLine] = {}
    for start, sentence, section in _sentences(note, sections):
        said = _performed(sentence)
        if not said:
            continue
        text = sentence.rstrip()
        evidence = Evidence(start, start + len(text), text, section, "present")
        why = f"documented as performed at this visit ('{said}')"
        if _words("xray_words").search(sentence):
            site = _site(sentence, table["xray_sites"])
            side_from = sentence
            if site is None and not said.startswith(_READ_ONLY):
                # "X-rays were obtained and reviewed today": the site is the one the visit is
                # about, named in the sentences just before.
                before = note[max(0, start - _SITE_CONTEXT) : start]
                site = _last_site(before, table["xray_sites"])
                side_from = before[-_SITE_CONTEXT // 2 :] + sentence
            if site is None:
                continue
            if said.startswith(_READ_ONLY) and not table["xray_sites"][site].startswith(
                _MUSCULOSKELETAL
            ):
                # Findings alone ("chest x-ray shows ...") read as done in the office only
                # where offices take films: the spine and limbs (orthopaedic visits).
                continue
            code = _with_views(table["xray_sites"][site], sentence, table["views"])
            lines.setdefault(code, ProcedureLine(code, evidence, _digit_or_side(side_from), why))
        elif _words("ecg_words").search(sentence):
            code = table["ecg_code"]
            lines.setdefault(code, ProcedureLine(code, evidence, "", why))
    for line in injections(note, sections):
        lines.setdefault(line.code, line)
    return list(lines.values())


def injections(note: str, sections: list[Section]) -> list[ProcedureLine]:
    """Joint, bursa, tendon-sheath and trigger-point injections or aspirations done today.

    A sentence says the site was injected or aspirated, and nothing that it was planned or
    done before; the code follows the size of the joint named, the ultrasound-guided code
    only when the guidance is documented.
    """
    table = rules()
    out: dict[str, ProcedureLine] = {}
    text = note.replace("\n", " ")  # a sentence may wrap over lines
    for m in re.finditer(r"[^.]+(?:\.(?!\d)|$)", text):
        sentence = m.group(0)
        said = _words("injection_words").search(sentence)
        named = re.search(r"\b(?:injection|aspiration|inject)\b", sentence, re.I)
        if named and not said:
            # Under a PROCEDURE heading, the line naming an injection is the one performed.
            at = m.start() + named.start()
            if any(sec.name == "procedures" and sec.start <= at < sec.end for sec in sections):
                said = named
        if m.start() == 0 and is_procedure_note(note):
            # A procedure note's title names the procedure it reports: "KNEE INJECTION".
            sentence = text[: text.find("  ") if "  " in text else m.end()]
            said = said or re.search(r"injection|aspiration|arthrocentesis", sentence, re.I)
        today = _INJECTION_TODAY.search(sentence)
        said = said or today
        if not said or _words("not_performed").search(sentence) or _hypothetical(sentence):
            continue
        site = _site(sentence, table["injection_sites"])
        side_from = sentence
        if site is None and today:
            # "... a cortisone injection into her right hip joint. We will administer the
            # injection today.": the joint is the one the sentences just before name.
            before = text[max(0, m.start() - _SITE_CONTEXT) : m.start()]
            site = _last_site(before, table["injection_sites"])
            side_from = before[-_SITE_CONTEXT // 2 :] + sentence
        if site is None:
            continue
        code = table["injection_sites"][site]
        guided = _words("ultrasound_words").search(sentence) and not _words(
            "no_ultrasound_words"
        ).search(sentence)
        if guided:
            code = table["ultrasound_guided"].get(code, code)
        start = m.start() + len(sentence) - len(sentence.lstrip())
        body = note[start : m.start() + len(sentence)].strip()
        section = next((s.name for s in sections if s.start <= start < s.end), "")
        evidence = Evidence(start, start + len(body), body, section, "present")
        why = f"documented as performed at this visit ('{said[0]}' {site})"
        out.setdefault(code, ProcedureLine(code, evidence, _digit_or_side(side_from), why))
    return list(out.values())


# "We will administer the injection today": the injection given at this visit.
_INJECTION_TODAY = re.compile(
    r"\b(?:administer|perform|give|do)\w*\s+(?:the|an?|this|her|his|your)\s+"
    r"(?:\w+\s+){0,2}injection\s+today\b",
    re.IGNORECASE,
)


_HYPOTHETICAL = re.compile(r"\b(?:if|consider|could|would|may|might|discussed|risks?)\b", re.I)


def _hypothetical(sentence: str) -> bool:
    return bool(_HYPOTHETICAL.search(sentence))


# "X-rays of the right knee show ...", "3 views of the right foot were taken": the study
# read at the visit, its findings stated now.
_READ_NOW = re.compile(
    r"^\W*(?:(?:the|an?|\w+-view|\d+-view)\s+)?"
    r"(?:x-?rays?|radiographs?|films|(?:\d|one|two|three|four)\s+views?)\b[^.;]{0,80}?"
    r"\b(shows?|reveals?|demonstrates?|were taken|was taken)\b",
    re.IGNORECASE,
)
_READ_ONLY = ("show", "reveal", "demonstrate", "were taken", "was taken", "obtained today")
_MUSCULOSKELETAL = ("72", "73")
# "X-rays of the left shoulder were obtained and are reviewed today".
_OBTAINED_TODAY = re.compile(r"\b(?:obtained|taken|performed|done)\b[^.;]{0,40}\btoday\b", re.I)
# "X-ray of the bilateral knees are reviewed and reveal ...": a film the visit reviewed, not
# one it took (its review counts as data for the E/M level).
_REVIEWED_ONLY = re.compile(r"\b(?:is|are|was|were)\s+reviewed\b", re.I)
# "ordered and obtained in the office today": the order was carried out at the visit.
_ORDERED_AND_DONE = re.compile(r"\border(?:ed)? and (?:obtained|taken|performed|done)\b", re.I)


def _performed(sentence: str) -> str:
    """The words saying a study was done at this visit, or "" (also when ordered or outside)."""
    said = _words("performed").search(sentence)
    found = said[0] if said else ""
    if not found and not _REVIEWED_ONLY.search(sentence):
        read = _READ_NOW.search(sentence)
        found = read.group(1) if read else ""
    if not found and _OBTAINED_TODAY.search(sentence):
        found = "obtained today"
    if not found:
        return ""
    blocked = [m[0].lower() for m in _words("not_performed").finditer(sentence)]
    if blocked and set(blocked) <= {"order", "ordered"} and _ORDERED_AND_DONE.search(sentence):
        return found
    return "" if blocked else found


# How far back an x-ray sentence without a site looks for the site of the visit.
_SITE_CONTEXT = 400


def _last_site(text: str, sites: dict[str, str]) -> str | None:
    """The site named last in ``text`` (the longest name at that place)."""
    low = text.lower()
    found = [
        (m.start(), len(s), s)
        for s in sites
        for m in re.finditer(rf"(?<![a-z]){re.escape(s)}(?:e?s)?(?![a-z])", low)
    ]
    return max(found)[2] if found else None


def _site(sentence: str, sites: dict[str, str]) -> str | None:
    low = sentence.lower()
    found = [s for s in sites if re.search(rf"(?<![a-z]){re.escape(s)}(?:e?s)?(?![a-z])", low)]
    return max(found, key=len) if found else None


def _with_views(code: str, sentence: str, views: dict[str, dict[str, str]]) -> str:
    m = _VIEWS.search(sentence)
    if not m:
        return code
    n = _NUMBERS.get(m.group(1).lower(), m.group(1))
    options = views.get(code, {})
    if n in options:
        return options[n]
    higher = [options[k] for k in sorted(options) if k <= n]
    return higher[-1] if higher else code


def _digit_or_side(sentence: str) -> str:
    """A finger or toe's own modifier (F6: right index finger) when the sentence names one
    digit and its side, else the side modifier."""
    side = _side(sentence)
    low = sentence.lower()
    if side in ("RT", "LT") and re.search(r"\b(?:finger|thumb|toe|digit)s?\b", low):
        table = rules()["digit_modifiers"]["right" if side == "RT" else "left"]
        found = [
            mod
            for word, mod in table.items()
            if re.search(rf"\b{re.escape(word)}\b", low)
            and ("toe" in word) == bool(re.search(r"\btoes?\b", low))
        ]
        if len(set(found)) == 1:
            return found[0]
    return side


def _side(sentence: str) -> str:
    low = sentence.lower()
    sides = [mod for word, mod in rules()["laterality"].items() if re.search(rf"\b{word}\b", low)]
    return sides[0] if len(sides) == 1 else ""


def is_routine_prenatal(note: str) -> bool:
    """A routine antepartum visit, part of the global obstetric package."""
    head = title(note)
    return any(t in head for t in rules()["routine_prenatal_titles"])


def office_services(note: str, sections: list[Section]) -> list[ProcedureLine]:
    """A venipuncture for labs drawn today, and timed counselling coded by its minutes."""
    table = rules()
    out: list[ProcedureLine] = []
    for start, sentence, section in _sentences(note, sections):
        text = sentence.rstrip()
        evidence = Evidence(start, start + len(text), text, section, "present")
        drawn = _words("venipuncture_words").search(sentence)
        if _words("term_not_performed").search(sentence):
            drawn = None  # "repeat labs today", "labs ordered": a plan, not a draw
        if drawn and not any(line.code == table["venipuncture_code"] for line in out):
            why = f"blood drawn at this visit ('{drawn[0]}')"
            out.append(ProcedureLine(table["venipuncture_code"], evidence, "", why))
        low = sentence.lower()
        minutes = re.search(r"\b(\d{1,3})\s*(?:minutes|mins?)\b", low)
        for service in table["timed_counselling"]:
            if not minutes or not re.search(r"\bcounsel", low):
                continue
            if not any(c in low for c in service["cues"]):
                continue
            m = int(minutes.group(1))
            code = next(
                (c for lo, hi, c in service["bands"] if m >= lo and (hi is None or m <= hi)), None
            )
            if code and not any(line.code == code for line in out):
                why = f"{service['what']}, {m} minutes documented"
                out.append(ProcedureLine(code, evidence, "", why))
    return out


def title(note: str) -> str:
    """The note's first non-blank line, lower-cased (OPERATIVE REPORT, RADIOLOGY REPORT...)."""
    return next((line.strip().lower() for line in note.splitlines() if line.strip()), "")


def is_procedure_note(note: str) -> bool:
    return any(t in title(note) for t in rules()["procedure_titles"])


def is_report(note: str) -> bool:
    """An imaging or procedure report: documentation of a service, not an E/M visit."""
    head = title(note) + " "
    return is_procedure_note(note) or any(t in head for t in rules()["report_titles"])


# A date in the sentence ("performed on 01/20/2020", "in 2019") places it before the visit.
_DATED = re.compile(r"\b(?:on|in)\s+(?:\d{1,2}/\d{1,2}/\d{2,4}|(?:19|20)\d{2})\b")
# How far from the term ("Fluoride varnish applied to teeth today") the word saying it was
# done may stand: a clause, not the whole sentence.
_NEAR = 40


def _near(m: re.Match[str], start: int, end: int) -> bool:
    """The cue stands in the term's clause; a bare "today" only after it ("ECG today"), since
    "seen today after a positive test" dates the visit, not the test."""
    if m.group(0).lower() == "today" and m.start() < end:
        return False
    return m.start() - end <= _NEAR and start - m.end() <= _NEAR


# Imaging and tracings whose sentences performed_procedures and exam_lines read: a term of them
# needs more than "today" ("reviewed today" is a reading of someone else's study).
_STUDIES = (("70010", "79999"), ("93000", "93010"))


# Visit codes are levelled by rank/em.py, never read from a term.
_VISIT_RANGES = (("99202", "99350"), ("99381", "99429"), ("99441", "99499"))


def documented_today(note: str, terms: list[Term]) -> list[ProcedureLine]:
    """CPT terms whose own sentence documents them done at this visit ("applied today")."""
    out: dict[str, ProcedureLine] = {}
    prenatal = is_routine_prenatal(note)
    for term in terms:
        if term.system != CPT or not term.codes:
            continue
        code = term.codes[0]
        # A test "negative" is a result, not a test left undone.
        tested = term.assertion == "negated" and code in rules()["point_of_care_tests"]
        if term.assertion != "present" and not tested:
            continue
        if any(lo <= code <= hi for lo, hi in _VISIT_RANGES):
            continue
        start = term.sentence_start or term.start
        end = term.sentence_end or term.end
        sentence = note[start:end]
        said = next(
            (
                m
                for m in _words("term_performed").finditer(sentence)
                if _near(m, term.start - start, term.end - start)
                and not (
                    m.group(0).lower() == "today" and any(lo <= code <= hi for lo, hi in _STUDIES)
                )
            ),
            None,
        )
        if said is None and code in rules()["point_of_care_tests"] and not prenatal:
            # An office test with its result on the line ("Urine hCG: negative") was done here.
            said = _words("test_results").search(sentence[term.end - start :])
        if not said or _words("term_not_performed").search(sentence) or _DATED.search(sentence):
            continue
        text = sentence.strip()
        at = start + len(sentence) - len(sentence.lstrip())
        evidence = Evidence(at, at + len(text), text, term.section, "present")
        why = f"documented as done at this visit ('{said[0]}')"
        out.setdefault(code, ProcedureLine(code, evidence, "", why))
    return list(out.values())


_LABEL_LINE = re.compile(r"^(?:procedures?|procedure\(s\)|procedures? performed)\s*:", re.I)


def named_procedures(note: str, terms: list[Term]) -> list[ProcedureLine]:
    """The CPT terms on a procedure note's title, or on a 'Procedure:' line of any note."""
    procedure_note = is_procedure_note(note)
    labels = tuple(rules()["procedure_labels"])
    first = note.find(title(note)[:10].upper()) if note else 0
    out: dict[str, ProcedureLine] = {}
    for term in terms:
        if term.system != CPT or not term.codes or term.assertion != "present":
            continue
        line_start = note.rfind("\n", 0, term.start) + 1
        line = note[line_start : term.start].strip().lower()
        on_title = procedure_note and line_start <= max(first, 0) + 1
        labelled = line.startswith(labels) if procedure_note else bool(_LABEL_LINE.match(line))
        if not (on_title or labelled):
            continue
        line_end = note.find("\n", term.end)
        line_end = len(note) if line_end < 0 else line_end
        text = note[line_start:line_end].rstrip()
        evidence = Evidence(line_start, line_start + len(text), text, term.section, "present")
        where = "the note's title" if on_title else "its Procedure line"
        out.setdefault(
            term.codes[0],
            ProcedureLine(term.codes[0], evidence, "", f"performed: named on {where}"),
        )
    return list(out.values())


def drug_lines(note: str, sections: list[Section]) -> list[ProcedureLine]:
    """HCPCS lines of the drugs given at this visit, with units from the documented dose."""
    return [
        ProcedureLine(d.code, d.evidence, "", d.why, units=d.units, system=HCPCS)
        for d in given_drugs(note, sections)
    ]


# The line of an imaging report that names the study: its title, or "EXAM:" / "EXAMINATION:".
_EXAM_LINE = re.compile(
    r"^[ \t]*(?:exam(?:ination)?|study|procedure)[ \t]*:[ \t]*(.+)$", re.I | re.M
)
_IMAGING = (("70010", "79999"), ("93880", "93990"), ("93303", "93352"))
# How many of the code search's best matches are weighed word by word.
_EXAM_CANDIDATES = 8


def exam_lines(note: str, search: Callable[[str], list[Any]]) -> list[ProcedureLine]:
    """In an imaging report, the study it reports, by the CPT code its exam line describes.

    ``search`` is the CPT code search; of its best matches the one whose description (and
    synonyms) shares the most words with the exam line and no contrary contrast phase wins.
    """
    if not is_report(note) or is_procedure_note(note):
        return []
    first = next((m for m in re.finditer(r"^.*\S.*$", note, re.M)), None)
    found = _EXAM_LINE.search(note[:600])
    candidates = [m for m in (found, first) if m is not None]
    for m in candidates:
        text = (m.group(1) if m.re is _EXAM_LINE else m.group(0)).strip()
        best = _best_exam(text, search(text))
        if best is not None:
            start = m.start(1) if m.re is _EXAM_LINE else m.start()
            evidence = Evidence(start, start + len(text), text, "", "present")
            why = "the study this report interprets (its exam line)"
            return [ProcedureLine(best, evidence, "", why)]
    return []


def _contrast(words: set[str]) -> str:
    if "without" in words and "with" in words:
        return "both"
    return "without" if "without" in words else "with" if "with" in words else ""


# Adjective and noun of one structure, as reports and code descriptions mix them.
_SAME = {"venous": "vein", "veins": "vein", "arterial": "artery", "arteries": "artery"}


def _words_of(text: str) -> set[str]:
    return {_SAME.get(t, t) for t in tokens(text)}


def _best_exam(text: str, results: list[Any]) -> str | None:
    said = _words_of(text) | {
        w for w in re.findall(r"[a-z]+", text.lower()) if w in ("with", "without")
    }
    phase = _contrast(said) if "contrast" in said else ""
    scored = []
    for r in results[:_EXAM_CANDIDATES]:
        if not (r.code.isdigit() and any(lo <= r.code <= hi for lo, hi in _IMAGING)):
            continue
        described = f"{r.description} {' '.join(getattr(r, 'synonyms', ()) or ())}"
        theirs = _words_of(described)
        plain = set(re.findall(r"[a-z]+", r.description.lower()))
        theirs |= {w for w in plain if w in ("with", "without")}
        if phase and "contrast" in plain and _contrast(plain) != phase:
            continue
        unsaid = _words_of(r.description) - said
        scored.append((len(said & theirs) - 0.5 * len(unsaid), r.code))
    return max(scored)[1] if scored else None


# Words that undo a technique: before it ("no biopsies", "without snare") or after it
# ("cholangiogram was not performed"); "showed no filling defect" is a finding, not a negation.
_NEGATION_BEFORE = re.compile(r"\b(?:no|not|without|deferred|declined|unable)\b", re.I)
_NEGATION_AFTER = re.compile(
    r"\b(?:(?:was|were) not|not (?:performed|done|obtained|needed)|deferred|declined)\b", re.I
)


def with_techniques(note: str, lines: list[ProcedureLine]) -> list[ProcedureLine]:
    """A procedure note's lines with the technique its body documents: the snare polypectomy
    of a colonoscopy (45385, not 45378), a lap chole without the cholangiogram it names (47562).

    Families and their words are in ``data/office_procedures.json`` (``techniques``).
    """
    if not is_procedure_note(note):
        return lines
    out: list[ProcedureLine] = []
    for line in lines:
        family = next(
            (
                f
                for f in rules()["techniques"]
                if line.code == f["base"] or any(v["code"] == line.code for v in f["variants"])
            ),
            None,
        )
        if family is None:
            out.append(line)
            continue
        found = _techniques_done(note, family["variants"])
        if not found:
            base = family["base"]
            why = "no technique documented beyond the base procedure"
            out.append(ProcedureLine(base, line.evidence, line.modifier, f"{line.why}; {why}"))
        out += [
            ProcedureLine(code, evidence, line.modifier, f"technique documented ('{said}')")
            for code, (evidence, said) in found.items()
        ]
    unique: dict[str, ProcedureLine] = {}
    for line in out:
        unique.setdefault(line.code, line)
    return list(unique.values())


def _techniques_done(note: str, variants: list[dict]) -> dict[str, tuple[Evidence, str]]:
    """The variant codes a sentence of the note documents as done, with that sentence."""
    found: dict[str, tuple[Evidence, str]] = {}
    text = note.replace("\n", " ")  # a finding may wrap over lines
    for m in re.finditer(r"[^.]+(?:\.(?!\d)|$)", text):
        sentence = m.group(0)
        for variant in variants:
            if variant["code"] in found:
                continue
            for said in _pattern(tuple(variant["words"])).finditer(sentence):
                before = sentence[max(0, said.start() - _NEAR) : said.start()]
                after = sentence[said.end() : said.end() + _NEAR]
                if _NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(after):
                    continue
                start = m.start() + len(sentence) - len(sentence.lstrip())
                body = note[start : m.end()].strip()
                found[variant["code"]] = (
                    Evidence(start, start + len(body), body, "", "present"),
                    said.group(0),
                )
                break
    return found


def treatments(note: str) -> list[ProcedureLine]:
    """Fracture care and excisional debridement documented as done at this visit.

    Fracture care takes the code of the fracture site the note names, with manipulation only
    when a reduction is documented; debridement the deepest tissue its paragraph says was
    removed. Families and words are in ``data/office_procedures.json`` (``treatments``).
    """
    out: dict[str, ProcedureLine] = {}
    text = note.replace("\n", " ")
    low = text.lower()
    for family in rules()["treatments"]:
        for m in re.finditer(r"[^.]+(?:\.(?!\d)|$)", text):
            sentence = m.group(0)
            said = _pattern(tuple(family["words"])).search(sentence)
            if not said or _words("not_performed").search(sentence) or _hypothetical(sentence):
                continue
            code = _treatment_code(family, sentence, low, note, m.start())
            if code is None:
                continue
            start = m.start() + len(sentence) - len(sentence.lstrip())
            body = note[start : m.end()].strip()
            evidence = Evidence(start, start + len(body), body, "", "present")
            why = f"{family['what']} documented as done at this visit ('{said[0]}')"
            out.setdefault(code, ProcedureLine(code, evidence, _side(sentence), why))
            break
    return list(out.values())


def _treatment_code(family: dict, sentence: str, low: str, note: str, at: int) -> str | None:
    if "sites" in family:
        site = _site(sentence, family["sites"]) or _site(low, family["sites"])
        if site is None:
            return None
        reduced = _pattern(tuple(family["with_words"])).search(sentence) and not _pattern(
            tuple(family["without_words"])
        ).search(sentence)
        options = family["sites"][site]
        return options.get("with") if reduced else options["without"]
    end = note.find("\n\n", at)
    paragraph = note[at : end if end >= 0 else len(note)].lower()
    return next(
        (code for tissue, code in family["depths"] if re.search(rf"\b{tissue}\b", paragraph)),
        family["default"],
    )


def includes_visit(lines: list[ProcedureLine]) -> bool:
    """Whether a read treatment includes the evaluation that decided on it (no E/M level)."""
    codes = {
        code
        for family in rules()["treatments"]
        if family.get("includes_visit")
        for code in (
            [c for options in family.get("sites", {}).values() for c in options.values()]
            + [c for _, c in family.get("depths", [])]
            + [family.get("default", "")]
        )
    }
    return any(line.code in codes for line in lines)
