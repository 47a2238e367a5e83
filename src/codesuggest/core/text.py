"""Text folding and tokens shared by code search and term matching."""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"[a-z0-9]+")
# C0 control characters and DEL, without the whitespace ones (tab, LF, VT, FF, CR): the body of
# a regex character class, for the tokenizer and for the binary-data check.
CONTROL_CHARS = r"\x00-\x08\x0e-\x1f\x7f"


# Joining words carry no meaning for search; they stay in the text that is shown.
_STOPWORDS = "a an and are as at be by for from in into is its of on or the to with nos than"


STOPWORDS = frozenset([*_STOPWORDS.split(), "elsewhere", "classified"])


def fold(text: str) -> str:
    """Lowercase and strip accents so 'Ménière' and 'meniere' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def stem(token: str) -> str:
    """A deliberately light plural stripper: 'fractures' -> 'fracture', 'stenosis' kept."""
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """Search tokens of ``text``: folded, split on non-alphanumerics, stemmed, no stopwords."""
    return [stem(t) for t in _TOKEN.findall(fold(text)) if t not in STOPWORDS]
