"""HCPCS Level II: the shipped CMS table, a user's CMS file, and the dose of a drug code's unit.

The package ships ``data/hcpcs_2026.tsv``, derived from the CMS January 2026 alpha-numeric
file by ``training/build_hcpcs.py`` (public domain; see ``hcpcs_2026.SOURCE.md``), with the
amount one billing unit of each drug code stands for, parsed from its long description. A
newer CMS file can replace it (``load_hcpcs_file``).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.cpt import _cpt_rows, _procedure_set, _read_text
from codesuggest.core.codes import looks_like_cpt
from codesuggest.core.errors import InputError
from codesuggest.core.records import HCPCS, CodeSetVersion

HCPCS_TABLE = "hcpcs_2026.tsv"
HCPCS_MODIFIERS = "hcpcs_modifiers_2026.tsv"
HCPCS_VERSION = CodeSetVersion(HCPCS, "2026-01", "CMS HCPCS Level II, January 2026 (public domain)")
# What a drug code's description says before its name: "Injection, ketorolac ...".
_ROUTES = ("injection", "infusion")
# Qualifiers that say nothing a note would: a drug's NOS code is the default among its codes.
_NOS = re.compile(r"\bnot otherwise specified\b|\bnos\b", re.IGNORECASE)
_AMOUNT = re.compile(r"\d[\d,]*(?:\.\d+)?\s*(?:mg|mcg|micrograms?|units?|ml|cc)\b", re.I)
_BRAND = re.compile(r"\(([^)]*)\)")


@dataclass(frozen=True, slots=True)
class DrugCode:
    """A HCPCS drug code billed by the amount of one unit (J3301: 10 mg a unit).

    ``name`` is the drug as its description names it ("triamcinolone acetonide"),
    ``qualifiers`` the rest of the description ("preservative free", a brand in parentheses),
    ``nos`` whether it is the not-otherwise-specified code of its drug.
    """

    code: str
    name: str
    qualifiers: tuple[str, ...]
    amount: float
    unit: str
    nos: bool


def load_hcpcs_file(path: str | os.PathLike[str], *, version: str) -> CodeSet:
    """The CMS HCPCS Level II file.

    Accepted layouts: the fixed-width ``HCPC<year>_<month>_ANWEB.txt`` (code in columns 1-5,
    record id in column 11 where 3 starts a code and 4 continues its long description, long
    description in columns 12-91), or a CSV export with ``HCPC`` and ``LONG DESCRIPTION``
    columns.
    """
    p = Path(path)
    text = _read_text(p, "HCPCS file")
    first = text.lstrip()[:200].upper()
    if "HCPC" in first and ("," in first or "\t" in first):
        return _procedure_set(
            CodeSetVersion(HCPCS, version, p.name), _cpt_rows(text, str(p), HCPCS)
        )
    descriptions: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) < 12:
            raise InputError(f"{p} line {n}: too short for the HCPCS fixed-width layout.")
        code, rec = line[:5].strip().upper(), line[10]
        if rec not in "3478":
            raise InputError(f"{p} line {n}: record id {rec!r} is not 3, 4, 7 or 8.")
        if rec in "78":
            continue  # modifiers, not codes
        if not looks_like_cpt(code):
            raise InputError(f"{p} line {n}: {code!r} is not a HCPCS code.")
        part = line[11:91].strip()
        descriptions[code] = (
            f"{descriptions[code]} {part}" if rec == "4" and code in descriptions else part
        )
    if not descriptions:
        raise InputError(f"{p} has no HCPCS codes.")
    rows = [
        CodeInfo(code=c, system=HCPCS, description=d, billable=True, kind="procedure")
        for c, d in descriptions.items()
    ]
    return _procedure_set(CodeSetVersion(HCPCS, version, p.name), rows)


def _table_rows() -> list[dict[str, str]]:
    text = resources.files("codesuggest.data").joinpath(HCPCS_TABLE).read_text("utf-8")
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


@cache
def load_hcpcs_table() -> CodeSet:
    """The shipped HCPCS Level II code set (CMS January 2026)."""
    rows = [
        CodeInfo(
            code=r["code"],
            system=HCPCS,
            description=r["description"],
            billable=True,
            kind="procedure",
            synonyms=(r["short_description"],) if r["short_description"] else (),
        )
        for r in _table_rows()
    ]
    return _procedure_set(HCPCS_VERSION, rows)


def _drug_code(row: dict[str, str]) -> DrugCode | None:
    parts = [p.strip() for p in row["description"].split(",")]
    if len(parts) < 2 or parts[0].lower() not in _ROUTES or not row["dose_amount"]:
        return None
    brands = tuple(b.strip().lower() for b in _BRAND.findall(parts[1]))
    name = " ".join(_AMOUNT.sub(" ", _BRAND.sub(" ", parts[1])).lower().split())
    qualifiers = [q.lower() for q in parts[2:] if q and not _AMOUNT.fullmatch(q.strip())]
    qualifiers = [q for q in qualifiers if not re.fullmatch(r"(per|up to)\b.*", q)]
    return DrugCode(
        code=row["code"],
        name=name,
        qualifiers=(*brands, *(q for q in qualifiers if not _NOS.search(q))),
        amount=float(row["dose_amount"]),
        unit=row["dose_unit"],
        nos=any(_NOS.search(q) for q in qualifiers),
    )


@cache
def drug_codes() -> tuple[DrugCode, ...]:
    """Every injected or infused drug code of the shipped table that is billed per amount."""
    return tuple(d for d in map(_drug_code, _table_rows()) if d is not None)


@cache
def hcpcs_modifiers() -> dict[str, str]:
    """The HCPCS modifiers (RT, LT, 25, 59, XS, TC...) and their CMS descriptions."""
    text = resources.files("codesuggest.data").joinpath(HCPCS_MODIFIERS).read_text("utf-8")
    return {
        r["modifier"]: r["description"] for r in csv.DictReader(text.splitlines(), delimiter="\t")
    }


def units_of(dose: float, drug: DrugCode) -> int:
    """Billing units of ``dose`` (in the drug code's unit): whole units, a part rounded up."""
    units = dose / drug.amount
    whole = int(units)
    return max(1, whole + (units - whole > 1e-9))
