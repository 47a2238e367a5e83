"""The ICD-10-CM Alphabetic Index, walked the way a coder walks it.

A coder finds the condition's main term (the noun: *Strain*, *Failure*, *Diabetes*), then goes
down its subterms with the words the note gives (site, type, acuity, cause, "with" another
condition), follows "see" references, and takes the code at the deepest entry that matched;
the Tabular then completes it (laterality, 7th character). ``AlphabeticIndex.lookup`` does that
with the words of a term and of its sentence, and returns the path it took so the coder can
check it in the book.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING

from codesuggest.core.text import stem, tokens

if TYPE_CHECKING:
    from codesuggest.codebook.drugs import DrugTable
    from codesuggest.codebook.neoplasm import NeoplasmTable

INDEX_FILE = "icd10cm_index.tsv"
SYNONYMS_FILE = "index_synonyms.json"
# A word of lower-cased text, as the synonym keys are matched (see Synonyms.expand).
_ALNUM = re.compile(r"[a-z0-9]+")
# Subterms that name a second condition rather than a detail of this one.
_CONNECTORS = frozenset({"with", "in", "due to", "without", "following", "associated with"})
# The "with" convention (I.A.15) presumes a link to another documented condition for these;
# "due to" and the rest need the provider's own words in the same sentence.
_PRESUMED = frozenset({"with", "in"})
# Words that carry no meaning of their own in an Index entry ("stage 1 through stage 4").
_FILLER = frozenset(
    [
        "a",
        "an",
        "and",
        "of",
        "or",
        "the",
        "to",
        "by",
        "nec",
        "nos",
        "other",
        "specified",
        "unspecified",
        "through",
        "than",
        "as",
        "type",
        "involvement",
        "only",
        # The possessive's "s" ("Alzheimer's", "Parkinson's", "Crohn's"): notes write
        # "Alzheimer dementia" and "Parkinson disease" as often.
        "s",
    ]
)
# Adjective and plural endings stripped so that "pneumococcal" meets "pneumococcus".
_SUFFIXES = ("ically", "ical", "ally", "ous", "al", "ic", "us", "ia", "es", "s", "y")
_MIN_ROOT = 5
# A subterm opens when this share of its meaningful words is documented.
MIN_SUBTERM_SHARE = 0.99
# Chapter 18: symptoms, signs and abnormal findings.
SYMPTOM_CHAPTER = "R"
# A path this many entries deep is as deep as the book goes; guards a cycle of "see" references.
MAX_SEE_HOPS = 3
_NOTE = "Note:"
# "Diabetes, by type, with hyperglycemia": the main term, read with the documented type, then
# the reference's subterms.
_BY_TYPE = re.compile(r"^\s*(.+?),?\s+by type\b,?\s*(.*)$", re.IGNORECASE)
PARENTHESES = re.compile(r"\([^)]*\)")
# The flattening writes an entry's bracketed manifestation code ("Disease, Alzheimer's G30.9
# [F02.80]") as a "see also" the entry of the manifestation: "Dementia, in, diseases
# specified elsewhere". Both codes are reported, the etiology first (guideline I.A.13).
_MANIFESTATION_REFERENCE = re.compile(
    r"^\s*dementia,\s*in,\s*diseases\s+specified\s+elsewhere\s*$", re.I
)
# The Index's subterm for an organism reported beside the condition it caused (B95-B97).
_AS_CAUSE = "as cause of disease classified elsewhere"
_AGENTS = ("B95", "B97")
_NEOPLASM_REFERENCE = re.compile(r"^\s*(?:table\s+of\s+neoplasms|neoplasm)\b", re.IGNORECASE)
_DRUG_REFERENCE = re.compile(r"^\s*table\s+of\s+drugs\b", re.IGNORECASE)
_TYPE_NUMBER = re.compile(r"\btype\s+(1|2|i|ii)\b")


@functools.lru_cache(maxsize=65536)
def root(word: str) -> str:
    """A word without its adjective or plural ending, when enough of it is left."""
    word = stem(word)
    if word.endswith("ie") and len(word) >= _MIN_ROOT + 2:
        # "extremities" (stemmed "extremitie") is the plural of "extremity", and reads as it.
        word = word[:-2] + "y"
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_ROOT:
            return word[: -len(suffix)]
    return word


@functools.lru_cache(maxsize=65536)
def words_of(text: str) -> frozenset[str]:
    """The meaningful words of an Index entry or note phrase, reduced to their roots."""
    text = _TYPE_NUMBER.sub(lambda m: "type" + {"i": "1", "ii": "2"}.get(m[1], m[1]), text.lower())
    return frozenset(root(t) for t in tokens(text) if t not in _FILLER)


# Sides, episodes of care and fracture displacement are the Tabular's business (laterality and
# 7th characters), not the Index's.
_SIDE_WORDS = words_of(
    "right left bilateral initial subsequent encounter sequela closed displaced nondisplaced "
    "routine healing"
)


@dataclass(slots=True)
class Entry:
    """One line of the Index."""

    term: str
    level: int
    code: str
    see: str
    see_also: str
    parent: int | None
    children: list[int] = field(default_factory=list)
    _alternatives: tuple[frozenset[str], ...] | None = None
    # The nonessential modifiers' words ("diastolic (congestive) (left ventricular)").
    nonessential: frozenset[str] = frozenset()
    # Worked out once: a walk asks these of the same entries hundreds of thousands of times.
    _lower: str | None = None
    _connector: bool | None = None

    @property
    def alternatives(self) -> tuple[frozenset[str], ...]:
        """The entry's readings as word sets, worked out when a walk first reaches it."""
        if self._alternatives is None:
            self._alternatives = _alternatives(self.term)
        return self._alternatives

    @property
    def lower(self) -> str:
        """The entry's term in lower case."""
        if self._lower is None:
            self._lower = self.term.lower()
        return self._lower

    @property
    def connector(self) -> bool:
        """A level that only joins ("with", "due to", the External Cause Index's "from, off,
        out of"): opened for a documented subterm below it."""
        if self._connector is None:
            self._connector = self.lower in _CONNECTORS or (
                self.level > 0 and not any(self.alternatives)
            )
        return self._connector


