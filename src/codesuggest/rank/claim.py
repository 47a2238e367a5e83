"""What makes a pre-selected procedure a claim line: modifiers with their reasons, units and
diagnosis pointers.

``complete_lines`` runs after the E/M level and the documented procedures are in the list:

- **25** on a problem-oriented E/M when a procedure with a global period, or vaccine or drug
  administration that NCCI pairs with an E/M, is reported the same day (a preventive visit
  only with a surgical procedure);
- **26** on an imaging or tracing code the physician only interprets: at a facility (an ED
  visit, an inpatient stay) or for images made elsewhere; a code with its own
  interpretation-only code (93000 -> 93010) is replaced by it. **TC** when the note sends the
  images to be read elsewhere;
- **76 / 77** on a procedure repeated the same day, **XS** on a second surgical procedure on
  a separate site, the side modifiers (RT, LT, 50) being set where the procedure is read;
- **pointers**: the pre-selected ICD-10-CM codes whose description or evidence names what
  the line treats or images (the first-listed diagnosis when none does); an E/M points at
  the first four diagnoses in order.

Data and reasons (the project's words) in ``data/claim_lines.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from importlib import resources

from codesuggest.core.records import ICD10CM, Modifier, Suggestion
from codesuggest.core.text import STOPWORDS, tokens

RULES_FILE = "claim_lines.json"
# A CMS-1500 claim line holds four diagnosis pointers.
MAX_POINTERS = 4


@functools.cache
def rules() -> dict:
    text = resources.files("codesuggest.data").joinpath(RULES_FILE).read_text("utf-8")
    return json.loads(text)


def in_ranges(code: str, ranges: Iterable[str]) -> bool:
    """Whether a five-digit procedure code is one of ``ranges`` (``"99202-99215"`` or a code)."""
    for r in ranges:
        lo, _, hi = r.partition("-")
        if (lo <= code <= hi) if hi else code == lo:
            return True
    return False


def reason(modifier: str, **where: str) -> str:
    """The project's explanation of a modifier, filled in with what the note documents."""
    template = rules()["modifier_reasons"].get(modifier, "")
    return template.format_map({"with": "", "where": "", "why": "", **where})


def with_modifier(line: Suggestion, modifier: str, why: str) -> None:
    """Add ``modifier`` to ``line`` (once), keeping pricing modifiers before the others."""
    if any(m.code == modifier for m in line.modifiers):
        return
    line.modifiers.append(Modifier(modifier, why))


def _phrase(pattern_words: Sequence[str], text: str) -> str | None:
    low = text.lower()
    return next((w for w in pattern_words if w in low), None)


def complete_lines(
    note: str,
    suggestions: list[Suggestion],
    *,
    facility: bool,
    known: Callable[[str], bool],
) -> None:
    """Give the pre-selected procedure lines their modifiers, units and pointers (in place).

    Args:
        note: the note, as given.
        suggestions: the ranked list, with the E/M and documented procedures in it.
        facility: the physician works in a facility (ED, inpatient): images and tracings are
            the facility's, the physician reports the interpretation.
        known: whether the CPT code set holds a code (a replacement code must be there).
    """
    procs = [s for s in suggestions if s.selected and s.system != ICD10CM]
    for line in procs:
        line.units = line.units or _time_units(line) or 1
    _components(note, procs, facility=facility, known=known)
    _repeats(procs)
    _separate_sites(procs)
    _separate_em(procs)
    dx = [s for s in suggestions if s.selected and s.system == ICD10CM]
    for line in procs:
        line.pointers = _pointers(line, dx)


_PER_UNIT = re.compile(r"\beach (?:additional )?(\d+) min", re.IGNORECASE)
_MINUTES = re.compile(r"\b(\d{1,3})\s*(?:minutes|mins?)\b", re.IGNORECASE)


