"""Reading the rule data files that ship in ``codesuggest/data`` (versioned JSON, ``format: 1``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from codesuggest.core.errors import ArtifactError


def read_rule_file(name: str) -> dict[str, Any]:
    try:
        text = resources.files("codesuggest.data").joinpath(name).read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"The rule file codesuggest/data/{name} is missing or not JSON ({exc}); "
            "reinstall codesuggest."
        ) from exc
    if data.get("format") != 1:
        raise ArtifactError(
            f"codesuggest/data/{name} has an unknown format; reinstall codesuggest."
        )
    return data
