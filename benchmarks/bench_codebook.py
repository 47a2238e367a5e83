"""Code-set load time (cache build and warm load, each in a fresh process) and search latency.

Run: python benchmarks/bench_codebook.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = [
    "type 2 diabetes with hyperglycemia",
    "diabetis mellitus type 2",
    "essential hypertension",
    "hypertension essential",
    "torus fracture right distal radius initial encounter",
    "acute on chronic systolic heart failure",
    "pnuemonia",
    "chronic kidney disease stage 3a",
    "major depressive disorder recurrent moderate",
    "colonoscopy with biopsy",
    "office visit established patient",
    "hypert",
    "E11.6",
    "low back pain",
    "urinary tract infection",
    "copd with acute exacerbation",
    "atrial fibrilation",
    "left knee osteoarthritis",
    "migraine without aura",
    "fracture of neck of right femur",
]

LOAD = (
    "import time; t=time.perf_counter(); "
    "from codesuggest.codebook import default_codebook; b=default_codebook(); "
    "b.icd.get('E11.65'); print(time.perf_counter()-t)"
)


def _fresh_process_seconds(env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", LOAD], env=env, check=True, capture_output=True, text=True
    ).stdout
    wall = time.perf_counter() - start
    return float(out.strip().splitlines()[-1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache-dir", default=None, help="default: a new temporary folder")
    parser.add_argument("--repeat", type=int, default=20, help="searches per query")
    args = parser.parse_args()
    cache = args.cache_dir or tempfile.mkdtemp(prefix="codesuggest-bench-")
    env = dict(os.environ, CODESUGGEST_CACHE_DIR=cache)

    build_in_process, build_wall = _fresh_process_seconds(env)
    loads = [_fresh_process_seconds(env) for _ in range(5)]

    os.environ["CODESUGGEST_CACHE_DIR"] = cache
    from codesuggest.codebook.book import default_codebook

    book = default_codebook()
    for q in QUERIES:
        book.search(q)
    latencies = []
    for _ in range(args.repeat):
        for q in QUERIES:
            start = time.perf_counter()
            book.search(q, limit=10)
            latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    result = {
        "cache_build_s": round(build_in_process, 2),
        "cache_build_process_wall_s": round(build_wall, 2),
        "warm_load_s_median": round(statistics.median(x for x, _ in loads), 3),
        "warm_process_wall_s_median": round(statistics.median(w for _, w in loads), 3),
        "search_ms_p50": round(latencies[len(latencies) // 2], 2),
        "search_ms_p95": round(latencies[int(len(latencies) * 0.95)], 2),
        "search_ms_max": round(latencies[-1], 2),
        "searches": len(latencies),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
