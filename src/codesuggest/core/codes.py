"""Code spellings: the one place that normalises, recognises and compares code strings."""

from __future__ import annotations

import re
from collections.abc import Callable

_ICD_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$", re.IGNORECASE)


_CPT_CODE = re.compile(r"^([0-9]{4}[0-9AFTMU]|[A-V][0-9]{4})$", re.IGNORECASE)


_ICD_REF = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"


_CODE_REF = re.compile(rf"\b({_ICD_REF})(?:\s*-\s*({_ICD_REF})|\.?-)?")


# A procedure line as coders write it: "99213-25", "20610-RT-59", "J3301*4", "97110 x3".
_CLAIM_CODE = re.compile(
    r"^\s*([0-9]{4}[0-9AFTMU]|[A-V][0-9]{4})((?:\s*-\s*[0-9A-Z]{2})*)\s*(?:[*x×]\s*([0-9]{1,4}))?\s*$",
    re.IGNORECASE,
)
_MODIFIER = re.compile(r"^[0-9A-Z]{2}$")


def split_claim_code(text: str) -> tuple[str, tuple[str, ...], int | None] | None:
    """``"99213-25"`` -> ``("99213", ("25",), None)``; ``"J3301*4"`` -> ``("J3301", (), 4)``.

    None when ``text`` is not a procedure code with optional modifiers and units.
    """
    m = _CLAIM_CODE.match(text)
    if m is None:
        return None
    modifiers = tuple(x.strip().upper() for x in m.group(2).split("-") if x.strip())
    return m.group(1).upper(), modifiers, int(m.group(3)) if m.group(3) else None


def parse_modifiers(text: str) -> tuple[tuple[str, ...], int | None]:
    """Modifiers and units as a coder types them for a line: ``"25"``, ``"RT 59"``,
    ``"-RT-LT *2"``, ``"*3"``.

    Raises:
        ValueError: a part is neither a two-character modifier nor ``*units``.
    """
    units = None
    mods: list[str] = []
    for part in re.split(r"[\s,;-]+", text.strip().upper()):
        if not part:
            continue
        if part[1:].isdigit() and (part[0] in "*×" or (part[0] == "X" and len(part) > 2)):
            units = int(part[1:])
        elif _MODIFIER.match(part):
            if part not in mods:
                mods.append(part)
        else:
            raise ValueError(
                f"{part!r} is not a modifier (two letters or digits, e.g. 25, RT, 59) "
                "or units (*2)."
            )
    if units is not None and units < 1:
        raise ValueError("Units must be 1 or more.")
    return tuple(mods), units


def normalize_icd(code: str) -> str:
    """Canonical ICD-10-CM spelling: uppercase, dot after the third character."""
    c = code.strip().upper().replace(" ", "")
    if "-" in c or c.isdigit():  # a block (E08-E13) or a chapter number
        return c
    if "." not in c and len(c) > 3:
        c = c[:3] + "." + c[3:]
    return c.rstrip(".")


# Codes that describe the past on purpose: family and personal history (Z80-Z87), status
# (Z88-Z99: an absent organ, a device, an allergy) and I25.2 old myocardial infarction. A
# mention documented only as history still names one of these, and needs no reminder to check
# that the condition is current.
HISTORY_CODE_PREFIXES = ("Z8", "Z9", "I25.2")


def is_history_code(code: str) -> bool:
    """Whether ``code`` (canonical spelling) is a history or status code."""
    return code.startswith(HISTORY_CODE_PREFIXES)


def looks_like_icd(code: str) -> bool:
    return bool(_ICD_CODE.match(code.strip()))


def looks_like_cpt(code: str) -> bool:
    return bool(_CPT_CODE.match(code.strip()))


def parse_code_refs(text: str) -> list[str]:
    """Codes and ranges named in a tabular note: ``'type 1 diabetes (E10.-)'`` -> ``['E10']``.

    A range ``E00-E07`` is returned as ``'E00-E07'``.
    """
    refs: list[str] = []
    for m in _CODE_REF.finditer(text):
        first, last = m.group(1).upper(), m.group(2)
        refs.append(f"{first}-{last.upper()}" if last else first)
    return refs


def code_prefixes(code: str) -> list[str]:
    """``code`` and its shorter forms down to the category: ``R51.9`` -> ``R51.9``, ``R51``."""
    flat = code.upper().replace(".", "")
    out = []
    for n in range(len(flat), 2, -1):
        head = flat[:n]
        out.append(head if n == 3 else f"{head[:3]}.{head[3:]}")
    return out


MODES = ("exact", "prefix", "category")


def _norm(code: str) -> str:
    c = code.strip().upper().replace(".", "")
    return c.rstrip("X") if len(c) > 3 else c


def matcher(mode: str) -> Callable[[str, str], bool]:
    if mode == "exact":
        return lambda p, g: _norm(p) == _norm(g)
    if mode == "prefix":
        return lambda p, g: _norm(p).startswith(_norm(g)) or _norm(g).startswith(_norm(p))
    if mode == "category":
        return lambda p, g: _norm(p)[:3] == _norm(g)[:3]
    raise ValueError(f"unknown matching mode {mode!r}; use one of {MODES}")


def drug_code_kind(code: str) -> str:
    """The kind of a drug or chemical code: "poisoning", "adverse effect", "underdosing"
    (T36-T65), or "" for any other code. The last character before the placeholder X and the
    7th character says which (T39.1X2A: 2, intentional poisoning; T58.91XA: 1; T38.0X5A: 5)."""
    compact = code.replace(".", "").upper()
    if not "T36" <= compact[:3] <= "T65" or len(compact) < 5:
        return ""
    body = (compact[:6] if len(compact) == 7 else compact).rstrip("X")
    if len(body) < 5:
        return ""
    return _DRUG_INTENT.get(body[-1], "")


_DRUG_INTENT = {
    "1": "poisoning",
    "2": "poisoning",
    "3": "poisoning",
    "4": "poisoning",
    "5": "adverse effect",
    "6": "underdosing",
}
