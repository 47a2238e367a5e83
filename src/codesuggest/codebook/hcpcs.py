"""HCPCS Level II from the CMS fixed-width alpha-numeric file."""

from __future__ import annotations

import os
from pathlib import Path

from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.cpt import _cpt_rows, _procedure_set, _read_text
from codesuggest.core.codes import looks_like_cpt
from codesuggest.core.errors import InputError
from codesuggest.core.records import HCPCS, CodeSetVersion


def load_hcpcs_file(path: str | os.PathLike[str], *, version: str) -> CodeSet:
    """The CMS HCPCS Level II file.

    Accepted layouts: the fixed-width ``HCPC<year>_<month>_ANWEB.txt`` (code in columns 1-5,
    record id in column 11 where 3 starts a code and 4 continues its long description, long
    description in columns 12-91), or a CSV export with ``HCPC`` and ``LONG DESCRIPTION``
    columns.
    """
    p = Path(path)
    text = _read_text(p, "HCPCS file")
    first = text.lstrip()[:200].upper()
    if "HCPC" in first and ("," in first or "\t" in first):
        return _procedure_set(
            CodeSetVersion(HCPCS, version, p.name), _cpt_rows(text, str(p), HCPCS)
        )
    descriptions: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) < 12:
            raise InputError(f"{p} line {n}: too short for the HCPCS fixed-width layout.")
        code, rec = line[:5].strip().upper(), line[10]
        if rec not in "3478":
            raise InputError(f"{p} line {n}: record id {rec!r} is not 3, 4, 7 or 8.")
        if rec in "78":
            continue  # modifiers, not codes
        if not looks_like_cpt(code):
            raise InputError(f"{p} line {n}: {code!r} is not a HCPCS code.")
        part = line[11:91].strip()
        descriptions[code] = (
            f"{descriptions[code]} {part}" if rec == "4" and code in descriptions else part
        )
    if not descriptions:
        raise InputError(f"{p} has no HCPCS codes.")
    rows = [
        CodeInfo(code=c, system=HCPCS, description=d, billable=True, kind="procedure")
        for c, d in descriptions.items()
    ]
    return _procedure_set(CodeSetVersion(HCPCS, version, p.name), rows)
