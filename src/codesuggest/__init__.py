"""codesuggest: offline, explainable ICD-10-CM and CPT code suggestions for medical coders.

Nothing heavy happens on import; code tables, the spaCy pipeline and models load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codesuggest.pipeline import Suggester

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(model: str | os.PathLike[str] | None = None) -> Suggester:
    """The suggester for a model folder (default: the shipped model), loaded once per process."""
    from codesuggest.pipeline import load as _load

    return _load(model)
