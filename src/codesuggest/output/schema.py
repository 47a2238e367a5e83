"""Every format of the output schema, made from the one field table ``core.fields.RESULT``.

``json_schema()``, ``arrow_schema()`` (Parquet), ``RESULT_DDL`` (Spark), ``CSV_COLUMNS`` with
``result_csv_rows`` (the batch CSV, a flat view: one row per suggestion) and the strict
``validate_result_dict`` shared by the CLI, batch files, Spark and the review screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from codesuggest.core.fields import (
    BOOL,
    FLOAT,
    INT,
    RESULT,
    STRING,
    Field,
    FieldType,
    ListOf,
    MapOf,
    Struct,
)

__all__ = [
    "CSV_COLUMNS",
    "CSV_VIEW",
    "EXTENSIONS",
    "EXTENSION_KEYS",
    "RESULT",
    "RESULT_DDL",
    "arrow_schema",
    "field_at",
    "json_schema",
    "result_csv_rows",
    "spark_ddl",
    "validate_result_dict",
]

# --------------------------------------------------------------------------- extensions

_ANY_OBJECT = "object"  # any JSON object; only the extensions below use it

SECTION = Struct(
    (
        Field("name", STRING, "Normalised section name (assessment_and_plan)."),
        Field("title", STRING, "The heading as written."),
        Field("start", INT, "Offset of the heading in the note.", minimum=0),
        Field("end", INT, "Offset where the next section begins.", minimum=0),
    )
)

EXTENSIONS = Struct(
    (
        Field("text", STRING, "The note, carried in a batch line opened in the review screen."),
        Field("sections", ListOf(SECTION), "The note's sections, labelled by the review screen."),
        Field("review", _ANY_OBJECT, "The review of an exported record (store.export)."),
    )
)
"""Top-level keys that ``suggest`` never emits but documented readers of a result accept."""

EXTENSION_KEYS = tuple(f.name for f in EXTENSIONS.fields)

# --------------------------------------------------------------------------- JSON Schema

_JSON_TYPES = {STRING: "string", INT: "integer", FLOAT: "number", BOOL: "boolean"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``SuggestionResult.to_dict()``; no other keys allowed."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "codesuggest suggestion result",
        "description": "What codesuggest says about one note (docs/interfaces.md).",
        **_json_type(RESULT),
    }


def _json_type(kind: FieldType) -> dict[str, Any]:
    if isinstance(kind, Struct):
        return {
            "type": "object",
            "properties": {f.name: _json_field(f) for f in kind.fields},
            "required": [f.name for f in kind.fields if not f.optional],
            "additionalProperties": False,
        }
    if isinstance(kind, ListOf):
        return {"type": "array", "items": _json_type(kind.item)}
    if isinstance(kind, MapOf):
        return {"type": "object", "additionalProperties": _json_type(kind.value)}
    return {"type": _JSON_TYPES[kind]}


def _json_field(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": f.description, **_json_type(f.type)}
    values = schema
    while values.get("type") in ("array", "object") and "properties" not in values:
        values = values.get("items") or values["additionalProperties"]
    bounds = {"minimum": f.minimum, "maximum": f.maximum}
    values.update({k: v for k, v in bounds.items() if v is not None})
    allowed = []
    if f.enum:
        allowed.append({"enum": [*f.enum, None] if f.nullable else list(f.enum)})
    if f.pattern:
        allowed.append({"pattern": f"^(?:{f.pattern})$"})
    if len(allowed) == 1:
        schema.update(allowed[0])
    elif allowed:
        schema["anyOf"] = allowed
    if f.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


# --------------------------------------------------------------------------- Arrow and Spark


def arrow_schema() -> Any:
    """The Parquet layout of a result: the table as nested structs, lists and maps.

    Every column is nullable, whatever the table says of JSON: an optional key left out of the
    JSON is a null in a column, and Parquet files written before stay readable as the same
    schema.
    """
    import pyarrow as pa

    return pa.schema([(f.name, _arrow_type(f.type, pa)) for f in RESULT.fields])


def _arrow_type(kind: FieldType, pa: Any) -> Any:
    if isinstance(kind, Struct):
        return pa.struct([(f.name, _arrow_type(f.type, pa)) for f in kind.fields])
    if isinstance(kind, ListOf):
        return pa.list_(_arrow_type(kind.item, pa))
    if isinstance(kind, MapOf):
        return pa.map_(pa.string(), _arrow_type(kind.value, pa))
    return {STRING: pa.string(), INT: pa.int32(), FLOAT: pa.float64(), BOOL: pa.bool_()}[kind]


_SPARK_TYPES = {STRING: "STRING", INT: "INT", FLOAT: "DOUBLE", BOOL: "BOOLEAN"}


def spark_ddl() -> str:
    """``arrow_schema()`` in Spark's DDL; names backquoted because ``end`` is a keyword."""
    return ", ".join(f"`{f.name}` {_spark_type(f.type)}" for f in RESULT.fields)


