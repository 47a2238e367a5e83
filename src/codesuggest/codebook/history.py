"""History codes: the family (Z80-Z84) or personal (Z85-Z87, I25.2) history category that a
condition reads as, the way a coder finds it under *History, family (of)* or *History,
personal (of)* in the Alphabetic Index.

The table (``data/history_codes.json``, project-written from the Tabular's category titles)
is keyed by the condition's code, so that any condition the Index or the vocabulary reads
("colon cancer" -> C18.9) finds its history category (-> Z80.0 in a relative, Z85.038 in the
patient's past) without a phrase list per condition.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from codesuggest.core.codes import normalize_icd

HISTORY_FILE = "history_codes.json"
KINDS = ("family", "personal")
_INDEX_HEADING = {"family": "History > family (of)", "personal": "History > personal (of)"}


@dataclass(frozen=True, slots=True)
class HistoryCode:
    """The history code of a condition, with the Index path a coder follows to it."""

    code: str
    path: str


def _key(code: str) -> str:
    return normalize_icd(code).replace(".", "")


class HistoryTable:
    """Rows of (first, last, history code, Index wording), tried in order."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self._rows = {
            kind: [(_key(a), _key(b), code, words) for a, b, code, words in table[kind]]
            for kind in KINDS
        }

    def lookup(self, code: str, kind: str) -> HistoryCode | None:
        """The history code for condition ``code`` in a relative (``family``) or in the
        patient's past (``personal``); None when the condition has none."""
        if kind not in self._rows:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}.")
        key = _key(code)
        for first, last, history, words in self._rows[kind]:
            if first <= key[: len(first)] and key[: len(last)] <= last:
                return HistoryCode(history, f"{_INDEX_HEADING[kind]} > {words}")
        return None


@functools.cache
def load_history() -> HistoryTable:
    """The shipped history table."""
    text = resources.files("codesuggest.data").joinpath(HISTORY_FILE).read_text("utf-8")
    return HistoryTable(json.loads(text))
