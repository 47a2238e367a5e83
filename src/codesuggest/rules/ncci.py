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


def check_ptp(run: Run) -> None:
    if not run.ptp:
        return
    codes = list(dict.fromkeys(line.code for line in run.procs))
    bypass = set(procedure_rules()["ncci_bypass_modifiers"])
    modifiers: dict[str, set[str]] = {}
    for line in run.procs:
        modifiers.setdefault(line.code, set()).update(line.modifiers)

    def bypassing(a: str, b: str) -> list[str]:
        # Anatomic modifiers show distinct sites only when the two codes name different ones
        # (27447-RT with 20610-LT); the others (59, XS, 25...) count on either code.
        side_a = {m for m in modifiers[a] if ANATOMIC.match(m)}
        side_b = {m for m in modifiers[b] if ANATOMIC.match(m)}
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


def check_mue(run: Run) -> None:
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
