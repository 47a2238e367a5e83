"""Search as a coder looks a condition up: the Alphabetic Index first, then the Tabular.

``codes search "family history colon cancer"`` reads the query as a coder reads a note
phrase: a history lead-in picks the family or personal history category of the condition,
the rest is walked through the Index (main term, subterms, see references), and the Tabular
completes the code from the sides and episode of care the query names.
"""

from __future__ import annotations

import re

from codesuggest.codebook.codeset import CodeSet, SearchResult
from codesuggest.codebook.external import read_causes
from codesuggest.codebook.hierarchy import specify
from codesuggest.codebook.history import load_history
from codesuggest.codebook.index import load_index
from codesuggest.core.codes import looks_like_cpt, looks_like_icd

# A history lead-in: "family history of", "FH", "personal history of", "history of", "h/o".
_HISTORY = re.compile(
    r"^\s*(?:(?P<family>family\s+(?:history|hx)|fh)|(?:personal\s+)?(?:history|hx)|h/o)"
    r"\s+(?:of\s+)?",
    re.IGNORECASE,
)
_SIDES = {"right": "right", "left": "left", "bilateral": "bilateral", "both": "bilateral"}
_EPISODES = {"initial": "initial", "subsequent": "subsequent", "sequela": "sequela"}
_WORD = re.compile(r"[a-z]+")


def index_results(icd: CodeSet, query: str) -> list[SearchResult]:
    """The code(s) the Index and Tabular give for ``query``, best first; [] for a code."""
    text = query.strip()
    if not text or looks_like_icd(text) or looks_like_cpt(text):
        return []
    lead = _HISTORY.match(text)
    phrase = text[lead.end() :] if lead else text
    hit = load_index().lookup(phrase, phrase)
    if hit is None or icd.find(hit.code.rstrip("-")) is None:
        # Conditions the Index sends to its tables ("colon cancer": see Neoplasm) are read
        # by the code set's own titles for the history lead-in; how an injury happened
        # ("fall from ladder") by the External Cause Index.
        return _history_by_title(icd, phrase, lead) if lead else _external(icd, phrase)
    words = _WORD.findall(phrase.lower())
    attributes = {}
    side = next((_SIDES[w] for w in words if w in _SIDES), None)
    if side:
        attributes["laterality"] = side
    episode = next((_EPISODES[w] for w in words if w in _EPISODES), None)
    if episode:
        attributes["encounter"] = episode
    spec = specify(icd, hit.code.rstrip("-"), attributes)
    codes, path = [spec.code, *spec.also], hit.describe()
    if lead:
        kind = "family" if lead.group("family") else "personal"
        found = load_history().lookup(spec.code, kind)
        if found is None:
            return []
        codes, path = [found.code], f"Index: {found.path} (condition {path[7:]})"
    out = []
    for code in codes:
        rec = icd.find(code)
        if rec is not None:
            out.append(SearchResult(rec.code, icd.name, rec.description, rec.billable, 1.0, path))
    return out


def _history_by_title(icd: CodeSet, phrase: str, lead: re.Match[str]) -> list[SearchResult]:
    kind = "family" if lead.group("family") else "personal"
    for found in icd.search(phrase, limit=3):
        history = load_history().lookup(found.code, kind)
        rec = icd.find(history.code) if history else None
        if history is not None and rec is not None:
            path = f"Index: {history.path} (condition {found.code} {found.description})"
            return [SearchResult(rec.code, icd.name, rec.description, rec.billable, 1.0, path)]
    return []


def _external(icd: CodeSet, phrase: str) -> list[SearchResult]:
    """The External Cause Index's codes for ``phrase``, how it happened first."""
    out = []
    for hit in read_causes(phrase):
        spec = specify(icd, hit.code, {})
        rec = icd.find(spec.code)
        if rec is not None:
            out.append(
                SearchResult(rec.code, icd.name, rec.description, rec.billable, 1.0, hit.describe())
            )
    return out
