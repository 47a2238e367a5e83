"""The exception family codesuggest raises.

Each subclasses the built-in a caller would already catch, the way scikit-learn's
``NotFittedError`` subclasses ``ValueError``: code that guards against ``ValueError`` or
``OSError`` keeps working, and code that wants to be specific can be.
"""

from __future__ import annotations


class CodesuggestError(Exception):
    """Base class of every error codesuggest raises on purpose."""


class InputError(CodesuggestError, ValueError):
    """The note, file or argument given cannot be used; the message says why and what to do."""


class UnknownCodeError(CodesuggestError, KeyError):
    """A code is not in the code set in use."""

    def __init__(self, code: str, system: str, version: str) -> None:
        self.code = code
        self.system = system
        self.version = version
        super().__init__(code)

    def __str__(self) -> str:
        return (
            f"{self.code!r} is not a code in {self.system} {self.version}. "
            "Check the spelling, or search by description with `codesuggest codes search`."
        )


class ArtifactError(CodesuggestError, OSError):
    """A model or cache file is missing, corrupt, tampered with or built for other versions."""
