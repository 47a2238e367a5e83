"""Sequencing edits: what must be listed first, and the second code an instruction asks for.

ICD-10-CM Official Guidelines I.A.13: "code first" and "use additional code" notes, and
manifestation codes ("in diseases classified elsewhere") never listed first. I.C.20:
external-cause codes are never the first-listed diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codesuggest.codebook.tabular import Tabular
from codesuggest.core.codes import drug_code_kind
from codesuggest.core.records import ICD10CM, Suggestion
from codesuggest.rules.run import Run, guide

# Chapter 20, External causes of morbidity: the categories V00 to Y99.
_EXTERNAL_CAUSE = ("V00", "Y99")
# "Code first" lines quoted in a manifestation error; the long lists (D63.8, H42: six lines)
# would drown the message, and the first lines name the usual conditions.
_NOTE_LINES_SHOWN = 4
_SOURCE = guide("I.A.13")


def _external_cause(code: str) -> bool:
    lo, hi = _EXTERNAL_CAUSE
    return lo <= code[:3] <= hi


def check_external_cause_first(run: Run) -> None:
    """An external-cause code listed first; the fix lists the first other code before it."""
    if not run.dx:
        return
    first = run.dx[0].code
    if run.dx[0].info is not None and _external_cause(first):
        rest = [c for c in run.dx_codes[1:] if not _external_cause(c)]
        run.add(
            "external-cause-first-listed",
            "error",
            [first],
            f"{first} is an external-cause code, which is never the principal or first-listed "
            "diagnosis: list the injury or condition it explains first.",
            guide("I.C.20"),
            [*rest[:1], first] if rest else [],
        )


def check_drug_sequence(run: Run) -> None:
    """Poisoning first, adverse effect after its nature (guideline I.C.19.e.5): a poisoning
    code listed after another diagnosis, or an adverse-effect code listed first."""
    codes = run.dx_codes
    if len(codes) < 2:
        return
    kinds = [drug_code_kind(c) for c in codes]
    if kinds[0] != "poisoning" and "poisoning" in kinds:
        first = codes[kinds.index("poisoning")]
        run.add(
            "poisoning-sequence",
            "warning",
            [first, codes[0]],
            f"List {first} first: a poisoning is sequenced before the conditions it caused "
            "(its manifestations).",
            guide("I.C.19.e.5.b"),
            [first, *(c for c in codes if c != first)],
        )
    if kinds[0] == "adverse effect":
        rest = [c for c, k in zip(codes, kinds, strict=True) if not k]
        if rest:
            run.add(
                "adverse-effect-sequence",
                "warning",
                [codes[0], rest[0]],
                f"List {rest[0]} before {codes[0]}: an adverse effect is coded by its nature "
                "first, then the drug's T36-T50 code.",
                guide("I.C.19.e.5.a"),
                [rest[0], codes[0]],
            )


@dataclass(slots=True)
class _Listing:
    """The listed codes that sequencing notes are checked against.

    ``codes`` are the known listed codes in order, ``doc`` the documented codes not listed, and
    ``ordered`` the pairs already given a code-first edit (one per pair, whichever notes ask).
    """

    run: Run
    codes: list[str]
    position: dict[str, int]
    doc: list[str]
    ordered: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def of(cls, run: Run) -> _Listing:
        """The listing of ``run``'s diagnosis codes."""
        codes = run.known_dx()
        position = {c: i for i, c in enumerate(codes)}
        doc = sorted(c for c in run.ctx.documented_codes if c in run.icd and c not in position)
        return cls(run, codes, position, doc)

    def order(self, first: str, then: str, note: str) -> None:
        """A code-first edit when ``then`` is listed before ``first``."""
        if self.run.flagged(then, ["manifestation-first-listed"]):
            return  # the manifestation error already says what goes first
        if self.position[first] > self.position[then] and (first, then) not in self.ordered:
            self.ordered.add((first, then))
            self.run.add(
                "code-first",
                "info",
                [first, then],
                f"List {first} before {then}: {note}.",
                _SOURCE,
                [first, then],
            )


def check_sequencing(run: Run) -> None:
    """Manifestation codes listed first, then each code's sequencing notes.

    A "code first" or "use additional code" note orders two listed codes, or proposes a code
    the note documents.
    """
    listing = _Listing.of(run)
    codes = listing.codes
    if codes and codes[0] == run.dx[0].code and run.tabular.is_manifestation(codes[0]):
        _manifestation_first(run, codes, listing.doc)
    for x in codes:
        _code_first(listing, x)
        _use_additional(listing, x)


