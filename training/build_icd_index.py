"""Derive the shipped ICD-10-CM Alphabetic Index table from the CMS/NCHS flattened Index.

    python training/build_icd_index.py [--cms ../shared/data/cms]

Reads ``icd10cm-index-2025.csv`` (FY2025 Index to Diseases and Injuries, one row per entry in
book order with its indent level) and writes ``src/codesuggest/data/icd10cm_index.tsv`` with
the same rows and columns (level, term, see, see_also, nonessential, code), every code
re-validated against the FY2026 Tabular that the package uses:

- a code that is a FY2026 code (billable or a header to complete) is kept as printed;
- an Index code ending in ``-`` (complete it from the Tabular) keeps its dash;
- a code FY2026 no longer has is mapped to its nearest FY2026 ancestor with a dash (the
  Tabular completes it) and counted in the .SOURCE.md; one with no FY2026 ancestor is dropped.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from pathlib import Path

import simple_icd_10_cm as cm

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "codesuggest" / "data" / "icd10cm_index.tsv"
COLUMNS = ("level", "term", "see", "see_also", "nonessential", "code")


_INFIX = re.compile(r"\([a-z]\)")
# A cross-reference the flattening left among the nonessential modifiers:
# "basal cell (pigmented) (see also Neoplasm, skin, malignant) C44.91".
_SEE_IN_MODIFIER = re.compile(
    r"\(\s*see\s+(?!(?:also[\s,]+)?category)(also[\s,]+)?(?:if applicable,\s*)?"
    r"((?:[^()]|\([^()]*\))+?)(?:,\s*if known)?\s*\)",
    re.IGNORECASE,
)


def fy2026(code: str) -> tuple[str, str]:
    """The code as FY2026 has it, and what was done (kept / completed / remapped / dropped)."""
    dash = code.endswith("-")
    bare = code.rstrip("-").rstrip(".")
    if cm.is_valid_item(bare):
        return (bare + "-" if dash else bare), "kept"
    probe = bare
    while len(probe) > 3:
        probe = probe[:-1].rstrip(".")
        if cm.is_valid_item(probe):
            return probe + "-", "remapped"
    return "", "dropped"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cms", default=str(ROOT.parent / "shared" / "data" / "cms"))
    args = ap.parse_args()
    src = Path(args.cms) / "icd10cm-index-2025.csv"
    data = src.read_bytes()
    counts = {"kept": 0, "remapped": 0, "dropped": 0}
    examples: dict[str, list[str]] = {"remapped": [], "dropped": []}
    rows = []
    titles: set[str] = set()
    repaired = moved = 0
    for row in csv.DictReader(data.decode("utf-8-sig").splitlines()):
        term, nonessential = row["Term"].strip(), (row["NonEssModif"] or "").strip()
        if row["Level"] == "0" and term in titles and _INFIX.fullmatch(nonessential):
            # A flattening loss: "Cancer(o)phobia" became main term "Cancer" with "(o)" and
            # F45.29, so every "cancer" read as a phobia. The rest of the word is gone.
            repaired += 1
            continue
        if row["Level"] == "0":
            titles.add(term)
        see, see_also = (row["See"] or "").strip(), (row["SeeAlso"] or "").strip()
        found = _SEE_IN_MODIFIER.search(nonessential)
        if found:
            target = " ".join(found[2].split())
            if found[1] and not see_also:
                see_also = target
            elif not found[1] and not see:
                see = target
            rest = nonessential[: found.start()] + nonessential[found.end() :]
            nonessential = " ".join(rest.split())
            moved += 1
        code = (row["Code"] or "").strip()
        if code:
            new, what = fy2026(code)
            counts[what] += 1
            if what != "kept" and len(examples[what]) < 8:
                examples[what].append(f"{row['Term']} {code} -> {new or '(none)'}")
            code = new
        rows.append(
            (
                row["Level"],
                row["Term"].strip(),
                see,
                see_also,
                nonessential,
                code,
            )
        )
    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(COLUMNS)
        w.writerows(rows)
    digest = hashlib.sha256(data).hexdigest()[:16]
    version = getattr(cm, "__version__", "1.5.0")
    source = OUT.with_suffix(".SOURCE.md")
    source.write_text(
        "# icd10cm_index.tsv: source\n\n"
        "- **What**: the ICD-10-CM Alphabetic Index to Diseases and Injuries, one row per entry "
        "in book order (level 0 = main term; deeper levels are subterms of the nearest shallower "
        "row above), columns level, term, see, see_also, nonessential (first nonessential "
        "modifier), code.\n"
        "- **From**: CDC/NCHS FY2025 Index (April 2025 update), flattened to CSV "
        f"(`../shared/data/cms/icd10cm-index-2025.csv`, sha256 {digest}); "
        "US government work, public domain.\n"
        f"- **Re-validated against FY2026** (simple-icd-10-cm {version}) by "
        "`python training/build_icd_index.py`: "
        f"{counts['kept']} codes kept, {counts['remapped']} no longer in FY2026 mapped to their "
        f"nearest FY2026 header with a dash (completed from the Tabular at lookup), "
        f"{counts['dropped']} dropped; {repaired} flattened compound main term(s) such as "
        "'Cancer(o)phobia' read as 'Cancer' removed; {moved} \"(see ...)\" references moved from "
        "the nonessential modifiers to the see / see-also columns.\n"
        "- Remapped, e.g.: " + "; ".join(examples["remapped"]) + "\n"
        "- Dropped, e.g.: " + ("; ".join(examples["dropped"]) or "none") + "\n"
        "- **Known losses of the flattening** (see the shared README): bracketed manifestation "
        "codes, all but the first nonessential modifier, title text after a modifier.\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT} ({len(rows)} rows): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
