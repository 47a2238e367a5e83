"""The External Cause of Injuries Index (V00-Y99): how, where, doing what, in what status.

A coder reports an injury's external causes from this index (guideline I.C.20): the cause
("Fall > on same level > due to ice or snow" W00.0), the place ("Place of occurrence > street
and highway" Y92.410), the activity ("Activity > skateboarding" Y93.51) and the patient's status
("External cause status > leisure activity" Y99.8). It is read as the Alphabetic Index is,
shipped in its columns, with the injury history's verbs in its wording
(``external_synonyms.json``: "fell" -> Fall, "slipped" -> Slipping).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from codesuggest.codebook.index import (
    PARENTHESES,
    SYNONYMS_FILE,
    AlphabeticIndex,
    Synonyms,
    documented_ways,
    words_of,
)

EXTERNAL_FILE = "icd10cm_eindex.tsv"
EXTERNAL_SYNONYMS_FILE = "external_synonyms.json"
# Subterms that only join the main term to what follows.
_JOINING = frozenset({"involving", "by", "caused by", "due to, caused by"})


@functools.cache
def load_external_index() -> AlphabeticIndex:
    """The shipped External Cause of Injuries Index (FY2026)."""
    data = resources.files("codesuggest.data")
    table = json.loads(data.joinpath(SYNONYMS_FILE).read_text("utf-8"))
    table.update(json.loads(data.joinpath(EXTERNAL_SYNONYMS_FILE).read_text("utf-8")))
    text = data.joinpath(EXTERNAL_FILE).read_text("utf-8")
    index = AlphabeticIndex(csv.reader(text.splitlines()[1:], delimiter="\t"), Synonyms(table))
    for entry in index.entries:
        if entry.level and entry.lower in _JOINING:
            # "Fall > involving > skateboard": a level the history never says.
            entry._alternatives = (frozenset(),)
        elif entry.level and ("," in entry.term or " or " in entry.term):
            # This index lists things, not inverted phrases: "stairs, steps" and "from, off,
            # out of" are each read by any one of their parts.
            parts = [words_of(p) for p in re.split(r",|\bor\b", PARENTHESES.sub(" ", entry.term))]
            entry._alternatives = tuple(dict.fromkeys(p for p in parts if p)) or (frozenset(),)
    return index


# The main terms of the place, activity and status codes; every other main term says how.
PLACE, ACTIVITY, STATUS = "Place of occurrence", "Activity", "External cause status"
_KINDS = {PLACE: "place", ACTIVITY: "activity", STATUS: "status"}
# Codes that say the note does not tell: an injury NOS (X58) is no cause, an unspecified
# place, activity or status no place, activity or status.
NOT_DOCUMENTED = frozenset({"X58", "Y92.9", "Y93.9", "Y99.9"})
# Codes of how an injury happened (V00-Y38; Y92, Y93 and Y99 are where, doing what, status).
_HOW = ("V00", "Y38")


@dataclass(frozen=True, slots=True)
class ExternalHit:
    """An external-cause code the note's words reach, with its Index path."""

    kind: str  # how, place, activity or status
    code: str
    path: tuple[str, ...]
    words: frozenset[str]

    def describe(self) -> str:
        return "External Cause Index: " + " > ".join(self.path) + f" -> {self.code}"


def read_causes(text: str, index: AlphabeticIndex | None = None) -> list[ExternalHit]:
    """How, where, doing what and in what status, as far as ``text`` (the injury's history)
    documents each: at most one code of each kind, none for a kind it does not document."""
    index = index or load_external_index()
    # "caught herself from falling": she stumbled without a fall (W18.40), and no Fall row
    # may be read from the word.
    averted = bool(_AVERTED.search(text))
    text = _AVERTED.sub(" without fall ", text)
    near = index.phrase_words(text)
    plain = words_of(text)
    out: dict[str, tuple[tuple[int, ...], ExternalHit]] = {}
    kinds = [j for j in map(index.main_term, _KINDS) if j is not None]
    # Every cause first, then where, doing what and in what status, each once: a sentence
    # that says "activity" or "place" itself must not read those before how it happened
    # (whose words they may not reuse).
    causes = [
        i
        for i in index.main_terms(near)
        if i not in kinds and not (averted and index.entries[i].lower.startswith("fall"))
    ]
    for i in causes + kinds:
        title = index.entries[i].term
        kind = _KINDS.get(title, "how")
        if kind != "how" and "how" in out:
            # A word read for how it happened ("slipped on ice") says nothing of where or
            # doing what.
            near = near - out["how"][1].words
            plain = plain - out["how"][1].words
        head = frozenset().union(*(a for a in index.entries[i].alternatives if a <= near))
        for found, path, code in documented_ways(index, i, near, head):
            # The place, activity and status main terms are the book's words, never the
            # note's: only what the note says below them counts. A cause is documented by
            # its main term ("fell", read as Fall) and what follows it.
            words = found if kind == "how" else found - head
            if not code or not words or code in NOT_DOCUMENTED:
                continue
            if kind == "how" and not _HOW[0] <= code[:3] <= _HOW[1]:
                continue
            # The most note words, then the most specific code (a see reference's V00.131
            # over the W19 of the row that sends there). Then, for a cause, the way that read
            # them deepest (through the transport rows its reference leads to); for a place,
            # activity or status, the shortest: the book's default for what the note names
            # ("home": unspecified place in an unspecified residence, Y92.009).
            depth = len(path) if kind == "how" else -len(path)
            key = (len(words & plain), len(words), len(code), depth)
            if kind not in out or key > out[kind][0]:
                out[kind] = (key, ExternalHit(kind, code, (title, *path), words))
    return [hit for _, hit in sorted(out.values(), key=lambda h: _ORDER.index(h[1].kind))]


_ORDER = ("how", "place", "activity", "status")
# A fall the patient kept from happening.
_AVERTED = re.compile(
    r"\b(?:caught|stopped|kept|saved)\s+(?:him|her|them|my|your|it|one)sel(?:f|ves)\s+"
    r"(?:from\s+)?fall\w*|\b(?:almost|nearly)\s+(?:fell|fall\w*)|"
    r"\b(?:did\s+not|didn't|without)\s+(?:a\s+)?fall\w*",
    re.IGNORECASE,
)
