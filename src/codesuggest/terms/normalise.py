"""Text to comparison pieces: folding, light stemming, aliases, spellings and roman numerals.

The vocabulary and the note go through the same ``Normaliser``, so their pieces compare equal.
"""

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from codesuggest.core.text import STOPWORDS, stem, word_aliases
from codesuggest.core.text import fold as _fold_unicode
from codesuggest.terms.datafiles import term_rules

# Room for the vocabulary's words and a large batch's (the 2,751 CodiEsp notes hold ~66,000
# distinct space-separated words); bounded so a long-running server's cannot grow without end.
_WORD_CACHE_SIZE = 200_000

_PIECE = re.compile(r"[0-9]+[a-z](?![a-z])|[a-z]+|[0-9]+")
# A capital "A" is a name ("hepatitis A", "vitamin A"), not the article "a", a stop word.
_CAPITAL_A = "A"


def fold(text: str) -> str:
    """``core.text.fold`` (lower case, accents stripped) with a fast path for ASCII text."""
    return text.lower() if text.isascii() else _fold_unicode(text)


def stem_word(word: str) -> str:
    """``core.text.stem`` plus the Greek and Latin plurals of clinical text.

    "abscesses" -> "abscess", "keratoses" -> "keratosis", "injuries" -> "injury",
    "vertebrae" -> "vertebra".
    """
    n = len(word)
    if n > 5 and word.endswith("sses"):
        return word[:-2]
    if n > 5 and word.endswith("oses"):
        return word[:-2] + "is"
    if n > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if n > 4 and word.endswith("ae") and word not in _EPITHETS:
        return word[:-1]
    return stem(word)


# Species names in the genitive, not plurals: "Klebsiella pneumoniae" names no pneumonia,
# "Haemophilus influenzae" no influenza.
_EPITHETS = frozenset({"pneumoniae", "influenzae"})


class Normaliser:
    """Turns text into comparison pieces: folded, aliased, lightly stemmed, roman numerals read.

    The same function normalises the vocabulary and the note, so both compare equal.
    """

    def __init__(self, rules: dict[str, Any]) -> None:
        # The one alias table (``data/word_aliases.json``), unless the rules bring their own.
        table = rules.get("aliases") or word_aliases("terms")
        self.aliases = {k: [stem_word(p) for p in v] for k, v in table.items()}
        self.roman = dict(rules["roman_numerals"])
        self.roman_after = frozenset(rules["roman_after"])
        self.stop = frozenset({*STOPWORDS, *rules["key_stopwords"]})
        self.laterality = frozenset(rules["laterality_words"])
        self.weak = frozenset(stem_word(w) for w in rules["weak_words"]) | self.laterality
        self.english_endings = tuple(rules["english_endings"])
        self.spellings = [(re.compile(a), b) for a, b in rules["spellings"].items()]
        self.word = functools.lru_cache(maxsize=_WORD_CACHE_SIZE)(self._word)

    def _word(self, word: str) -> tuple[str, ...]:
        """Pieces of one written word (a token); ``self.word`` is its cached form."""
        if word == "A":
            return (_CAPITAL_A,)
        if len(word) > 2 and word[-1] == "s" and word[:-1].isupper() and word[:-1].isalpha():
            word = word[:-1]  # "UTIs", "PVCs": the plural of an abbreviation
        out: list[str] = []
        for p in _PIECE.findall(fold(word)):
            if p.isalpha():
                for pattern, replacement in self.spellings:
                    p = pattern.sub(replacement, p)
                alias = self.aliases.get(p)
                if alias:
                    out.extend(alias)
                    continue
                p = stem_word(p)
            out.append(p)
        return tuple(out)

    def pieces(self, text: str) -> list[str]:
        """Pieces of a phrase, with roman numerals after "type"/"stage" read as numbers."""
        out: list[str] = []
        for w in text.split():
            out.extend(self.word(w))
        return self.read_roman(out)

    def read_roman(self, pieces: list[str]) -> list[str]:
        """Read "II" after "type" as "2" (in place)."""
        for i in range(1, len(pieces)):
            if pieces[i] in self.roman and pieces[i - 1] in self.roman_after:
                pieces[i] = self.roman[pieces[i]]
        return pieces

    def is_stop(self, piece: str) -> bool:
        """A joining word or laterality word: not part of a phrase's key."""
        return piece in self.stop or piece in self.laterality

    def bag_key(self, pieces: Iterable[str]) -> str:
        """The order-free key of a phrase: its content pieces, sorted."""
        return " ".join(sorted(p for p in pieces if not self.is_stop(p)))


@functools.cache
def normaliser() -> Normaliser:
    """The process-wide normaliser built from ``data/term_rules.json``."""
    return Normaliser(term_rules())


def surface_words(text: str) -> Iterator[str]:
    """The folded alphabetic words of ``text`` as written (no stemming or aliases)."""
    for w in _PIECE.findall(fold(text)):
        if w.isalpha():
            yield w
