"""Coding-rule edits, each with its guideline citation and fix: one module per family.

Official Guidelines, Excludes1, code first, age / sex (Medicare Code Editor), NCCI and MUE,
run on a chosen code list by ``validate_codes``; ``engine`` lists the families.
"""

from codesuggest.rules.combinations import Combined, apply_combinations, combine
from codesuggest.rules.engine import NoteContext, attach_edits, format_edits, validate_codes
from codesuggest.rules.ncci import load_mue, load_ncci_ptp
from codesuggest.rules.sequencing import claim_order, sequence_selected

__all__ = [
    "Combined",
    "NoteContext",
    "apply_combinations",
    "attach_edits",
    "claim_order",
    "combine",
    "format_edits",
    "load_mue",
    "load_ncci_ptp",
    "sequence_selected",
    "validate_codes",
]