@dataclass(frozen=True, slots=True)
class IndexHit:
    """Where a lookup ended: the code as the Index gives it and the path that led there."""

    code: str
    path: tuple[str, ...]
    matched: int
    linked: str = ""
    # The phrase's own meaningful words (sides aside, which the Tabular reads).
    words: int = 0
    # The bracketed manifestation code the Index pairs with the code, and its own path.
    manifestation: str = ""
    manifestation_path: tuple[str, ...] = ()
    # For a bracketed code's own hit: how its etiology was read ("Index: ... -> G30.9
    # [F02.80]").
    etiology: str = ""

    @property
    def coverage(self) -> float:
        """The share of the phrase's words the path used: a statement read whole (1.0) or
        by one word of it ("Old CVA without residual deficits" -> Old -> I25.2: 0.25)."""
        return min(1.0, self.matched / self.words) if self.words else 1.0

    @property
    def needs_tabular(self) -> bool:
        """The Index code ends in ``-``: the Tabular must complete it."""
        return self.code.endswith("-")

    def describe(self) -> str:
        if self.etiology:
            # The bracketed code of another reading: the book's line, then its own entry.
            return (
                f"{self.etiology}; the bracketed manifestation code: "
                + " > ".join(self.path)
                + f" -> {self.code} (code first the etiology, guideline I.A.13)"
            )
        paired = f" [{self.manifestation}]" if self.manifestation else ""
        return "Index: " + " > ".join(self.path) + f" -> {self.code}{paired}"

    def manifestation_hit(self) -> IndexHit | None:
        """The bracketed code as a reading of its own, which names its etiology's."""
        if not self.manifestation:
            return None
        return IndexHit(
            self.manifestation,
            self.manifestation_path,
            self.matched,
            words=self.words,
            etiology=self.describe(),
        )


def _own_read(hit: IndexHit, own: frozenset[str]) -> int:
    """How many of the phrase's own words (with their synonyms) a reading's path says."""
    return len(own & words_of(" ".join(p for p in hit.path if not p.startswith("see "))))


def _word_forms(parts: list[str]) -> bool:
    """Comma parts that are forms of one word ("Diabetes, diabetic"; "positive,
    seropositive", a compound of the other), not an inversion ("atticoantral, chronic")."""
    heads = [p.split()[0].lower() for p in parts if p.split()]
    if len(heads) < 2:
        return False
    if all(h[:4] == heads[0][:4] for h in heads):
        return True
    if not all(len(p.split()) == 1 for p in parts):
        return False
    # Every part a form of another ("positive, seropositive"), none an added modifier
    # ("subarachnoid, arachnoid, traumatic" is read as one phrase).
    return all(any(a != b and (a in b or b in a) for b in heads) for a in heads)


def _alternatives(term: str) -> tuple[frozenset[str], ...]:
    """An entry's word sets: "Diabetes, diabetic" and "healed or old" may be read either way;
    "atticoantral, chronic" is one phrase written inverted."""
    bare = PARENTHESES.sub(" ", term)
    readings = [bare]
    parts = [p.strip() for p in bare.split(",")]
    if _word_forms(parts):
        readings = parts
    out: list[frozenset[str]] = []
    for reading in readings:
        sides = [x for x in re.split(r"\bor\b", reading) if x.strip()]
        if len(sides) == 2 and len(sides[0].split()) == 1:
            out += [words_of(sides[0] + " " + " ".join(sides[1].split()[1:])), words_of(sides[1])]
        out.append(words_of(reading))
    return tuple(dict.fromkeys(a for a in out if a)) or (frozenset(),)


