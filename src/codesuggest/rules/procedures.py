"""Procedure edits on CPT/HCPCS lines: add-on codes, E/M services, modifier 25, paired organs.

CPT add-on code conventions and CMS NCCI add-on edits; the CMS Medicare Claims Processing
Manual, Chapter 12 (30.6.5 one E/M a day, 30.6.6 modifier 25, 40.7 bilateral procedures); the
NCCI Policy Manual, Chapter I (anatomic modifiers). Data in ``data/procedure_rules.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from codesuggest.codebook.tabular import SIDES
from codesuggest.rules.rulefiles import read_rule_file
from codesuggest.rules.run import Line, Run

# Primary codes offered as the fix of a lonely add-on code: enough to recognise the family.
_PRIMARIES_OFFERED = 10
# Modifier 25: a significant, separately identifiable E/M by the same physician on the day of
# a procedure or another service.
_SEPARATE_EM = "25"
# Modifier 50: a bilateral procedure in one session.
_BILATERAL = "50"
_CLAIMS_MANUAL = "CMS Medicare Claims Processing Manual, Chapter 12, section "


@cache
def procedure_rules() -> dict[str, Any]:
    """CPT sections, E/M groups, paired organs and modifiers (``data/procedure_rules.json``)."""
    return read_rule_file("procedure_rules.json")


def _in_ranges(code: str, ranges: Iterable[str]) -> bool:
    """Whether a procedure code is one of ``ranges`` (``"99202-99215"`` or one code)."""
    for r in ranges:
        lo, _, hi = r.partition("-")
        if (lo <= code <= hi) if hi else code == lo:
            return True
    return False


def _section(line: Line) -> str:
    """The CPT section of a line: the table's category, else the range it falls in."""
    if line.info is not None and line.info.category:
        return line.info.category
    if not line.code.isdigit():
        return ""
    for name, ranges in procedure_rules()["sections"].items():
        if _in_ranges(line.code, ranges):
            return str(name)
    return ""


def _is_addon(line: Line) -> bool:
    em_addon = procedure_rules()["em"]["add_on"]
    return bool(line.info is not None and line.info.addon) or line.code in em_addon


def check_procedures(run: Run) -> None:
    """Add-on codes without a primary, E/M services on one day, modifiers 25 and RT/LT/50."""
    if not run.procs:
        return
    rules = procedure_rules()
    non_addon = [line for line in run.procs if not _is_addon(line)]
    _check_addons(run, non_addon)
    em = [
        line
        for line in non_addon
        if _section(line) == "E/M" and _in_ranges(line.code, rules["em"]["visit"])
    ]
    if sum(line.units for line in em) > 1:
        _check_two_visits(run, em)
    _check_modifier_25(run, em, non_addon)
    _check_procedure_sides(run, rules)


def _check_addons(run: Run, non_addon: list[Line]) -> None:
    codes = list(dict.fromkeys(line.code for line in run.procs))
    for line in run.procs:
        if not _is_addon(line):
            continue
        primaries = line.info.primary_codes if line.info is not None else ()
        # Without a table of primaries, an E/M add-on needs an E/M and any other add-on needs
        # some non-add-on procedure.
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
                [p for p in primaries if "-" not in p][:_PRIMARIES_OFFERED],
            )


def _check_two_visits(run: Run, em: list[Line]) -> None:
    """More than one E/M visit: a duplicate, unless one preventive and one problem visit."""
    em_rules = procedure_rules()["em"]
    em_codes = list(dict.fromkeys(line.code for line in em))
    preventive = [c for c in em_codes if _in_ranges(c, em_rules["preventive"])]
    problem = [c for c in em_codes if _in_ranges(c, em_rules["problem_oriented"])]
    one_of_each = len(em_codes) == 2 and sum(x.units for x in em) == 2
    if one_of_each and preventive and problem:
        if not any(_SEPARATE_EM in x.modifiers for x in em if x.code == problem[0]):
            run.add(
                "modifier-25",
                "warning",
                [problem[0], preventive[0]],
                f"A preventive visit ({preventive[0]}) and a problem-oriented E/M "
                f"({problem[0]}) on one day: report {problem[0]} with modifier 25 when the "
                "problem visit is significant and separately identifiable.",
                _CLAIMS_MANUAL + "30.6.6",
                [f"{problem[0]}-{_SEPARATE_EM}"],
            )
    else:
        run.add(
            "duplicate-em",
            "error",
            em_codes,
            f"More than one E/M service ({', '.join(em_codes)}) on one encounter: the same "
            "physician or group specialty reports one E/M per day; keep the level the "
            "documentation supports.",
            _CLAIMS_MANUAL + "30.6.5",
        )


def _check_modifier_25(run: Run, em: list[Line], non_addon: list[Line]) -> None:
    """A problem visit on the day of a surgical procedure (listed, or in the note)."""
    surgery = [line for line in non_addon if _section(line) == "surgery"]
    if not (surgery or run.ctx.procedures_same_day):
        return
    preventive = procedure_rules()["em"]["preventive"]
    for line in em:
        if (
            _in_ranges(line.code, preventive)
            or _SEPARATE_EM in line.modifiers
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
            _CLAIMS_MANUAL + "30.6.6",
            [f"{line.code}-{_SEPARATE_EM}"],
        )


# Modifiers that name an anatomic site (sides, eyelids, fingers, toes, coronary arteries);
# NCCI counts them as a bypass only when two codes name different sites.
ANATOMIC = re.compile(r"^(RT|LT|E[1-4]|F[A1-9]|T[A1-9]|LC|LD|LM|RC|RI)$")


def _check_procedure_sides(run: Run, rules: Mapping[str, Any]) -> None:
    """A paired-organ procedure without RT, LT or 50, or naming the side the note does not."""
    side_mod = rules["laterality_modifiers"]
    documented = run.ctx.lateralities
    both = "bilateral" in documented or {"right", "left"} <= documented
    for line in run.procs:
        if not _in_ranges(line.code, rules["paired_organ"]):
            continue
        present = [m for m in line.modifiers if m == _BILATERAL or ANATOMIC.match(m)]
        if not present:
            if both:
                wanted = [side_mod["bilateral"]]
            elif documented:
                wanted = [side_mod[min(documented)]]
            else:
                wanted = [side_mod[s] for s in SIDES]
            run.add(
                "modifier-laterality",
                "info",
                [line.code],
                f"{line.code} is a procedure on a paired organ or limb: report the side with "
                "RT or LT, or 50 when both sides are treated in one session.",
                _CLAIMS_MANUAL + "40.7; CMS NCCI Policy Manual, Chapter I (anatomic modifiers)",
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