def _time_units(line: Suggestion) -> int | None:
    """Units of a timed code ("each 15 min") from the minutes its evidence documents.

    A unit counts once at least half of it is done (CMS's 8-minute rule for 15-minute codes:
    8-22 minutes one unit, 23-37 two).
    """
    per = _PER_UNIT.search(line.description)
    minutes = [int(m) for e in line.evidence for m in _MINUTES.findall(e.text)]
    if per is None or not minutes:
        return None
    step = int(per.group(1))
    units = (max(minutes) + (step - 1) // 2) // step
    line.note = f"{line.note} {units} unit(s): {max(minutes)} minutes at {step} a unit.".strip()
    return units or None


def _separate_em(procs: list[Suggestion]) -> None:
    table = rules()
    for em in procs:
        if not em.code.isdigit() or not in_ranges(em.code, table["em"]):
            continue
        preventive = in_ranges(em.code, table["preventive"])
        ranges = table["separate_em_with"]["preventive_visit" if preventive else "problem_visit"]
        others = [p.code for p in procs if p is not em and p.code.isdigit()]
        paired = [c for c in others if in_ranges(c, ranges)]
        if paired:
            with_modifier(em, "25", reason("25", **{"with": ", ".join(paired)}))


def _components(
    note: str, procs: list[Suggestion], *, facility: bool, known: Callable[[str], bool]
) -> None:
    table = rules()["professional_component"]
    for line in procs:
        if not line.code.isdigit() or not in_ranges(line.code, table["ranges"]):
            continue
        text = " ".join(e.text for e in line.evidence)
        sent_out = _phrase(rules()["technical_only"], text)
        elsewhere = _phrase(rules()["interpretation_only"], text)
        if sent_out:
            with_modifier(line, "TC", reason("TC", why=f"the note says '{sent_out}'"))
            continue
        if not (facility or elsewhere):
            continue
        why = (
            f"the note says '{elsewhere}'"
            if elsewhere
            else (
                "at a facility the equipment and technician are the facility's (technical "
                "component); the physician reports the reading"
            )
        )
        own = table["interpretation_code"].get(line.code)
        if own and known(own):
            line.note = (
                f"{line.note} Reported as {own}, the interpretation-only code: {why}.".strip()
            )
            line.code = own
        else:
            with_modifier(line, "26", reason("26", why=why))


def _repeats(procs: list[Suggestion]) -> None:
    """A second line of one code: a repeat (76/77) when the note says so."""
    seen: dict[str, Suggestion] = {}
    for line in procs:
        first = seen.setdefault(line.code, line)
        if first is line:
            continue
        text = " ".join(e.text for e in line.evidence)
        other = _phrase(rules()["repeat_other_physician"], text)
        said = _phrase(rules()["repeat"], text)
        if other:
            with_modifier(line, "77", reason("77", where=f"'{other}'"))
        elif said:
            with_modifier(line, "76", reason("76", where=f"'{said}'"))


_SIDES = ("RT", "LT", "50")


def _separate_sites(procs: list[Suggestion]) -> None:
    """Two surgical procedures on different documented sites: XS on the second."""
    surgical = [p for p in procs if p.code.isdigit() and in_ranges(p.code, rules()["surgery"])]
    for line in surgical[1:]:
        first = surgical[0]
        sides = {m.code for m in line.modifiers if m.code in _SIDES}
        first_sides = {m.code for m in first.modifiers if m.code in _SIDES}
        if line.code == first.code or not sides or not first_sides or sides == first_sides:
            continue
        with_modifier(
            line,
            "XS",
            reason("XS", **{"with": first.code, "where": "/".join(sorted(sides))}),
        )


@functools.cache
def _generic() -> frozenset[str]:
    return frozenset(tokens(" ".join(rules()["generic_words"]))) | STOPWORDS


_NUMBER = re.compile(r"^\d+$")


def _site_words(text: str) -> set[str]:
    return {t for t in tokens(text) if len(t) > 3 and t not in _generic() and not _NUMBER.match(t)}


def _pointers(line: Suggestion, dx: list[Suggestion]) -> list[str]:
    if not dx:
        return []
    if line.code.isdigit() and in_ranges(line.code, rules()["em"]):
        # Status and history Z codes support a visit less than the problems addressed.
        return [d.code for d in sorted(dx, key=lambda d: d.code.startswith("Z"))][:MAX_POINTERS]
    words = _site_words(" ".join([line.description, *(e.text for e in line.evidence)]))
    scored = []
    for order, d in enumerate(dx):
        theirs = _site_words(" ".join([d.description, *(e.text for e in d.evidence)]))
        overlap = len(words & theirs)
        if overlap:
            scored.append((-overlap, order, d.code))
    chosen = [code for _, _, code in sorted(scored)[:MAX_POINTERS]]
    return chosen or [dx[0].code]
