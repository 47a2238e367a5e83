"""Spelling correction of note words that are in no phrase ("pnuemonia" -> "pneumonia")."""

import functools
from collections.abc import Iterable

from codesuggest.terms.normalise import normaliser
from codesuggest.terms.records import SCORE_DIGITS

# Only unknown words are asked for, a fraction of a batch's words; bounded like the word cache.
_CORRECTION_CACHE_SIZE = 100_000
# From ten letters a word may hold two typos; a shorter one has too many real words two away.
_TWO_EDITS_FROM = 10
# The nearest few words are enough to tell one intended word from a tie between two.
_NEAREST = 3


class Speller:
    """Corrects a word that is in no phrase to the vocabulary word one or two edits away.

    A word is compared only with vocabulary words that share its first letter and are about
    its length, so a correction costs well under a millisecond; results are cached.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.buckets: dict[tuple[str, int], list[str]] = {}
        for w in sorted(words):
            self.buckets.setdefault((w[0], len(w)), []).append(w)
        self.correct = functools.lru_cache(maxsize=_CORRECTION_CACHE_SIZE)(self._correct)

    def _correct(self, word: str) -> tuple[str, float] | None:
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        max_edits = 1 if len(word) < _TWO_EDITS_FROM else 2
        pool = [
            w
            for n in range(len(word) - max_edits, len(word) + max_edits + 1)
            for w in self.buckets.get((word[0], n), ())
        ]
        if not pool:
            return None
        found = process.extract(
            word, pool, scorer=OSA.distance, score_cutoff=max_edits, limit=_NEAREST
        )
        if not found:
            return None
        found = [(w, d) for w, d, _ in found if _plausible_typo(word, w, d)]
        if not found:
            return None
        best = min(d for _, d in found)
        closest = [w for w, d in found if d == best]
        if len({normaliser().word(w) for w in closest}) > 1:
            return None  # two different words equally near: no single intended word
        return closest[0], round(1.0 - best / max(len(word), len(closest[0])), SCORE_DIGITS)


_OPPOSITE_PREFIXES = (("hyper", "hypo"), ("micro", "macro"), ("hypo", "hyper"), ("macro", "micro"))


def _plausible_typo(word: str, target: str, edits: int) -> bool:
    """Whether ``word`` reads as a misspelling of ``target`` rather than as another word.

    "hyperthyroid" is not a typo of "hypothyroid", "inspection" not of "infection" (a word in
    -tion is only corrected in its ending: "hypertention"), and two edits must not drop a
    syllable ("thrombolysis" is not "thrombosis").
    """
    for a, b in _OPPOSITE_PREFIXES:
        if word.startswith(a) and target.startswith(b):
            return False
    if word.endswith(("tion", "sion")) and word[:-4] != target[:-4]:
        return False
    return edits < 2 or abs(len(word) - len(target)) <= 1