class AlphabeticIndex:
    """The Index as a tree of entries, with the main terms found by their words."""

    def __init__(
        self,
        rows: Iterable[Sequence[str]],
        synonyms: Synonyms | None = None,
        neoplasms: NeoplasmTable | None = None,
        drugs: DrugTable | None = None,
    ) -> None:
        self.synonyms = synonyms
        # The tables the Index sends the coder to: "see also Neoplasm, lung, malignant",
        # "see Table of Drugs and Chemicals, by drug, poisoning".
        self.neoplasms = neoplasms
        self.drugs = drugs
        self.entries: list[Entry] = []
        stack: list[int] = []
        self._main: dict[str, list[int]] = {}
        self._by_title: dict[str, int] = {}
        # A note names the same conditions again and again; each is expanded once.
        self._phrase_words = functools.lru_cache(maxsize=4096)(self._expanded_words)
        # Per entry, built when a walk first reaches it: its joining children and its other
        # children by the words of their readings (see ``_open_children``).
        self._child_words: dict[int, tuple[tuple[int, ...], dict[str, tuple[int, ...]]]] = {}
        self._inline: dict[int, bool] = {}
        for level_s, term, see, see_also, nonessential, code in rows:
            if term.startswith(_NOTE):
                # An instructional note is no entry: the flattening wrote it one level too
                # high ("Failure > heart > Note: heart failure stages ..." at the level of
                # "heart"), which hung the subterms after it (systolic, stage A-D) on the
                # note instead of on "heart".
                continue
            level = int(level_s)
            if nonessential and not words_of(PARENTHESES.sub(" ", term)):
                # "acute > and (on) chronic": the flattening moved the entry's own words into
                # the nonessential column; the words outside its parentheses are the entry's.
                essential = " ".join(PARENTHESES.sub(" ", nonessential).split())
                if essential:
                    term = f"{term} {essential}"
            del stack[level:]
            parent = stack[-1] if stack else None
            i = len(self.entries)
            entry = Entry(term, level, code, see, see_also, parent)
            if nonessential and level:
                entry.nonessential = words_of(nonessential)
            self.entries.append(entry)
            if parent is not None:
                self.entries[parent].children.append(i)
            else:
                self._by_title.setdefault(term.lower(), i)
                for alt in self.entries[i].alternatives:
                    for w in alt:
                        self._main.setdefault(w, []).append(i)
            stack.append(i)

    @functools.cached_property
    def _agent_terms(self) -> tuple[int, ...]:
        """Main terms with an "as cause of disease classified elsewhere" subterm: Infection
        (by organism) and the organisms that are main terms of their own (Staphylococcus)."""
        out = []
        for i, entry in enumerate(self.entries):
            if entry.level and _AS_CAUSE in entry.lower:
                top = i
                while self.entries[top].parent is not None:
                    top = self.entries[top].parent  # type: ignore[assignment]
                out.append(top)
        return tuple(dict.fromkeys(out))

    def infectious_agent(self, text: str) -> IndexHit | None:
        """The B95-B97 code of the organism ``text`` (a condition's sentence) names as its
        cause, through the Index: "UTI due to E. coli" is Infection > Escherichia > as cause
        of disease classified elsewhere, B96.20; "MRSA" is Staphylococcus > as cause ... >
        aureus > methicillin resistant, B95.62. None when no organism is named."""
        near = self._phrase_words(text)
        best: tuple[tuple[int, int], IndexHit] | None = None
        for i in self._agent_terms:
            entry = self.entries[i]
            by_organism = entry.lower.startswith("infection")
            if not by_organism and not any(a and a <= near for a in entry.alternatives):
                continue
            hit = self.lookup(f"{entry.term.split(',')[0]} {_AS_CAUSE}", text)
            if hit is None or not _AGENTS[0] <= hit.code[:3] <= _AGENTS[1]:
                continue
            organism = [p for p in hit.path[1:] if _AS_CAUSE not in p.lower()]
            if by_organism and not organism:
                continue
            # The organism's own main term before Infection's "NEC" row for it.
            key = (hit.matched, int(not by_organism))
            if best is None or key > best[0]:
                best = (key, hit)
        return best[1] if best else None

    @functools.cached_property
    def _by_head(self) -> dict[str, list[int]]:
        """Main terms by their first word group without nonessential words ("Loss (of),
        pregnancy" is found as "loss")."""
        out: dict[str, list[int]] = {}
        for title, i in self._by_title.items():
            head = " ".join(PARENTHESES.sub(" ", title.split(",")[0]).split())
            out.setdefault(head, []).append(i)
        return out

    def __len__(self) -> int:
        return len(self.entries)

    def phrase_words(self, text: str) -> frozenset[str]:
        """The words of ``text`` with their Index readings (synonyms), memoised."""
        return self._phrase_words(text)

    def main_term(self, title: str) -> int | None:
        """The main term of this title ("Place of occurrence"), if the book has it."""
        return self._by_title.get(title.lower())

    def main_terms(self, words: frozenset[str]) -> list[int]:
        """Main terms all of whose words (in one reading) are among ``words``."""
        seen: dict[int, None] = {}
        for w in words:
            for i in self._main.get(w, ()):
                if any(alt and alt <= words for alt in self.entries[i].alternatives):
                    seen[i] = None
        # In book order: a frozenset's order depends on the hash seed, and ties between
        # readings must not.
        return sorted(seen)

    def lookup(self, phrase: str, context: str = "", others: Sequence[str] = ()) -> IndexHit | None:
        """The code a coder reaches for ``phrase``, reading subterms from its ``context``.

        Args:
            phrase: the condition as written ("acute lumbar strain").
            context: the words around it (its sentence or problem entry) that may name a site,
                type or cause.
            others: the note's other documented conditions, for "with" subterms (the Index's
                "with" convention presumes them linked, guideline I.A.15).
        """
        own = self._phrase_words(phrase)
        if not own:
            return None
        near = own | self._phrase_words(context)
        linked = [
            (o, self._phrase_words(o) - _without_words(o, self._phrase_words))
            for o in dict.fromkeys(others)
        ]
        # The note's own words, without the synonyms' (the table's rows prefer them).
        plain = words_of(phrase) | words_of(context)
        # "Laceration ... without foreign body": words the note says are absent never open a
        # "with" subterm.
        negated = _without_words(phrase, self._phrase_words) | _without_words(
            context, self._phrase_words
        )
        best: tuple[tuple[int, int, int, int], IndexHit] | None = None
        for i in self.main_terms(own):
            main_words = max((a for a in self.entries[i].alternatives if a <= own), key=len)
            # A main term counts the words the note wrote: one reached through a synonym
            # ("fracture" -> Fracture, traumatic) counts once, so that "pathological fracture"
            # reads as Fracture, pathological.
            written = max(len(main_words & words_of(phrase)), 1)
            readings = self._readings(i, (own, near, plain), linked, written, negated, phrase)
            for hit, depth in readings:
                hit = replace(hit, words=len(words_of(phrase) - _SIDE_WORDS))
                # As many documented words as another reading: the condition's main term
                # before a symptom's ("patellofemoral pain syndrome" is a Syndrome, not a Pain).
                key = (
                    hit.matched,
                    int(not hit.code.startswith(SYMPTOM_CHAPTER)),
                    depth,
                    -len(self.entries[i].term),
                )
                if best is None or key > best[0]:
                    best = (key, hit)
        return best[1] if best else None

    def _readings(
        self,
        i: int,
        reading: tuple[frozenset[str], frozenset[str], frozenset[str]],
        linked: Sequence[tuple[str, frozenset[str]]],
        written: int,
        negated: frozenset[str],
        phrase: str,
    ) -> Iterator[tuple[IndexHit, int]]:
        """The walks from main term ``i``, each with its depth: the main term's own, then
        its "see also" entry's ("Stone - see also Calculus": a stone of the ureter is
        Calculus > ureter, which Stone does not list; "Nephrolithiasis - see also Calculus,
        kidney", which has no code of its own). The reference's reading is taken only where
        each subterm it opens is one the phrase writes (not its sentence, nor a synonym:
        "lumbar degenerative disc disease" is not Disease > see also Syndrome > low back) and
        it reads more of the phrase than the own walk (which comes first and wins ties)."""
        hit = self._walk(i, reading, linked, written, negated)
        if hit is not None:
            yield hit, len(hit.path)
        see_also = self.entries[i].see_also
        if not see_also or self._to_table(see_also):
            return
        target = self.follow(see_also)
        if target is None or target == i:
            return
        other = self._walk(target, reading, linked, written, negated)
        if other is None:
            return
        written_words = words_of(phrase)
        opened = [p for p in other.path[1:] if not p.startswith("see ")]
        if any(not words_of(p) & written_words for p in opened if words_of(p)):
            return
        if hit is None and len(other.path) == 1 and not self.entries[target].level:
            # Only the other main term's default ("Hematoma - see also Contusion" -> T14.8):
            # the reference says where to look for the site, and the note names none.
            return
        # More of the phrase's own words, not of its sentence's: "nephropathy" beside
        # "chronic" stays Nephropathy (N28.9), not Nephritis > chronic.
        if hit is None or _own_read(other, reading[0]) > _own_read(hit, reading[0]):
            path = (self.entries[i].term, f"see also {see_also}", *other.path)
            yield replace(other, path=path), len(other.path)

    def _expanded_words(self, text: str) -> frozenset[str]:
        return words_of(self.synonyms.expand(text) if self.synonyms else text)

    def follow(self, see: str, within: int | None = None) -> int | None:
        """The entry a "see" reference names ("Pain, abdominal" -> Pain > abdominal).

        References are written loosely against the book: nonessential words in parentheses
        ("Loss (of), pregnancy"), a "with" level left out ("Diabetes, polyneuropathy" is
        Diabetes > with > polyneuropathy), or two levels in one part ("Abscess, upper limb"
        may be Abscess > limb > upper). Each is allowed for. ``within`` is the main term the
        reference was read in: a reference that names its first word only ("see Fracture,
        metatarsal" under Fracture, traumatic) means that main term before any other that
        begins so (Fracture, pathological also has a metatarsal subterm).
        """
        parts = [" ".join(PARENTHESES.sub(" ", p).split()) for p in see.split(",")]
        parts = [p for p in parts if p]
        if not parts:
            return None
        starts: list[tuple[int, list[str]]] = []
        # An inverted main term ("Wound, open") is named by its first parts.
        for k in range(len(parts), 0, -1):
            j = self._by_title.get(", ".join(parts[:k]).lower())
            if j is not None:
                starts.append((j, parts[k:]))
        heads = self._by_head.get(parts[0].lower(), ())
        starts += [(j, parts[1:]) for j in sorted(heads, key=lambda j: j != within)]
        for i, rest in starts:
            node: int | None = i
            for part in rest:
                want = words_of(part)
                if want and node is not None:
                    node = self._follow_part(node, want)
                elif node is not None:
                    # A part of joining words only ("Fall, from"): the subterm it begins.
                    node = next(
                        (
                            c
                            for c in self.entries[node].children
                            if self.entries[c].lower.startswith(part.lower())
                        ),
                        None,
                    )
            if node is not None:
                return node
        return None

    def _follow_part(self, node: int, want: frozenset[str]) -> int | None:
        """The subterm (or "with" subterm) of ``node`` a reference part names, taking two
        levels for a part when no single subterm has all its words."""
        for _ in range(MAX_SEE_HOPS):
            children = self.entries[node].children
            nested = [
                g for c in children if self.entries[c].connector for g in self.entries[c].children
            ]
            pool = [*children, *nested]
            exact = next((c for c in pool if want in self.entries[c].alternatives), None)
            if exact is not None:
                return exact
            partial = [
                (len(a), c) for c in pool for a in self.entries[c].alternatives if a and a < want
            ]
            if not partial:
                # A part that names a subterm by fewer words than the book ("see Fracture,
                # metatarsal" for Fracture, traumatic > metatarsal bone): the shortest subterm
                # that has them all.
                wider = [
                    (len(a), c) for c in pool for a in self.entries[c].alternatives if want < a
                ]
                return min(wider)[1] if wider else None
            _, node = max(partial)
            want = want - next(a for a in self.entries[node].alternatives if a and a < want)
            if not want:
                return node
        return None

    def _walk(
        self,
        start: int,
        reading: tuple[frozenset[str], frozenset[str], frozenset[str]],
        linked: Sequence[tuple[str, frozenset[str]]],
        matched: int,
        negated: frozenset[str] = frozenset(),
    ) -> IndexHit | None:
        own, near, _ = reading
        node, path, code, partner, hops = start, [self.entries[start].term], "", "", 0
        used = set().union(*(a for a in self.entries[start].alternatives if a <= own))
        read, trail = set(used), [start]
        # Whether the last subterm was opened by the phrase's own words: a behaviour subterm
        # opened by the sentence alone ("cyst" beside a history of carcinoma: Cyst > malignant)
        # says nothing of this condition and is not taken to the table.
        by_own = True
        while True:
            entry = self.entries[node]
            if entry.see and not entry.code and self._to_table(entry.see):
                if not by_own:
                    break
                table = self._table(entry.see, reading, read)
                if table is None:
                    return None
                code, words = table
                # Site words count as read only where the phrase says them: a site of the
                # sentence ("... breast and ovarian cancer testing") is not this term's.
                gained = len(words[0] & own)
                return IndexHit(code, (*path, *words[1]), matched + gained, partner)
            by_type = _BY_TYPE.match(entry.see) if entry.see and not entry.code else None
            if by_type and hops < MAX_SEE_HOPS:
                hit = self._by_type(by_type, entry, reading, linked, matched, negated)
                if hit is not None:
                    return replace(hit, path=(*path, f"see {entry.see}", *hit.path))
            if entry.see and not entry.code and hops < MAX_SEE_HOPS:
                target = self.follow(entry.see, within=trail[0])
                # A reference back to an entry already read ("Anemia > due to > drug - see
                # Anemia, by type") ends the walk there.
                if target is not None and target not in trail:
                    hops += 1
                    node = target
                    trail.append(target)
                    path.append(f"see {entry.see}")
                    # The reference's own words are the book's, not the note's: every note
                    # word may open the target's subterms again.
                    used = set()
                    continue
            code = entry.code or code
            step = self._best_child(node, own, near, linked, used, negated)
            step = step or self._below_unsaid_level(node, own - used, trail, path)
            if step is None:
                break
            node, gained, words, partner_text = step
            by_own = by_own if not words else bool(words & own)
            matched += gained
            used |= words
            read |= words
            trail.append(node)
            partner = partner_text or partner
            path.append(self.entries[node].term)
        last = self.entries[node]
        if (
            len(trail) > 1
            and last.level > 0
            and not last.code
            and not last.children
            and last.see_also
            and not self._to_table(last.see_also)
            and hops < MAX_SEE_HOPS
        ):
            # A last subterm with no code and no subterms of its own but a "see also" ("Palsy >
            # Bell's - see also Palsy, facial"): the reference gives its code, not the main
            # term's default.
            target = self.follow(last.see_also, within=trail[0])
            if target is not None and target not in trail:
                further = self._walk(target, reading, linked, matched, negated)
                if further is not None:
                    return replace(
                        further, path=(*path, f"see also {last.see_also}", *further.path)
                    )
        # "see also Neoplasm, breast, malignant" at the deepest entry that has one: the
        # table's site rows, when the note names more of the site than the Index entry.
        # A "see also" the Drug Table is a second code beside the condition's, never instead
        # of it: it is read only where the Index gives no code ("Poisoning").
        reference = next(
            (
                self.entries[n].see_also
                for n in reversed(trail)
                if self._to_table(self.entries[n].see_also)
            ),
            "",
        )
        if reference and (not code or _NEOPLASM_REFERENCE.match(reference)):
            table = self._table(reference, reading, read)
            if table is not None and (table[1][0] or not code):
                code = table[0]
                matched += len(table[1][0] & own)
                path += [f"see also {reference}", *table[1][1]]
        hit = IndexHit(code, tuple(path), matched, partner)
        return self._with_manifestation(hit, trail, reading, negated) if code else None

    def _with_manifestation(
        self,
        hit: IndexHit,
        trail: Sequence[int],
        reading: tuple[frozenset[str], frozenset[str], frozenset[str]],
        negated: frozenset[str],
    ) -> IndexHit:
        """The hit with the manifestation code its entry is bracketed with, read from the
        manifestation's own entry with the phrase's words ("mild", "with agitation")."""
        coded = next((n for n in reversed(trail) if self.entries[n].code), None)
        if coded is None:
            return hit
        reference = self.entries[coded].see_also
        if not reference or not _MANIFESTATION_REFERENCE.match(reference):
            return hit
        target = self.follow(reference)
        if target is None or target in trail:
            return hit
        paired = self._walk(target, reading, (), 0, negated)
        if paired is None or paired.manifestation:
            return hit
        # The words the manifestation's subterms read ("moderate") are the reading's too:
        # "moderate Alzheimer dementia" is G30.9 [F02.B0], not Dementia > moderate.
        path = (*[p.strip() for p in reference.split(",")], *paired.path[1:])
        return replace(
            hit,
            matched=hit.matched + paired.matched,
            manifestation=paired.code,
            manifestation_path=path,
        )

    def _by_type(
        self,
        ref: re.Match[str],
        entry: Entry,
        reading: tuple[frozenset[str], frozenset[str], frozenset[str]],
        linked: Sequence[tuple[str, frozenset[str]]],
        matched: int,
        negated: frozenset[str],
    ) -> IndexHit | None:
        """A "code to Diabetes, by type, with hyperglycemia" reference: the main term walked
        again with the type the note documents and the reference's own subterm words
        ("poorly controlled" type 2 diabetes is Diabetes > type 2 > with > hyperglycemia)."""
        target = self.follow(ref[1])
        if target is None:
            return None
        extra = words_of(ref[2])
        # Without the words that opened the referring subterm, which would open it again.
        gone = set().union(*entry.alternatives)
        own, near, plain = (frozenset(x - gone) for x in reading)
        return self._walk(
            target, (own | extra, near | extra, plain | extra), linked, matched, negated
        )

    def _table_for(self, reference: str) -> NeoplasmTable | DrugTable | None:
        """The table a reference sends the coder to, if this Index has it."""
        if not reference:
            return None
        if _NEOPLASM_REFERENCE.match(reference):
            return self.neoplasms
        return self.drugs if _DRUG_REFERENCE.match(reference) else None

    def _to_table(self, reference: str) -> bool:
        return self._table_for(reference) is not None

    def _table(
        self,
        reference: str,
        reading: tuple[frozenset[str], frozenset[str], frozenset[str]],
        read: set[str],
    ) -> tuple[str, tuple[frozenset[str], tuple[str, ...]]] | None:
        """The table's code for a reference, the note words it used and its rows."""
        table = self._table_for(reference)
        if table is None:
            return None
        hit = table.lookup(reference, *reading, frozenset(read))
        if hit is None:
            return None
        return hit.code, (hit.words, hit.path)

    def _best_child(
        self,
        node: int,
        own: frozenset[str],
        near: frozenset[str],
        linked: Sequence[tuple[str, frozenset[str]]],
        used: set[str],
        negated: frozenset[str] = frozenset(),
    ) -> tuple[int, int, frozenset[str], str] | None:
        """The subterm the documentation supports best, with the words it used."""
        connector = self.entries[node].connector
        # Words the note says are absent open no subterm but a "without" one ("migraine
        # without aura"): not "with foreign body" for a laceration without one.
        # Each reading of the note carries the words it rules out ("upper leg": lower).
        said = (own, near, _opposites(near))
        if negated and not self.entries[node].lower.startswith("without"):
            absent = (own - negated, near - negated, _opposites(near - negated))
            linked = [(t, w - negated) for t, w in linked]
        else:
            absent = said
        presumed = self.entries[node].lower in _PRESUMED
        # A subterm written with its own "with" ("Hypertension, cardiorenal > with heart
        # failure") is presumed linked like those under a "with" level (I.A.15), where the
        # entry has no "with" level of its own (the book's way of writing one).
        inline = self._inline_with(node)
        best: tuple[tuple[int, ...], tuple[int, int, frozenset[str], str]] | None = None
        for c in self._open_children(node, said[1], linked if presumed or inline else ()):
            child = self.entries[c]
            linked_here = presumed or (inline and child.lower.startswith("with "))
            own, near, ruled_out = said if child.lower.startswith("without") else absent
            if child.connector:
                # Open "with" only if one of its subterms is documented (here or elsewhere).
                if self._best_child(c, own, near, linked, used, negated) is not None:
                    key = ((1, 0), 0)
                    if best is None or key > best[0]:
                        best = (key, (c, 0, frozenset(), ""))
                continue
            if child.nonessential & ruled_out:
                # "upper leg" is not Contusion > leg (lower): the note says the other one.
                continue
            for alt in child.alternatives:
                if not alt:
                    continue
                pool = [(near, "")]
                if linked_here:
                    pool += [(w, t) for t, w in linked]
                for avail, partner in pool:
                    hit = alt & avail
                    if len(hit) / len(alt) < MIN_SUBTERM_SHARE or not hit - used:
                        continue
                    # Under "with", the phrase's own words outweigh any number of a partner's
                    # ("Diabetic polyneuropathy" beside a documented CKD: with polyneuropathy).
                    # A subterm whose nonessential words the phrase also says reads more of it:
                    # "congestive heart failure with diastolic dysfunction" is Failure > heart
                    # > diastolic (congestive), not Failure > heart > congestive.
                    also = len((child.nonessential - alt - used) & own)
                    strength = (
                        (len(hit & own) + also, len(hit - own))
                        if connector
                        else (2 * (len(hit & own) + also) + len(hit - own), 0)
                    )
                    # Between equally documented subterms, the one that carries a code (a
                    # "pain - see also Pain" cross-reference under Syndrome leads nowhere).
                    key = (strength, -len(alt - hit), int(bool(child.code)))
                    if best is None or key > best[0]:
                        best = (key, (c, len(hit), alt, partner))
        return best[1] if best else None

    def _below_unsaid_level(
        self, node: int, left: frozenset[str], trail: list[int], path: list[str]
    ) -> tuple[int, int, frozenset[str], str] | None:
        """ "IgA deficiency": the book files it under a level the note does not say
        (Deficiency > immunity > IgA). The one grandchild of ``node`` whose words are exactly
        the phrase's ``left`` words is the step, the level above it added to ``trail`` and
        ``path``; None when no grandchild, or several with different codes, read them, and
        below the main term's own subterms."""
        if not left or len(trail) != 1:
            return None
        found: dict[str, tuple[int, int]] = {}
        for c in self.entries[node].children:
            if self.entries[c].connector:
                continue
            for g in self.entries[c].children:
                entry = self.entries[g]
                if entry.code and any(alt and alt == left for alt in entry.alternatives):
                    found.setdefault(entry.code, (c, g))
        if len(found) != 1:
            return None
        ((level, grandchild),) = found.values()
        trail.append(level)
        path.append(self.entries[level].term)
        return grandchild, len(left), left, ""

    def _inline_with(self, node: int) -> bool:
        """Whether ``node`` writes its "with" subterms inline ("with heart failure") and has
        no "with" level of its own; worked out once per entry (a walk asks for every node)."""
        found = self._inline.get(node)
        if found is None:
            children = [self.entries[c] for c in self.entries[node].children]
            found = not any(c.lower in _PRESUMED for c in children) and any(
                c.lower.startswith("with ") for c in children
            )
            self._inline[node] = found
        return found

    def _open_children(
        self,
        node: int,
        near: frozenset[str],
        linked: Sequence[tuple[str, frozenset[str]]],
    ) -> list[int]:
        """The children of ``node`` a walk may open, in book order: its joining levels, and
        the subterms that share a word with the note (or, under "with", a partner condition).

        A subterm none of whose words the note says cannot be opened (``MIN_SUBTERM_SHARE``),
        so only these are weighed: "Fracture, traumatic" has hundreds of subterms and a note
        names a few of their words.
        """
        cached = self._child_words.get(node)
        if cached is None:
            joins: list[int] = []
            words: dict[str, list[int]] = {}
            for c in self.entries[node].children:
                child = self.entries[c]
                if child.connector:
                    joins.append(c)
                    continue
                for w in set().union(*child.alternatives):
                    words.setdefault(w, []).append(c)
            cached = (tuple(joins), {w: tuple(cs) for w, cs in words.items()})
            self._child_words[node] = cached
        joins_t, by_word = cached
        found: set[int] = set(joins_t)
        for pool in (near, *(w for _, w in linked)):
            for w in pool:
                found.update(by_word.get(w, ()))
        return sorted(found)


