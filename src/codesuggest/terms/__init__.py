"""Clinical terms from note text: the spaCy pipeline (sections, sentences, term spans, assertion,
attributes) and ``TermExtractor``, which turns a note into plain ``Term`` records.
"""

from codesuggest.terms.extractor import TermExtractor, build
from codesuggest.terms.matcher import make_term_matcher
from codesuggest.terms.records import NoteTerms

__all__ = ["NoteTerms", "TermExtractor", "build", "make_term_matcher"]
