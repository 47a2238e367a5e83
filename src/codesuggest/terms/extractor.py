"""Clinical terms in a note: sections, sentences, term spans, assertion and attributes.

``build()`` makes the spaCy pipeline (a blank English model, no model download):

1. the blank model's tokenizer with medspaCy's clinical rule (split on punctuation in words);
2. ``codesuggest_sentences``: a rule splitter for clinical text (lines, lists, headings,
   abbreviations); medspaCy's PyRuSH splitter is what makes its default pipeline slow;
3. medspaCy's sectionizer with the headings in ``data/sections.json``;
4. ``codesuggest_terms`` (``TermMatcher``): terms from the code set's own wording (ICD-10-CM
   descriptions and inclusion terms, CPT descriptions and synonyms) and the curated dictionary
   ``data/clinical_terms.tsv``, written to ``doc.ents``;
5. medspaCy's ConText with the rules in ``data/context_rules.json``.

``TermExtractor.default().extract(note)`` runs it and returns plain records (``NoteTerms``);
no spaCy object leaves this module through it.

Matching is a lookup, not a scan: each phrase is stored under its normalised words (folded,
lightly stemmed, joining words dropped, sorted, so "hypertension, essential" finds "essential
hypertension"), and every run of one to six words of a sentence is looked up; the run with the
most words wins. A word that is in no phrase is corrected to a clinical word one or two edits
away ("pnuemonia"). Deriving the ~33,000 ICD-10-CM phrases takes seconds, so they are cached
as JSON beside the code-set cache, keyed by the ICD package version and the digest of
``data/term_rules.json``.
"""

import functools
import importlib.util
import itertools
import json
import re
import string
import sys
import threading
import types
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from codesuggest.core.errors import InputError
from codesuggest.core.records import Section, Term
from codesuggest.terms.datafiles import data_text
from codesuggest.terms.matcher import SPAN_EXTENSION
from codesuggest.terms.records import NoteTerms
from codesuggest.terms.sentences import sentence_bounds, sentence_of

DEFAULT_CHUNK_CHARS = 20_000


NEGATED, POSSIBLE, HISTORICAL, HYPOTHETICAL, FAMILY = (
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HISTORICAL",
    "HYPOTHETICAL",
    "FAMILY",
)
_NON_MODIFYING = {"PSEUDO", "TERMINATE"}


# --------------------------------------------------------------------------- sections & ConText


def _medspacy() -> Any:
    """Import medspaCy without letting its import switch off warnings for the whole process.

    NLTK is imported lazily first: see ``_lazy_import``.
    """
    # medspaCy imports QuickUMLS (which we never use) and QuickUMLS imports NLTK, whose import
    # (NLTK with SciPy's statistics and scikit-learn) is 1.7 s of a cold start, ~0.3 s when the
    # ranker has loaded scikit-learn already. QuickUMLS reads NLTK only inside its methods.
    _lazy_import("nltk")
    with warnings.catch_warnings():  # it calls warnings.filterwarnings("ignore") on import
        import medspacy

    return medspacy


