"""Sequencing edits: what must be listed first, and the second code an instruction asks for.

ICD-10-CM Official Guidelines I.A.13: "code first" and "use additional code" notes, and
manifestation codes ("in diseases classified elsewhere") never listed first. I.C.20:
external-cause codes are never the first-listed diagnosis.
"""

from __future__ import annotations

from codesuggest.rules.run import Run, guide


def check_external_cause_first(run: Run) -> None:
    if not run.dx:
        return
    first = run.dx[0].code
    if run.dx[0].info is not None and "V00" <= first[:3] <= "Y99":
        rest = [c for c in run.dx_codes[1:] if not ("V00" <= c[:3] <= "Y99")]
        run.add(
            "external-cause-first-listed",
            "error",
            [first],
            f"{first} is an external-cause code, which is never the principal or first-listed "
            "diagnosis: list the injury or condition it explains first.",
            guide("I.C.20"),
            [*rest[:1], first] if rest else [],
        )


def check_sequencing(run: Run) -> None:
    codes = run.known_dx()
    position = {c: i for i, c in enumerate(codes)}
    doc = sorted(c for c in run.ctx.documented_codes if c in run.icd and c not in position)
    ordered: set[tuple[str, str]] = set()

    def order(first: str, then: str, note: str, source: str) -> None:
        if run.flagged(then, ["manifestation-first-listed"]):
            return  # the manifestation error already says what goes first
        if position[first] > position[then] and (first, then) not in ordered:
            ordered.add((first, then))
            run.add(
                "code-first",
                "info",
                [first, then],
                f"List {first} before {then}: {note}.",
                source,
                [first, then],
            )

    if codes and codes[0] == run.dx[0].code and run.tabular.is_manifestation(codes[0]):
        _manifestation_first(run, codes, doc)

    for x in codes:
        for item in run.tabular.instructions(x, "code_first"):
            listed = [c for c in codes if c != x and item.matches(c)]
            for y in listed:
                order(y, x, f"{x} has a 'code first' note: {item.text}", guide("I.A.13"))
        firsts = run.tabular.instructions(x, "code_first")
        if firsts and not any(i.matches(c) for i in firsts for c in codes if c != x):
            supported = [c for c in doc if any(i.matches(c) for i in firsts)]
            if supported:
                run.add(
                    "code-first",
                    "info",
                    [x],
                    f"{x} has a 'code first' note and the note documents {supported[0]}: "
                    f"report {supported[0]} before {x}.",
                    guide("I.A.13"),
                    [supported[0], x],
                )
        for item in run.tabular.instructions(x, "use_additional_code"):
            listed = [c for c in codes if c != x and item.matches(c)]
            # A chapter-wide "use additional code" (tobacco exposure...) asks for a code, not
            # an order; a category's note (E86: "code(s) for associated ... E87.-") orders.
            for y in listed if item.local else ():
                order(x, y, f"{x} has a 'use additional code' note: {item.text}", guide("I.A.13"))
            if listed:
                continue
            supported = [c for c in doc if item.matches(c)]
            if supported:
                run.add(
                    "use-additional-code",
                    "info",
                    [x],
                    f"{x} has a 'use additional code' note: {item.text}. The note documents "
                    f"{supported[0]}; add it after {x}.",
                    guide("I.A.13"),
                    [x, supported[0]],
                )
            elif not item.optional and item.declared_on == x:
                run.add(
                    "use-additional-code",
                    "info",
                    [x],
                    f"{x} has a 'use additional code' note: {item.text}. Add that code when the "
                    "documentation supports it.",
                    guide("I.A.13"),
                )


def _manifestation_first(run: Run, codes: list[str], doc: list[str]) -> None:
    first = codes[0]
    firsts = run.tabular.instructions(first, "code_first")
    underlying = [c for c in codes[1:] if any(i.matches(c) for i in firsts)]
    underlying = underlying or [c for c in doc if any(i.matches(c) for i in firsts)]
    if underlying:
        fix = [underlying[0], first]
        hint = f" List {underlying[0]} first."
    else:
        fix = []
        hint = " List the underlying condition first."
    what = ""
    if firsts:
        leads = " ".join(dict.fromkeys(i.lead for i in firsts[:4] if i.lead))
        what = f": code first {leads} {'; '.join(i.line for i in firsts[:4])}".replace("  ", " ")
    run.add(
        "manifestation-first-listed",
        "error",
        [first],
        f"{run.describe(first)} is a manifestation code, never the principal or first-listed "
        f"diagnosis{what}.{hint}",
        guide("I.A.13"),
        fix,
    )