def _spark_type(kind: FieldType) -> str:
    if isinstance(kind, Struct):
        return (
            "STRUCT<" + ", ".join(f"`{f.name}`: {_spark_type(f.type)}" for f in kind.fields) + ">"
        )
    if isinstance(kind, ListOf):
        return f"ARRAY<{_spark_type(kind.item)}>"
    if isinstance(kind, MapOf):
        return f"MAP<STRING, {_spark_type(kind.value)}>"
    return _SPARK_TYPES[kind]


RESULT_DDL = spark_ddl()

# --------------------------------------------------------------------------- batch CSV


@dataclass(frozen=True, slots=True)
class CsvColumn:
    """A column of the batch CSV: made from the field at ``source`` (a path in the table).

    ``value(record, suggestion)`` is the cell; ``suggestion`` is None on the one row of a note
    without suggestions, where the columns of a suggestion are empty.
    """

    name: str
    source: str
    value: Callable[[Mapping[str, Any], Mapping[str, Any] | None], str]


def _of_suggestion(
    cell: Callable[[Mapping[str, Any], Mapping[str, Any]], str],
) -> Callable[[Mapping[str, Any], Mapping[str, Any] | None], str]:
    return lambda record, s: "" if s is None else cell(record, s)


CSV_VIEW: tuple[CsvColumn, ...] = (
    CsvColumn("id", "id", lambda r, s: str(r.get("id") or "")),
    CsvColumn("n_suggestions", "suggestions", lambda r, s: str(len(r.get("suggestions") or []))),
    CsvColumn("rank", "suggestions.rank", _of_suggestion(lambda r, s: str(s["rank"]))),
    CsvColumn("code", "suggestions.code", _of_suggestion(lambda r, s: s["code"])),
    CsvColumn("system", "suggestions.system", _of_suggestion(lambda r, s: s["system"])),
    CsvColumn(
        "codeset",
        "codesets",
        _of_suggestion(lambda r, s: str((r.get("codesets") or {}).get(s["system"], ""))),
    ),
    CsvColumn(
        "description", "suggestions.description", _of_suggestion(lambda r, s: s["description"])
    ),
    CsvColumn("score", "suggestions.score", _of_suggestion(lambda r, s: repr(float(s["score"])))),
    CsvColumn(
        "selected",
        "suggestions.selected",
        _of_suggestion(lambda r, s: "true" if s["selected"] else "false"),
    ),
    CsvColumn(
        "modifiers",
        "suggestions.modifiers",
        _of_suggestion(lambda r, s: ";".join(m["code"] for m in s.get("modifiers") or [])),
    ),
    CsvColumn("units", "suggestions.units", _of_suggestion(lambda r, s: str(s.get("units") or ""))),
    CsvColumn(
        "pointers",
        "suggestions.pointers",
        _of_suggestion(lambda r, s: ";".join(s.get("pointers") or [])),
    ),
    CsvColumn(
        "evidence",
        "suggestions.evidence",
        _of_suggestion(
            lambda r, s: ";".join(f"{e['start']}-{e['end']}" for e in s.get("evidence") or [])
        ),
    ),
    CsvColumn(
        "edits",
        "suggestions.edits",
        _of_suggestion(
            lambda r, s: ";".join(f"{e['rule']}:{e['severity']}" for e in s.get("edits") or [])
        ),
    ),
    CsvColumn(
        "error_codes",
        "errors.code",
        lambda r, s: ";".join(str(e.get("code", "")) for e in r.get("errors") or []),
    ),
    CsvColumn(
        "error_messages",
        "errors.message",
        lambda r, s: " | ".join(
            str(e.get("message", "")).replace("\n", " ") for e in r.get("errors") or []
        ),
    ),
)
"""The batch CSV as a view of the table: one row per suggestion, one for a note without any."""

