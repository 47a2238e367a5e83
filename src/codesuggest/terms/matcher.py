"""The ``codesuggest_terms`` component (``TermMatcher``) and its factory ``make_term_matcher``.

Matching is a lookup, not a scan: every run of one to six words of a sentence is looked up in
the ``Lexicon`` under its normalised words; the run with the most words wins. A word that is in
no phrase is corrected to a clinical word one or two edits away ("pnuemonia"). Each span in
``doc.ents`` carries a ``Match`` in ``span._.codesuggest``.
"""

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from codesuggest.core.errors import InputError
from codesuggest.core.records import ICD10CM
from codesuggest.terms.attributes import AttributeReader, attribute_rules
from codesuggest.terms.lexicon import MAX_NGRAM, code_label, load_lexicon
from codesuggest.terms.normalise import fold, normaliser
from codesuggest.terms.readings import choose_reading
from codesuggest.terms.records import SCORE_DIGITS, Entry, Match
from codesuggest.terms.sentences import sentence_bounds, sentence_of

SPAN_EXTENSION = "codesuggest"  # span._.codesuggest holds the span's Match
# The lowest mean word similarity of a fuzzy match: one typo in a five-letter word (1 - 1/5).
DEFAULT_MIN_SCORE = 0.8
# Shorter unknown words are not corrected: too many are another English word one letter away.
_MIN_CORRECTABLE = 6
# Z3A.08-Z3A.42 each name one week of gestation (Z3A.01 is below 8 weeks, Z3A.49 above 42).
_GESTATION_WEEKS = range(8, 43)
# A weeks-of-gestation term counts as three content words: it wins over a shorter phrase inside
# its words ("gestation", "pregnant") and loses only to a longer one.
_GESTATION_CONTENT = 3
# Between candidates of as many words, the curated dictionary wins, then code-set wording.
_PRIORITY = {"dictionary": 3, "codeset": 2, "cpt": 1}

_BREAK_TOKENS = {".", ";", ":", "!", "?", "•", "|"}
_SIDE_LINK = {"-", "sided", "side"}
_ABSORB = {"mellitus", "nos"}
_CONJUNCTIONS = {"and", "or", "nor", "but", "vs", "versus"}
_CONJ_TEXT = re.compile(r"\b(?:and|or|nor|&)\b", re.I)


@dataclass(slots=True)
class _Piece:
    piece: str
    token: int
    stop: bool
    score: float = 1.0


@dataclass(slots=True)
class _Candidate:
    start: int
    end: int
    entry: Entry
    score: float
    content: int
    exact: bool = False


