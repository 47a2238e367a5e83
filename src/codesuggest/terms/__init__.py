"""Clinical terms from note text: the spaCy pipeline (sections, sentences, term spans, assertion,
attributes) and ``TermExtractor``, which turns a note into plain ``Term`` records.

One module per step: ``extractor`` (``build``, ``TermExtractor``), ``sentences``, ``matcher``
(the ``codesuggest_terms`` component) with its ``lexicon``, ``normalise``, ``speller``,
``readings`` and ``attributes``, and ``assertion`` (medspaCy's sections and ConText).
"""

from codesuggest.terms.extractor import TermExtractor, build
from codesuggest.terms.matcher import TermMatcher, make_term_matcher
from codesuggest.terms.records import Match, NoteTerms

__all__ = ["Match", "NoteTerms", "TermExtractor", "TermMatcher", "build", "make_term_matcher"]
