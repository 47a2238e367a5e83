"""The term stage's packaged data files (``codesuggest/data``); ``term_rules.json`` read once."""

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from codesuggest.core.errors import ArtifactError
from codesuggest.core.text import ALIASES_FILE


def data_text(name: str) -> str:
    """The text of the packaged data file ``name``; a missing file means a broken install."""
    try:
        return resources.files("codesuggest.data").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"The packaged data file {name!r} is missing; reinstall codesuggest."
        ) from exc


@functools.cache
def term_rules() -> dict[str, Any]:
    """``data/term_rules.json``: word lists and rules for phrases, attributes and sentences."""
    return json.loads(data_text("term_rules.json"))


@functools.cache
def term_rules_digest() -> str:
    """A short digest of ``term_rules.json`` and the word aliases the normaliser reads
    (``word_aliases.json``), part of the vocabulary cache's key."""
    text = data_text("term_rules.json") + data_text(ALIASES_FILE)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