def _code_first(listing: _Listing, x: str) -> None:
    run, codes = listing.run, listing.codes
    firsts = run.tabular.instructions(x, "code_first")
    for item in firsts:
        for y in (c for c in codes if c != x and item.matches(c)):
            listing.order(y, x, f"{x} has a 'code first' note: {item.text}")
    if firsts and not any(i.matches(c) for i in firsts for c in codes if c != x):
        supported = [c for c in listing.doc if any(i.matches(c) for i in firsts)]
        if supported:
            run.add(
                "code-first",
                "info",
                [x],
                f"{x} has a 'code first' note and the note documents {supported[0]}: "
                f"report {supported[0]} before {x}.",
                _SOURCE,
                [supported[0], x],
            )


def _use_additional(listing: _Listing, x: str) -> None:
    run, codes = listing.run, listing.codes
    for item in run.tabular.instructions(x, "use_additional_code"):
        listed = [c for c in codes if c != x and item.matches(c)]
        # A chapter-wide "use additional code" (tobacco exposure...) asks for a code, not
        # an order; a category's note (E86: "code(s) for associated ... E87.-") orders.
        for y in listed if item.local else ():
            listing.order(x, y, f"{x} has a 'use additional code' note: {item.text}")
        if listed:
            continue
        supported = [c for c in listing.doc if item.matches(c)]
        if supported:
            run.add(
                "use-additional-code",
                "info",
                [x],
                f"{x} has a 'use additional code' note: {item.text}. The note documents "
                f"{supported[0]}; add it after {x}.",
                _SOURCE,
                [x, supported[0]],
            )
        elif not item.optional and item.declared_on == x:
            # Only the code's own note: a category's would remind on every code beneath it.
            run.add(
                "use-additional-code",
                "info",
                [x],
                f"{x} has a 'use additional code' note: {item.text}. Add that code when the "
                "documentation supports it.",
                _SOURCE,
            )


def _manifestation_first(run: Run, codes: list[str], doc: list[str]) -> None:
    """A manifestation code listed first: name the underlying condition to list before it."""
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
        shown = firsts[:_NOTE_LINES_SHOWN]
        leads = " ".join(dict.fromkeys(i.lead for i in shown if i.lead))
        what = f": code first {leads} {'; '.join(i.line for i in shown)}".replace("  ", " ")
    run.add(
        "manifestation-first-listed",
        "error",
        [first],
        f"{run.describe(first)} is a manifestation code, never the principal or first-listed "
        f"diagnosis{what}.{hint}",
        _SOURCE,
        fix,
    )


def claim_order(codes: list[str], tabular: Tabular) -> list[str]:
    """``codes`` in the order their Tabular notes ask for: a code whose "code first" note
    names another listed code goes after it, and a code with a category "use additional
    code" note goes before the code it asks for (I13.0 before I50.9, G30.9 before F02.80).
    Otherwise the order given is kept."""
    after: dict[str, set[str]] = {c: set() for c in codes}
    for x in codes:
        for item in tabular.instructions(x, "code_first"):
            after[x].update(c for c in codes if c != x and item.matches(c))
        for item in tabular.instructions(x, "use_additional_code"):
            if item.local:
                for y in codes:
                    if y != x and item.matches(y) and x not in after[y]:
                        after[y].add(x)
    out: list[str] = []
    left = list(codes)
    while left:
        # The first code whose predecessors are all placed; a cycle keeps the given order.
        ready = next((c for c in left if after[c] <= set(out)), left[0])
        out.append(ready)
        left.remove(ready)
    return out


def sequence_selected(suggestions: list[Suggestion], tabular: Tabular) -> None:
    """The pre-selected diagnoses in ``claim_order``, each keeping one of the places the
    pre-selection held; the lines renumbered."""
    places = [i for i, s in enumerate(suggestions) if s.selected and s.system == ICD10CM]
    lines = {suggestions[i].code: suggestions[i] for i in places}
    for i, code in zip(places, claim_order(list(lines), tabular), strict=True):
        suggestions[i] = lines[code]
    for rank, line in enumerate(suggestions, start=1):
        line.rank = rank
