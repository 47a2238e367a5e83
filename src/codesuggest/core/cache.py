"""The per-user cache folder and the file hash used to verify caches and model folders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class CacheRebuiltWarning(UserWarning):
    """The code-set cache was missing parts or corrupt and has been rebuilt."""


def cache_dir() -> Path:
    """Where derived, rebuildable data lives: ``$CODESUGGEST_CACHE_DIR`` or the XDG cache."""
    explicit = os.environ.get("CODESUGGEST_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codesuggest"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks (model and cache manifests use it)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
