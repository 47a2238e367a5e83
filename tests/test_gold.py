"""The project's gold codes are codes a claim could carry: billable FY2026 ICD-10-CM leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLD_FILES = sorted((ROOT / "data" / "gold" / "aci-bench").glob("part-*.jsonl"))
SAMPLE_GOLD = sorted((ROOT / "data" / "samples").glob("*.gold.json"))


def _records() -> list[dict]:
    out = [json.loads(line) for f in GOLD_FILES for line in f.read_text().splitlines() if line]
    for f in SAMPLE_GOLD:
        g = json.loads(f.read_text())
        out.append({"id": f.name, **g})
    return out


def test_aci_bench_gold_covers_every_note_once_in_the_corpus_splits():
    records = [json.loads(line) for f in GOLD_FILES for line in f.read_text().splitlines() if line]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 167
    splits = {r["split"] for r in records}
    assert splits == {"train", "valid", "test1", "test2"}


def test_gold_files_hold_codes_not_note_text():
    for f in GOLD_FILES:
        for line in f.read_text().splitlines():
            record = json.loads(line)
            assert "text" not in record
            assert len(record.get("rationale", "")) < 600, record["id"]


@pytest.mark.parametrize("record", _records(), ids=lambda r: r["id"])
def test_every_gold_icd_code_is_a_billable_fy2026_code(book, record):
    for code in record["icd10cm"]:
        info = book.find(code, "ICD-10-CM")
        assert info is not None, f"{record['id']}: {code} is not in the FY2026 tabular"
        assert info.billable, f"{record['id']}: {code} is a header, not a billable code"
    for code in record.get("must_not", []):
        assert code not in record["icd10cm"] + record.get("cpt", []), record["id"]
