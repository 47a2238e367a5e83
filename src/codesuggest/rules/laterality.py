"""Laterality edits on diagnosis codes: the side of a code against the sides the note documents.

ICD-10-CM Official Guidelines I.B.13: code the documented side; a bilateral code exists for
some conditions that affect both sides. The side siblings come from ``codebook.tabular``.
"""

from __future__ import annotations

from codesuggest.codebook.tabular import SIDES
from codesuggest.rules.run import Run, guide


def check_laterality(run: Run) -> None:
    documented = run.ctx.lateralities
    listed = set(run.dx_codes)
    paired: set[frozenset[str]] = set()
    for code in run.known_dx():
        own, sides = run.tabular.sides(code)
        if not sides:
            continue
        if own == "right" and sides.get("left") in listed and "bilateral" in sides:
            pair = frozenset((code, sides["left"]))
            if pair not in paired:
                paired.add(pair)
                run.add(
                    "laterality-bilateral",
                    "warning",
                    [code, sides["left"]],
                    f"{code} and {sides['left']} code the right and left sides of one condition; "
                    f"the classification has a bilateral code: {sides['bilateral']}.",
                    guide("I.B.13"),
                    [sides["bilateral"]],
                )
        if not documented:
            continue
        both = "bilateral" in documented or {"right", "left"} <= documented
        if own == "unspecified":
            if "bilateral" in documented:
                want = [sides["bilateral"]] if "bilateral" in sides else []
                want = want or [sides[s] for s in ("right", "left") if s in sides]
            else:
                want = [sides[s] for s in ("right", "left") if s in documented and s in sides]
            if not want:
                continue
            if both and "bilateral" not in documented:
                run.add(
                    "laterality-conflict",
                    "warning",
                    [code],
                    f"{run.describe(code)} does not give the side, and the note documents both "
                    "right and left: code the side each condition affects (the bilateral code "
                    "when one condition affects both sides).",
                    guide("I.B.13"),
                    list(
                        dict.fromkeys(
                            [*([sides["bilateral"]] if "bilateral" in sides else []), *want]
                        )
                    ),
                )
            else:
                run.add(
                    "laterality-unspecified",
                    "warning",
                    [code],
                    f"{run.describe(code)} leaves the side unspecified, but the note documents "
                    f"{' and '.join(sorted(documented))}: use {' + '.join(want)}.",
                    guide("I.B.13"),
                    want,
                )
        elif own in SIDES and own not in documented and not {"right", "left"} <= documented:
            want = [sides[s] for s in SIDES if s in documented and s in sides]
            if want:
                run.add(
                    "laterality-conflict",
                    "warning",
                    [code],
                    f"{run.describe(code)} is coded {own}, but the note documents "
                    f"{' and '.join(sorted(documented))}: check the side, then use {want[0]}.",
                    guide("I.B.13"),
                    want,
                )
