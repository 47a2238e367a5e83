"""Code validity edits: unknown codes, headings, 7th characters, placeholder X, duplicates.

ICD-10-CM Official Guidelines I.A.3 and I.B.2 (report a code, not a heading), I.A.4 and I.A.5
(placeholder X and 7th characters), I.C.19.a (the 7th character names the encounter), I.B.12
(each diagnosis once). Procedure codes outside the loaded tables get a note here too.
"""

from __future__ import annotations

import re

from codesuggest.codebook.codeset import CodeInfo
from codesuggest.codebook.tabular import (
    ENCOUNTERS,
    encounter_letters,
    needs_placeholder,
    with_seventh,
)
from codesuggest.core.records import ICD10CM
from codesuggest.rules.run import Run, guide

# Codes offered beneath a heading: enough to choose from at a glance; `codes search` has more.
_HEADER_FIX_LIMIT = 10
# Characters of an ICD-10-CM category; only a longer code can end in a 7th character.
_CATEGORY_LENGTH = 3
# Titles of the default choice beneath a heading, offered first.
_UNSPECIFIED_TITLE = re.compile(
    r"(^unspecified\b|, unspecified$|\bunspecified$|without complications$)"
)
_UNSPECIFIED_CHOICE = re.compile(r"unspecified|without complications")


def check_codes(run: Run) -> None:
    """Unknown codes, headings, 7th characters and duplicates, code by code in listed order."""
    for line in run.dx:
        code, info = line.code, line.info
        if info is None:
            _check_unknown_icd(run, code)
        elif info.requires_7th:
            _missing_seventh(run, code, info)
        elif not info.billable and run.tabular.children(code):
            _header_code(run, code, info)
        elif info.kind == "extended subcategory" and run.ctx.encounter:
            _check_encounter_letter(run, code, info)
    _check_unknown_procedures(run)
    _check_duplicates(run)


def _header_code(run: Run, code: str, info: CodeInfo) -> None:
    fix = _header_fix(run, info)
    first = ""
    if fix and _UNSPECIFIED_CHOICE.search(run.describe(fix[0])):
        first = f" {fix[0]} is the unspecified choice when the note says no more."
    run.add(
        "header-code",
        "error",
        [code],
        f"{run.describe(code)} is a heading, not a reportable code: choose a code "
        f"beneath it.{first}",
        guide("I.A.3, I.B.2"),
        fix,
    )


def _header_fix(run: Run, info: CodeInfo) -> list[str]:
    """Reportable codes beneath a heading, in the order a coder would consider them.

    Shortest first, then those of the documented encounter, then the unspecified ones (the
    choice when the note says no more).
    """
    below: list[str] = []
    seen = {info.code}
    stack = list(reversed(run.tabular.children(info.code)))
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        kids = [k for k in run.tabular.children(c) if k not in seen]
        if kids:
            stack.extend(reversed(kids))
        elif not run.icd.get(c).requires_7th:
            below.append(c)

    def key(c: str) -> tuple[int, int, int, str]:
        rec = run.icd.get(c)
        d = rec.description.lower()
        if _UNSPECIFIED_TITLE.search(d):
            rank = 0
        elif "unspecified" in d:
            rank = 1
        else:
            rank = 2
        other_encounter = 0
        if run.ctx.encounter and rec.kind == "extended subcategory" and rec.parent:
            meaning = run.icd.get(rec.parent).seventh_characters.get(c[-1], "").lower()
            other_encounter = int(not meaning.startswith(run.ctx.encounter))
        return len(c), other_encounter, rank, c

    return sorted(below, key=key)[:_HEADER_FIX_LIMIT]


def _check_unknown_procedures(run: Run) -> None:
    unknown_procs = dict.fromkeys(line.code for line in run.procs if line.info is None)
    for code in unknown_procs:
        tables = ", ".join(str(s.version) for n, s in run.book.sets.items() if n != ICD10CM)
        run.add(
            "unknown-code",
            "info",
            [code],
            f"{code} is not in the procedure tables in use ({tables}), so its add-on status and "
            "section are not known. Load your licensed CPT file (--cpt-file or "
            "CODESUGGEST_CPT_FILE) to check it fully.",
            "codesuggest code tables",
        )


