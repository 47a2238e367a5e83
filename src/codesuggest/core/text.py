"""Text folding and tokens shared by code search and term matching."""

from __future__ import annotations

import functools
import json
import re
import unicodedata

_TOKEN = re.compile(r"[a-z0-9]+")
# C0 control characters and DEL, without the whitespace ones (tab, LF, VT, FF, CR): the body of
# a regex character class, for the tokenizer and for the binary-data check.
CONTROL_CHARS = r"\x00-\x08\x0e-\x1f\x7f"
# Lone surrogates: what ``surrogateescape`` decoding leaves for undecodable bytes, and what a
# JSON "\ud800" escape decodes to. No UTF-8 encoder (spaCy's, SQLite's, a JSON writer's) takes
# them.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


# Joining words carry no meaning for search; they stay in the text that is shown.
_STOPWORDS = "a an and are as at be by for from in into is its of on or the to with nos than"


STOPWORDS = frozenset([*_STOPWORDS.split(), "elsewhere", "classified"])


def fold(text: str) -> str:
    """Lowercase and strip accents so 'Ménière' and 'meniere' compare equal."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so every offset stays in place."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def fold_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """``fold(text)`` character by character, and where each folded character came from.

    Folding changes the length of some text ("İ" lower-cases to two characters, "ﬀ" folds to
    "ff", "é" loses its accent), so a position found in the folded copy must be mapped back
    before it is used on the original: ``origin[i]`` is the offset in ``text`` of folded
    character ``i``, and ``origin[len(folded)] == len(text)``. ``origin`` is None when every
    character folded to exactly one (always so for ASCII).
    """
    if text.isascii():
        return text.lower(), None
    pieces: list[str] = []
    origin: list[int] = []
    last = 0
    for m in _NON_ASCII.finditer(text):
        at = m.start()
        if at > last:
            pieces.append(text[last:at].lower())
            origin.extend(range(last, at))
        piece = fold(m.group())
        pieces.append(piece)
        origin.extend([at] * len(piece))
        last = at + 1
    pieces.append(text[last:].lower())
    origin.extend(range(last, len(text)))
    folded = "".join(pieces)
    if len(folded) == len(text) and all(i == o for i, o in enumerate(origin)):
        return folded, None
    origin.append(len(text))
    return folded, origin


def original_span(origin: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that folded span ``start:end`` (of ``fold_with_offsets``)
    came from; it covers every character the folded span touches."""
    if origin is None or end <= start:
        return (start, end) if origin is None else (origin[start], origin[start])
    return origin[start], origin[end - 1] + 1


def stem(token: str) -> str:
    """A deliberately light plural stripper: 'fractures' -> 'fracture', 'stenosis' kept.

    Greek plurals are read as their singular ('keratoses' -> 'keratosis', 'stenoses'), but
    not the English words of that ending ('doses', 'purposes').
    """
    if len(token) >= 8 and token.endswith("oses") and not token.endswith(("doses", "poses")):
        return token[:-4] + "osis"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """Search tokens of ``text``: folded, split on non-alphanumerics, stemmed, no stopwords."""
    if len(text) > _CACHED_TOKENS_LENGTH:
        return list(_tokens_of(text))
    return list(_short_tokens(text))


def _tokens_of(text: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in _TOKEN.findall(fold(text)) if t not in STOPWORDS)


# Index entries and note phrases are tokenised again and again within and across notes. Only
# short texts are cached, so the cache's entry bound is also its memory bound (a few MB).
_CACHED_TOKENS_LENGTH = 200
_short_tokens = functools.lru_cache(maxsize=65536)(_tokens_of)


def spans_between(separator: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of ``text`` between the matches of ``separator``."""
    bounds, start = [], 0
    for m in separator.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return bounds


# A title and the capitalised name after it ("Ms. Hill", "Dr. Stone"): a person, never a
# place, cause or condition.
_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+[A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)?")


def blank_titled_names(text: str) -> str:
    """``text`` with each titled name ("Ms. Hill") replaced by spaces: same length, so every
    offset still points into the original."""
    return _TITLED_NAME.sub(lambda m: " " * len(m[0]), text)


ALIASES_FILE = "word_aliases.json"


@functools.cache
def word_aliases(scope: str) -> dict[str, tuple[str, ...]]:
    """Clinicians' words for the code set's words, as ``scope`` reads them ("search": a
    code-set query; "terms": the term extractor's normaliser), from the one alias table."""
    from importlib import resources

    raw = json.loads(resources.files("codesuggest.data").joinpath(ALIASES_FILE).read_text())
    return {w: tuple(e[scope]) for w, e in raw["aliases"].items() if scope in e}