CSV_COLUMNS = tuple(c.name for c in CSV_VIEW)


def result_csv_rows(record: Mapping[str, Any]) -> list[list[str]]:
    """One CSV row per suggestion (one row when there is none), in ``CSV_COLUMNS`` order."""
    return [[c.value(record, s) for c in CSV_VIEW] for s in record.get("suggestions") or [None]]


def field_at(path: str) -> Field:
    """The field of ``RESULT`` at a dotted path such as ``suggestions.evidence.start``."""
    kind: FieldType = RESULT
    found: Field | None = None
    for name in path.split("."):
        while isinstance(kind, ListOf):
            kind = kind.item
        if not isinstance(kind, Struct):
            raise KeyError(path)
        found = next((f for f in kind.fields if f.name == name), None)
        if found is None:
            raise KeyError(path)
        kind = found.type
    assert found is not None
    return found


# --------------------------------------------------------------------------- validation

_KIND_NAMES = {STRING: "a string", INT: "an integer", FLOAT: "a number", BOOL: "a boolean"}


def validate_result_dict(
    d: Any,
    *,
    note: str | None = None,
    extensions: Collection[str] = EXTENSION_KEYS,
) -> list[str]:
    """Return the ways ``d`` departs from the output schema (empty when it conforms).

    Strict: every key of the table must be there (``note`` of a suggestion may be left out),
    no other key at any level, values of the right type and within their allowed values, edit
    rules the rules engine has, ranks 1, 2, 3... in order and spans whose ``text`` is as long
    as ``end - start``.

    Args:
        d: a decoded result, as ``SuggestionResult.to_dict()`` makes it.
        note: the note the result was made from; every evidence and exclusion span must lie
            in it and quote it exactly.
        extensions: top-level keys of ``EXTENSIONS`` to accept besides the table's (by
            default all: ``text``, ``sections``, ``review``). ``()`` for exactly what
            ``Suggester.suggest`` emits.
    """
    problems: list[str] = []
    if not isinstance(d, Mapping):
        return [f"the result is {type(d).__name__}, not an object"]
    known = {f.name for f in RESULT.fields}
    extra = {k: v for k, v in d.items() if k not in known}
    _check_struct({k: v for k, v in d.items() if k in known}, RESULT, "", problems)
    for key, value in extra.items():
        if key in extensions and key in EXTENSION_KEYS:
            _check_value(value, EXTENSIONS.field(key).type, key, problems)
        else:
            problems.append(f"unknown key {key!r}")
    _check_ranks(d, problems)
    for path, span in _spans(d):
        _check_span(span, path, note, problems)
    return problems


def _check_struct(value: Mapping[str, Any], struct: Struct, path: str, out: list[str]) -> None:
    names = {f.name for f in struct.fields}
    where = f"{path}: " if path else ""
    for f in struct.fields:
        if f.name not in value:
            if not f.optional:
                out.append(f"{where}missing key {f.name!r}")
            continue
        _check_field(value[f.name], f, f"{path}.{f.name}" if path else f.name, out)
    out.extend(f"{where}unknown key {k!r}" for k in value if k not in names)


