"""The term stage's front door: ``build()`` makes the spaCy pipeline and ``TermExtractor``
runs it over notes and returns plain records (``NoteTerms``); no spaCy object leaves the stage
through it.

The pipeline is a blank English model (no model download) with, in order:

1. the blank model's tokenizer with medspaCy's clinical rule (split on punctuation in words);
2. ``codesuggest_sentences`` (``sentences.py``): a rule splitter for clinical text;
3. medspaCy's sectionizer with the headings in ``data/sections.json`` (``assertion.py``);
4. ``codesuggest_terms`` (``matcher.py``): terms from the code sets' own wording and the
   curated dictionary ``data/clinical_terms.tsv`` (``lexicon.py``), written to ``doc.ents``
   with their attributes (``attributes.py``);
5. medspaCy's ConText with the rules in ``data/context_rules.json`` (``assertion.py``), on a
   graph that skips pairs of modifiers and targets too far apart to meet
   (``context_graph.py``).

A long note is read in chunks (``_chunks``) and put back together with exact offsets
(``_NoteBuilder``).
"""

import functools
import re
import string
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from codesuggest.core.errors import InputError
from codesuggest.core.records import Section, Term
from codesuggest.core.text import CONTROL_CHARS
from codesuggest.terms.assertion import (
    assertion_of,
    context_rules,
    import_medspacy,
    section_rules,
    token_section,
)
from codesuggest.terms.matcher import SPAN_EXTENSION
from codesuggest.terms.measurements import bmi_terms
from codesuggest.terms.problems import problem_terms
from codesuggest.terms.records import NoteTerms
from codesuggest.terms.sentences import sentence_bounds, sentence_of
from codesuggest.terms.status import status_terms

# A note longer than this is read in chunks so that no Doc grows without bound; most notes are
# far shorter (CodiEsp's average is ~2,150 characters) and are one chunk.
DEFAULT_CHUNK_CHARS = 20_000
# A smaller chunk would cut sections and sentences too often to read them.
MIN_CHUNK_CHARS = 1000


_CONTROL = f"[{CONTROL_CHARS}]"


def _clinical_infixes(nlp: Language) -> None:
    """medspaCy's clinical tokenizer rule: split on any punctuation but the period inside a
    word ("chf+cp", "c/o"). Applied to the blank model's tokenizer in place, as
    ``create_medspacy_tokenizer`` would build it anew."""
    from spacy.tokenizer import Tokenizer
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    punct = string.punctuation.replace(".", "")
    infixes = [*nlp.Defaults.infixes, f"[{re.escape(punct)}]", _CONTROL]
    # Control characters (a stray NUL or BEL from a copy-paste) are tokens of their own, so
    # "HTN\x07" is the term "HTN".
    prefixes = [_CONTROL, *nlp.Defaults.prefixes]
    suffixes = [_CONTROL, *nlp.Defaults.suffixes]
    old = nlp.tokenizer
    # One new tokenizer rather than three assignments: each assignment makes spaCy reload
    # its 5,000 special cases (0.4 s of the cold start).
    nlp.tokenizer = _BoundedTokenizer(
        Tokenizer(
            nlp.vocab,
            rules=old.rules,
            prefix_search=compile_prefix_regex(prefixes).search,
            suffix_search=compile_suffix_regex(suffixes).search,
            infix_finditer=compile_infix_regex(infixes).finditer,
            token_match=old.token_match,
            url_match=old.url_match,
        )
    )


# spaCy splits affixes off a run of text without white space one at a time and searches the
# whole rest of the run for a suffix after each, so a run of n characters costs n squared
# ("((((...": 20,000 of them took minutes). A longer run is tokenized in windows of at most
# this many characters, cut after punctuation where there is some.
MAX_RUN_CHARS = 100
_LONG_RUN = re.compile(rf"\S{{{MAX_RUN_CHARS + 1},}}")