# Words of which a note saying one rules out a subterm whose nonessential modifiers say the
# other ("leg (lower)" for an upper leg, which the book calls the thigh).
_OPPOSITES = {"upper": "lower", "lower": "upper"}


def _opposites(said: frozenset[str]) -> frozenset[str]:
    """The words whose subterms the note's words rule out."""
    return frozenset(_OPPOSITES[w] for w in _OPPOSITES if w in said)


def documented_ways(
    index: AlphabeticIndex,
    node: int,
    near: frozenset[str],
    used: frozenset[str] = frozenset(),
    hops: int = 0,
) -> Iterable[tuple[frozenset[str], tuple[str, ...], str]]:
    """Every way down from ``node`` whose rows the note documents: (words, rows, code).

    For the small tables (Neoplasms, External Causes), where every way is tried rather than
    the first row that matches: "see also" rows are followed, and a joining level ("from,
    off, out of", "involving") is passed through when a documented row lies below it.
    """
    entry = index.entries[node]
    yield used, (), entry.code
    for child in entry.children:
        row = index.entries[child]
        if row.connector and not any(row.alternatives):
            for words, path, code in documented_ways(index, child, near, used, hops):
                if words != used:
                    yield words, (row.term, *path), code or entry.code
            continue
        for alt in row.alternatives:
            if alt and alt <= near and alt - used:
                for words, path, code in documented_ways(index, child, near, used | alt, hops):
                    yield words, (row.term, *path), code or entry.code
                break
    reference = entry.see_also or ("" if entry.code else entry.see)
    if reference and hops < MAX_SEE_HOPS:
        target = index.follow(reference)
        if target is not None and target != node:
            label = "see also" if entry.see_also else "see"
            # The reference's words are the book's: every note word may open its rows again.
            for words, path, code in documented_ways(index, target, near, frozenset(), hops + 1):
                if words - used or not entry.code:
                    yield used | words, (f"{label} {reference}", *path), code or entry.code


