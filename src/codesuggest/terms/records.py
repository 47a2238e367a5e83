"""Records of the term stage: vocabulary entries, the ``Match`` each span carries, and
``NoteTerms``, the plain result of one note that leaves the stage."""

from dataclasses import dataclass, field
from typing import Any

from codesuggest.core.records import Section, Term

# Match scores are kept to three decimals, as they are reported; more digits are noise.
SCORE_DIGITS = 3


@dataclass(slots=True)
class NoteTerms:
    """What ``TermExtractor.extract`` found in one note; offsets index the note as given."""

    terms: list[Term] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts, ready for JSON."""
        return {
            "terms": [t.to_dict() for t in self.terms],
            "sections": [s.to_dict() for s in self.sections],
            "sentences": [list(s) for s in self.sentences],
        }


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of an ambiguous abbreviation and the words that point to it."""

    name: str
    codes: tuple[str, ...]
    cues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """A vocabulary phrase: what a match means and where the meaning came from."""

    text: str
    codes: tuple[str, ...]
    label: str
    system: str
    source: str
    expansion: str = ""
    case: str | None = None
    readings: tuple[Reading, ...] = ()


@dataclass(slots=True)
class Match:
    """A term found by ``TermMatcher``, stored on its span as ``span._.codesuggest``."""

    entry: Entry
    score: float
    codes: tuple[str, ...]
    label: str
    expansion: str
    ambiguous: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