class TermMatcher:
    """The ``codesuggest_terms`` component: finds terms and writes them to ``doc.ents``.

    Each span carries a ``Match`` in ``span._.codesuggest`` (codes, expansion, attributes,
    alternative readings). Sections and sentences are used when earlier components set them.
    """

    def __init__(
        self,
        nlp: Language,
        name: str = "codesuggest_terms",
        *,
        fuzzy: bool = True,
        min_score: float = DEFAULT_MIN_SCORE,
        max_ngram: int = MAX_NGRAM,
        cpt: bool = True,
        dictionary: str | None = None,
        resolve_ambiguous: bool = True,
    ) -> None:
        self.name = name
        self.fuzzy = fuzzy
        self.min_score = min_score
        self.max_ngram = max_ngram
        self.resolve_ambiguous = resolve_ambiguous
        self.lexicon = load_lexicon(dictionary, cpt)
        self.norm = normaliser()
        self.attrs = attribute_rules(dictionary)
        if not Span.has_extension(SPAN_EXTENSION):
            Span.set_extension(SPAN_EXTENSION, default=None)

    def __call__(self, doc: Doc) -> Doc:
        """Add the terms of ``doc`` to ``doc.ents``; where matches overlap, most words win."""
        if doc.text.strip():
            self.set_annotations(doc, self.match(doc))
        return doc

    def match(self, doc: Doc) -> list[tuple[Span, Match]]:
        """The terms of ``doc`` in text order, overlaps resolved, each with its attributes."""
        headings = _heading_tokens(doc)
        sentences = sentence_bounds(doc)
        candidates = self._ranked_candidates(doc, headings, sentences)
        chosen = self._choose(doc, candidates, headings, sentences)
        reader = AttributeReader(self.attrs, doc, sentences)
        for k, (span, match) in enumerate(chosen):
            lo = chosen[k - 1][0].end if k else 0
            hi = chosen[k + 1][0].start if k + 1 < len(chosen) else len(doc)
            match.attributes = reader.read(span, match, (lo, hi))
        return chosen

    def set_annotations(self, doc: Doc, matches: list[tuple[Span, Match]]) -> None:
        """Write the spans to ``doc.ents`` (beside entities set before) and each ``Match``
        to ``span._.codesuggest``."""
        doc.ents = filter_spans([*doc.ents, *(span for span, _ in matches)])
        kept = {(e.start, e.end) for e in doc.ents}
        for span, match in matches:
            if (span.start, span.end) in kept:
                span._.set(SPAN_EXTENSION, match)

    def _ranked_candidates(
        self, doc: Doc, headings: set[int], sentences: list[tuple[int, int]]
    ) -> list[_Candidate]:
        """Every phrase found in ``doc``, best first."""
        words = [t.text for t in doc]  # read once: each Token access builds an object
        starts = {s for s, _ in sentences}
        candidates: list[_Candidate] = []
        for seg in self._segments(words, starts, headings):
            stream = self._stream(words, seg, starts)
            if stream:
                candidates.extend(self._candidates(doc, stream))
        candidates.extend(self._gestation_candidates(doc))
        # Most content words first, then the curated source, the written word order and the
        # tightest span.
        candidates.sort(
            key=lambda c: (
                -c.content,
                -_PRIORITY[c.entry.source],
                not c.exact,
                c.end - c.start,
                -c.score,
                c.start,
            )
        )
        return candidates

    def _choose(
        self,
        doc: Doc,
        candidates: list[_Candidate],
        headings: set[int],
        sentences: list[tuple[int, int]],
    ) -> list[tuple[Span, Match]]:
        """Candidates taken best first where their tokens are still free, in text order."""
        taken = [False] * len(doc)
        for i in headings:
            taken[i] = True
        chosen: list[tuple[Span, Match]] = []
        for c in candidates:
            if any(taken[c.start : c.end]) or not _balanced(doc, c.start, c.end):
                continue
            match = self._resolve(doc, c, sentences)
            if match is None:
                continue
            start, end = self._widen(doc, c.start, c.end, sentences, taken)
            for i in range(start, end):
                taken[i] = True
            chosen.append((Span(doc, start, end, label=match.label), match))
        chosen.sort(key=lambda sm: sm[0].start)
        return chosen

    # -- token stream ---------------------------------------------------------

    def _segments(
        self, words: list[str], starts: set[int], headings: set[int]
    ) -> Iterator[tuple[int, int]]:
        """Token ranges a term may not cross: sentences, clause punctuation and headings."""
        start = 0
        for i, text in enumerate(words):
            if text in _BREAK_TOKENS or i in headings:
                if i > start:
                    yield start, i
                start = i + 1
            elif i in starts and i > start:
                yield start, i
                start = i
        if start < len(words):
            yield start, len(words)

    def _stream(self, words: list[str], seg: tuple[int, int], starts: set[int]) -> list[_Piece]:
        """The comparison pieces of a segment, misspelled words corrected, with their tokens."""
        norm, lex = self.norm, self.lexicon
        word, is_stop, vocab = norm.word, norm.is_stop, lex.vocab_pieces
        out: list[_Piece] = []
        for i in range(seg[0], seg[1]):
            text = words[i]
            pieces = word(text)
            if not pieces:
                continue  # punctuation, white space, symbols
            if (
                self.fuzzy
                and len(pieces) == 1
                and len(text) >= _MIN_CORRECTABLE
                and pieces[0] not in vocab
                and self._correctable(text, i in starts)
            ):
                fixed = lex.speller.correct(fold(text))
                if fixed is not None:
                    out.extend(_Piece(p, i, is_stop(p), fixed[1]) for p in word(fixed[0]))
                    continue
            out.extend(_Piece(p, i, is_stop(p)) for p in pieces)
        roman = norm.read_roman([p.piece for p in out])
        for item, p in zip(out, roman, strict=True):
            item.piece = p
        return out

    def _correctable(self, text: str, starts_sentence: bool) -> bool:
        """An unknown word (of ``_MIN_CORRECTABLE`` letters or more), not a name or an acronym.

        Shorter words are too often other English words one letter away ("shows", "shots").
        """
        if not text.isalpha():
            return False
        if text.lower().endswith(self.norm.english_endings):
            return False  # "performed", "influence": English words, not misspelled terms
        if fold(text) in self.lexicon.known:
            return False
        if sum(ch.isupper() for ch in text) > 1:
            return False
        return starts_sentence or not text[0].isupper()

    def _candidates(self, doc: Doc, stream: list[_Piece]) -> Iterator[_Candidate]:
        """Phrases of one segment: by their sorted content words, then by exact sequence."""
        yield from self._bag_candidates(stream)
        yield from self._sequence_candidates(doc, stream)

    def _bag_candidates(self, stream: list[_Piece]) -> Iterator[_Candidate]:
        """Runs of content words whose sorted pieces are a phrase's key (any word order)."""
        lex = self.lexicon
        content = [p for p in stream if not p.stop]
        # A run of words may join "pain" and "leg" across "or" only for a phrase that itself
        # has a conjunction ("nausea and vomiting").
        conj_before: list[int] = []
        k = 0
        for p in stream:
            if p.stop:
                k += p.piece in _CONJUNCTIONS
            else:
                conj_before.append(k)
        for i in range(len(content)):
            window: list[str] = []
            score = 0.0
            for j in range(i, min(i + self.max_ngram, len(content))):
                p = content[j]
                if p.piece not in lex.bag_vocab:
                    break
                window.append(p.piece)
                score += p.score
                idx = lex.bag.get(" ".join(sorted(window)))
                if idx is None or score / len(window) < self.min_score:
                    continue
                entry = lex.entry(idx)
                if conj_before[j] > conj_before[i] and not _CONJ_TEXT.search(entry.text):
                    continue
                yield _Candidate(
                    content[i].token, p.token + 1, entry, score / len(window), len(window)
                )

    def _sequence_candidates(self, doc: Doc, stream: list[_Piece]) -> Iterator[_Candidate]:
        """Runs of pieces, joining words included, that spell a dictionary term exactly."""
        lex = self.lexicon
        for i in range(len(stream)):
            seq: list[str] = []
            score = 0.0
            n_content = 0
            for j in range(i, min(i + self.max_ngram, len(stream))):
                p = stream[j]
                if p.piece not in lex.seq_vocab:
                    break
                seq.append(p.piece)
                score += p.score
                n_content += not p.stop
                ids = lex.seq.get(tuple(seq))
                if not ids or score / len(seq) < self.min_score:
                    continue
                start, end = stream[i].token, p.token + 1
                for idx in ids:
                    entry = lex.entry(idx)
                    if entry.case is None or _alnum(doc[start:end].text) == entry.case:
                        yield _Candidate(
                            start, end, entry, score / len(seq), max(n_content, 1), exact=True
                        )
                        break

    def _gestation_candidates(self, doc: Doc) -> Iterator[_Candidate]:
        """Weeks of gestation ("28w3d", "32 weeks gestation") as the code Z3A.nn."""
        for m in self.attrs.weeks.finditer(doc.text):
            weeks = int(next(g for g in m.groups() if g))
            if weeks not in _GESTATION_WEEKS:
                continue
            span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
            entry = _gestation_entry(f"Z3A.{weeks:02d}")
            if span is not None and entry is not None:
                yield _Candidate(span.start, span.end, entry, 1.0, _GESTATION_CONTENT)

    # -- meaning --------------------------------------------------------------

    def _resolve(self, doc: Doc, c: _Candidate, sentences: list[tuple[int, int]]) -> Match | None:
        entry = c.entry
        score = round(c.score, SCORE_DIGITS)
        if not entry.readings:
            return Match(entry, score, entry.codes, entry.label, entry.expansion)
        names = tuple(r.name for r in entry.readings)
        chosen = (
            choose_reading(doc, c.start, c.end, entry.readings, sentences)
            if self.resolve_ambiguous
            else None
        )
        if chosen is None:
            return Match(entry, score, (), "ambiguous", "", ambiguous=names)
        reading, cue, scope = chosen
        # "CVA" read as costovertebral angle, "RA" as room air: kept, so nobody reads it as a
        # stroke or arthritis, but with no code.
        label = code_label(reading.codes[0]) if reading.codes else "other"
        match = Match(entry, score, reading.codes, label, reading.name)
        match.attributes = {"resolved_by": cue, "resolved_in": scope, "reading": reading.name}
        return match

    def _widen(
        self,
        doc: Doc,
        start: int,
        end: int,
        sentences: list[tuple[int, int]],
        taken: list[bool],
    ) -> tuple[int, int]:
        """Take in a laterality word just before ("left-sided chest pain") and "mellitus" after."""
        sent_start, sent_end = sentence_of(sentences, start)
        i = start - 1
        while i >= sent_start and doc[i].lower_ in _SIDE_LINK:
            i -= 1
        if (
            i >= sent_start
            and not taken[i]
            and (doc[i].lower_ in self.norm.laterality or doc[i].text in ("L", "R"))
        ):
            start = i
        while end < sent_end and not taken[end] and doc[end].lower_ in _ABSORB:
            end += 1
        return start, end


