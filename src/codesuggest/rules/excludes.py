"""Excludes1 and Excludes2 edits on pairs of listed codes.

ICD-10-CM Official Guidelines I.A.12.a (Excludes1: never coded together, unless unrelated)
and I.A.12.b (Excludes2: both may be coded). The notes come from ``codebook.tabular``.
"""

from __future__ import annotations

from codesuggest.codebook.tabular import NoteItem
from codesuggest.rules.run import Run, guide

# Edits of the combinations family that already say what to report instead of a pair.
_COMBINATION_RULES = {"combination-code", "redundant-code", "code-mismatch"}


def check_excludes(run: Run) -> None:
    """An error per Excludes1 pair; one note per Excludes2 note naming every code it concerns.

    Runs after the combination edits: a pair one of them covers gets no Excludes edit.
    """
    codes = run.known_dx()
    also: dict[tuple[str, NoteItem], list[str]] = {}
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            if a == b or _combined(run, a, b):
                continue
            holder, item = a, _excluded(run, a, b, "excludes1")
            if item is None:
                holder, item = b, _excluded(run, b, a, "excludes1")
            if item is not None:
                _excludes1(run, a, b, holder, item)
                continue
            for holder, other in ((a, b), (b, a)):
                item = _excluded(run, holder, other, "excludes2")
                if item is not None:
                    also.setdefault((holder, item), []).append(other)
                    break
    for (holder, item), others in also.items():
        run.add(
            "excludes2",
            "info",
            [holder, *others],
            f"{holder} has an Excludes2 note '{item.text}': {', '.join(others)} "
            f"{'is' if len(others) == 1 else 'are'} not part of {holder}, so both may be "
            "reported when the patient has both conditions.",
            guide("I.A.12.b"),
        )


def _combined(run: Run, a: str, b: str) -> bool:
    return any(e.rule in _COMBINATION_RULES and a in e.codes and b in e.codes for e in run.edits)


def _excluded(run: Run, holder: str, other: str, name: str) -> NoteItem | None:
    """The first ``name`` note of ``holder`` that names ``other``."""
    return next((i for i in run.tabular.excludes(holder, name) if i.matches(other)), None)


def _excludes1(run: Run, a: str, b: str, holder: str, item: NoteItem) -> None:
    """The error for a pair; the fix keeps the one code the note documents, if just one."""
    supported = [c for c in (a, b) if c in run.ctx.documented_codes]
    if len(supported) == 1:
        keep = supported[0]
        drop = b if keep == a else a
        advice = f" The note supports {keep}; remove {drop}."
        fix = [keep]
    else:
        advice = (
            " Keep the one the documentation supports; both stand only when the two "
            "conditions are unrelated (query the provider if unsure)."
        )
        fix = []
    run.add(
        "excludes1",
        "error",
        [a, b],
        f"{a} and {b} are not coded together: {holder} carries an Excludes1 note "
        f"'{item.text}' (at {item.declared_on}).{advice}",
        guide("I.A.12.a"),
        fix,
    )
