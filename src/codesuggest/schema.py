"""Records that flow between the stages, and the one JSON output schema.

Every stage passes these plain records, never a spaCy ``Doc``. The JSON written by the CLI, the
batch engines, Spark and the review UI is ``SuggestionResult.to_dict()``; its shape is
documented in ``docs/schema.md`` and is checked by ``validate_result_dict``.

Offsets are character offsets into the note exactly as the user gave it:
``note[start:end] == text`` always holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ICD10CM = "ICD-10-CM"
CPT = "CPT"
HCPCS = "HCPCS"
SYSTEMS = (ICD10CM, CPT, HCPCS)

Assertion = Literal["present", "negated", "uncertain", "hypothetical", "historical", "family"]
ASSERTIONS: tuple[str, ...] = (
    "present",
    "negated",
    "uncertain",
    "hypothetical",
    "historical",
    "family",
)
Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")
SETTINGS: tuple[str, ...] = ("outpatient", "inpatient")

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class CodeSetVersion:
    """A code set's name and version, e.g. ``ICD-10-CM`` ``2026``."""

    name: str
    version: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True, slots=True)
class Section:
    """A section of a note: ``name`` is normalised (``assessment_and_plan``), ``title`` as written.

    ``start``/``end`` cover the heading and the body up to the next section.
    """

    name: str
    title: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "start": self.start, "end": self.end}


@dataclass(slots=True)
class Term:
    """A clinical term found in a note, as a coder would underline it.

    ``codes`` are the codes the matched vocabulary entry points at (most specific first);
    ``attributes`` holds what is needed to choose a specific code: ``laterality``
    (left/right/bilateral), ``acuity`` (acute/chronic/acute_on_chronic), ``encounter``
    (initial/subsequent/sequela), ``diabetes_type``, ``stage``, ``weeks``, ``trimester``,
    ``severity``.
    """

    text: str
    start: int
    end: int
    label: str
    system: str = ICD10CM
    section: str = ""
    sentence_start: int = 0
    sentence_end: int = 0
    assertion: str = "present"
    codes: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    source: str = ""
    match_score: float = 1.0
    expansion: str = ""
    ambiguous: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["codes"] = list(self.codes)
        d["ambiguous"] = list(self.ambiguous)
        return d


@dataclass(frozen=True, slots=True)
class Evidence:
    """A span of the note that supports a suggestion."""

    start: int
    end: int
    text: str
    section: str = ""
    assertion: str = "present"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "section": self.section,
            "assertion": self.assertion,
        }


@dataclass(slots=True)
class Edit:
    """A coding-rule finding attached to one or more codes; never removes a suggestion."""

    rule: str
    severity: str
    codes: tuple[str, ...]
    message: str
    source: str
    fix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "codes": list(self.codes),
            "message": self.message,
            "source": self.source,
            "fix": list(self.fix),
        }


@dataclass(slots=True)
class Candidate:
    """A (note, code) pair proposed by a candidate source, before ranking."""

    code: str
    system: str
    evidence: list[Evidence] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    sources: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass(slots=True)
class Suggestion:
    """A ranked code suggestion with its evidence, score breakdown and rule findings."""

    code: str
    system: str
    description: str
    score: float
    rank: int = 0
    selected: bool = False
    evidence: list[Evidence] = field(default_factory=list)
    sources: dict[str, float] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "score": round(float(self.score), 4),
            "rank": self.rank,
            "selected": self.selected,
            "evidence": [e.to_dict() for e in self.evidence],
            "sources": {k: round(float(v), 4) for k, v in self.sources.items()},
            "edits": [e.to_dict() for e in self.edits],
        }
        if self.note:
            d["note"] = self.note
        return d


@dataclass(slots=True)
class Exclusion:
    """Something found in the note but deliberately not suggested, and why."""

    text: str
    start: int
    end: int
    reason: str
    codes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "reason": self.reason,
            "codes": list(self.codes),
        }


@dataclass(slots=True)
class SuggestionResult:
    """Everything the tool says about one note; ``to_dict`` is the shared JSON schema."""

    id: str | None
    codesets: dict[str, str]
    model: dict[str, str]
    suggestions: list[Suggestion] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schema": SCHEMA_VERSION,
            "codesets": dict(self.codesets),
            "model": dict(self.model),
            "context": dict(self.context),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "excluded": [x.to_dict() for x in self.excluded],
            "errors": list(self.errors),
        }


@dataclass(slots=True)
class Decision:
    """A coder's action on a suggestion in the review UI, as stored in the audit log."""

    action: str
    code: str | None
    system: str | None
    before: Any = None
    after: Any = None
    reviewer: str = ""


_REQUIRED_TOP = {
    "id": (str, type(None)),
    "codesets": dict,
    "model": dict,
    "suggestions": list,
    "excluded": list,
    "errors": list,
}
_REQUIRED_SUGGESTION = {
    "code": str,
    "system": str,
    "description": str,
    "score": (int, float),
    "rank": int,
    "selected": bool,
    "evidence": list,
    "sources": dict,
    "edits": list,
}


def validate_result_dict(d: dict[str, Any]) -> list[str]:
    """Return the ways ``d`` departs from the output schema (empty when it conforms)."""
    problems: list[str] = []
    for key, typ in _REQUIRED_TOP.items():
        if key not in d:
            problems.append(f"missing key {key!r}")
        elif not isinstance(d[key], typ):
            problems.append(f"{key!r} has type {type(d[key]).__name__}")
    for i, s in enumerate(d.get("suggestions") or []):
        for key, typ in _REQUIRED_SUGGESTION.items():
            if key not in s:
                problems.append(f"suggestions[{i}] missing {key!r}")
            elif not isinstance(s[key], typ):
                problems.append(f"suggestions[{i}].{key} has type {type(s[key]).__name__}")
        if s.get("system") not in SYSTEMS:
            problems.append(f"suggestions[{i}].system {s.get('system')!r} is not one of {SYSTEMS}")
        for j, e in enumerate(s.get("evidence") or []):
            if not {"start", "end", "text"} <= set(e):
                problems.append(f"suggestions[{i}].evidence[{j}] lacks start/end/text")
    for i, err in enumerate(d.get("errors") or []):
        if not isinstance(err, dict) or "message" not in err:
            problems.append(f"errors[{i}] must be an object with a 'message'")
    return problems
