"""Checks a result dict against the output schema shared by every interface."""

from __future__ import annotations

from typing import Any

from codesuggest.core.records import SYSTEMS

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
