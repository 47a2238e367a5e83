"""Derive the shipped ICD-10-CM tables (Neoplasms, Drugs and Chemicals, External Causes).

    python training/build_icd_tables.py [--cms ../shared/data/cms]

Each table is written to ``src/codesuggest/data/`` in book order, one row per entry: level
(0 = a main term), term, see, see_also, nonessential, then the codes of the table's columns:
- ``icd10cm_neoplasm.tsv`` from ``icd10cm-neoplasm-2026.xml``: site -> malignant primary,
  malignant secondary, in situ, benign, uncertain behavior, unspecified behavior;
- ``icd10cm_drugs.tsv`` from ``icd10cm-drug-2026.xml``: substance -> poisoning accidental,
  intentional self-harm, assault, undetermined, adverse effect, underdosing;
- ``icd10cm_eindex.tsv`` from ``icd10cm-eindex-2026.xml``: the External Cause of Injuries
  Index (V00-Y99), one code per entry, in the Alphabetic Index's own columns.
A "-" or "--" cell (no code in that column) is written empty; every code is re-validated
against the FY2026 Tabular as ``build_icd_index.py`` does.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_icd_index import fy2026

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "codesuggest" / "data"


@dataclass(frozen=True)
class Table:
    """One CMS table: its XML, the file written, and its code columns (XML column -> name)."""

    title: str
    source: str
    out: str
    columns: dict[str, str]
    what: str


TABLES = (
    Table(
        "Table of Neoplasms",
        "icd10cm-neoplasm-2026.xml",
        "icd10cm_neoplasm.tsv",
        {
            "2": "malignant",
            "3": "secondary",
            "4": "in_situ",
            "5": "benign",
            "6": "uncertain",
            "7": "unspecified",
        },
        "site entry (level 0 = main term 'Neoplasm, neoplastic')",
    ),
    Table(
        "Table of Drugs and Chemicals",
        "icd10cm-drug-2026.xml",
        "icd10cm_drugs.tsv",
        {
            "2": "accidental",
            "3": "intentional",
            "4": "assault",
            "5": "undetermined",
            "6": "adverse_effect",
            "7": "underdosing",
        },
        "substance (level 0 = a substance; deeper levels its forms)",
    ),
    Table(
        "External Cause of Injuries Index",
        "icd10cm-eindex-2026.xml",
        "icd10cm_eindex.tsv",
        {"code": "code"},
        "entry (level 0 = a main term: Fall, Slipping, Place of occurrence, Activity, "
        "External cause status...)",
    ),
)


def _rows(
    node: ET.Element,
    level: int,
    columns: dict[str, str],
    counts: dict[str, int],
    out: list[tuple[str, ...]],
) -> None:
    title = node.find("title")
    term = ""
    if title is not None:
        # The title's own words, with what follows a nonessential modifier ("Abandonment
        # (causing exposure...) NEC" is "Abandonment NEC").
        term = " ".join(((title.text or "") + "".join(m.tail or "" for m in title)).split())
    nonessential = ""
    if title is not None:
        nonessential = " ".join(" ".join(m.text or "" for m in title.findall("nemod")).split())
    cells = {c.get("col"): (c.text or "").strip() for c in node.findall("cell")}
    # The External Cause Index gives one code, not a row of cells.
    cells.setdefault("code", (node.findtext("code") or "").strip())
    codes = []
    for col in columns:
        code = cells.get(col, "")
        if code and code.strip("-"):
            code, what = fy2026(code)
            counts[what] += 1
        else:
            code = ""
        codes.append(code)
    see = " ".join((node.findtext("see") or "").split())
    see_also = " ".join((node.findtext("seeAlso") or "").split())
    out.append((str(level), term, see, see_also, nonessential, *codes))
    for child in node.findall("term"):
        _rows(child, level + 1, columns, counts, out)


def build(table: Table, cms: Path) -> str:
    """Write one table and its SOURCE.md; return a line saying what was written."""
    src = cms / table.source
    data = src.read_bytes()
    root = ET.fromstring(data)
    version = (root.findtext("version") or "").strip()
    counts = {"kept": 0, "remapped": 0, "dropped": 0}
    rows: list[tuple[str, ...]] = []
    for main_term in root.iter("mainTerm"):
        _rows(main_term, 0, table.columns, counts, rows)
    out = DATA / table.out
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(("level", "term", "see", "see_also", "nonessential", *table.columns.values()))
        w.writerows(rows)
    digest = hashlib.sha256(data).hexdigest()[:16]
    out.with_suffix(".SOURCE.md").write_text(
        f"# {table.out}: source\n\n"
        f"- **What**: the ICD-10-CM {table.title}, one row per {table.what} in book order "
        "(deeper levels are subterms of the nearest shallower row above), columns level, "
        "term, see, see_also, nonessential, and the codes of the columns: "
        + ", ".join(table.columns.values())
        + " (empty where the table prints '-').\n"
        f"- **From**: CMS/NCHS ICD-10-CM {table.title} FY{version} "
        f"(`../shared/data/cms/{table.source}`, sha256 {digest}); US government "
        "work, public domain.\n"
        "- **Built by** `python training/build_icd_tables.py`: "
        f"{len(rows)} rows; codes re-validated against the FY2026 Tabular: {counts['kept']} "
        f"kept, {counts['remapped']} mapped to their nearest header with a dash, "
        f"{counts['dropped']} dropped.\n",
        encoding="utf-8",
    )
    return f"wrote {out} ({len(rows)} rows): {counts}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cms", default=str(ROOT.parent / "shared" / "data" / "cms"))
    args = ap.parse_args()
    for table in TABLES:
        print(build(table, Path(args.cms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
