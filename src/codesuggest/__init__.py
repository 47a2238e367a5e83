"""codesuggest: offline, explainable ICD-10-CM and CPT code suggestions for medical coders.

Nothing heavy happens on import; code tables, the spaCy pipeline and models load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