class _BoundedTokenizer:
    """spaCy's tokenizer with runs of text without white space read in bounded windows."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.vocab = tokenizer.vocab

    def __call__(self, text: str) -> Doc:
        if _LONG_RUN.search(text) is None:
            return self.tokenizer(text)
        docs = []
        done = 0
        for run in _LONG_RUN.finditer(text):
            if run.start() > done:
                docs.append(self.tokenizer(text[done : run.start()]))
            docs.extend(self.tokenizer(text[a:b]) for a, b in _windows(text, *run.span()))
            done = run.end()
        if done < len(text):
            docs.append(self.tokenizer(text[done:]))
        return Doc.from_docs(docs, ensure_whitespace=False)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        for text in texts:
            yield self(text)


def _windows(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``text[start:end]`` in pieces of at most ``MAX_RUN_CHARS``, each ending after
    punctuation in its back half if it can, so that words are rarely cut."""
    while end - start > MAX_RUN_CHARS:
        limit = start + MAX_RUN_CHARS
        cut = next(
            (k for k in range(limit, start + MAX_RUN_CHARS // 2, -1) if not text[k - 1].isalnum()),
            limit,
        )
        yield start, cut
        start = cut
    yield start, end


def build(**options: Any) -> Language:
    """The full pipeline; ``options`` configure ``codesuggest_terms`` (see ``make_term_matcher``).

    Heavy: builds the vocabulary on first use. Use ``TermExtractor.default()`` to share one.
    """
    import spacy

    import_medspacy()
    nlp = spacy.blank("en")
    _clinical_infixes(nlp)
    nlp.add_pipe("codesuggest_sentences")
    sectionizer = nlp.add_pipe(
        "medspacy_sectionizer",
        config={
            "rules": None,
            "require_start_line": True,
            "newline_pattern": r"(?:[\r\n]|[.;!?]\s)\s*$",
            "span_attrs": None,
            "apply_sentence_boundary": True,
        },
    )
    sectionizer.add(section_rules())
    nlp.add_pipe("codesuggest_terms", config=options)
    import codesuggest.terms.context_graph  # noqa: F401 - registers codesuggest_context

    context = nlp.add_pipe("codesuggest_context", config={"rules": None})
    context.add(context_rules(nlp))
    if not Span.has_extension("assertion"):
        Span.set_extension("assertion", getter=assertion_of)
    return nlp


class TermExtractor:
    """Note text in, ``NoteTerms`` out. Build one per process: ``TermExtractor.default()``."""

    def __init__(
        self, nlp: Language | None = None, *, chunk_chars: int = DEFAULT_CHUNK_CHARS
    ) -> None:
        if chunk_chars < MIN_CHUNK_CHARS:
            raise InputError(f"chunk_chars must be at least {MIN_CHUNK_CHARS}, not {chunk_chars}.")
        self.nlp = nlp if nlp is not None else build()
        self.chunk_chars = chunk_chars

    @classmethod
    def default(cls) -> "TermExtractor":
        """The process-wide extractor: the pipeline and vocabulary load on the first call only."""
        return _shared_extractor()

    def extract(self, text: str) -> NoteTerms:
        """Terms, sections and sentences of one note; empty for empty or blank text."""
        return next(self.extract_many([text]))

    def extract_many(self, texts: Iterable[str]) -> Iterator[NoteTerms]:
        """``extract`` for many notes, one at a time, in input order."""
        for text in texts:
            if not isinstance(text, str):
                raise InputError(
                    f"A note must be text (str), not {type(text).__name__}; decode bytes first, "
                    "e.g. data.decode('utf-8', errors='replace')."
                )
            if _blank(text):
                yield NoteTerms()
                continue
            chunks = _chunks(text, self.chunk_chars)
            docs = self.nlp.pipe(text[s:e] for s, e in chunks)
            note = _NoteBuilder(text)
            for (offset, _), doc in zip(chunks, docs, strict=True):
                note.add(doc, offset)
            result = note.result
            result.terms.extend(problem_terms(text, result.sections, result.terms))
            known = {(t.start, t.end) for t in result.terms}
            result.terms.extend(
                t for t in bmi_terms(text, result.sections) if (t.start, t.end) not in known
            )
            result.terms.extend(
                t for t in status_terms(text, result.sections) if (t.start, t.end) not in known
            )
            result.terms.sort(key=lambda t: (t.start, -t.end))
            yield result


def _blank(text: str) -> bool:
    """Nothing but white space and control characters."""
    return not any(ch.isprintable() and not ch.isspace() for ch in text)


_DEFAULT_LOCK = threading.Lock()


@functools.cache
def _default_extractor() -> "TermExtractor":
    return TermExtractor()


def _shared_extractor() -> "TermExtractor":
    # Two threads asking at once (a web UI) must not both build the pipeline.
    with _DEFAULT_LOCK:
        return _default_extractor()


def _chunks(text: str, size: int) -> list[tuple[int, int]]:
    """Split a very long note at line breaks (or spaces) so no Doc grows without bound."""
    if len(text) <= size:
        return [(0, len(text))]
    out = []
    start = 0
    while len(text) - start > size:
        limit = start + size
        cut = -1
        for boundary in ("\n", ". ", " "):  # a line end, else a sentence end, else a space
            # only in the back half, so that no chunk is shorter than half the size
            cut = text.rfind(boundary, start + size // 2, limit)
            if cut >= 0:
                cut += len(boundary)
                break
        cut = limit if cut < 0 else cut
        out.append((start, cut))
        start = cut
    out.append((start, len(text)))
    return out


class _NoteBuilder:
    """Records of one note from its processed chunks, offsets shifted to the whole note.

    A note longer than one chunk is read in pieces; text at the top of a chunk, before its
    first heading, belongs to the section that was running at the end of the previous one.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.result = NoteTerms()
        self.running: Section | None = None

    def add(self, doc: Doc, offset: int) -> None:
        """Add the records of one processed chunk that starts at ``offset`` in the note."""
        sections = _sections(doc, offset)
        lead_end = sections[0].start if sections else offset + len(doc.text)
        if self.running is not None:
            lead = self.text[offset:lead_end].rstrip()
            if lead.strip():
                self.running = replace(self.running, end=offset + len(lead))
                self.result.sections[-1] = self.running
        bounds = sentence_bounds(doc)
        chars: dict[int, tuple[int, int]] = {}  # sentence start token -> text extent
        for start_tok, end_tok in bounds:
            first, last = start_tok, end_tok - 1
            while first <= last and doc[first].is_space:
                first += 1
            while last >= first and doc[last].is_space:
                last -= 1
            if first <= last:
                extent = (doc[first].idx + offset, doc[last].idx + len(doc[last]) + offset)
                chars[start_tok] = extent
                self.result.sentences.append(extent)
        for span in doc.ents:
            match = span._.get(SPAN_EXTENSION)
            if match is None:
                continue
            start, end = span.start_char + offset, span.end_char + offset
            section = token_section(span[0])
            if not section and self.running is not None and start < lead_end:
                section = self.running.name
            sent_start, sent_end = chars.get(sentence_of(bounds, span.start)[0], (start, end))
            self.result.terms.append(
                Term(
                    text=self.text[start:end],
                    start=start,
                    end=end,
                    label=match.label,
                    system=match.entry.system,
                    section=section,
                    sentence_start=sent_start,
                    sentence_end=sent_end,
                    assertion=assertion_of(span, section),
                    codes=match.codes,
                    attributes=dict(match.attributes),
                    source=match.entry.source,
                    match_score=match.score,
                    # A misspelled term ("pnuemonia") carries the phrase it was read as.
                    expansion=match.expansion or (match.entry.text if match.score < 1 else ""),
                    ambiguous=match.ambiguous,
                )
            )
        if sections:
            self.result.sections.extend(sections)
            self.running = sections[-1]


def _sections(doc: Doc, offset: int) -> list[Section]:
    """The named sections of a chunk; each ends at its last non-blank token."""
    out = []
    for s in getattr(doc._, "sections", None) or ():
        if s.category is None or s.title_start >= len(doc):
            continue
        end_tok = s.body_end
        while end_tok > s.title_end and doc[end_tok - 1].is_space:
            end_tok -= 1
        end_tok = max(end_tok, s.title_end)
        title = doc[s.title_start : s.title_end].text.strip().rstrip(":").strip()
        last = doc[end_tok - 1]
        out.append(
            Section(
                s.category, title, doc[s.title_start].idx + offset, last.idx + len(last) + offset
            )
        )
    return out
