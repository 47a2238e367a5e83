"""Sentences of clinical text: the ``codesuggest_sentences`` component and the token ranges
the matcher, the attributes and the extractor read back from a Doc.

A rule splitter rather than medspaCy's PyRuSH, which is what makes medspaCy's default pipeline
slow: new lines, list items and sentence ends start a sentence, abbreviations ("Dr.") do not.
"""

import bisect
import functools
from typing import Any

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from codesuggest.terms.datafiles import term_rules

_SENT_END = {".", "!", "?"}
# A "sentence" this many words long is a list or a note without punctuation: it is cut, so
# that no later step (ConText's scopes, the Index's context) works on one endless sentence.
# Real sentences, even long ROS lists, are far shorter.
MAX_SENTENCE_TOKENS = 120


@Language.component("codesuggest_sentences")
def split_sentences(doc: Doc) -> Doc:
    """Sentence starts for clinical text: new lines, list items, sentence ends, not "Dr.".

    A line break ends a sentence unless the text clearly runs on (the next line starts in
    lower case, or the line ends with a joining word); a blank line always does. No sentence
    is longer than ``MAX_SENTENCE_TOKENS`` words.
    """
    abbreviations, continuation = _sentence_words()
    text = doc.text
    starts = numpy.full(len(doc), -1, dtype="int64")  # 1 starts a sentence, -1 does not
    prev: Any = None
    length = 0  # words in the running sentence
    for tok in doc:
        if tok.is_space:
            continue
        if prev is None:
            starts[tok.i] = 1
            prev = tok
            length = 1
            continue
        gap = text[prev.idx + len(prev) : tok.idx]
        start = False
        newlines = gap.count("\n") + gap.count("\r") - gap.count("\r\n")
        first = tok.text[0]
        if newlines >= 2:
            start = True
        elif newlines == 1:
            start = not (
                (first.islower() and prev.text not in _SENT_END and prev.text != ":")
                or prev.lower_ in continuation
            )
        elif prev.text in _SENT_END:
            before = doc[prev.i - 1] if prev.i > 0 else None
            is_abbrev = (
                before is not None
                and not before.is_space
                and (
                    before.lower_ in abbreviations
                    or (len(before.text) == 1 and before.text.isupper() and first.isupper())
                )
            )
            start = (first.isupper() or first.isdigit() or not first.isalnum()) and not is_abbrev
        if start or length >= MAX_SENTENCE_TOKENS:
            starts[tok.i] = 1
            length = 0
        length += 1
        prev = tok
    if len(doc):
        starts[0] = 1
        # One array write: setting Token.is_sent_start one token at a time rescans the Doc.
        doc.from_array([SENT_START], starts.astype("uint64").reshape(-1, 1))
    return doc


@functools.cache
def _sentence_words() -> tuple[frozenset[str], frozenset[str]]:
    rules = term_rules()
    return frozenset(rules["sentence_abbreviations"]), frozenset(rules["line_continuation"])


def sentence_bounds(doc: Doc) -> list[tuple[int, int]]:
    """Token ranges of the sentences (the whole Doc when no component set them)."""
    if not doc.has_annotation("SENT_START"):
        return [(0, len(doc))]
    marks = doc.to_array([SENT_START]).reshape(-1).astype("int64")
    starts = [0, *(int(i) for i in numpy.flatnonzero(marks == 1) if i > 0)]
    return list(zip(starts, [*starts[1:], len(doc)], strict=True))


def sentence_of(sentences: list[tuple[int, int]], token: int) -> tuple[int, int]:
    """The sentence (token range, from ``sentence_bounds``) that holds ``token``."""
    i = bisect.bisect_right(sentences, (token, float("inf"))) - 1
    return sentences[max(i, 0)]
