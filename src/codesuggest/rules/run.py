"""The records of one ``validate_codes`` call, which every family of edits reads and writes.

``NoteContext`` is what the note documents, ``Line`` one listed code with its modifiers and
units, ``Run`` the parsed list, the patient and the edits found so far. They live apart from
``engine`` so that the family modules, which ``engine`` imports to dispatch to, never import it
back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from codesuggest.codebook.book import Codebook
from codesuggest.codebook.codeset import CodeInfo, CodeSet
from codesuggest.codebook.tabular import ENCOUNTERS, SIDES, Tabular
from codesuggest.core.codes import normalize_icd
from codesuggest.core.errors import InputError
from codesuggest.core.records import Edit

if TYPE_CHECKING:
    from codesuggest.rules.ncci import MueTable, NcciPtp


GUIDELINES = "ICD-10-CM Official Guidelines"


def guide(sections: str) -> str:
    """The citation of sections of the Official Guidelines: ``guide("I.B.13")``."""
    return f"{GUIDELINES} {sections}"


# Like codebook.looks_like_icd, but admitting U codes (U07.1 COVID-19, U09.9 post COVID-19).
_ICD_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def icd_shaped(code: str) -> bool:
    """Whether an upper-case token has the shape of an ICD-10-CM code, dotted or not."""
    return bool(_ICD_SHAPE.match(code))


def canon(code: str) -> str:
    """A code spelled the way the code sets spell it (ICD-10-CM gets its dot)."""
    c = code.strip().upper()
    return normalize_icd(c) if icd_shaped(c) else c


@dataclass(slots=True)
class NoteContext:
    """What the note documents that edits may use; every field is optional.

    Attributes:
        encounter: ``"initial"``, ``"subsequent"`` or ``"sequela"`` (for 7th characters).
        lateralities: sides documented in the note: ``"right"``, ``"left"``, ``"bilateral"``.
        uncertain_terms: listed codes the note qualifies as uncertain, mapped to the words that
            do so (``{"J18.9": "probable pneumonia"}``); a plain set of codes is accepted.
        symptom_codes: codes of the signs and symptoms the note documents, to report instead
            of an uncertain diagnosis in the outpatient setting.
        documented_codes: codes whose evidence is in the note; decides which code of an
            Excludes1 pair stands and which paired code a sequencing note may propose.
        procedures_same_day: the note documents a procedure on the day of the E/M visit.
        findings: words the note documents that select a combination code, such as
            ``"exacerbation"`` or ``"polyneuropathy"`` (lower case).
    """

    encounter: str | None = None
    lateralities: set[str] = field(default_factory=set)
    uncertain_terms: dict[str, str] = field(default_factory=dict)
    symptom_codes: tuple[str, ...] = ()
    documented_codes: set[str] = field(default_factory=set)
    procedures_same_day: bool = False
    findings: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.encounter is not None:
            self.encounter = self.encounter.strip().lower()
            if self.encounter not in ENCOUNTERS:
                raise InputError(
                    f"NoteContext.encounter {self.encounter!r} is not one of {ENCOUNTERS}; "
                    "leave it None when the note does not say."
                )
        sides = {s.strip().lower() for s in self.lateralities}
        unknown = sides - set(SIDES)
        if unknown:
            raise InputError(
                f"NoteContext.lateralities has {sorted(unknown)}; use 'right', 'left' or "
                "'bilateral'."
            )
        self.lateralities = sides
        terms = self.uncertain_terms
        if not isinstance(terms, Mapping):
            terms = dict.fromkeys(terms, "")
        self.uncertain_terms = {canon(k): str(v) for k, v in terms.items()}
        self.symptom_codes = tuple(dict.fromkeys(canon(c) for c in self.symptom_codes))
        self.documented_codes = {canon(c) for c in self.documented_codes}
        self.findings = {f.strip().lower() for f in self.findings}


@dataclass(slots=True)
class Line:
    """One listed code: a diagnosis (``dx``) or a procedure with its modifiers and units.

    ``info`` and ``system`` are None for a code in none of the loaded code sets.
    """

    code: str
    dx: bool
    info: CodeInfo | None
    system: str | None
    modifiers: tuple[str, ...] = ()
    units: int = 1


@dataclass(slots=True)
class Run:
    """One ``validate_codes`` call: its inputs, and the edits each family adds in turn.

    ``dx`` holds each diagnosis once, in first-listed order; ``lines`` keeps repeats (for the
    duplicate and units checks). ``day`` is today when no encounter date was given.
    """

    book: Codebook
    icd: CodeSet
    tabular: Tabular
    lines: list[Line]
    dx: list[Line]
    procs: list[Line]
    age: int | None
    sex: str | None
    setting: str
    day: dt.date
    date_given: bool
    ctx: NoteContext
    ptp: list[NcciPtp]
    mue: list[MueTable]
    edits: list[Edit] = field(default_factory=list)

    @property
    def dx_codes(self) -> list[str]:
        """The diagnosis codes, each once, in listed order."""
        return [line.code for line in self.dx]

    def known_dx(self) -> list[str]:
        """The diagnosis codes found in the code set (the others get a validity edit only)."""
        return [line.code for line in self.dx if line.info is not None]

    def add(
        self,
        rule: str,
        severity: str,
        codes: Iterable[str],
        message: str,
        source: str,
        fix: Iterable[str] = (),
    ) -> None:
        """Record an edit (see ``RULES`` in ``engine`` for the rule ids)."""
        self.edits.append(Edit(rule, severity, tuple(codes), message, source, tuple(fix)))

    def describe(self, code: str) -> str:
        """``code (description)`` for a known ICD-10-CM code, else the code as given."""
        info = self.icd.find(code)
        return f"{code} ({info.description})" if info else code

    def flagged(self, code: str, rules: Iterable[str]) -> bool:
        """Whether an edit of one of ``rules`` already names ``code``."""
        wanted = set(rules)
        return any(e.rule in wanted and code in e.codes for e in self.edits)