def _check_duplicates(run: Run) -> None:
    # run.dx lists each code once, so the count comes from the lines as given.
    counts: dict[str, int] = {}
    for line in run.lines:
        if line.dx:
            counts[line.code] = counts.get(line.code, 0) + 1
    for code, n in counts.items():
        if n > 1:
            run.add(
                "duplicate-code",
                "warning",
                [code],
                f"{code} is listed {n} times; report each diagnosis code once per encounter.",
                guide("I.B.12"),
                [code],
            )


def _missing_seventh(run: Run, code: str, info: CodeInfo) -> None:
    """A code that needs a 7th character: the documented encounter's, else every option."""
    options = info.seventh_characters
    letters = encounter_letters(options, run.ctx.encounter)
    fix = run.tabular.seventh_character_codes(code, letters or options)
    if letters and fix:
        article = "an" if run.ctx.encounter == "initial" else "a"
        why = f"the note documents {article} {run.ctx.encounter} encounter, so {fix[0]}"
        if len(fix) > 1:
            why += f" (or {', '.join(fix[1:])} per the documentation)"
    else:
        why = "choose it for the encounter: " + "; ".join(f"{k} {v}" for k, v in options.items())
    placeholder = ""
    if needs_placeholder(code):
        placeholder = " The placeholder X fills the empty positions before it."
    run.add(
        "seventh-character",
        "error",
        [code],
        f"{run.describe(code)} needs a 7th character: {why}.{placeholder}",
        guide("I.A.5, I.A.4, I.B.2"),
        fix,
    )


def _check_unknown_icd(run: Run, code: str) -> None:
    """A code not in the set: a missing placeholder X, a wrong 7th character, or a typo."""
    flat = code.replace(".", "")
    letter = flat[-1]
    # Read the last character as a 7th character, and the rest as the code it completes.
    base = run.icd.find(flat[:-1].rstrip("X")) if len(flat) > _CATEGORY_LENGTH else None
    if base is not None and base.requires_7th and letter in base.seventh_characters:
        fixed = with_seventh(base.code, letter)
        if fixed in run.icd:
            run.add(
                "placeholder-x",
                "error",
                [code],
                f"{code} is not a code: {base.code} has fewer than six characters, so the "
                f"placeholder X fills the empty positions before the 7th character: {fixed}.",
                guide("I.A.4, I.A.5"),
                [fixed],
            )
            return
    # Placeholders with no 7th character after them ("S13.4XX").
    bare = run.icd.find(flat.rstrip("X")) if flat.endswith("X") else None
    if bare is not None and bare.requires_7th:
        _missing_seventh(run, code, bare)
        return
    if base is not None and base.requires_7th:
        options = base.seventh_characters
        letters = encounter_letters(options, run.ctx.encounter) or list(options)
        run.add(
            "seventh-character",
            "error",
            [code],
            f"{letter!r} is not a 7th character of {run.describe(base.code)}; the options "
            "are " + "; ".join(f"{k} {v}" for k, v in options.items()) + ".",
            guide("I.A.5"),
            run.tabular.seventh_character_codes(base.code, letters),
        )
        return
    run.add(
        "unknown-code",
        "error",
        [code],
        f"{code} is not a code in {run.icd.version}. Check the spelling, or search by "
        "description with `codesuggest codes search`.",
        f"{run.icd.version} code table",
    )


def _check_encounter_letter(run: Run, code: str, info: CodeInfo) -> None:
    """A 7th character naming another encounter than the one the note documents."""
    parent = run.icd.find(info.parent) if info.parent else None
    if parent is None or not parent.requires_7th:
        return
    options = parent.seventh_characters
    meaning = options.get(code[-1], "").lower()
    if not meaning.startswith(ENCOUNTERS) or meaning.startswith(run.ctx.encounter or "-"):
        return
    letters = encounter_letters(options, run.ctx.encounter)
    fix = run.tabular.seventh_character_codes(parent.code, letters)
    if fix:
        run.add(
            "seventh-character-encounter",
            "warning",
            [code],
            f"{code} says '{meaning}', but the note documents "
            f"{'an' if run.ctx.encounter == 'initial' else 'a'} {run.ctx.encounter} encounter: "
            f"{fix[0]}.",
            guide("I.A.5, I.C.19.a"),
            fix,
        )
