"""The records that flow between stages, and the code-system, assertion and setting names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol

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
# The label of a term that is a whole problem statement of the assessment (terms.problems).
PROBLEM_LABEL = "problem"
# Sections where the provider states the diagnoses of the encounter (Guidelines IV.D, IV.J):
# the one list that terms (problem statements) and rank (features, pre-selection) read.
ASSESSMENT_SECTIONS = frozenset(
    {
        "assessment",
        "assessment_and_plan",
        "impression",
        "diagnoses",
        "diagnosis",
        "discharge_diagnoses",
        "preoperative_diagnosis",
        "postoperative_diagnosis",
        "final_diagnosis",
    }
)


SCHEMA_VERSION = "1.1"
# Versions a reader accepts: 1.1 added a procedure line's modifiers, units and diagnosis
# pointers, all optional, so a 1.0 result is still a valid result.
SCHEMA_VERSIONS: tuple[str, ...] = ("1.0", SCHEMA_VERSION)


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
        from codesuggest.core import fields  # the field table reads this module's names

        return fields.to_dict(self, fields.EVIDENCE)


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
        from codesuggest.core import fields

        return fields.to_dict(self, fields.EDIT)


@dataclass(slots=True)
class Candidate:
    """A (note, code) pair proposed by a candidate source, before ranking."""

    code: str
    system: str
    evidence: list[Evidence] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    sources: dict[str, float] = field(default_factory=dict)
    note: str = ""
    # The Alphabetic Index paths that reached this code (main term first), one per reading.
    index_paths: list[tuple[str, ...]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Modifier:
    """A CPT/HCPCS modifier on a procedure line (``25``, ``RT``, ``59``...) and why it applies."""

    code: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        from codesuggest.core import fields

        return fields.to_dict(self, fields.MODIFIER)


@dataclass(slots=True)
class Suggestion:
    """A ranked code suggestion with its evidence, score breakdown and rule findings.

    A procedure line (CPT or HCPCS) also carries its ``modifiers``, ``units`` and
    ``pointers``: the ICD-10-CM codes of the same result that support its medical necessity,
    in claim order. A diagnosis leaves them empty.
    """

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
    modifiers: list[Modifier] = field(default_factory=list)
    units: int | None = None
    pointers: list[str] = field(default_factory=list)

    @property
    def claim_code(self) -> str:
        """The line as a claim scrubber reads it: ``20610-RT``, ``J3301*4``, ``E11.9``."""
        text = "-".join([self.code, *(m.code for m in self.modifiers)])
        return f"{text}*{self.units}" if self.units and self.units > 1 else text

    def to_dict(self) -> dict[str, Any]:
        from codesuggest.core import fields

        return fields.to_dict(self, fields.SUGGESTION)


@dataclass(slots=True)
class Exclusion:
    """Something found in the note but deliberately not suggested, and why."""

    text: str
    start: int
    end: int
    reason: str
    codes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from codesuggest.core import fields

        return fields.to_dict(self, fields.EXCLUSION)


@dataclass(slots=True)
class SuggestionResult:
    """Everything the tool says about one note; ``to_dict`` is the shared JSON schema.

    Its fields, and those of the records inside it, are described in ``core.fields.RESULT``.
    """

    schema: ClassVar[str] = SCHEMA_VERSION
    id: str | None
    codesets: dict[str, str]
    model: dict[str, str]
    suggestions: list[Suggestion] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from codesuggest.core import fields

        return fields.to_dict(self, fields.RESULT)


@dataclass(slots=True)
class Decision:
    """A coder's action on a suggestion in the review UI, as stored in the audit log."""

    action: str
    code: str | None
    system: str | None
    before: Any = None
    after: Any = None
    reviewer: str = ""


class SuggesterLike(Protocol):
    """What a batch engine needs of a suggester (``pipeline.Suggester`` is one)."""

    @property
    def codesets(self) -> dict[str, str]: ...

    @property
    def model_info(self) -> dict[str, str]: ...

    def suggest(
        self,
        text: str | bytes,
        *,
        setting: str = "outpatient",
        age: int | None = None,
        sex: str | None = None,
        encounter_date: Any = None,
        id: str | None = None,
    ) -> SuggestionResult: ...


Loader = Callable[[str | None], SuggesterLike]
