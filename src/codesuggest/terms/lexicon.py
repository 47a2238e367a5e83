"""The matcher's vocabulary (``Lexicon``): phrases from the code sets' own wording and the
curated dictionary ``data/clinical_terms.tsv``.

ICD-10-CM descriptions and inclusion terms and CPT descriptions and synonyms become short
clinical phrases (``_Deriver``); the dictionary adds abbreviations, with the readings of the
ambiguous ones. Each phrase is stored under its normalised words, sorted, so word order and
joining words do not matter. Deriving the ~33,000 ICD-10-CM phrases takes seconds, so they are
cached as JSON beside the code-set cache, keyed by the ICD package version, ``LEXICON_FORMAT``
and the digest of ``data/term_rules.json``.
"""

import csv
import functools
import io
import json
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.core.records import CPT, ICD10CM
from codesuggest.terms.datafiles import data_text, term_rules, term_rules_digest
from codesuggest.terms.normalise import Normaliser, fold, normaliser, stem_word, surface_words
from codesuggest.terms.records import Entry, Reading
from codesuggest.terms.speller import Speller

log = logging.getLogger(__name__)

# Part of the phrase cache's key: raise it whenever the derivation below changes its output.
LEXICON_FORMAT = 5
# The longest phrase, in content words; every run of up to this many words is looked up.
MAX_NGRAM = 6

# How far a derived phrase is from its code's own wording. Where codes share a phrase, the
# nearest comes first; a phrase's distance is the sum of what applies to it.
_FROM_INCLUSION = 1  # an inclusion term, not the code's description
_FROM_OTHER = 2  # an "Other ..." code, the residual of its category
_FROM_DEFAULT_HEAD = 1  # "Pneumonia" of "Pneumonia, unspecified organism": the default code
_FROM_HEAD = 3  # the part before a comma when what follows narrows the code
_FROM_NOUN = 5  # the condition without its site: "perforation" of "Perforation of intestine"

_MIN_LONE_WORD = 4  # "Mg", "PR": a shorter lone word is an abbreviation, for the dictionary
_MAX_NOUN_WORDS = 3  # a longer "X" of "X of Y" says more than a condition without its site
_MAX_CODES = 5  # a phrase many codes share keeps its five nearest codes, billable first
_MIN_SURFACE_WORD = 5  # shorter ones are out of reach: the speller corrects words of 6+ letters
_ALWAYS_CASED = 2  # an all-capital term of two letters ("MS", "PT") matches only as written
_FIRST_FINDING = "70"  # R70 on: abnormal findings on examination; R00-R69: symptoms, signs


_LABELS = {
    "diagnosis": "diagnosis",
    "symptom": "symptom",
    "finding": "finding",
    "status": "status",
    "procedure_history": "procedure_history",
    "injury_stem": "injury",
    "ambiguous": "ambiguous",
}


_PAREN = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
_BRACKETS = re.compile(r"[\(\)\[\]]")
_CLAUSE = re.compile(r"[,;:]")
_CONDITION_SUFFIX = re.compile(
    r"(?:itis|osis|oma|emia|aemia|pathy|algia|plegia|rrhea|rrhage|ectasis|megaly|uria|cele|"
    r"iasis|ism|penia|cytosis|trophy|spasm|lith|lithiasis|ptosis|edema|ectomy)$"
)
_PROCEDURE_SUFFIX = re.compile(
    r"(?:ectomy|otomy|ostomy|plasty|scopy|graphy|gram|centesis|pexy|rrhaphy|tripsy|desis|"
    r"lysis|sonography|plication)$"
)
# "Perforation of intestine" -> "perforation": the condition without its site, for notes that
# name the condition and give the site elsewhere or not at all.
_HEAD_NOUN = re.compile(
    r"^([^,;:]+?)\s+(?:of|in|from|into|due to|with|without|following|involving|affecting|on|"
    r"at|by|to|as|for)\s",
    re.I,
)


def code_label(code: str) -> str:
    """The kind of term a code stands for, from its chapter."""
    c = code.upper()
    if c.startswith("R"):
        return "finding" if c[1:3] >= _FIRST_FINDING else "symptom"
    if c.startswith("Z"):
        return "status"
    if c[:1] in "ST":
        return "injury"
    if c[:1] in "VWXY":
        return "external_cause"
    return "diagnosis"


