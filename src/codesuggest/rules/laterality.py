"""Laterality edits on diagnosis codes: the side of a code against the sides the note documents.

ICD-10-CM Official Guidelines I.B.13: code the documented side; a bilateral code exists for
some conditions that affect both sides. The side siblings come from ``codebook.tabular``.
"""

from __future__ import annotations

from codesuggest.codebook.tabular import SIDES
from codesuggest.rules.run import Run, guide

_SOURCE = guide("I.B.13")


def check_laterality(run: Run) -> None:
    """Right + left codes with a bilateral code, then each code's side against the note's."""
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
                    _SOURCE,
                    [sides["bilateral"]],
                )
        if not documented:
            continue
        if own == "unspecified":
            _unspecified_side(run, code, sides)
        elif own in SIDES and own not in documented and not {"right", "left"} <= documented:
            _other_side(run, code, own, sides)


def _unspecified_side(run: Run, code: str, sides: dict[str, str]) -> None:
    """An unspecified-side code: the documented side's code, or a conflict when both are."""
    documented = run.ctx.lateralities
    both = "bilateral" in documented or {"right", "left"} <= documented
    if "bilateral" in documented:
        want = [sides["bilateral"]] if "bilateral" in sides else []
        want = want or [sides[s] for s in ("right", "left") if s in sides]
    else:
        want = [sides[s] for s in ("right", "left") if s in documented and s in sides]
    if not want:
        return
    if both and "bilateral" not in documented:
        # Right and left both documented: two conditions, or one on both sides; the note does
        # not say which, so the coder decides.
        bilateral = [sides["bilateral"]] if "bilateral" in sides else []
        run.add(
            "laterality-conflict",
            "warning",
            [code],
            f"{run.describe(code)} does not give the side, and the note documents both "
            "right and left: code the side each condition affects (the bilateral code "
            "when one condition affects both sides).",
            _SOURCE,
            list(dict.fromkeys([*bilateral, *want])),
        )
    else:
        run.add(
            "laterality-unspecified",
            "warning",
            [code],
            f"{run.describe(code)} leaves the side unspecified, but the note documents "
            f"{' and '.join(sorted(documented))}: use {' + '.join(want)}.",
            _SOURCE,
            want,
        )


def _other_side(run: Run, code: str, own: str, sides: dict[str, str]) -> None:
    """A code of one side when the note documents another."""
    documented = run.ctx.lateralities
    want = [sides[s] for s in SIDES if s in documented and s in sides]
    if want:
        run.add(
            "laterality-conflict",
            "warning",
            [code],
            f"{run.describe(code)} is coded {own}, but the note documents "
            f"{' and '.join(sorted(documented))}: check the side, then use {want[0]}.",
            _SOURCE,
            want,
        )
