"""The Table of Drugs and Chemicals, read the way a coder reads it from an Index reference.

"Adverse effect - see Table of Drugs and Chemicals, categories T36-T50, with 6th character 5",
"Overdose - see Table of Drugs and Chemicals, by drug, poisoning", "Underdosing - see also
Table of Drugs and Chemicals, categories T36-T50, with final character 6". The coder finds the
substance the note names (Prednisone), goes down its forms when the note names one, and takes
the column the reference (or the documentation) names: poisoning accidental, intentional
self-harm, assault or undetermined; adverse effect; underdosing. When the intent of a poisoning
is not documented it is accidental (guideline I.C.19.e.5.b); "undetermined" only when the
note says it cannot be determined. The Tabular adds the 7th character (encounter).
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from codesuggest.codebook.index import AlphabeticIndex, Synonyms, words_of

DRUG_FILE = "icd10cm_drugs.tsv"
CLASSES_FILE = "drug_table_classes.json"
COLUMNS = ("accidental", "intentional", "assault", "undetermined", "adverse_effect", "underdosing")
COLUMN_TITLES = {
    "accidental": "poisoning, accidental (unintentional)",
    "intentional": "poisoning, intentional self-harm",
    "assault": "poisoning, assault",
    "undetermined": "poisoning, undetermined",
    "adverse_effect": "adverse effect",
    "underdosing": "underdosing",
}
POISONING = ("accidental", "intentional", "assault", "undetermined")
# The words that say a poisoning's intent (guideline I.C.19.e.5.b: accidental by default).
_INTENT_WORDS = (
    ("intentional", words_of("intentional intentionally suicide suicidal self-harm deliberate")),
    ("assault", words_of("assault assaulted homicide homicidal")),
    ("undetermined", words_of("undetermined")),
)
_POISONING_WORDS = words_of("poisoning poisoned overdose overdosed overdosage ingestion ingested")
_UNDERDOSING_WORDS = words_of("underdosing underdosed underdose")
# Words of a reference or a note that name no substance (the table has entries "Drug NEC",
# "Medicament NEC" and "Substance NEC", reached only when nothing else is named).
_GENERIC = words_of(
    "drug drugs medicament medication medicinal substance chemical agent nec specified "
    "unspecified adverse effect poisoning overdose underdosing reaction toxicity"
)


@dataclass(frozen=True, slots=True)
class DrugHit:
    """The code a table lookup reached, its rows, the column and the note words it used."""

    code: str
    path: tuple[str, ...]
    words: frozenset[str]
    column: str


def column_of(reference: str, words: frozenset[str]) -> str:
    """The column a reference names, or, where it names none, the one the documentation does."""
    ref = reference.lower()
    if "6th character 5" in ref or "adverse effect" in ref:
        return "adverse_effect"
    if "final character 6" in ref or "underdosing" in ref:
        return "underdosing"
    if "poisoning" not in ref and not words & _POISONING_WORDS:
        return "underdosing" if words & _UNDERDOSING_WORDS else "adverse_effect"
    return next((c for c, w in _INTENT_WORDS if w & words), "accidental")


class DrugTable:
    """The substances as a tree (forms under each), with the six codes of every row."""

    def __init__(
        self,
        rows: Iterable[Sequence[str]],
        synonyms: Synonyms | None = None,
        classes: dict[str, str] | None = None,
    ) -> None:
        rows = [tuple(r) for r in rows]
        # The tree is walked by its titles; the adverse-effect column stands in as its code.
        self.tree = AlphabeticIndex(((*r[:5], r[9]) for r in rows), synonyms)
        self.codes = [dict(zip(COLUMNS, r[5:11], strict=True)) for r in rows]
        # Drugs the table does not name, read as the class row a coder looks up instead
        # (amlodipine: "Blockers, calcium channel"), longest name first.
        self.classes = sorted(
            ((words_of(name), row) for name, row in (classes or {}).items() if name[:1] != "_"),
            key=lambda c: -len(c[0]),
        )

    def lookup(
        self,
        reference: str,
        own: frozenset[str],
        near: frozenset[str],
        plain: frozenset[str],
        read: frozenset[str] = frozenset(),
    ) -> DrugHit | None:
        """The code the table gives for ``reference`` and the substance the note names.

        Args:
            reference: the Index reference ("Table of Drugs and Chemicals, by drug, poisoning").
            own: the phrase's words; ``near`` adds its sentence's (both with synonyms).
            plain: the phrase's and sentence's words as written (the substance must be one).
            read: words the Index walk already used ("adverse effect"), never a substance.
        """
        column = column_of(reference, near)
        found = self._substance(near - read, plain)
        if found is None:
            return None
        node, words, title = found
        path = [title]
        see = self.tree.entries[node].see
        if see and not any(self.codes[node].values()):
            # "Monoxide, carbon - see Carbon, monoxide".
            target = self.tree.follow(see)
            if target is None:
                return None
            node = target
            path.append(f"see {see}")
        while True:
            step = self._form(node, near - read - words)
            if step is None:
                break
            node, more = step
            words |= more
            path.append(self.tree.entries[node].term)
        code = self._code(node, column)
        if not code:
            return None
        rows = ("Table of Drugs and Chemicals", *path, f"({COLUMN_TITLES[column]})")
        return DrugHit(code, rows, words, column)

    def substances(self, words: frozenset[str]) -> list[int]:
        """The substances (main rows) all of whose words are among ``words``, most words first."""
        found = [
            i
            for i in self.tree.main_terms(words)
            if not all(a <= _GENERIC for a in self.tree.entries[i].alternatives)
        ]
        return sorted(found, key=lambda i: -max(len(a) for a in self.tree.entries[i].alternatives))

    def _substance(
        self, near: frozenset[str], plain: frozenset[str]
    ) -> tuple[int, frozenset[str], str] | None:
        """The row of the substance the note names, the words it used and how it reads."""
        named = []
        for i in self.substances(near):
            alt = max((a for a in self.tree.entries[i].alternatives if a <= near), key=len)
            # A substance read through a synonym only is the synonym's, not the note's.
            if alt & plain:
                named.append((len(alt), i, alt))
        for words, row in self.classes:
            if words and words <= plain and (not named or len(words) > named[0][0]):
                target = self.tree.follow(row)
                if target is not None:
                    return target, words, f"{row} (the drug's class)"
        if not named:
            return None
        return named[0][1], named[0][2], self.tree.entries[named[0][1]].term

    def _form(self, node: int, near: frozenset[str]) -> tuple[int, frozenset[str]] | None:
        """The form of a substance the note names ("Insulin > human"), if any."""
        best: tuple[int, int, frozenset[str]] | None = None
        for c in self.tree.entries[node].children:
            for alt in self.tree.entries[c].alternatives:
                if alt and alt <= near and (best is None or len(alt) > best[0]):
                    best = (len(alt), c, alt)
        return (best[1], best[2]) if best else None

    def _code(self, node: int | None, column: str) -> str:
        """The column's code at ``node``, or at the nearest row above it that has one."""
        while node is not None:
            code = self.codes[node][column]
            if code:
                return code
            node = self.tree.entries[node].parent
        return ""


@functools.cache
def load_drug_table(synonyms: Synonyms | None = None) -> DrugTable:
    """The shipped Table of Drugs and Chemicals (FY2026)."""
    data = resources.files("codesuggest.data")
    text = data.joinpath(DRUG_FILE).read_text("utf-8")
    classes = json.loads(data.joinpath(CLASSES_FILE).read_text("utf-8"))
    return DrugTable(csv.reader(text.splitlines()[1:], delimiter="\t"), synonyms, classes)