def _in_ranges(code: str, ranges: Sequence[tuple[str, str]]) -> bool:
    head = code.replace(".", "")[:3].upper()
    return any(lo <= head <= hi for lo, hi in ranges)


@dataclass(slots=True)
class _Phrase:
    """A phrase derived from a code's wording, before phrases with the same key are merged."""

    key: str
    text: str
    code: str
    priority: int
    billable: bool
    generic: bool = False


class _Deriver:
    """Short clinical phrases from code-set wording.

    "Essential (primary) hypertension" gives "essential hypertension" and "essential primary
    hypertension"; "Pneumonia, unspecified organism" gives "pneumonia" (the part before the
    comma, because what follows only says the code is the default). A phrase must hold a word
    that means something alone: "Fracture NOS" stays, "Activity, walking" does not.
    """

    def __init__(self, norm: Normaliser, rules: dict[str, Any]) -> None:
        self.norm = norm
        self.qualifiers = frozenset(stem_word(w) for w in rules["head_qualifiers"])
        self.condition_nouns = frozenset(stem_word(w) for w in rules["condition_nouns"])
        self.blocked = frozenset(self.key(k)[0] for k in rules["blocked_keys"])
        self.skip_prefixes = tuple(rules["skip_prefixes"])

    def _condition(self, piece: str) -> bool:
        """A word that names a condition without its site ("perforation", "cystitis")."""
        return piece in self.condition_nouns or bool(_CONDITION_SUFFIX.search(piece))

    @staticmethod
    def _standalone(text: str) -> bool:
        """A one-word inclusion term that names a condition by itself ("Empyema (chest)",
        "Costochondritis", "Fever NOS"), not a fragment of the heading above it."""
        folded = fold(text).strip()
        word = _PAREN.sub("", folded).strip()
        return folded.endswith(" nos") or "(" in folded or bool(_CONDITION_SUFFIX.search(word))

    def key(self, text: str) -> tuple[str, list[str]]:
        """The order-free key of ``text`` and its content pieces in written order."""
        pieces = [p for p in self.norm.pieces(text) if not self.norm.is_stop(p)]
        return " ".join(sorted(pieces)), pieces

    def acceptable(self, key: str, pieces: list[str]) -> bool:
        """Whether a phrase is specific enough to be matched on its own."""
        if not pieces or len(pieces) > MAX_NGRAM or key in self.blocked:
            return False
        if len(pieces) == 1 and len(pieces[0]) < _MIN_LONE_WORD:
            return False  # "Mg", "PR": an abbreviation needs the curated dictionary's care
        return any(p not in self.norm.weak and not p.isdigit() and len(p) > 1 for p in pieces)

    def phrases(
        self,
        text: str,
        *,
        code: str,
        billable: bool,
        inclusion: bool,
        description: str,
        nouns: bool = True,
    ) -> Iterator[_Phrase]:
        """Phrases of one description or inclusion term; ``nouns`` adds "X" from "X of Y"."""
        folded = fold(text).strip()
        base = _FROM_INCLUSION if inclusion else 0
        if folded.startswith(("other ", "other,")) or " other specified" in folded:
            base += _FROM_OTHER
        if folded.startswith(self.skip_prefixes):
            return  # "Family history of X" is X with a family assertion, found as X
        no_paren = _PAREN.sub("", text).strip()
        variants = [(no_paren, base, "full"), (_BRACKETS.sub(" ", text), base, "full")]
        parts = _CLAUSE.split(no_paren, maxsplit=1)
        qualifier_only = False
        if len(parts) == 2 and parts[0].strip():
            rest = self.norm.pieces(parts[1])
            qualifier_only = all(p in self.qualifiers or p.isdigit() for p in rest)
            head = _FROM_DEFAULT_HEAD if qualifier_only else _FROM_HEAD
            variants.append((parts[0].strip(), base + head, "head"))
        noun = _HEAD_NOUN.match(no_paren) if nouns else None
        if noun:
            variants.append((noun.group(1), base + _FROM_NOUN, "noun"))
        seen: set[str] = set()
        desc_pieces: set[str] | None = None
        for variant, priority, kind in variants:
            key, pieces = self.key(variant)
            if key in seen or not self.acceptable(key, pieces):
                continue
            if len(pieces) == 1 and kind == "head" and not qualifier_only:
                continue  # "Hand, foot and mouth disease" is not about hands
            if kind == "noun" and (
                len(pieces) > _MAX_NOUN_WORDS or not self._condition(pieces[-1])
            ):
                continue  # "Loss of consciousness" is not a "loss", "Onset of labor" no "onset"
            if len(pieces) == 1 and inclusion and kind == "full" and not self._standalone(text):
                # A lone word listed under a code ("Thoracic", "Effusion") leans on the heading
                # above it; keep it only when the code's own wording uses that word.
                if desc_pieces is None:
                    desc_pieces = set(self.norm.pieces(description))
                if pieces[0] not in desc_pieces:
                    continue
            seen.add(key)
            yield _Phrase(key, variant, code, priority, billable, generic=kind == "noun")