def _balanced(doc: Doc, start: int, end: int) -> bool:
    """Whether a span opens and closes its brackets: not "MRI) of the brain"."""
    depth = 0
    for tok in doc[start:end]:
        if tok.text in ("(", "["):
            depth += 1
        elif tok.text in (")", "]"):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


@functools.cache
def _gestation_entry(code: str) -> Entry | None:
    from codesuggest.codebook.book import default_codebook

    rec = default_codebook().icd.find(code)
    return Entry(rec.description, (rec.code,), "status", ICD10CM, "codeset") if rec else None


def _heading_tokens(doc: Doc) -> set[int]:
    out: set[int] = set()
    for s in getattr(doc._, "sections", None) or ():
        if s.category is not None:
            out.update(range(s.title_start, s.title_end))
    return out


@Language.factory(
    "codesuggest_terms",
    default_config={
        "fuzzy": True,
        "min_score": DEFAULT_MIN_SCORE,
        "max_ngram": MAX_NGRAM,
        "cpt": True,
        "dictionary": None,
        "resolve_ambiguous": True,
    },
)
def make_term_matcher(
    nlp: Language,
    name: str,
    fuzzy: bool,
    min_score: float,
    max_ngram: int,
    cpt: bool,
    dictionary: str | None,
    resolve_ambiguous: bool,
) -> TermMatcher:
    """Build the ``codesuggest_terms`` component after checking its settings.

    Settings: ``fuzzy`` corrects misspelled words; ``min_score`` (0-1) is the lowest mean word
    similarity a fuzzy match may have; ``max_ngram`` (1-6) the longest phrase in content words;
    ``cpt`` adds CPT procedure terms; ``dictionary`` replaces the packaged abbreviation file
    with a TSV of the same columns; ``resolve_ambiguous`` reads abbreviations such as "MS" from
    their context.
    """
    for key, value in (("fuzzy", fuzzy), ("cpt", cpt), ("resolve_ambiguous", resolve_ambiguous)):
        if not isinstance(value, bool):
            raise InputError(f"codesuggest_terms: {key} must be true or false, not {value!r}.")
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not (0.0 < float(min_score) <= 1.0)
    ):
        raise InputError(
            f"codesuggest_terms: min_score must be a number in (0, 1], not {min_score!r}; "
            "0.8 accepts one typo in a five-letter word."
        )
    if (
        isinstance(max_ngram, bool)
        or not isinstance(max_ngram, int)
        or not (1 <= max_ngram <= MAX_NGRAM)
    ):
        raise InputError(
            f"codesuggest_terms: max_ngram must be a whole number from 1 to {MAX_NGRAM}, "
            f"not {max_ngram!r}."
        )
    if dictionary is not None and not Path(dictionary).is_file():
        raise InputError(
            f"codesuggest_terms: dictionary {dictionary!r} is not a file; give the path of a "
            "TSV with the columns of data/clinical_terms.tsv, or null for the packaged one."
        )
    return TermMatcher(
        nlp,
        name,
        fuzzy=fuzzy,
        min_score=float(min_score),
        max_ngram=max_ngram,
        cpt=cpt,
        dictionary=dictionary,
        resolve_ambiguous=resolve_ambiguous,
    )
