"""Coding-rule edits (Official Guidelines, Excludes1, code first, age / sex, NCCI, MUE), each with
its citation and fix, run on a chosen code set by ``validate_codes``.
"""

from codesuggest.rules.engine import NoteContext, attach_edits, format_edits, validate_codes
from codesuggest.rules.ncci import load_mue, load_ncci_ptp

__all__ = [
    "NoteContext",
    "attach_edits",
    "format_edits",
    "load_mue",
    "load_ncci_ptp",
    "validate_codes",
]
