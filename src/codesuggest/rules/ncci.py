"""CMS National Correct Coding Initiative edits from the files the user supplies.

``load_ncci_ptp`` reads procedure-to-procedure (PTP) edits, ``load_mue`` medically unlikely
edits (MUE), in the layouts CMS publishes; ``check_ptp`` and ``check_mue`` apply those in force
on the encounter date. CMS licenses no copy with codesuggest, so none ships.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from codesuggest.core.codes import looks_like_cpt
from codesuggest.core.errors import InputError
from codesuggest.rules.procedures import ANATOMIC, procedure_rules
from codesuggest.rules.run import Run

# Bytes read to tell a binary file (an .xlsx is a zip) from text: NULs show up early.
_BINARY_SNIFF = 4096
# Lines that decide the delimiter: past the notice lines CMS puts first, into the data.
_DELIMITER_SAMPLE = 50
_DATE_FORMATS = ("%Y%m%d", "%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y")

# PTP file columns (2 is "* = in existence prior to 1996", not used).
_COLUMN1, _COLUMN2, _EFFECTIVE, _DELETION, _MODIFIER, _PTP_RATIONALE = 0, 1, 3, 4, 5, 6
# PTP modifier indicators.
_NO_BYPASS, _BYPASS_ALLOWED, _NOT_APPLICABLE = "0", "1", "9"
# MUE file columns.
_CODE, _VALUE, _INDICATOR, _MUE_RATIONALE = 0, 1, 2, 3
# MUE adjudication indicators: one claim line, or one day as policy or clinical limit.
_LINE_EDIT, _POLICY_LIMIT, _CLINICAL_LIMIT = "1", "2", "3"


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
        """Whether the edit is in force on ``day`` (both dates inclusive)."""
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
    """The cells of a CMS text or CSV file, stripped; raises ``InputError`` naming ``what``."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"The {what} {p} does not exist; give the path to the CMS file.") from None
    except OSError as exc:
        raise InputError(f"The {what} {p} cannot be read: {exc}") from exc
    if b"\x00" in raw[:_BINARY_SNIFF]:
        raise InputError(
            f"The {what} {p} is binary (an .xlsx?): save it as tab-separated or CSV text."
        )
    text = None
    # CMS files saved from Excel on Windows are Windows-1252; the rest are UTF-8.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise InputError(f"The {what} {p} is neither UTF-8 nor Windows-1252 text.")
    lines = text.splitlines()
    sample = "\n".join(lines[:_DELIMITER_SAMPLE])
    delimiter = "\t" if sample.count("\t") >= sample.count(",") else ","
    return p, [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _is_proc_code(cell: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Z]{5}", cell.upper())) and looks_like_cpt(cell)


def _date(cell: str, where: str) -> dt.date:
    for fmt in _DATE_FORMATS:
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
        if len(row) <= _COLUMN2 or not (
            _is_proc_code(row[_COLUMN1]) and _is_proc_code(row[_COLUMN2])
        ):
            continue
        where = f"{p} line {n}"
        if len(row) <= _MODIFIER:
            raise InputError(
                f"{where}: expected Column 1, Column 2, *, Effective Date, Deletion Date, "
                f"Modifier, Rationale; got {row!r}."
            )
        modifier = row[_MODIFIER][:1]
        if modifier not in (_NO_BYPASS, _BYPASS_ALLOWED, _NOT_APPLICABLE):
            raise InputError(f"{where}: modifier indicator {row[_MODIFIER]!r} is not 0, 1 or 9.")
        deletion = row[_DELETION].strip()
        edit = PtpEdit(
            column1=row[_COLUMN1].upper(),
            column2=row[_COLUMN2].upper(),
            effective=_date(row[_EFFECTIVE], where),
            deletion=None if deletion in ("", "*") else _date(deletion, where),
            modifier=modifier,
            rationale=row[_PTP_RATIONALE] if len(row) > _PTP_RATIONALE else "",
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
        if len(row) <= _VALUE or not _is_proc_code(row[_CODE]) or not row[_VALUE].isdigit():
            continue
        indicator = row[_INDICATOR] if len(row) > _INDICATOR else ""
        if indicator and indicator[:1] not in (_LINE_EDIT, _POLICY_LIMIT, _CLINICAL_LIMIT):
            raise InputError(f"{p} line {n}: MUE adjudication indicator {indicator!r} is not 1-3.")
        code = row[_CODE].upper()
        limits[code] = MueLimit(
            code=code,
            value=int(row[_VALUE]),
            adjudication=indicator[:1] or _LINE_EDIT,
            adjudication_text=indicator,
            rationale=row[_MUE_RATIONALE] if len(row) > _MUE_RATIONALE else "",
        )
    if not limits:
        raise InputError(
            f"{p} has no MUE rows: expected the CMS columns HCPCS/CPT Code, MUE Value, "
            "MUE Adjudication Indicator, MUE Rationale."
        )
    return MueTable(f"CMS NCCI MUE ({p.name})", limits)


def check_ptp(run: Run) -> None:
    """Every ordered pair of listed procedures with a PTP edit in force on the encounter date."""
    if not run.ptp:
        return
    codes = list(dict.fromkeys(line.code for line in run.procs))
    modifiers: dict[str, set[str]] = {}
    for line in run.procs:
        modifiers.setdefault(line.code, set()).update(line.modifiers)
    for a in codes:
        for b in codes:
            if a == b:
                continue
            # The first table with an edit in force for the pair decides (9: none applies).
            for table in run.ptp:
                edit = next((e for e in table.edits.get((a, b), ()) if e.active_on(run.day)), None)
                if edit is None or edit.modifier == _NOT_APPLICABLE:
                    continue
                _ptp_edit(run, edit, table.source, _bypassing(modifiers, a, b))
                break


def _bypassing(modifiers: dict[str, set[str]], a: str, b: str) -> list[str]:
    """The listed modifiers that bypass a PTP edit between ``a`` and ``b``.

    Anatomic modifiers show distinct sites only when the two codes name different ones
    (27447-RT with 20610-LT); the others (59, XS, 25...) count on either code.
    """
    bypass = set(procedure_rules()["ncci_bypass_modifiers"])
    side_a = {m for m in modifiers[a] if ANATOMIC.match(m)}
    side_b = {m for m in modifiers[b] if ANATOMIC.match(m)}
    used = ((modifiers[a] - side_a) | (modifiers[b] - side_b)) & bypass
    if side_a and side_b and side_a != side_b:
        used |= side_b
    return sorted(used)


def _ptp_edit(run: Run, edit: PtpEdit, source: str, used: list[str]) -> None:
    a, b = edit.column1, edit.column2
    why = f" ({edit.rationale})" if edit.rationale else ""
    if edit.modifier == _NO_BYPASS:
        run.add(
            "ncci-ptp",
            "error",
            [a, b],
            f"{b} is not paid with {a} on the same day{why}; no modifier can bypass "
            f"this edit. Report {a} only.",
            source,
            [a],
        )
    elif used:
        run.add(
            "ncci-ptp",
            "info",
            [a, b],
            f"{b} with {a} is an NCCI pair{why}, bypassed by modifier "
            f"{', '.join(used)}: the documentation must show a separate service.",
            source,
        )
    else:
        run.add(
            "ncci-ptp",
            "warning",
            [a, b],
            f"{b} is bundled into {a}{why}. Report {a} only, or add 59 or "
            f"XE/XS/XP/XU to {b} when the documentation shows a separate site, "
            "session or encounter.",
            source,
            [a],
        )


# What each MUE adjudication indicator means for the units over the limit.
_MUE_MEANING = {
    _LINE_EDIT: "per claim line (more may be payable on separate lines with a modifier)",
    _POLICY_LIMIT: "per day, an absolute policy limit",
    _CLINICAL_LIMIT: "per day, a clinical limit that an appeal with documentation can exceed",
}


def check_mue(run: Run) -> None:
    """Units of a code, summed over its lines, above the first MUE table's limit for it."""
    if not run.mue:
        return
    units: dict[str, int] = {}
    for line in run.procs:
        units[line.code] = units.get(line.code, 0) + line.units
    for code, n in units.items():
        for table in run.mue:
            lim = table.limits.get(code)
            if lim is None or n <= lim.value:
                continue
            run.add(
                "mue",
                "error" if lim.adjudication == _POLICY_LIMIT else "warning",
                [code],
                f"{code} is reported with {n} units; the MUE allows {lim.value} "
                f"{_MUE_MEANING.get(lim.adjudication, '')}.",
                table.source,
                [f"{code}*{lim.value}"],
            )
            break
