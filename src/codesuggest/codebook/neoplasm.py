"""The Table of Neoplasms, read the way a coder reads it from an Index reference.

The Alphabetic Index sends most neoplasms to the table: "Carcinoma, basal cell - see also
Neoplasm, skin, malignant", "Cancer, lung - see also Neoplasm, lung, malignant", "Adenocarcinoma
- see also Neoplasm, malignant, by site". The reference names the column (malignant primary,
secondary, in situ, benign, uncertain or unspecified behaviour) and sometimes the site row to
start from; the coder then goes down the site rows with the note's words (skin > forearm - see
also skin, limb, upper > basal cell carcinoma: C44.61-) and the Tabular completes the code.
Words the Index already read for the histology ("basal cell carcinoma") pick the histology rows
only once the site is as deep as the note goes.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from codesuggest.codebook.index import AlphabeticIndex, Synonyms, documented_ways, words_of

NEOPLASM_FILE = "icd10cm_neoplasm.tsv"
# The table's columns in file order, as the column headings name them.
BEHAVIOURS = ("malignant", "secondary", "in_situ", "benign", "uncertain", "unspecified")
COLUMN_TITLES = {
    "malignant": "malignant primary",
    "secondary": "malignant secondary",
    "in_situ": "in situ",
    "benign": "benign",
    "uncertain": "uncertain behavior",
    "unspecified": "unspecified behavior",
}
# Reference parts that name the column, not a site ("by site" means: the note's site).
_NOT_A_SITE = re.compile(
    r"^(by site|malignant|secondary|in situ|benign|uncertain(?: behavior)?|"
    r"unspecified(?: behavior)?|if known|neoplastic)$"
)
_TABLE_HEAD = re.compile(
    r"^(?:see\s+(?:also\s+)?)?(?:table\s+of\s+neoplasms|neoplasm(?:,?\s*neoplastic)?)"
)
# A reference with no column (the main term "Neoplasm - see Table of Neoplasms") takes it
# from the note's words; without any, the unspecified-behaviour column (guideline I.C.2.m).
_BEHAVIOUR_WORDS = (
    ("secondary", words_of("secondary metastatic metastasis metastases")),
    ("in_situ", words_of("situ")),
    ("benign", words_of("benign")),
    ("uncertain", words_of("uncertain")),
    ("malignant", words_of("malignant malignancy cancer carcinoma")),
)
_PRIMARY_WORDS = words_of("malignancy cancer carcinoma adenocarcinoma sarcoma")
# Column words are the reference's business, never a site row's.
_COLUMN_WORDS = frozenset().union(*(w for _, w in _BEHAVIOUR_WORDS), words_of("neoplasm"))


@dataclass(frozen=True, slots=True)
class TableHit:
    """The code a table walk reached, the rows it went through and the note words it used."""

    code: str
    path: tuple[str, ...]
    words: frozenset[str]


def column_of(reference: str, words: frozenset[str]) -> tuple[str, list[str]]:
    """The column a reference names and the site parts it starts from."""
    parts = [" ".join(p.lower().split()) for p in reference.split(",")]
    named = " ".join(parts[1:])
    sites = [p for p in parts[1:] if p and not _NOT_A_SITE.match(p)]
    # "Neoplasm ovary, malignant" (a comma the book left out): the site is in the first part.
    head = _TABLE_HEAD.sub("", parts[0]).strip() if parts else ""
    if head:
        sites.insert(0, head)
    if "secondary" in named:
        return "secondary", sites
    for behaviour in ("in situ", "benign", "uncertain", "unspecified", "malignant"):
        if behaviour in named:
            return behaviour.replace(" ", "_"), sites
    if words & _PRIMARY_WORDS:
        # "Metastatic breast cancer" is a breast primary that has spread; "liver metastases"
        # and "metastatic disease" are secondary.
        return "malignant", sites
    inferred = next((b for b, w in _BEHAVIOUR_WORDS if w & words), "unspecified")
    return inferred, sites


class NeoplasmTable:
    """One site tree of the table for each behaviour column, walked with the note's words."""

    def __init__(self, rows: Iterable[Sequence[str]], synonyms: Synonyms | None = None) -> None:
        rows = list(rows)
        self.columns = {
            behaviour: AlphabeticIndex(
                ((r[0], r[1], r[2], r[3], r[4], r[5 + k]) for r in rows), synonyms
            )
            for k, behaviour in enumerate(BEHAVIOURS)
        }

    def lookup(
        self,
        reference: str,
        own: frozenset[str],
        near: frozenset[str],
        plain: frozenset[str],
        read: frozenset[str],
    ) -> TableHit | None:
        """The code the table gives for ``reference`` with the note's words.

        Args:
            reference: the Index reference ("Neoplasm, skin, malignant").
            own: the phrase's words; ``near`` adds its sentence's (both with synonyms).
            plain: the phrase's and sentence's words as written, without synonyms.
            read: words the Index walk already used (histology), kept for histology rows.
        """
        behaviour, sites = column_of(reference, own)
        table = self.columns[behaviour]
        start = table.follow(", ".join(["Neoplasm", *sites])) if sites else 0
        if start is None:
            return None
        held = read | _COLUMN_WORDS
        hit = self._walk(table, start, (own, near, plain), held)
        if hit is None:
            return None
        head = ("Table of Neoplasms", *(s for s in sites))
        column = f"({COLUMN_TITLES[behaviour]})"
        return TableHit(hit.code, (*head, *hit.path, column), hit.words)

    def _walk(
        self,
        table: AlphabeticIndex,
        node: int,
        words: tuple[frozenset[str], frozenset[str], frozenset[str]],
        held: frozenset[str],
    ) -> TableHit | None:
        """The best-documented way down from ``node``: the most site words first (the
        histology words the Index already read count only after them), then the fewest rows.

        The table is small and a note names few of its rows, so every documented way is
        tried, "see also" rows included (skin > forearm - see also skin, limb, upper >
        basal cell carcinoma), rather than the first row that matches.
        """
        own, near, plain = words
        best: tuple[tuple[int, ...], TableHit] | None = None
        for found, path, code in documented_ways(table, node, near):
            if not code:
                continue
            site = found - held
            key = (len(site & plain), len(site), len(found & own), -len(path))
            if best is None or key > best[0]:
                best = (key, TableHit(code, path, found))
        return best[1] if best else None


@functools.cache
def load_table(synonyms: Synonyms | None = None) -> NeoplasmTable:
    """The shipped Table of Neoplasms (FY2026)."""
    text = resources.files("codesuggest.data").joinpath(NEOPLASM_FILE).read_text("utf-8")
    return NeoplasmTable(csv.reader(text.splitlines()[1:], delimiter="\t"), synonyms)