def _lazy_import(name: str) -> None:
    """Register ``name`` in ``sys.modules`` as a ``_LazyModule``; its code runs on first use.

    Nothing happens when it is imported already or not installed.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LazyModule
    sys.modules[name] = module


_LAZY_LOAD = threading.Lock()


class _LazyModule(types.ModuleType):
    """A module made from its real spec whose code runs the first time one of its names is read.

    It has the real ``__spec__``, ``__file__``, ``__path__`` and ``__loader__``, so an ``import``
    statement, ``importlib.util.find_spec`` or a tool that scans ``sys.modules`` reads them
    without running it. Any other name is missing until the code has run, so ``__getattr__``
    runs the module's own loader into this same object, as ``import`` would have.
    """

    # Why not the standard library's ``importlib.util.LazyLoader``: it counts reading any
    # attribute as first use, and every ``import nltk`` statement reads ``__spec__`` (to see
    # whether another thread is still initialising it), so QuickUMLS's import would load NLTK.

    def __getattr__(self, attr: str) -> Any:
        with _LAZY_LOAD:
            if isinstance(self, _LazyModule):
                self.__class__ = types.ModuleType  # while its code runs, a plain module
                try:
                    self.__spec__.loader.exec_module(self)
                except BaseException:
                    if sys.modules.get(self.__name__) is self:
                        del sys.modules[self.__name__]  # as a failed import leaves it
                    raise
        return getattr(self, attr)


@functools.cache
def _section_config() -> dict[str, Any]:
    return json.loads(data_text("sections.json"))


@functools.cache
def section_assertions() -> dict[str, str]:
    """Default assertion per section name (``family_history`` -> ``family``)."""
    return {s["name"]: s["assertion"] for s in _section_config()["sections"] if s.get("assertion")}


_LINE_ENDS = ("\n", "\r\n", "\n\n", "\r\n\r\n")


def _section_rules() -> list[Any]:
    """Sectionizer rules as literal phrases, which spaCy's PhraseMatcher finds in one pass.

    A "required" heading is written with its colon or alone on its line ("PLAN:", "PLAN\\n");
    an "optional" one may also run straight into its text ("Past medical history significant
    for ..."). The sectionizer keeps the longest heading at a place and only headings that
    start a line.
    """
    from medspacy.section_detection import SectionRule

    out = []
    for group in _section_config()["sections"]:
        if "pattern" in group:
            out.append(
                SectionRule(literal=group["name"], category=group["name"], pattern=group["pattern"])
            )
            continue
        for heading in group["headings"]:
            forms = [f"{heading}:", *(heading + end for end in _LINE_ENDS)]
            if group["colon"] == "optional":
                forms.append(heading)
            out.extend(SectionRule(literal=f, category=group["name"]) for f in forms)
    return out


@functools.cache
def _context_rule_dicts() -> list[dict[str, Any]]:
    return json.loads(data_text("context_rules.json"))["context_rules"]


_GAP = {"IS_SPACE": True, "OP": "*"}
_CONTROL = r"[\x00-\x08\x0e-\x1f\x7f]"
_MAX_EXPANSION = 8


def _expand_sets(pattern: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``{"LOWER": {"IN": [a, b]}}`` as separate patterns with plain values.

    spaCy checks plain token values in C but calls back into Python for every ``IN`` set at
    every token, which made ConText the slowest step; a handful of extra patterns is cheaper.
    """
    choices = []
    for tok in pattern:
        options = [tok]
        for attr in ("LOWER", "TEXT"):
            value = tok.get(attr)
            if isinstance(value, dict) and set(value) == {"IN"}:
                rest = {k: v for k, v in tok.items() if k != attr}
                options = [{**rest, attr: w} for w in value["IN"]]
        choices.append(options)
    total = 1
    for options in choices:
        total *= len(options)
    if total > _MAX_EXPANSION:
        # Only the first word is tried at every token; later choices are tried rarely.
        return [[first, *pattern[1:]] for first in choices[0]]
    return [list(p) for p in itertools.product(*choices)]


def _one_word_choice(pattern: Any) -> bool:
    if not isinstance(pattern, list) or len(pattern) != 1:
        return False
    spec = pattern[0]
    value = spec.get("LOWER")
    return set(spec) == {"LOWER"} and isinstance(value, dict) and set(value) == {"IN"}


def _context_rules(nlp: Language) -> list[Any]:
    """ConText rules from the data file, made fast and tolerant of line breaks.

    A wrapped line or a double space puts a whitespace token inside a phrase ("Negative\\nfor
    fever"), which spaCy's matchers would miss; every rule of several words becomes a token
    pattern that allows whitespace tokens between its words. One-word phrases stay phrases.
    """
    from medspacy.context import ConTextRule

    rules = []
    for d in _context_rule_dicts():
        pattern = d.get("pattern")
        if pattern is None:
            words = [t for t in nlp.tokenizer(d["literal"]) if not t.is_space]
            pattern = None if len(words) == 1 else [{"LOWER": t.lower_} for t in words]
        elif _one_word_choice(pattern):
            # {"LOWER": {"IN": [...]}} alone: as plain words the PhraseMatcher finds them at
            # no cost per token
            for word in pattern[0]["LOWER"]["IN"]:
                rules.append(ConTextRule.from_dict({**d, "literal": word, "pattern": None}))
            continue
        variants: list[Any] = [pattern]
        if isinstance(pattern, list):
            variants = []
            for expanded in _expand_sets(pattern):
                spaced: list[dict[str, Any]] = []
                for i, tok in enumerate(expanded):
                    if i:
                        spaced.append(_GAP)
                    spaced.append(tok)
                variants.append(spaced)
        for variant in variants:
            rules.append(ConTextRule.from_dict({**d, "pattern": variant}))
    return rules


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
    nlp.tokenizer = Tokenizer(
        nlp.vocab,
        rules=old.rules,
        prefix_search=compile_prefix_regex(prefixes).search,
        suffix_search=compile_suffix_regex(suffixes).search,
        infix_finditer=compile_infix_regex(infixes).finditer,
        token_match=old.token_match,
        url_match=old.url_match,
    )


def build(**options: Any) -> Language:
    """The full pipeline; ``options`` configure ``codesuggest_terms`` (see ``make_term_matcher``).

    Heavy: builds the vocabulary on first use. Use ``TermExtractor.default()`` to share one.
    """
    import spacy

    _medspacy()
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
    sectionizer.add(_section_rules())
    nlp.add_pipe("codesuggest_terms", config=options)
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    context.add(_context_rules(nlp))
    if not Span.has_extension("assertion"):
        Span.set_extension("assertion", getter=assertion_of)
    return nlp


def assertion_of(span: Span, section: str | None = None) -> str:
    """present, negated, uncertain, hypothetical, historical or family, for a matched span.

    ConText modifiers decide, then the section's default (family history, surgical history,
    patient instructions). A modifier at the very start of the term counts too ("s/p
    appendectomy", "former smoker"), and "history of" reaches only to the next comma. When
    cues disagree, negation wins, then family,
    hypothetical, uncertain and historical. Past medical history is not historical by itself:
    a chronic condition listed there is usually still present, so only wording such as
    "history of", "s/p" or "resolved" makes it historical.
    """
    cats: set[str] = set()
    doc = span.doc
    for m in getattr(span._, "modifiers", ()):
        s, e = m.modifier_span
        if span.start < s and e <= span.end:
            continue  # inside the term it qualifies the term ("hernia without mention of ...")
        if (
            m.category == HISTORICAL
            and e <= span.start
            and any(t.text in (",", ";") for t in doc[e : span.start])
        ):
            continue  # "history of MI, chronic heart failure": the history is the MI's
        cats.add(m.category)
    graph = span.doc._.context_graph if Doc.has_extension("context_graph") else None
    if graph is not None:
        for m in graph.modifiers:
            s, e = m.modifier_span
            if s == span.start and e < span.end and m.direction not in _NON_MODIFYING:
                cats.add(m.category)
    if section is None:
        section = _token_section(span[0])
    default = section_assertions().get(section, "")
    if NEGATED in cats:
        return "negated"
    if FAMILY in cats or default == "family":
        return "family"
    if HYPOTHETICAL in cats or default == "hypothetical":
        return "hypothetical"
    if POSSIBLE in cats:
        return "uncertain"
    if HISTORICAL in cats or default == "historical":
        return "historical"
    return "present"


def _token_section(token: Any) -> str:
    from spacy.tokens import Token

    if not Token.has_extension("section"):
        return ""
    section = token._.section
    return section.category if section is not None and section.category else ""


# --------------------------------------------------------------------------- extractor


class TermExtractor:
    """Note text in, ``NoteTerms`` out. Build one per process: ``TermExtractor.default()``."""

    def __init__(
        self, nlp: Language | None = None, *, chunk_chars: int = DEFAULT_CHUNK_CHARS
    ) -> None:
        if chunk_chars < 1000:
            raise InputError(f"chunk_chars must be at least 1000, not {chunk_chars}.")
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
            yield note.result


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
            section = _token_section(span[0])
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
                    expansion=match.expansion,
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