class Lexicon:
    """Every phrase the matcher knows, under two keys.

    ``bag`` maps sorted content pieces to an entry id (word order and joining words do not
    matter); ``seq`` maps the exact piece sequence of a dictionary term to its entry ids, for
    abbreviations and terms whose joining words matter. A note piece outside ``bag_vocab`` /
    ``seq_vocab`` can extend no match. ``known`` words are never spelling-corrected;
    ``surface`` words are what a misspelling is corrected to.
    """

    def __init__(
        self,
        *,
        icd_texts: list[str],
        icd_codes: list[str],
        icd_labels: list[str],
        extra: list[Entry],
        bag: dict[str, int],
        seq: dict[tuple[str, ...], list[int]],
        known: Iterable[str],
        surface: Iterable[str],
    ) -> None:
        self._icd_texts = icd_texts
        self._icd_codes = icd_codes
        self._icd_labels = icd_labels
        self._extra = extra
        # ICD-10-CM entries made on first use: most of the ~33,000 are never matched, and at
        # most one per phrase is kept, so this needs no size limit.
        self._built: dict[int, Entry] = {}
        self.bag = bag
        self.seq = seq
        self.bag_vocab = frozenset(p for k in bag for p in k.split(" "))
        self.seq_vocab = frozenset(p for k in seq for p in k)
        self.vocab_pieces = self.bag_vocab | self.seq_vocab
        self.known = frozenset(known)
        self.surface = frozenset(surface)

    def __len__(self) -> int:
        return len(self._icd_texts) + len(self._extra)

    def entry(self, i: int) -> Entry:
        """Entry ``i``; ICD-10-CM entries are made from their columns on first use."""
        n = len(self._icd_texts)
        if i >= n:
            return self._extra[i - n]
        e = self._built.get(i)
        if e is None:
            codes = tuple(self._icd_codes[i].split())
            e = Entry(self._icd_texts[i], codes, self._icd_labels[i], ICD10CM, "codeset")
            self._built[i] = e
        return e

    @functools.cached_property
    def speller(self) -> Speller:
        """The spelling corrector, built on first use (a matcher without ``fuzzy`` never asks)."""
        return Speller(self.surface)


def _icd_package_version() -> str:
    try:
        return metadata.version("simple-icd-10-cm")
    except metadata.PackageNotFoundError as exc:
        raise ArtifactError(
            "The simple-icd-10-cm package is not installed; reinstall codesuggest to get the "
            "ICD-10-CM data."
        ) from exc


def _icd_cache_path() -> Path:
    """Keyed by everything the phrases derive from: the ICD package, the code-set cache format,
    this module's derivation (``LEXICON_FORMAT``) and the rules file."""
    from codesuggest.codebook.icd10cm import CACHE_FORMAT
    from codesuggest.core.cache import cache_dir

    version = f"{_icd_package_version()}-c{CACHE_FORMAT}-f{LEXICON_FORMAT}-{term_rules_digest()}"
    return cache_dir() / f"terms-icd10cm-{version}.json"


