"""The floor every stage stands on: the records that flow between stages, code spellings,
patient context, text folding, the exception family and the verified cache. Imports nothing above.
"""

from codesuggest.core.errors import ArtifactError, CodesuggestError, InputError, UnknownCodeError
from codesuggest.core.records import Candidate, Edit, Evidence, Suggestion, SuggestionResult, Term

__all__ = [
    "ArtifactError",
    "Candidate",
    "CodesuggestError",
    "Edit",
    "Evidence",
    "InputError",
    "Suggestion",
    "SuggestionResult",
    "Term",
    "UnknownCodeError",
]
