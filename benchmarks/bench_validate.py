"""Latency of ``validate_codes`` on 10-code lists, after the code tables are loaded.

Edits run for every note in batch scoring, so the steady state must stay at a few ms.
"warm" lists repeat codes already seen (the per-code note parsing is cached); "cold" lists
draw codes never validated before in the process, the worst case of a batch's first notes.

Run: python benchmarks/bench_validate.py [--repeat N] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

NCCI = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ncci"

LISTS = [
    ["E11.9", "N18.31", "I10", "I50.9", "J44.9", "J18.9", "M17.10", "S52.521A", "G63", "Z79.4"],
    [
        "E11.22",
        "N18.31",
        "I12.9",
        "E78.5",
        "Z79.84",
        "F32.9",
        "G47.33",
        "K21.9",
        "M54.50",
        "R53.83",
    ],
    [
        "J44.1",
        "J96.01",
        "I50.23",
        "I11.0",
        "N17.9",
        "E87.1",
        "D64.9",
        "Z99.81",
        "F17.210",
        "I48.91",
    ],
    ["99213", "11042", "11045", "E11.621", "L97.412", "I73.9", "Z79.4", "E66.9", "Z68.35", "I10"],
]


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return sorted(out)


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 3),
        "max_ms": round(ms[-1], 3),
        "calls": len(ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200, help="calls per scenario")
    parser.add_argument("--cache-dir", default=None, help="code-set cache (default: the user's)")
    args = parser.parse_args()
    if args.cache_dir:
        os.environ["CODESUGGEST_CACHE_DIR"] = args.cache_dir

    from codesuggest.codebook.book import default_codebook
    from codesuggest.rules import NoteContext, load_mue, load_ncci_ptp, validate_codes

    start = time.perf_counter()
    book = default_codebook()
    book.icd.get("E11.9")
    load_s = time.perf_counter() - start

    ctx = NoteContext(
        encounter="initial",
        lateralities={"right"},
        uncertain_terms={"J18.9": "probable pneumonia"},
        symptom_codes=("R05.9",),
        documented_codes={"N18.31", "E11.22"},
        findings={"exacerbation"},
    )
    cms = [
        load_ncci_ptp(NCCI / "ptp_practitioner_sample.txt"),
        load_mue(NCCI / "mue_practitioner_sample.txt"),
    ]
    day = dt.date(2026, 3, 2)

    start = time.perf_counter()
    validate_codes(LISTS[0], codebook=book, age=70, sex="F", context=ctx, encounter_date=day)
    first_ms = (time.perf_counter() - start) * 1000

    cycle = iter(range(10**9))

    def pick() -> list[str]:
        return LISTS[next(cycle) % len(LISTS)]

    scenarios = {
        "codes only": lambda: validate_codes(pick(), codebook=book),
        "with note context": lambda: validate_codes(pick(), codebook=book, context=ctx),
        "with age/sex (Medicare Code Editor)": lambda: validate_codes(
            pick(), codebook=book, age=70, sex="F", encounter_date=day
        ),
        "everything (context, MCE, NCCI PTP+MUE)": lambda: validate_codes(
            pick(), codebook=book, age=70, sex="F", encounter_date=day, context=ctx, cms_edits=cms
        ),
    }
    for fn in scenarios.values():
        for _ in range(len(LISTS)):
            fn()
    results = {name: _summary(_timed(fn, args.repeat)) for name, fn in scenarios.items()}

    rng = random.Random(0)
    pool = [c for c in rng.sample(book.icd.codes, 6000) if book.icd.get(c).billable]
    cold_lists = [pool[i : i + 10] for i in range(0, len(pool) - 10, 10)][: args.repeat]
    lists = iter(cold_lists)
    results["cold codes, with age/sex"] = _summary(
        _timed(
            lambda: validate_codes(next(lists), codebook=book, age=70, sex="F", encounter_date=day),
            len(cold_lists),
        )
    )
    print(
        json.dumps(
            {
                "codebook_load_s": round(load_s, 3),
                "first_call_ms (rule files, MCE start)": round(first_ms, 1),
                "codes_per_list": 10,
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