def _derive_icd(book: Any) -> dict[str, Any]:
    """ICD-10-CM phrases as plain columns (the slow step, cached)."""
    rules = term_rules()
    norm = normaliser()
    deriver = _Deriver(norm, rules)
    ranges = [tuple(r.split("-")) for r in rules["skip_code_ranges"]]
    by_key: dict[str, list[_Phrase]] = {}
    known: set[str] = set()
    for info in book.icd:
        # A 7th-character code repeats its parent's wording plus the encounter, which the
        # "encounter" attribute carries; the parent stands for the family.
        if info.kind in ("chapter", "section", "extended subcategory"):
            continue
        if _in_ranges(info.code, ranges):
            continue
        texts = [(info.description, False)]
        texts += [(t, True) for t in info.notes.get("inclusion_terms", ())]
        for text, inclusion in texts:
            known.update(surface_words(text))
            for ph in deriver.phrases(
                text,
                code=info.code,
                billable=info.billable or info.requires_7th,
                inclusion=inclusion,
                description=info.description,
            ):
                by_key.setdefault(ph.key, []).append(ph)
    keys, texts, codes, labels = [], [], [], []
    surface: set[str] = set()
    for key, phrases in by_key.items():
        phrases.sort(key=lambda p: (not p.billable, p.priority, -len(p.code), p.code))
        specific = [p for p in phrases if not p.generic]
        ordered = list(dict.fromkeys(p.code for p in specific or phrases))
        if not specific:
            ordered = []  # a condition named without its site points at no one code
        keys.append(key)
        texts.append(phrases[0].text)
        codes.append(" ".join(ordered[:_MAX_CODES]))
        labels.append(Counter(code_label(p.code) for p in phrases).most_common(1)[0][0])
        for ph in phrases:
            surface.update(w for w in surface_words(ph.text) if _CONDITION_SUFFIX.search(w))
    return {
        "format": LEXICON_FORMAT,
        "package_version": _icd_package_version(),
        "rules": term_rules_digest(),
        "count": len(keys),
        "keys": keys,
        "texts": texts,
        "codes": codes,
        "labels": labels,
        "known": sorted(known),
        "surface": sorted(surface),
    }


