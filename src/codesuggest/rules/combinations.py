"""Combination-code, redundancy, mismatch and acute/chronic sequencing edits.

The rules are data, ``data/combination_rules.json``, each with its guideline: I.A.15 "with",
I.B.9 combination codes, I.B.8 acute and chronic conditions, I.C.4.a diabetes, I.C.9.a
hypertension, I.C.10.a COPD. ``combination_rules`` reads and expands them once per process.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from codesuggest.codebook.book import Codebook
from codesuggest.codebook.tabular import in_spans, ref_span
from codesuggest.core.errors import ArtifactError
from codesuggest.core.records import ICD10CM, Suggestion
from codesuggest.rules.rulefiles import read_rule_file
from codesuggest.rules.run import Run


@dataclass(frozen=True, slots=True)
class _Component:
    """One part of a rule: listed codes under ``refs`` (one of them), or a documented finding.

    ``replace`` marks a code the combination code replaces; the others are kept beside it.
    """

    refs: tuple[str, ...] = ()
    replace: bool = False
    findings: tuple[str, ...] = ()
    spans: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Combination:
    """A rule: when every component matches, report ``use`` (and the kept codes) instead."""

    id: str
    rule: str
    when: tuple[_Component, ...]
    use: tuple[str, ...]
    why: str
    guideline: str


@dataclass(frozen=True, slots=True)
class _Sequence:
    """An acute/chronic pair: codes under ``first`` go before codes under ``then``."""

    id: str
    first: tuple[tuple[str, str], ...]
    then: tuple[tuple[str, str], ...]
    why: str
    guideline: str


def _bindings(each: object) -> list[dict[str, str]]:
    """The variable bindings of a rule's ``each``.

    An object of lists gives every combination of its values; a list of objects one binding
    per object; no ``each`` one empty binding.
    """
    if not each:
        return [{}]
    if isinstance(each, list):
        return [dict(b) for b in each]
    names = list(each)  # type: ignore[arg-type]
    values = [each[n] for n in names]  # type: ignore[index]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _fill(text: str, binding: Mapping[str, str]) -> str:
    for name, value in binding.items():
        text = text.replace("{" + name + "}", value)
    return text


@cache
def combination_rules() -> tuple[tuple[_Combination, ...], tuple[_Sequence, ...]]:
    """The combination and sequencing rules of ``data/combination_rules.json``, expanded."""
    data = read_rule_file("combination_rules.json")
    rules: list[_Combination] = []
    try:
        for raw in data["rules"]:
            for b in _bindings(raw.get("each")):
                when = []
                for comp in raw["when"]:
                    refs = tuple(_fill(r, b) for r in comp.get("codes", ()))
                    when.append(
                        _Component(
                            refs=refs,
                            replace=bool(comp.get("replace", False)),
                            findings=tuple(f.lower() for f in comp.get("finding", ())),
                            spans=tuple(map(ref_span, refs)),
                        )
                    )
                rules.append(
                    _Combination(
                        id=raw["id"],
                        rule=raw.get("rule", "combination-code"),
                        when=tuple(when),
                        use=tuple(_fill(u, b) for u in raw["use"]),
                        why=_fill(raw["why"], b),
                        guideline=raw["guideline"],
                    )
                )
        sequences = tuple(
            _Sequence(
                s["id"],
                tuple(map(ref_span, s["first"])),
                tuple(map(ref_span, s["then"])),
                s["why"],
                s["guideline"],
            )
            for s in data.get("sequence", ())
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(
            f"codesuggest/data/combination_rules.json has a malformed rule ({exc!r}); "
            "reinstall codesuggest."
        ) from exc
    return tuple(rules), sequences


def check_combinations(run: Run) -> None:
    """Codes that one combination code covers, or that another listed code includes.

    Rules are tried in file order and a code a rule replaces is not matched again, so the most
    specific rule wins.
    """
    codes = run.known_dx()
    listed = set(codes)
    rules, _ = combination_rules()
    consumed: set[str] = set()
    for rule in rules:
        matched = _match(rule, codes, consumed, run.ctx.findings)
        if matched is None:
            continue
        use = [u for u in rule.use if u not in listed]
        replaced = [c for c, replace in matched if replace]
        if not use and not replaced:
            continue  # the combination is already listed
        consumed.update(replaced)
        involved = sorted((c for c, _ in matched), key=codes.index)
        kept = [c for c in involved if c not in replaced]
        fix = [*use, *kept]
        instead = " + ".join(fix) if fix else "the other listed codes"
        run.add(
            rule.rule,
            "warning",
            involved,
            f"{' + '.join(involved)}: {rule.why[0].upper()}{rule.why[1:]} "
            f"Report {instead} instead.",
            rule.guideline,
            fix,
        )


def _match(
    rule: _Combination, codes: list[str], consumed: set[str], findings: set[str]
) -> list[tuple[str, bool]] | None:
    """``(code, replace)`` for each code component of ``rule``, or None when it does not fire.

    Each component takes a different listed code not ``consumed`` by an earlier rule; a finding
    component needs the finding in the note.
    """
    matched: list[tuple[str, bool]] = []
    for comp in rule.when:
        if comp.findings:
            if not findings.intersection(comp.findings):
                return None
            continue
        taken = {c for c, _ in matched}
        hit = next(
            (c for c in codes if c not in consumed and c not in taken and in_spans(c, comp.spans)),
            None,
        )
        if hit is None:
            return None
        matched.append((hit, comp.replace))
    return matched


def check_acute_chronic(run: Run) -> None:
    """Acute and chronic codes of one condition with the chronic one listed first (I.B.8)."""
    codes = run.known_dx()
    _, sequences = combination_rules()
    for seq in sequences:
        firsts = [c for c in codes if in_spans(c, seq.first)]
        thens = [c for c in codes if in_spans(c, seq.then)]
        for f in firsts:
            for t in thens:
                if codes.index(t) < codes.index(f):
                    run.add(
                        "acute-chronic-sequence",
                        "info",
                        [f, t],
                        f"List {f} before {t}: {seq.why}",
                        seq.guideline,
                        [f, t],
                    )


@dataclass(frozen=True, slots=True)
class Combined:
    """One combination applied to a pre-selection: the codes it matched, those it replaces
    and the codes it reports instead, with the rule's reason."""

    rule: str
    involved: tuple[str, ...]
    replaced: tuple[str, ...]
    use: tuple[str, ...]
    why: str
    guideline: str


