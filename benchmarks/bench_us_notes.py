"""Pre-selected codes on US notes, judged as a coding manager judges a coder.

Scores the shipped (or a given) model on
- ``data/samples/``: the project's own notes with gold (ICD-10-CM and CPT/HCPCS), and
- ACI-Bench visit notes (``../shared/data/aci-bench/notes``) with the project's gold in
  ``data/gold/aci-bench/`` (``--splits``; the bar is measured on test1 + test2 only).

For each set: micro precision / recall / F1 of the pre-selected codes per system (exact code,
modifiers ignored), ICD MAP over the ranked list, must-not violations (a must-not code
pre-selected or in the ICD top 3), E/M level exactly right, notes fully right, and modifiers
exactly right on the CPT/HCPCS lines found that carry modifiers in the gold or the suggestion
(``cpt_modifiers`` of the gold; samples without it count as no modifiers).

    python benchmarks/bench_us_notes.py                       # samples + test1 + test2
    python benchmarks/bench_us_notes.py --splits train valid -v   # tuning splits, with misses
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
GOLD = ROOT / "data" / "gold" / "aci-bench"
ACI_NOTES = ROOT.parent / "shared" / "data" / "aci-bench" / "notes"
EM_CODES = {f"992{n:02d}" for n in range(2, 16)} | {f"9928{n}" for n in range(1, 6)}
EM_CODES |= {f"993{n:02d}" for n in range(81, 100)} | {f"992{n}" for n in range(21, 40)}


def sample_cases() -> list[dict]:
    cases = []
    for gold in sorted(SAMPLES.glob("*.gold.json")):
        g = json.loads(gold.read_text())
        text = gold.with_name(gold.name.replace(".gold.json", ".txt")).read_text(encoding="utf-8")
        cases.append(
            {
                "id": gold.name.replace(".gold.json", ""),
                "text": text,
                "setting": g.get("setting", "outpatient"),
                "age": g.get("age"),
                "sex": g.get("sex"),
                "icd10cm": g.get("icd10cm", []),
                "cpt": g.get("cpt", []),
                "must_not": g.get("must_not", []),
                "em": next((c for c in g.get("cpt", []) if c in EM_CODES), None),
                **({"cpt_modifiers": g["cpt_modifiers"]} if "cpt_modifiers" in g else {}),
            }
        )
    return cases


def aci_cases(splits: set[str]) -> list[dict]:
    if not ACI_NOTES.is_dir():
        return []
    cases = []
    for part in sorted(GOLD.glob("part-*.jsonl")):
        for line in part.read_text().splitlines():
            if not line.strip():
                continue
            g = json.loads(line)
            if g["split"] in splits:
                g["text"] = (ACI_NOTES / f"{g['id']}.txt").read_text(encoding="utf-8")
                cases.append(g)
    return cases


def avg_precision(ranked: list[str], gold: set[str]) -> float:
    hits, total = 0, 0.0
    for i, code in enumerate(ranked, 1):
        if code in gold:
            hits += 1
            total += hits / i
    return total / len(gold) if gold else 0.0


def score(suggester, cases: list[dict], verbose: bool) -> dict:
    tot = {k: {"tp": 0, "fp": 0, "fn": 0} for k in ("icd", "cpt", "icd_no_ext")}
    aps, violations, perfect, em_right, em_total = [], 0, 0, 0, 0
    mod_right, mod_total = 0, 0
    start = time.perf_counter()
    for c in cases:
        result = suggester.suggest(
            c["text"], setting=c.get("setting") or "outpatient", age=c.get("age"), sex=c.get("sex")
        ).to_dict()
        sugg = result["suggestions"]
        ranked_icd = [s["code"] for s in sugg if s["system"] == "ICD-10-CM"]
        sel = {
            "icd": {s["code"] for s in sugg if s["selected"] and s["system"] == "ICD-10-CM"},
            "cpt": {s["code"] for s in sugg if s["selected"] and s["system"] != "ICD-10-CM"},
        }
        gold = {"icd": set(c.get("icd10cm", [])), "cpt": set(c.get("cpt", []))}
        mods = {
            s["code"]: sorted(m["code"] for m in s.get("modifiers") or [])
            for s in sugg
            if s["selected"] and s["system"] != "ICD-10-CM"
        }
        gold_mods = {k: sorted(v) for k, v in (c.get("cpt_modifiers") or {}).items()}
        # Only a gold that records modifiers can say a modifier is wrong.
        for code in sel["cpt"] & gold["cpt"] if "cpt_modifiers" in c else ():
            if mods.get(code) or gold_mods.get(code):
                mod_total += 1
                mod_right += int(mods.get(code, []) == gold_mods.get(code, []))
        # External causes (V00-Y99) are voluntary unless a state or payer requires them
        # (guideline I.C.20): the same figure without them on either side, for readers who
        # code to the other convention.
        sel["icd_no_ext"] = {x for x in sel["icd"] if x[:1] not in "VWXY"}
        gold["icd_no_ext"] = {x for x in gold["icd"] if x[:1] not in "VWXY"}
        misses = []
        for k in tot:
            tot[k]["tp"] += len(sel[k] & gold[k])
            tot[k]["fp"] += len(sel[k] - gold[k])
            tot[k]["fn"] += len(gold[k] - sel[k])
        for k in ("icd", "cpt"):
            if gold[k] - sel[k]:
                misses.append(f"missed {k} {sorted(gold[k] - sel[k])}")
            if sel[k] - gold[k]:
                misses.append(f"extra {k} {sorted(sel[k] - gold[k])}")
        bad = [
            m for m in c.get("must_not", []) if m in sel["icd"] | sel["cpt"] or m in ranked_icd[:3]
        ]
        violations += len(bad)
        if bad:
            misses.append(f"MUST NOT {bad}")
        if gold["icd"]:
            aps.append(avg_precision(ranked_icd, gold["icd"]))
        if c.get("em"):
            em_total += 1
            em_right += int(c["em"] in sel["cpt"] and not (sel["cpt"] & EM_CODES) - {c["em"]})
        if not misses:
            perfect += 1
        if verbose and misses:
            print(f"  {c['id']}: " + "; ".join(misses))
    elapsed = time.perf_counter() - start

    def prf(t: dict) -> tuple[float, float, float]:
        p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 0.0
        r = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 0.0
        return round(p, 3), round(r, 3), round(2 * p * r / (p + r), 3) if p + r else 0.0

    out = {"notes": len(cases), "fully_right": perfect, "must_not_violations": violations}
    for k in ("icd", "cpt"):
        out[f"{k}_p"], out[f"{k}_r"], out[f"{k}_f1"] = prf(tot[k])
    out["icd_f1_without_external_causes"] = prf(tot["icd_no_ext"])[2]
    out["icd_map"] = round(sum(aps) / max(len(aps), 1), 3)
    out["em_exact"] = round(em_right / em_total, 3) if em_total else None
    out["em_notes"] = em_total
    out["modifiers_exact"] = round(mod_right / mod_total, 3) if mod_total else None
    out["modifier_lines"] = mod_total
    out["notes_per_s"] = round(len(cases) / elapsed, 1) if elapsed else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=None, help="a model folder (default: the shipped one)")
    ap.add_argument("--splits", nargs="*", default=["test1", "test2"], help="ACI-Bench splits")
    ap.add_argument("--no-samples", action="store_true", help="skip data/samples")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each note's misses")
    args = ap.parse_args()
    import codesuggest

    suggester = codesuggest.load(args.model)
    report: dict[str, dict] = {}
    if not args.no_samples:
        print("data/samples")
        report["samples"] = score(suggester, sample_cases(), args.verbose)
        print(json.dumps(report["samples"]))
    if args.splits:
        cases = aci_cases(set(args.splits))
        if not cases:
            print(f"ACI-Bench notes not found at {ACI_NOTES}; skipped", file=sys.stderr)
        else:
            name = "aci-bench " + "+".join(args.splits)
            print(name)
            report[name] = score(suggester, cases, args.verbose)
            print(json.dumps(report[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