def _valid_icd_cache(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    if (
        data.get("format") != LEXICON_FORMAT
        or data.get("package_version") != _icd_package_version()
        or data.get("rules") != term_rules_digest()
    ):
        return False
    n = data.get("count")
    return all(
        isinstance(data.get(k), list) and len(data[k]) == n
        for k in ("keys", "texts", "codes", "labels")
    ) and all(isinstance(data.get(k), list) for k in ("known", "surface"))


def _icd_phrases(book: Any) -> dict[str, Any]:
    """The derived ICD-10-CM phrases, from the cache when it is sound, else built and cached."""
    from codesuggest.core.cache import CacheRebuiltWarning

    path = _icd_cache_path()
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if _valid_icd_cache(data):
            return data
        warnings.warn(
            f"The term vocabulary cache {path} was unreadable or stale and has been rebuilt.",
            CacheRebuiltWarning,
            stacklevel=3,
        )
    data = _derive_icd(book)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        for old in path.parent.glob("terms-icd10cm-*.json"):
            if old != path:
                old.unlink(missing_ok=True)  # built for another package version or rules
    except OSError as exc:
        log.warning("Could not write the term vocabulary cache %s (%s); continuing.", path, exc)
    return data


def _parse_readings(context: str, valid: Any) -> tuple[Reading, ...]:
    """``reading=codes|cue,cue ;; ...`` from the dictionary's context column; ``valid`` is the
    ICD-10-CM code set that keeps only real codes."""
    readings = []
    for part in context.split(";;"):
        part = part.strip()
        if not part or "=" not in part:
            continue
        name, rest = part.split("=", 1)
        codes_text, _, cues_text = rest.partition("|")
        codes = tuple(valid.canonical(c) for c in codes_text.split() if c in valid)
        cues = tuple(c.strip() for c in cues_text.split(",") if c.strip())
        readings.append(Reading(name.strip(), codes, cues))
    return tuple(readings)


def _case_form(term: str, kind: str, rules: dict[str, Any]) -> str | None:
    """The exact spelling a dictionary term must have in a note, or None for any case.

    Short all-capital abbreviations that spell an English word ("AS", "ALL", "PAD") or that
    are ambiguous match only in capitals, so "as" and "Ms." are not read as diagnoses.
    """
    alnum = "".join(ch for ch in term if ch.isalnum())
    if not alnum or not any(ch.isalpha() for ch in alnum) or alnum.upper() != alnum:
        return None
    from spacy.lang.en.stop_words import STOP_WORDS

    low = alnum.lower()
    if (
        len(alnum) <= _ALWAYS_CASED
        or kind == "ambiguous"
        or low in STOP_WORDS
        or low in rules["case_sensitive_words"]
    ):
        return alnum
    return None


def dictionary_rows(path: str | None) -> list[dict[str, str]]:
    """The rows of the dictionary TSV at ``path`` (None: the packaged one) that name a term."""
    text = Path(path).read_text(encoding="utf-8") if path else data_text("clinical_terms.tsv")
    where = path or "clinical_terms.tsv"
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    need = {"term", "expansion", "codes", "kind", "context"}
    if not need <= set(reader.fieldnames or ()):
        raise InputError(
            f"{where} must be a tab-separated file with the columns {sorted(need)}; "
            f"it has {reader.fieldnames}."
        )
    return [row for row in reader if (row.get("term") or "").strip()]


def _build_lexicon(dictionary: str | None, with_cpt: bool) -> Lexicon:
    from spacy.lang.en.stop_words import STOP_WORDS

    from codesuggest.codebook.book import default_codebook

    rules = term_rules()
    norm = normaliser()
    book = default_codebook()
    data = _icd_phrases(book)
    n_icd = data["count"]
    bag: dict[str, int] = dict(zip(data["keys"], range(n_icd), strict=True))
    seq: dict[tuple[str, ...], list[int]] = {}
    extra: list[Entry] = []
    known: set[str] = {*data["known"], *STOP_WORDS}
    surface: set[str] = set(data["surface"])

    def add(entry: Entry) -> int:
        extra.append(entry)
        known.update(surface_words(entry.text))
        if entry.source == "dictionary":
            # the curated words are the ones a misspelling most likely meant
            words = surface_words(f"{entry.text} {entry.expansion}")
            surface.update(
                w for w in words if len(w) >= _MIN_SURFACE_WORD and stem_word(w) not in norm.weak
            )
        return n_icd + len(extra) - 1

    if with_cpt:
        deriver = _Deriver(norm, rules)
        for info in book.cpt:
            for text in (info.description, *info.synonyms):
                known.update(surface_words(text))
                for ph in deriver.phrases(
                    text,
                    code=info.code,
                    billable=True,
                    inclusion=False,
                    description=text,
                    nouns=False,  # "Treatment of wound dehiscence" is no "treatment" term
                ):
                    if " " not in ph.key and not _PROCEDURE_SUFFIX.search(ph.key):
                        continue  # one word names a procedure only as "-ectomy", "-scopy" ...
                    if ph.key not in bag:  # diagnosis wording first; procedures rarely share it
                        bag[ph.key] = add(Entry(ph.text, (info.code,), "procedure", CPT, "cpt"))

    icd = book.icd
    dict_bag: dict[str, int] = {}
    for row in dictionary_rows(dictionary):
        kind = row["kind"].strip()
        if kind == "modifier":
            continue  # history, negation and laterality words: ConText and attributes use them
        term = row["term"].strip()
        listed = row["codes"].split()
        codes = tuple(icd.canonical(c) for c in listed if c in icd)
        if len(codes) < len(listed):
            log.warning(
                "clinical_terms: %r lists codes not in ICD-10-CM %s: %s; they are ignored.",
                term,
                icd.version,
                [c for c in listed if c not in icd],
            )
        readings = _parse_readings(row.get("context") or "", icd) if kind == "ambiguous" else ()
        pieces = tuple(norm.pieces(term))
        if (kind != "ambiguous" and not codes) or not pieces or len(pieces) > MAX_NGRAM:
            continue
        case = _case_form(term, kind, rules)
        label = _LABELS.get(kind) or (code_label(codes[0]) if codes else "diagnosis")
        idx = add(
            Entry(
                term, codes, label, ICD10CM, "dictionary", row["expansion"].strip(), case, readings
            )
        )
        seq.setdefault(pieces, []).append(idx)
        key = norm.bag_key(pieces)
        if (
            case is None
            and not readings
            and key
            and not any(p in norm.laterality for p in pieces)
            and key not in dict_bag
        ):
            dict_bag[key] = idx
    bag.update(dict_bag)
    return Lexicon(
        icd_texts=data["texts"],
        icd_codes=data["codes"],
        icd_labels=data["labels"],
        extra=extra,
        bag=bag,
        seq=seq,
        known=known,
        surface=surface,
    )


def load_lexicon(dictionary: str | None = None, cpt: bool = True) -> Lexicon:
    """The matcher's vocabulary, built once per process (and per dictionary file)."""
    return _cached_lexicon(dictionary, cpt)


@functools.cache
def _cached_lexicon(dictionary: str | None, cpt: bool) -> Lexicon:
    return _build_lexicon(dictionary, cpt)
