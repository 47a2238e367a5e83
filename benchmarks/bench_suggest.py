"""Full suggestion speed and memory (extraction, candidates, ranking, edits) on CodiEsp notes.

Run: python benchmarks/bench_suggest.py [--notes ../shared/data/codiesp/background/text_files_en]
     [--limit N] [--model DIR]

Prints: notes/s in one process, single-note p50/p95 latency after load, cold start to the
first suggestion in a fresh process (and, of it, the time a fresh process takes just to import
the scikit-learn, spaCy and joblib modules the suggester needs), peak RSS, and medspaCy's
default pipeline (``medspacy.load()``) on the same notes in the same run as the reference.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLD = (
    "import time; t=time.perf_counter(); import codesuggest; "
    "s=codesuggest.load({model!r}); s.suggest(open({note!r}).read()); "
    "print(time.perf_counter()-t)"
)

# What any process using the pinned libraries pays before codesuggest does anything: the
# modules the suggester needs from scikit-learn (which imports scipy.stats), spaCy and joblib.
IMPORT_FLOOR = (
    "import time; t=time.perf_counter(); import sklearn.ensemble, sklearn.calibration, "
    "sklearn.feature_extraction.text, spacy, joblib; print(time.perf_counter()-t)"
)


def _seconds(code: str) -> float:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--notes", default=str(ROOT.parent / "shared/data/codiesp/background/text_files_en")
    )
    parser.add_argument("--limit", type=int, default=0, help="0 = all notes")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--medspacy-limit",
        type=int,
        default=0,
        help="notes for the medspaCy reference; 0 = the same notes as ours (the default)",
    )
    args = parser.parse_args()
    files = sorted(Path(args.notes).glob("*.txt"))
    if args.limit:
        files = files[: args.limit]
    texts = [f.read_text(encoding="utf-8") for f in files]

    cold = [_seconds(COLD.format(model=args.model, note=str(files[0]))) for _ in range(2)]
    floor = [_seconds(IMPORT_FLOOR) for _ in range(2)]

    import codesuggest

    start = time.perf_counter()
    s = codesuggest.load(args.model)
    s.suggest(texts[0])
    load_s = time.perf_counter() - start

    latencies = []
    n_sugg = 0
    start = time.perf_counter()
    for t in texts:
        t0 = time.perf_counter()
        n_sugg += len(s.suggest(t).suggestions)
        latencies.append(time.perf_counter() - t0)
    ours = len(texts) / (time.perf_counter() - start)
    rss = _peak_rss_mb()
    latencies.sort()

    import medspacy
    from loguru import logger

    logger.disable("PyRuSH")  # its DEBUG line per token would otherwise dominate its time
    ref_texts = texts[: args.medspacy_limit] if args.medspacy_limit else texts
    nlp = medspacy.load()
    nlp(ref_texts[0])
    start = time.perf_counter()
    for t in ref_texts:
        nlp(t)
    ref = len(ref_texts) / (time.perf_counter() - start)

    print(
        json.dumps(
            {
                "notes": len(texts),
                "suggestions_per_note": round(n_sugg / len(texts), 1),
                "notes_per_s": round(ours, 1),
                "latency_ms_p50": round(1000 * statistics.median(latencies), 1),
                "latency_ms_p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
                "cold_start_to_first_suggestion_s": round(min(cold), 2),
                "of_which_pinned_library_imports_s": round(min(floor), 2),
                "in_process_load_s": round(load_s, 2),
                "peak_rss_mb": round(rss),
                "medspacy_default_notes_per_s": round(ref, 1),
                "medspacy_notes_measured": len(ref_texts),
                "ratio_vs_medspacy": round(ours / ref, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