_WITHOUT = re.compile(
    r"\b(?:without|w/o|no|not\s+in|not\s+with|free\s+of)\s+((?:[a-z-]+\s*){1,4})",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[,;.:()]")


def _without_words(text: str, read: Callable[[str], frozenset[str]]) -> frozenset[str]:
    """The words (with their Index readings) the text says are absent: "without foreign body"
    -> {foreign, body}."""
    out: set[str] = set()
    for m in _WITHOUT.finditer(text):
        out |= read(_CLAUSE_END.split(m[1])[0])
    return frozenset(out)


class Synonyms:
    """Note words a coder reads as the Index's own words ("lumbar" -> "low back")."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        keys = [k for k in table if not k.startswith("_")]
        self._patterns = [
            (re.compile(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])"), " ".join(table[k]))
            for k in keys
        ]
        # A key can only match where its first word is a word of the text: the patterns worth
        # trying, by that word (expand runs for every phrase a walk reads).
        self._by_first: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            first = _ALNUM.match(key)
            self._by_first.setdefault(first.group() if first else "", []).append(i)

    def expand(self, text: str) -> str:
        """``text`` with the Index wording of its words appended."""
        low = text.lower()
        tried = set(self._by_first.get("", ()))
        for word in _ALNUM.findall(low):
            tried.update(self._by_first.get(word, ()))
        extra = [self._patterns[i][1] for i in sorted(tried) if self._patterns[i][0].search(low)]
        return " ".join([text, *extra])


@functools.cache
def load_synonyms() -> Synonyms:
    """The shipped synonym table (project-written coding knowledge)."""
    text = resources.files("codesuggest.data").joinpath(SYNONYMS_FILE).read_text("utf-8")
    return Synonyms(json.loads(text))


@functools.cache
def load_index() -> AlphabeticIndex:
    """The shipped Index (FY2025 entries, every code re-validated against FY2026)."""
    text = resources.files("codesuggest.data").joinpath(INDEX_FILE).read_text("utf-8")
    reader = csv.reader(text.splitlines()[1:], delimiter="\t")
    # Imported here: the tables are AlphabeticIndex trees, so their modules import this one.
    from codesuggest.codebook.drugs import load_drug_table
    from codesuggest.codebook.neoplasm import load_table

    synonyms = load_synonyms()
    return AlphabeticIndex(reader, synonyms, load_table(synonyms), load_drug_table(synonyms))
