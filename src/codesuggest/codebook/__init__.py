"""The code sets: ICD-10-CM (Tabular and Index), the CPT subset and licensed loader, HCPCS Level II.

Lookup, hierarchy, specificity and search; ``default_codebook()`` is the one cached instance.
"""

from codesuggest.codebook.book import Codebook, default_codebook
from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.cpt import load_cpt_file
from codesuggest.codebook.hcpcs import load_hcpcs_file

__all__ = [
    "CodeInfo",
    "CodeSet",
    "Codebook",
    "default_codebook",
    "load_cpt_file",
    "load_hcpcs_file",
]
