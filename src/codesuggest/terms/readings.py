"""Which reading of an ambiguous abbreviation a note means ("MS": multiple sclerosis or mitral
stenosis), from the cue words of each reading in ``data/clinical_terms.tsv`` and how near they
stand to the abbreviation.
"""

import bisect
import functools
import re
from typing import Any

from spacy.tokens import Doc, Span

from codesuggest.core.text import fold_with_offsets, original_span
from codesuggest.terms.normalise import fold
from codesuggest.terms.records import Reading
from codesuggest.terms.sentences import sentence_of

# A cue counts more the nearer it stands: in the abbreviation's sentence, in the sentences
# around it, anywhere in the note.
_WEIGHTS = {"sentence": 3, "nearby": 2, "note": 1}
_NEARBY = 2  # sentences either side that are "nearby"
# A cue this short must end where a word ends ("IV" is not in "IVC"); a longer one may be a
# stem ("analgesi" finds "analgesia" and "analgesic").
_SHORT_CUE = 4


def _cue_pattern(cue: str) -> re.Pattern[str]:
    folded = fold(cue).strip()
    body = re.escape(folded).replace(r"\ ", r"\s+")
    left = r"(?<![a-z0-9])" if folded[:1].isalnum() else ""
    right = r"(?![a-z0-9])" if folded[-1:].isalnum() and len(folded) < _SHORT_CUE else ""
    return re.compile(left + body + right)


@functools.cache
def _cue_regex(cues: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((c, _cue_pattern(c)) for c in cues if fold(c).strip())


# Where each cue stands in each scope, kept on the Doc: a note of one endless sentence, or
# the note scope itself, is the same text for every abbreviation in it, and searching it again
# for each one made a note full of abbreviations quadratic (100,000 characters: ten minutes).
_CUE_HITS = "codesuggest_cue_hits"


def _cue_hits(cache: dict[Any, Any], span: Span, pat: re.Pattern[str]) -> list[tuple[int, int]]:
    """Character spans in the Doc of the matches of ``pat`` in the folded text of ``span``."""
    where = (span.start_char, span.end_char)
    if where not in cache:
        cache[where] = fold_with_offsets(span.text)
    key = (where, pat.pattern)
    if key not in cache:
        folded, origin = cache[where]
        base = span.start_char
        cache[key] = [
            (base + a, base + b)
            for a, b in (original_span(origin, m.start(), m.end()) for m in pat.finditer(folded))
        ]
    return cache[key]


def choose_reading(
    doc: Doc,
    start: int,
    end: int,
    readings: tuple[Reading, ...],
    sentences: list[tuple[int, int]],
) -> tuple[Reading, str, str] | None:
    """The reading whose cue words stand nearest the abbreviation, or None on a tie.

    Each cue found counts once, with the weight of the nearest scope it is in: the sentence 3,
    the two sentences either side 2, the note 1. The abbreviation itself (tokens ``start:end``)
    is not a cue. Unresolved means no reading wins
    outright. Returns the reading, the cue that decided and the scope it was found in.
    """
    s_start, s_end = sentence_of(sentences, start)
    k = bisect.bisect_right(sentences, (start, float("inf"))) - 1
    near_start = sentences[max(k - _NEARBY, 0)][0]
    near_end = sentences[min(k + _NEARBY, len(sentences) - 1)][1]
    own = (doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
    scopes = (
        ("sentence", doc[s_start:s_end]),
        ("nearby", doc[near_start:near_end]),
        ("note", doc[:]),
    )
    cache = doc.user_data.setdefault(_CUE_HITS, {})
    scores: list[float] = []
    first_cue: list[tuple[str, str] | None] = []
    for r in readings:
        total = 0.0
        cue_found: tuple[str, str] | None = None
        for cue, pat in _cue_regex(r.cues):
            for name, span in scopes:
                hits = _cue_hits(cache, span, pat)
                if any(s >= own[1] or e <= own[0] for s, e in hits):  # not the abbreviation
                    weight = _WEIGHTS[name]
                    total += weight
                    if cue_found is None or weight > _WEIGHTS[cue_found[1]]:
                        cue_found = (cue, name)
                    break
        scores.append(total)
        first_cue.append(cue_found)
    best = max(scores)
    if best <= 0 or scores.count(best) > 1:
        return None
    i = scores.index(best)
    cue, scope = first_cue[i] or ("", "")
    return readings[i], cue, scope