def _check_field(value: Any, f: Field, path: str, out: list[str]) -> None:
    if value is None:
        if not f.nullable:
            out.append(f"{path} is null")
        return
    if not _check_value(value, f.type, path, out):
        return
    if (f.enum or f.pattern) and not (
        value in f.enum or (f.pattern and re.fullmatch(f.pattern, value))
    ):
        if len(f.enum) > 8 or f.pattern:
            out.append(f"{path} {value!r} is not an allowed value (see core.fields)")
        else:
            out.append(f"{path} {value!r} is not one of {', '.join(f.enum)}")
    for n in _numbers(value):
        if f.minimum is not None and n < f.minimum:
            out.append(f"{path} {n} is below {f.minimum}")
        if f.maximum is not None and n > f.maximum:
            out.append(f"{path} {n} is above {f.maximum}")


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if _is_scalar(value, FLOAT) else []


def _check_value(value: Any, kind: FieldType, path: str, out: list[str]) -> bool:
    """Check ``value`` has type ``kind`` (recursively); False if its own type is wrong."""
    if isinstance(kind, Struct) or kind == _ANY_OBJECT:
        if not isinstance(value, Mapping):
            out.append(f"{path} is {type(value).__name__}, not an object")
            return False
        if isinstance(kind, Struct):
            _check_struct(value, kind, path, out)
        return True
    if isinstance(kind, ListOf):
        if not isinstance(value, list):
            out.append(f"{path} is {type(value).__name__}, not a list")
            return False
        for i, item in enumerate(value):
            _check_value(item, kind.item, f"{path}[{i}]", out)
        return True
    if isinstance(kind, MapOf):
        if not isinstance(value, Mapping):
            out.append(f"{path} is {type(value).__name__}, not an object")
            return False
        for key, item in value.items():
            _check_value(item, kind.value, f"{path}[{key!r}]", out)
        return True
    if not _is_scalar(value, kind):
        out.append(f"{path} is {type(value).__name__}, not {_KIND_NAMES[kind]}")
        return False
    return True


def _is_scalar(value: Any, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == INT:
        return isinstance(value, int)
    if kind == FLOAT:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, str)


def _check_ranks(d: Mapping[str, Any], out: list[str]) -> None:
    suggestions = d.get("suggestions")
    if not isinstance(suggestions, list):
        return
    for i, s in enumerate(suggestions, start=1):
        if isinstance(s, Mapping) and _is_scalar(s.get("rank"), INT) and s["rank"] != i:
            out.append(f"suggestions[{i - 1}].rank is {s['rank']}, not {i} (its place)")


def _spans(d: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The evidence and exclusion spans of ``d`` that have integer offsets and a text."""
    spans: list[tuple[str, Any]] = []
    for i, s in enumerate(_list(d.get("suggestions"))):
        if isinstance(s, Mapping):
            spans.extend(
                (f"suggestions[{i}].evidence[{j}]", e)
                for j, e in enumerate(_list(s.get("evidence")))
            )
    spans.extend((f"excluded[{i}]", x) for i, x in enumerate(_list(d.get("excluded"))))
    return [
        (path, span)
        for path, span in spans
        if isinstance(span, Mapping)
        and _is_scalar(span.get("start"), INT)
        and _is_scalar(span.get("end"), INT)
        and isinstance(span.get("text"), str)
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_span(span: Mapping[str, Any], path: str, note: str | None, out: list[str]) -> None:
    start, end, text = span["start"], span["end"], span["text"]
    if end < start:
        out.append(f"{path} ends at {end}, before its start {start}")
    elif note is not None:
        if not 0 <= start <= end <= len(note):
            out.append(f"{path} [{start}, {end}) is outside the note ({len(note)} characters)")
        elif note[start:end] != text:
            out.append(f"{path}.text {text!r} is not the note's {note[start:end]!r}")
    elif len(text) != end - start:
        out.append(f"{path}.text has {len(text)} characters, not end - start = {end - start}")
