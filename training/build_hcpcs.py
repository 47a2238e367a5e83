"""Derive the shipped HCPCS Level II table from the CMS alpha-numeric HCPCS file.

    python training/build_hcpcs.py [--cms ../shared/data/cms]

Reads ``HCPC2026_JAN_ANWEB.txt`` (fixed width, 320 characters a record; layout in
``HCPC2026_recordlayout.txt``: code in columns 1-5, modifier in 4-5, record id in column 11
where 3 starts a code, 4 continues its long description and 7/8 are a modifier and its
continuation, long description in 12-91, short description in 92-119, termination date in
285-292) and writes two tab-separated tables into ``src/codesuggest/data/``:

- ``hcpcs_2026.tsv``: code, short and long description, and, for a drug, the amount one
  billing unit stands for (``dose_amount``, ``dose_unit``) read from the long description
  ("..., per 250 mg", "... up to 50 mg", "..., 10 mg"; components joined by "and" with the
  same unit are summed: "betamethasone acetate 3 mg and betamethasone sodium phosphate 3 mg" is
  one unit of 6 mg). Codes terminated before the file's year are left out.
- ``hcpcs_modifiers_2026.tsv``: modifier and its long description.

Both are US government works in the public domain; the ``.SOURCE.md`` beside them records
the input's sha256 and the counts.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "codesuggest" / "data"
INPUT = "HCPC2026_JAN_ANWEB.txt"
YEAR_START = "20260101"
CODES_OUT = DATA / "hcpcs_2026.tsv"
MODIFIERS_OUT = DATA / "hcpcs_modifiers_2026.tsv"
CODE_COLUMNS = ("code", "short_description", "description", "dose_amount", "dose_unit")

_UNIT_WORDS = r"mg|mcg|micrograms?|g|gm|grams?|ml|cc|units?|iu|meq|mci|million units"
# An amount and its unit, e.g. "250 mg", "0.1 mg", "1,000 units".
_AMOUNT = re.compile(rf"(\d[\d,]*(?:\.\d+)?)\s*({_UNIT_WORDS})\b", re.IGNORECASE)
# The amount of one billing unit ends the description of a drug code: "..., per 250 mg".
_UNIT_TAIL = re.compile(
    rf"(,\s*|\bper\s+|\bup to\s+|\s)(\d[\d,]*(?:\.\d+)?)\s*({_UNIT_WORDS})\s*$",
    re.IGNORECASE,
)
_CANONICAL_UNIT = {
    "micrograms": "mcg",
    "microgram": "mcg",
    "gm": "g",
    "gram": "g",
    "grams": "g",
    "cc": "ml",
    "unit": "units",
    "iu": "units",
    "million units": "million units",
}


def canonical_unit(unit: str) -> str:
    u = unit.lower()
    return _CANONICAL_UNIT.get(u, u)


def dose_per_unit(description: str) -> tuple[str, str]:
    """The amount one billing unit of a drug code stands for, or ``("", "")``.

    Only injected, infused or inhaled drugs and the like carry one: the description names the
    amount last ("Injection, ketorolac tromethamine, per 15 mg"). A description made of
    components with the same unit joined by "and" counts them together.
    """
    text = description.strip().rstrip(".")
    m = _UNIT_TAIL.search(text)
    if m is None:
        return "", ""
    unit = canonical_unit(m.group(3))
    amount = float(m.group(2).replace(",", ""))
    if not m.group(1).strip():
        # No "," or "per" before it: only "drug A 3 mg and drug B 3 mg" is a billing unit,
        # and it is the components together.
        head = text[: m.start()]
        if not re.search(r"\band\b", head):
            return "", ""
        amount += sum(
            float(a.replace(",", "")) for a, u in _AMOUNT.findall(head) if canonical_unit(u) == unit
        )
    return f"{amount:g}", unit


def parse(text: str) -> tuple[dict[str, dict[str, str]], dict[str, str], int]:
    """Codes (with their fields), modifiers and the number of terminated codes left out."""
    codes: dict[str, dict[str, str]] = {}
    modifiers: dict[str, str] = {}
    terminated: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) < 92:
            raise SystemExit(f"{INPUT} line {n}: shorter than the fixed-width layout")
        rec, long_part = line[10], line[11:91].strip()
        if rec in "78":
            mod = line[3:5].strip()
            modifiers[mod] = f"{modifiers[mod]} {long_part}" if rec == "8" else long_part
            continue
        code = line[:5].strip()
        if rec == "4":
            codes[code]["description"] += f" {long_part}"
            continue
        if rec != "3":
            raise SystemExit(f"{INPUT} line {n}: record id {rec!r}")
        ended = line[284:292].strip()
        if ended and ended < YEAR_START:
            terminated.add(code)
        codes[code] = {
            "code": code,
            "short_description": line[91:119].strip(),
            "description": long_part,
        }
    for code in terminated:
        del codes[code]
    for row in codes.values():
        row["description"] = " ".join(row["description"].split())
        row["dose_amount"], row["dose_unit"] = dose_per_unit(row["description"])
    return codes, modifiers, len(terminated)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cms", default=str(ROOT.parent / "shared" / "data" / "cms"))
    args = ap.parse_args()
    src = Path(args.cms) / INPUT
    raw = src.read_bytes()
    codes, modifiers, terminated = parse(raw.decode("cp1252"))
    with CODES_OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(CODE_COLUMNS)
        for code in sorted(codes):
            w.writerow([codes[code][c] for c in CODE_COLUMNS])
    with MODIFIERS_OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(("modifier", "description"))
        for mod in sorted(modifiers):
            w.writerow((mod, " ".join(modifiers[mod].split())))
    dosed = sum(1 for r in codes.values() if r["dose_amount"])
    sha = hashlib.sha256(raw).hexdigest()[:16]
    source = DATA / "hcpcs_2026.SOURCE.md"
    source.write_text(
        "# hcpcs_2026.tsv and hcpcs_modifiers_2026.tsv: source\n\n"
        "- **What**: HCPCS Level II codes (A-V: supplies, drugs, services, G codes) with their "
        "CMS short and long descriptions, the amount one billing unit of a drug stands for "
        "(`dose_amount`, `dose_unit`, parsed from the long description), and the HCPCS "
        "modifiers with their descriptions.\n"
        f"- **From**: CMS alpha-numeric HCPCS file, January 2026 (`{INPUT}`, sha256 {sha}); "
        "a US government work, public domain. No CPT (Level I) descriptor is in it.\n"
        f"- **Built by** `python training/build_hcpcs.py`: {len(codes)} codes "
        f"({dosed} with a per-unit dose), {terminated} codes terminated before 2026 left out, "
        f"{len(modifiers)} modifiers.\n",
        encoding="utf-8",
    )
    print(f"{len(codes)} codes ({dosed} dosed), {len(modifiers)} modifiers -> {CODES_OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
