"""medspaCy's part of the pipeline: importing it, the sectionizer's and ConText's rules from
``data/sections.json`` and ``data/context_rules.json``, and the assertion of a term that
ConText's modifiers and the term's section decide (``assertion_of``).
"""

import functools
import importlib.util
import itertools
import json
import sys
import threading
import types
import warnings
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from codesuggest.terms.datafiles import data_text

NEGATED, POSSIBLE, HISTORICAL, HYPOTHETICAL, FAMILY = (
    "NEGATED_EXISTENCE",
    "POSSIBLE_EXISTENCE",
    "HISTORICAL",
    "HYPOTHETICAL",
    "FAMILY",
)
_NON_MODIFYING = {"PSEUDO", "TERMINATE"}


def import_medspacy() -> Any:
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


def section_rules() -> list[Any]:
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


def context_rules(nlp: Language) -> list[Any]:
    """ConText rules from the data file, made fast and tolerant of line breaks.

    A wrapped line or a double space puts a whitespace token inside a phrase ("Negative\\nfor
    fever"), which spaCy's matchers would miss; every rule of several words becomes a token
    pattern that allows whitespace tokens between its words. One-word phrases stay phrases.
    A rule marked ``"after_term": true`` also reaches back to the term before it when it
    closes its clause ("Tuberculosis ruled out.").
    """
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
                rules.append(_rule({**d, "literal": word, "pattern": None}))
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
            rules.append(_rule({**d, "pattern": variant}))
    return rules


def _rule(d: dict[str, Any]) -> Any:
    """One ConTextRule; ``after_term`` (ours, not medspaCy's) makes it look both ways."""
    from medspacy.context import ConTextRule

    after_term = bool(d.get("after_term"))
    d = {k: v for k, v in d.items() if k != "after_term"}
    if after_term:
        d["direction"] = "BIDIRECTIONAL"
    rule = ConTextRule.from_dict(d)
    if after_term:
        rule.on_modifies = _modifies_after_term
    return rule


# What ends a clause after a trigger that stands after its term ("Tuberculosis excluded.").
_CLAUSE_END = frozenset({".", ";", ",", ":", "!", "?", ")"})
# What a trigger after its term may not reach back across.
_CLAUSE_BREAK = frozenset({".", ";", "!", "?"})


def _modifies_after_term(target: Span, modifier: Span, between: Span) -> bool:
    """For a rule marked ``after_term``: forwards as written ("ruled out TB"), and backwards
    only when the trigger closes its clause ("TB ruled out.", "Pneumonia: no evidence of.")
    and no clause break stands between it and the term."""
    if target.start >= modifier.end:
        return True
    doc = modifier.doc
    after = modifier.end
    while after < len(doc) and doc[after].is_space and "\n" not in doc[after].text:
        after += 1
    closes = (
        after >= len(doc)
        or doc[after].is_space
        or doc[after].is_sent_start
        or doc[after].text in _CLAUSE_END
    )
    return closes and not any(t.text in _CLAUSE_BREAK for t in between)


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
    for m in _modifiers_starting_at(doc, span.start):
        s, e = m.modifier_span
        if e < span.end and m.direction not in _NON_MODIFYING:
            cats.add(m.category)
    if _non_prefixed(span):
        cats.add(NEGATED)
    if section is None:
        section = token_section(span[0])
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


def _non_prefixed(span: Span) -> bool:
    """A one-word term written with the prefix "non-" ("non-smoker", "non-tender"): the word
    says the patient is not so. A term of more words ("displaced fracture" in
    "non-displaced fracture") is a different reading of its own, and a term that begins
    with "non" ("Non-Hodgkin lymphoma") is the condition's name."""
    if len(span) != 1 or span.start < 2:
        return False
    dash, prefix = span.doc[span.start - 1], span.doc[span.start - 2]
    joined = not (dash.whitespace_ or prefix.whitespace_)
    return joined and dash.text == "-" and prefix.lower_ == "non"


_MODIFIER_STARTS = "codesuggest_modifier_starts"


def _modifiers_starting_at(doc: Doc, start: int) -> list[Any]:
    """ConText's modifiers that start at token ``start``, indexed once per Doc: scanning all
    of them for every term made a note of many terms quadratic."""
    graph = doc._.context_graph if Doc.has_extension("context_graph") else None
    if graph is None:
        return []
    cached = doc.user_data.get(_MODIFIER_STARTS)
    if cached is None or cached[0] is not graph:
        index: dict[int, list[Any]] = {}
        for m in graph.modifiers:
            index.setdefault(m.modifier_span[0], []).append(m)
        cached = doc.user_data[_MODIFIER_STARTS] = (graph, index)
    return cached[1].get(start, [])


def token_section(token: Any) -> str:
    """The name of the section the sectionizer put ``token`` in; "" outside any section."""
    from spacy.tokens import Token

    if not Token.has_extension("section"):
        return ""
    section = token._.section
    return section.category if section is not None and section.category else ""
