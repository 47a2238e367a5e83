"""Term extraction speed and memory, against medspaCy's default pipeline on the same notes.

Run: python benchmarks/bench_terms.py [NOTES_DIR] [--limit N] [--reference-limit N]

NOTES_DIR defaults to the CodiEsp background notes (``../shared/data/codiesp/background/
text_files_en`` beside the repository). Both pipelines run in this one process, ours first:
the peak resident memory printed after ours is ours alone (with the code tables), the one at
the end includes medspaCy's. The ready time is the wall time from the first import to an
extractor that can take a note (vocabulary cache already built). PyRuSH's debug log (loguru)
is switched off for the reference run so that its output does not flood the terminal.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NOTES = REPO.parent / "shared" / "data" / "codiesp" / "background" / "text_files_en"


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _read_notes(folder: Path, limit: int | None) -> list[str]:
    paths = sorted(folder.glob("*.txt"))
    if not paths:
        raise SystemExit(f"No .txt notes in {folder}; give the folder of CodiEsp text files.")
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths[:limit]]


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notes", nargs="?", type=Path, default=DEFAULT_NOTES)
    parser.add_argument("--limit", type=int, default=None, help="notes to extract (default all)")
    parser.add_argument(
        "--reference-limit",
        type=int,
        default=None,
        help="notes for medspaCy's default pipeline (default: the same notes)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()

    start = time.perf_counter()
    from codesuggest.terms.extractor import TermExtractor

    extractor = TermExtractor.default()
    extractor.extract("HPI: warm-up note with HTN.")
    ready = time.perf_counter() - start

    notes = _read_notes(args.notes.resolve(), args.limit)
    chars = sum(len(n) for n in notes)
    n_terms = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for note in notes:
        n_terms += len(extractor.extract(note).terms)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ours_rss = _peak_rss_mb()

    reference = notes[: args.reference_limit]
    # medspaCy's matchers warn about empty rule sets, and PyRuSH logs every sentence decision
    # at DEBUG level through loguru; the log lines are still formatted, but not written out.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from loguru import logger

        logger.remove()
        import medspacy

        ref_start = time.perf_counter()
        nlp = medspacy.load()
        ref_load = time.perf_counter() - ref_start
        ref_wall, ref_cpu = time.perf_counter(), time.process_time()
        for note in reference:
            nlp(note)
        ref_wall, ref_cpu = time.perf_counter() - ref_wall, time.process_time() - ref_cpu

    result = {
        "notes": len(notes),
        "mean_note_chars": round(chars / len(notes)),
        "terms": n_terms,
        "ours_ready_s": round(ready, 2),
        "ours_notes_per_s": _rate(len(notes), wall),
        "ours_notes_per_cpu_s": _rate(len(notes), cpu),
        "ours_peak_rss_mb": ours_rss,
        "medspacy_notes": len(reference),
        "medspacy_load_s": round(ref_load, 2),
        "medspacy_notes_per_s": _rate(len(reference), ref_wall),
        "medspacy_notes_per_cpu_s": _rate(len(reference), ref_cpu),
        "peak_rss_mb_with_medspacy": _peak_rss_mb(),
    }
    result["speedup_vs_medspacy"] = round(
        result["ours_notes_per_s"] / result["medspacy_notes_per_s"], 2
    )
    if args.json:
        print(json.dumps(result))
        return
    print(json.dumps(result, indent=2))
    print(
        f"ours {result['ours_notes_per_s']} notes/s vs medspaCy default "
        f"{result['medspacy_notes_per_s']} notes/s: {result['speedup_vs_medspacy']}x"
    )


if __name__ == "__main__":
    main()
