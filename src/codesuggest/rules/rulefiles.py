"""Reading the rule data files that ship in ``codesuggest/data`` (versioned JSON, ``format: 1``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from codesuggest.core.errors import ArtifactError

# The layout version the rule files are written in; a file of another layout is refused.
RULE_FILE_FORMAT = 1


def read_rule_file(name: str) -> dict[str, Any]:
    """The JSON rule file ``name`` of ``codesuggest/data``.

    Raises:
        ArtifactError: the file is missing, not JSON, or of another format (a broken install).
    """
    try:
        text = resources.files("codesuggest.data").joinpath(name).read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"The rule file codesuggest/data/{name} is missing or not JSON ({exc}); "
            "reinstall codesuggest."
        ) from exc
    if data.get("format") != RULE_FILE_FORMAT:
        raise ArtifactError(
            f"codesuggest/data/{name} has an unknown format; reinstall codesuggest."
        )
    return data
