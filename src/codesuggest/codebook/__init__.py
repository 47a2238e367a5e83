"""The code sets: ICD-10-CM (Tabular and Index), the CPT subset and licensed loader, HCPCS Level II.

Lookup, hierarchy, specificity and search; ``default_codebook()`` is the one cached instance.
``Tabular`` reads the ICD-10-CM notes (Excludes, code first, use additional code, 7th
characters, side siblings) that the coding-rule edits apply.
"""

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.cpt import load_cpt_file
from codesuggest.codebook.hcpcs import load_hcpcs_file
from codesuggest.codebook.tabular import Tabular, tabular_for

__all__ = [
    "CodeInfo",
    "CodeSet",
    "Codebook",
    "Tabular",
    "default_codebook",
    "load_cpt_file",
    "load_hcpcs_file",
    "tabular_for",
]
