"""Excludes1 and Excludes2 edits on pairs of listed codes.

ICD-10-CM Official Guidelines I.A.12.a (Excludes1: never coded together, unless unrelated)
and I.A.12.b (Excludes2: both may be coded). The notes come from ``codebook.tabular``.
"""

from __future__ import annotations

from codesuggest.codebook.tabular import NoteItem
from codesuggest.rules.run import Run, guide


def check_excludes(run: Run) -> None:
    codes = run.known_dx()
    doc = run.ctx.documented_codes
    also: dict[tuple[str, NoteItem], list[str]] = {}
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            if a == b or any(
                e.rule in _COMBINATION_RULES and a in e.codes and b in e.codes for e in run.edits
            ):
                continue  # the combination edit already says what to report instead
            holder, item = a, _excluded(run, a, b, "excludes1")
            if item is None:
                holder, item = b, _excluded(run, b, a, "excludes1")
            if item is not None:
                supported = [c for c in (a, b) if c in doc]
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
                continue
            for holder, other in ((a, b), (b, a)):
                item = _excluded(run, holder, other, "excludes2")
                if item is not None:
                    also.setdefault((holder, item), []).append(other)
                    break
    # One note per Excludes2 note, naming every listed code it concerns.
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


_COMBINATION_RULES = {"combination-code", "redundant-code", "code-mismatch"}


def _excluded(run: Run, holder: str, other: str, name: str) -> NoteItem | None:
    return next((i for i in run.tabular.excludes(holder, name) if i.matches(other)), None)
