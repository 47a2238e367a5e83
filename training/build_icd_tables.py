"""Derive the shipped ICD-10-CM Table of Neoplasms from the CMS FY2026 XML.

    python training/build_neoplasm_table.py [--cms ../shared/data/cms]

Reads ``icd10cm-neoplasm-2026.xml`` (site -> six behaviour columns) and writes
``src/codesuggest/data/icd10cm_neoplasm.tsv`` in book order, one row per site entry: level
(0 = the table's main term "Neoplasm, neoplastic"), term, see, see_also, nonessential, then the
codes of the six columns (malignant primary, malignant secondary, in situ, benign, uncertain
behavior, unspecified behavior). A "-" cell (no code in that column) is written empty; every
code is re-validated against the FY2026 Tabular as ``build_icd_index.py`` does.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_icd_index import fy2026

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "codesuggest" / "data" / "icd10cm_neoplasm.tsv"
# Column numbers of the CMS XML (1 is the site itself).
BEHAVIOURS = {
    "2": "malignant",
    "3": "secondary",
    "4": "in_situ",
    "5": "benign",
    "6": "uncertain",
    "7": "unspecified",
}
COLUMNS = ("level", "term", "see", "see_also", "nonessential", *BEHAVIOURS.values())


def _rows(node: ET.Element, level: int, counts: dict[str, int], out: list[tuple[str, ...]]):
    title = node.find("title")
    term = " ".join((title.text or "").split()) if title is not None else ""
    nonessential = ""
    if title is not None:
        nonessential = " ".join(" ".join(m.text or "" for m in title.findall("nemod")).split())
    cells = {c.get("col"): (c.text or "").strip() for c in node.findall("cell")}
    codes = []
    for col in BEHAVIOURS:
        code = cells.get(col, "")
        if code and code != "-" and code != "--":
            code, what = fy2026(code)
            counts[what] += 1
        else:
            code = ""
        codes.append(code)
    see = " ".join((node.findtext("see") or "").split())
    see_also = " ".join((node.findtext("seeAlso") or "").split())
    out.append((str(level), term, see, see_also, nonessential, *codes))
    for child in node.findall("term"):
        _rows(child, level + 1, counts, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cms", default=str(ROOT.parent / "shared" / "data" / "cms"))
    args = ap.parse_args()
    src = Path(args.cms) / "icd10cm-neoplasm-2026.xml"
    data = src.read_bytes()
    root = ET.fromstring(data)
    version = (root.findtext("version") or "").strip()
    counts = {"kept": 0, "remapped": 0, "dropped": 0}
    rows: list[tuple[str, ...]] = []
    for main_term in root.iter("mainTerm"):
        _rows(main_term, 0, counts, rows)
    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(COLUMNS)
        w.writerows(rows)
    digest = hashlib.sha256(data).hexdigest()[:16]
    OUT.with_suffix(".SOURCE.md").write_text(
        "# icd10cm_neoplasm.tsv: source\n\n"
        "- **What**: the ICD-10-CM Table of Neoplasms, one row per site entry in book order "
        "(level 0 = main term 'Neoplasm, neoplastic'; deeper levels are subterms of the nearest "
        "shallower row above), columns level, term, see, see_also, nonessential, and the codes "
        "of the six behaviour columns: " + ", ".join(BEHAVIOURS.values()) + " (empty where the "
        "table prints '-').\n"
        f"- **From**: CMS/NCHS ICD-10-CM Table of Neoplasms FY{version} "
        f"(`../shared/data/cms/icd10cm-neoplasm-2026.xml`, sha256 {digest}); US government "
        "work, public domain.\n"
        "- **Built by** `python training/build_neoplasm_table.py`: "
        f"{len(rows)} rows; codes re-validated against the FY2026 Tabular: {counts['kept']} "
        f"kept, {counts['remapped']} mapped to their nearest header with a dash, "
        f"{counts['dropped']} dropped.\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT} ({len(rows)} rows): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
