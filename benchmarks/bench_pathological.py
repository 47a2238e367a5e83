"""Worst-case time of ``suggest()`` per pathological note shape (issue 15, item 4).

Run: python benchmarks/bench_pathological.py [--chars 100000] [--repeat 1] [--shape NAME ...]

The 500,000-character limit bounds a note's size, not its time; these shapes once cost
minutes (a 20,000-character run of "(" took 43-240 s). Each shape is built at ``--chars``
characters (``one_token`` at the limit, 499,000) and scored ``--repeat`` times after one warm-up
note; the worst time is reported with seconds per 100,000 characters. The target is a few
seconds per 100,000 characters for every shape. Exits non-zero if a shape raised.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

SENTENCE = "Patient has chest pain and hypertension with type 2 diabetes and CKD stage 3a "


def _cycle(piece: str, n: int) -> str:
    return (piece * (n // len(piece) + 1))[:n]


SHAPES: dict[str, Callable[[int], str]] = {
    "open_parens": lambda n: "(" * n,
    "no_punctuation": lambda n: _cycle(SENTENCE, n),
    "one_token": lambda n: "a" * 499_000,
    "one_token_mixed": lambda n: _cycle("abc1", n),
    "one_token_of_words": lambda n: _cycle("pain,", n),
    "dense_terms": lambda n: _cycle("pain: ", n),
    "negations": lambda n: _cycle("no fever, ", n),
    "abbreviations": lambda n: _cycle("MS RA PE ", n),
    "one_line_list": lambda n: _cycle("hypertension, diabetes, asthma, copd, ", n),
    "combinations": lambda n: _cycle(
        "Hypertension with CKD stage 3. Diabetes with neuropathy. ", n
    ),
    "short_lines": lambda n: _cycle("HTN\n", n),
    "dotted_capital_i": lambda n: _cycle("İ chest pain. ", n),
    "control_chars": lambda n: _cycle("pain\x07\x1b ", n),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    args = parser.parse_args()

    import codesuggest

    suggester = codesuggest.load()
    suggester.suggest("Warm-up: essential hypertension.")
    failed = False
    print(f"{'shape':<20} {'chars':>8} {'worst s':>8} {'s/100k':>7}  result")
    for name in args.shape or SHAPES:
        note = SHAPES[name](args.chars)
        worst, outcome = 0.0, ""
        for _ in range(args.repeat):
            start = time.perf_counter()
            try:
                result = suggester.suggest(note)
            except Exception as exc:  # a benchmark of hostile input reports, it does not stop
                outcome = f"RAISED {type(exc).__name__}: {exc}"[:80]
                failed = True
            else:
                codes = [e["code"] for e in result.errors] or [
                    f"{len(result.suggestions)} suggestions"
                ]
                outcome = ", ".join(codes)
            worst = max(worst, time.perf_counter() - start)
        per = worst * 100_000 / max(len(note), 1)
        print(f"{name:<20} {len(note):>8,} {worst:>8.2f} {per:>7.2f}  {outcome}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
