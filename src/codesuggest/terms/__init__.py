"""Clinical terms from note text: the spaCy pipeline (sections, sentences, term spans, assertion,
attributes) and ``TermExtractor``, which turns a note into plain ``Term`` records.
"""

from codesuggest.terms.extractor import NoteTerms, TermExtractor, build, make_term_matcher

__all__ = ["NoteTerms", "TermExtractor", "build", "make_term_matcher"]
