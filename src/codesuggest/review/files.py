"""The review server's private folder: uploaded notes, Gradio's file cache and the exports.

Uploaded notes and exports are PHI at rest, so they never go to the shared temp folder. Each
server gets its own folder under ``<cache>/review-files`` (``core.cache.cache_dir``), readable
by the user alone (0700), holding a lock for as long as the server runs. The folder is removed
when the server stops, and a server killed before it could clean up is cleaned up after by the
next one that starts: a folder whose lock nobody holds belongs to a server that is gone.
"""

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

from codesuggest.core.cache import cache_dir

log = logging.getLogger(__name__)
_LOCK = ".lock"


def private_root() -> Path:
    """Where the servers' private folders live."""
    return cache_dir() / "review-files"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # an existing folder made with a looser umask is tightened
    return path


def remove_abandoned(root: Path) -> int:
    """Remove the folders of servers that are no longer running; returns how many."""
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            fd = os.open(folder / _LOCK, os.O_RDWR)
        except FileNotFoundError:
            fd = None  # killed before it took its lock
        except OSError:
            continue
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a running server's
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        finally:
            if fd is not None:
                os.close(fd)
    if removed:
        log.warning("removed %d folder(s) left by review servers that were stopped", removed)
    return removed


class PrivateFolder:
    """One server's private folder (``uploads`` for Gradio, ``exports``); see the module.

    Args:
        root: the parent of every server's folder (default ``private_root()``).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        parent = _private_dir(Path(root) if root is not None else private_root())
        remove_abandoned(parent)
        self.path = Path(tempfile.mkdtemp(prefix="server-", dir=parent))
        self._lock = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.uploads = _private_dir(self.path / "uploads")
        self.exports = _private_dir(self.path / "exports")

    def close(self) -> None:
        """Remove the folder and everything in it; safe to call twice."""
        if self._lock < 0:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock)
        self._lock = -1