def combine(codes: list[str]) -> list[Combined]:
    """The combinations a coder makes of ``codes`` (pre-selected ICD-10-CM codes, in order):
    the rules of ``check_combinations`` whose parts are all codes ("hypertension" + "heart
    failure" + "CKD stage 3": I13.0, guideline I.C.9.a), in the same order, as changes to
    report rather than warnings."""
    listed = set(codes)
    rules, _ = combination_rules()
    consumed: set[str] = set()
    out = []
    for rule in rules:
        if any(comp.findings for comp in rule.when):
            # A word of the note ("exacerbation") does not say which condition it belongs
            # to: such a rule stays a warning for the coder to judge.
            continue
        matched = _match(rule, codes, consumed, set())
        if matched is None:
            continue
        use = tuple(u for u in rule.use if u not in listed)
        replaced = tuple(c for c, replace in matched if replace)
        if not use and not replaced:
            continue
        consumed.update(replaced)
        listed.update(use)
        involved = tuple(sorted((c for c, _ in matched), key=codes.index))
        out.append(Combined(rule.id, involved, replaced, use, rule.why, rule.guideline))
    return out


def apply_combinations(suggestions: list[Suggestion], codebook: Codebook) -> None:
    """The pre-selection with the Official Guidelines' combinations made (``combine``): the
    combination code pre-selected with the evidence of the codes it combines, in the place
    of the first of them; the codes it replaces left unselected with the reason, last, where
    the lines a coder must not report go (as Excludes1 losers)."""
    icd = [s for s in suggestions if s.selected and s.system == ICD10CM]
    by_code = {s.code: s for s in suggestions if s.system == ICD10CM}
    for made in combine([s.code for s in icd]):
        use = [u for u in made.use if codebook.find(u, ICD10CM) is not None]
        if len(use) < len(made.use):
            continue
        parts = [by_code[c] for c in made.involved]
        why = f"{made.why[0].upper()}{made.why[1:]} ({made.guideline})"
        instead = " + ".join(use) if use else "the more specific code"
        at = min(suggestions.index(p) for p in parts)
        for code in made.replaced:
            line = by_code[code]
            line.selected = False
            line.note = f"{line.note} Not pre-selected: reported as {instead}: {why}".strip()
            suggestions.remove(line)
            suggestions.append(line)
        for code in use:
            line = by_code.get(code)
            if line is None:
                rec = codebook.find(code, ICD10CM)
                line = Suggestion(
                    code=code,
                    system=ICD10CM,
                    description=rec.description if rec else "",
                    score=max(p.score for p in parts),
                    sources={"combination": 1.0},
                )
                by_code[code] = line
            else:
                suggestions.remove(line)
            suggestions.insert(at, line)
            line.selected = True
            combined = f"Combination code for {' + '.join(made.involved)}: {why}"
            line.note = f"{combined} {line.note}".strip()
            seen = {(e.start, e.end) for e in line.evidence}
            line.evidence = sorted(
                [*line.evidence]
                + [e for p in parts for e in p.evidence if (e.start, e.end) not in seen],
                key=lambda e: e.start,
            )
