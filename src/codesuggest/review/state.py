"""The review of one note: its code table and the coder's decisions on it, with no I/O.

A *review* is one note opened by one coder in one browser session. ``Review`` holds its code
table (suggested and added codes, each pending, accepted, rejected or replaced, in coding
order) and turns each coder action into a ``Decision`` for the audit log. ``Session`` is one
browser tab's work queue of ``QueueEntry`` notes. Suggesting, storing and exporting are
``service.ReviewService``'s; drawing the screen is ``views``'.
"""

import contextlib
import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from codesuggest.core.codes import parse_modifiers
from codesuggest.core.context import PatientContext
from codesuggest.core.errors import InputError
from codesuggest.core.records import ICD10CM, SEVERITIES, Decision
from codesuggest.store.audit import new_review_id, note_sha256

EditT = TypeVar("EditT", bound=Mapping[str, Any])


def normalise_context(
    *,
    setting: str | None = "outpatient",
    age: float | str | None = None,
    sex: str | None = None,
    encounter_date: date | str | None = None,
) -> dict[str, Any]:
    """Patient context as ``Suggester.suggest``/``validate`` take it; raises ``InputError``."""
    return PatientContext.parse(
        setting=setting, age=age, sex=sex, encounter_date=encounter_date
    ).to_dict()


@dataclass(slots=True)
class ReviewItem:
    """One row of the code table: a suggested or added code and the coder's decision on it."""

    item_id: int
    code: str
    system: str
    description: str
    origin: str = "suggested"
    status: str = "pending"
    score: float | None = None
    rank: int | None = None
    preselected: bool = False
    evidence: list[dict[str, Any]] = field(default_factory=list)
    suggested_edits: list[dict[str, Any]] = field(default_factory=list)
    replaced_by: str | None = None
    replaced_by_system: str | None = None
    replaced_by_description: str | None = None
    # The suggestion's note (what the documentation lacks, why not pre-selected); not stored.
    note: str = ""
    modifiers: list[dict[str, str]] = field(default_factory=list)
    units: int | None = None
    pointers: list[str] = field(default_factory=list)

    @property
    def modifier_codes(self) -> list[str]:
        """The line's modifiers, in claim order."""
        return [m["code"] for m in self.modifiers]

    @property
    def claim_code(self) -> str:
        """The final code as a claim scrubber reads it: ``99213-25``, ``J3301*4``."""
        if self.is_diagnosis:
            return self.final_code
        text = "-".join([self.final_code, *self.modifier_codes])
        return f"{text}*{self.units}" if self.units and self.units > 1 else text

    @property
    def in_final(self) -> bool:
        """Accepted or replaced: the row's code, or its replacement, is in the final set."""
        return self.status in ("accepted", "replaced")

    @property
    def final_code(self) -> str:
        """The code the row puts in the final set: the replacement when replaced."""
        return self.replaced_by if self.status == "replaced" and self.replaced_by else self.code

    @property
    def final_system(self) -> str:
        """The code set of ``final_code``."""
        if self.status == "replaced" and self.replaced_by_system:
            return self.replaced_by_system
        return self.system

    @property
    def is_diagnosis(self) -> bool:
        """Whether the final code is ICD-10-CM (diagnoses are listed before procedures)."""
        return self.final_system == ICD10CM

    def state(self) -> dict[str, Any]:
        """The decision part of the row, as audit before/after values show it."""
        d: dict[str, Any] = {"item": self.item_id, "code": self.code, "status": self.status}
        if self.status == "replaced":
            d["replaced_by"] = self.replaced_by
            d["replaced_by_system"] = self.replaced_by_system
        if not self.is_diagnosis:
            d["modifiers"] = self.modifier_codes
            d["units"] = self.units
            d["pointers"] = list(self.pointers)
        return d

    def to_dict(self) -> dict[str, Any]:
        """The whole row, as the store's snapshot of the code table keeps it."""
        return {
            "item_id": self.item_id,
            "code": self.code,
            "system": self.system,
            "description": self.description,
            "origin": self.origin,
            "status": self.status,
            "score": self.score,
            "rank": self.rank,
            "preselected": self.preselected,
            "evidence": [dict(e) for e in self.evidence],
            "replaced_by": self.replaced_by,
            "replaced_by_system": self.replaced_by_system,
            "replaced_by_description": self.replaced_by_description,
            "modifiers": [dict(m) for m in self.modifiers],
            "units": self.units,
            "pointers": list(self.pointers),
        }


def _severity_key(edit: Mapping[str, Any]) -> int:
    sev = edit.get("severity", "info")
    return SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES)


def by_severity(edits: Iterable[EditT]) -> list[EditT]:
    """Edits errors first, then warnings, then info; the order within each is kept."""
    return sorted(edits, key=_severity_key)


class Review:
    """The coder's work on one note: the code table, its order, context and rule edits.

    Each action method returns the ``Decision`` to audit, or ``None`` when it changed nothing.
    Diagnoses are kept before procedures; the first diagnosis in the final set is the
    principal (inpatient) or first-listed (outpatient) diagnosis.
    """

    def __init__(
        self,
        result: Mapping[str, Any],
        *,
        note_text: str | None,
        reviewer: str,
        review_id: str | None = None,
        note_id: str | None = None,
    ) -> None:
        self.result = dict(result)
        self.note_text = note_text
        self.reviewer = reviewer
        self.review_id = review_id or new_review_id()
        self.note_id = note_id if note_id is not None else result.get("id")
        self.note_sha256 = None if note_text is None else note_sha256(note_text)
        ctx = result.get("context") or {}
        self.context = normalise_context(
            setting=ctx.get("setting"),
            age=ctx.get("age"),
            sex=ctx.get("sex"),
            encounter_date=ctx.get("encounter_date"),
        )
        self.items: list[ReviewItem] = [
            ReviewItem(
                item_id=i,
                code=s["code"],
                system=s["system"],
                description=s.get("description", ""),
                score=s.get("score"),
                rank=s.get("rank"),
                preselected=bool(s.get("selected")),
                evidence=[dict(e) for e in s.get("evidence") or []],
                suggested_edits=[dict(e) for e in s.get("edits") or []],
                note=str(s.get("note") or ""),
                modifiers=[dict(m) for m in s.get("modifiers") or []],
                units=s.get("units"),
                pointers=list(s.get("pointers") or []),
            )
            for i, s in enumerate(result.get("suggestions") or [])
        ]
        self._next_id = len(self.items)
        self._group()
        self.edits: list[dict[str, Any]] = []
        # Edits of each undecided row as if it joined the final set as it stands now;
        # filled by ``ReviewService.revalidate``, so they never name a code since taken out.
        self.row_edits: dict[int, list[dict[str, Any]]] = {}
        # Pre-selected codes the screen took the star off (a clash with a better one): why.
        self.unstarred: dict[str, str] = {}
        # Context values read from the note itself ({"value", "start", "end", "text"} by name).
        self.context_read: dict[str, dict[str, Any]] = {}
        self.status = "open"
        self.finalised_at: str | None = None

    # ------------------------------------------------------------ queries

    def item(self, item_id: int) -> ReviewItem:
        """The row ``item_id``; ``InputError`` if the review has none (a stale page)."""
        for it in self.items:
            if it.item_id == item_id:
                return it
        raise InputError(f"Row {item_id} is not in this review; reload the note.")

    def final_items(self) -> list[ReviewItem]:
        """Rows in the final code set, in coding order (diagnoses first)."""
        return [it for it in self.items if it.in_final]

    def final_codes(self) -> list[str]:
        """The final code set in coding order."""
        return [it.final_code for it in self.final_items()]

    def claim_codes(self) -> list[str]:
        """The final code set as the coding-rule edits take it: procedures with their
        modifiers and units always spelled out (``99213-25*1``, ``J3301*4``), so that a HCPCS
        code such as J3489 is not read as the ICD-10-CM code J34.89."""
        return [
            it.claim_code if it.is_diagnosis else f"{it.claim_code.split('*')[0]}*{it.units or 1}"
            for it in self.final_items()
        ]

    def _final_pointers(self, it: ReviewItem) -> list[str]:
        """The line's pointers among the final diagnoses (a replaced one by its replacement)."""
        final_dx = {x.code: x.final_code for x in self.final_items() if x.is_diagnosis}
        final_dx.update({x.final_code: x.final_code for x in self.final_items() if x.is_diagnosis})
        return list(dict.fromkeys(final_dx[p] for p in it.pointers if p in final_dx))

    def final(self) -> dict[str, list[dict[str, Any]]]:
        """The final code set by kind, each entry numbered in coding order."""
        out: dict[str, list[dict[str, Any]]] = {"diagnoses": [], "procedures": []}
        for it in self.final_items():
            group = out["diagnoses" if it.is_diagnosis else "procedures"]
            replaced = it.status == "replaced"
            group.append(
                {
                    "sequence": len(group) + 1,
                    "code": it.final_code,
                    "system": it.final_system,
                    "description": (it.replaced_by_description or "")
                    if replaced
                    else it.description,
                    "origin": it.origin,
                    "status": it.status,
                    "replaces": it.code if replaced else None,
                    "score": None if replaced else it.score,
                }
            )
            if not it.is_diagnosis:
                group[-1].update(
                    modifiers=it.modifier_codes,
                    units=it.units or 1,
                    pointers=self._final_pointers(it),
                )
        return out

    def edits_for(self, item: ReviewItem) -> list[dict[str, Any]]:
        """The edits to show on a row, errors first.

        A row in the final set shows the edits recomputed for the final set; an undecided row
        the edits it would get if accepted into the final set as it stands (``row_edits``),
        or, before any edits were run, those that came with the suggestion. A rejected row
        shows none: it is out of the code set.
        """
        if item.in_final:
            found = [e for e in self.edits if item.final_code in (e.get("codes") or ())]
        elif item.status == "rejected":
            found = []
        else:
            found = list(self.row_edits.get(item.item_id, item.suggested_edits))
        return by_severity(found)

    def pending(self) -> list[ReviewItem]:
        """Rows not decided yet; they are left out of the final set."""
        return [it for it in self.items if it.status == "pending"]

    def snapshot(self) -> list[dict[str, Any]]:
        """The code table as the store keeps it."""
        return [it.to_dict() for it in self.items]

    def to_record(self, decisions: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The review as the exports take it (see ``export``): schema fields plus ``review``."""
        record = {
            key: self.result.get(key)
            for key in ("id", "schema", "codesets", "model", "context", "suggestions")
        }
        record["id"] = self.result.get("id", self.note_id)
        record["context"] = dict(self.context)
        record["excluded"] = self.result.get("excluded") or []
        record["errors"] = self.result.get("errors") or []
        record["review"] = {
            "review_id": self.review_id,
            "note_id": self.note_id,
            "note_sha256": self.note_sha256,
            "reviewer": self.reviewer,
            "status": self.status,
            "finalised_at": self.finalised_at,
            "final": self.final(),
            "items": self.snapshot(),
            "edits": by_severity(self.edits),
            "decisions": [dict(d) for d in decisions],
        }
        return record

    # ------------------------------------------------------------ actions

    def _decision(
        self, action: str, code: str | None, system: str | None, before: Any, after: Any
    ) -> Decision:
        if action != "finalise":
            self.status = "open"
        return Decision(action, code, system, before, after, self.reviewer)

    def accept(self, item_id: int) -> Decision | None:
        """Keep the row's suggested code (undoing a rejection or a replacement)."""
        it = self.item(item_id)
        if it.status == "accepted":
            return None
        self._check_unique(it.code, it.system, ignore=it)
        before = it.state()
        it.status = "accepted"
        it.replaced_by = it.replaced_by_system = it.replaced_by_description = None
        self._group()
        return self._decision("accept", it.code, it.system, before, it.state())

    def reject(self, item_id: int) -> Decision | None:
        """Leave the row's code out of the final set."""
        it = self.item(item_id)
        if it.status == "rejected":
            return None
        before = it.state()
        it.status = "rejected"
        it.replaced_by = it.replaced_by_system = it.replaced_by_description = None
        self._group()
        return self._decision("reject", it.code, it.system, before, it.state())

    def replace(self, item_id: int, code: str, system: str, description: str) -> Decision | None:
        """Correct the row: ``code`` goes into the final set in its place."""
        it = self.item(item_id)
        if code == it.code and system == it.system:
            return self.accept(item_id)
        if it.status == "replaced" and (it.replaced_by, it.replaced_by_system) == (code, system):
            return None
        self._check_unique(code, system, ignore=it)
        before = it.state()
        it.status = "replaced"
        it.replaced_by, it.replaced_by_system, it.replaced_by_description = (
            code,
            system,
            description,
        )
        self._group()
        return self._decision("replace", it.code, it.system, before, it.state())

    def add(self, code: str, system: str, description: str) -> Decision:
        """Add a code the tool missed; it goes into the final set at the end of its kind."""
        self._check_unique(code, system)
        it = ReviewItem(
            item_id=self._next_id,
            code=code,
            system=system,
            description=description,
            origin="added",
            status="accepted",
        )
        self._next_id += 1
        self.items.append(it)
        self._group()
        return self._decision("add", code, system, None, it.state())

    def set_line(
        self,
        item_id: int,
        modifiers: str | Sequence[str],
        units: int | None = None,
        pointers: Sequence[str] | None = None,
    ) -> Decision | None:
        """Record a procedure line's modifiers (replacing them), units and diagnosis pointers.

        ``modifiers`` as the coder types them (``"25"``, ``"RT 59 *2"``: units after ``*``
        count too) or a list; a modifier the tool suggested keeps its reason.
        """
        it = self.item(item_id)
        if it.is_diagnosis:
            raise InputError(
                f"{it.final_code} is a diagnosis: modifiers and units go on CPT/HCPCS lines."
            )
        try:
            codes, typed_units = parse_modifiers(
                modifiers if isinstance(modifiers, str) else " ".join(modifiers)
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        units = typed_units if units is None else units
        if units is not None and (isinstance(units, bool) or int(units) < 1):
            raise InputError("Units must be a whole number, 1 or more.")
        reasons = {m["code"]: m.get("reason", "") for m in it.modifiers}
        new_mods = [{"code": c, "reason": reasons.get(c) or "entered by the coder"} for c in codes]
        new_units = int(units) if units is not None else it.units
        new_pointers = list(pointers) if pointers is not None else list(it.pointers)
        if (new_mods, new_units, new_pointers) == (it.modifiers, it.units, it.pointers):
            return None
        before = it.state()
        it.modifiers, it.units, it.pointers = new_mods, new_units, new_pointers
        return self._decision("modify", it.final_code, it.final_system, before, it.state())

    def move(self, item_id: int, offset: int) -> Decision | None:
        """Move a row up (``-1``) or down (``+1``) among the rows of its kind.

        A row in the final set moves past the next final row of its kind, so each move
        changes the coding order; rows left out move among all rows of their kind.
        """
        it = self.item(item_id)
        peers = [
            x
            for x in self.items
            if x.is_diagnosis == it.is_diagnosis and (x.in_final or not it.in_final)
        ]
        i = peers.index(it)
        j = i + offset
        if offset not in (-1, 1) or not 0 <= j < len(peers):
            return None
        before = [x.final_code for x in peers]
        a, b = self.items.index(peers[i]), self.items.index(peers[j])
        self.items[a], self.items[b] = self.items[b], self.items[a]
        after = [x.final_code for x in self.items if x in peers]
        return self._decision(
            "reorder",
            it.final_code,
            it.final_system,
            {"item": it.item_id, "order": before},
            {"item": it.item_id, "order": after},
        )

    def set_context(self, context: Mapping[str, Any]) -> Decision | None:
        """Change the patient context (``normalise_context`` keys); edits must be re-run."""
        new = normalise_context(**context)
        if new == self.context:
            return None
        before, self.context = self.context, new
        return self._decision("context", None, None, before, dict(new))

    def finalise(self, finalised_at: str | None = None) -> Decision:
        """Close the review with its final code set; later actions reopen it."""
        if not self.final_items():
            raise InputError(
                "The final code set is empty: accept, replace or add at least one code first."
            )
        self.status = "finalised"
        self.finalised_at = finalised_at
        final = self.final()
        return self._decision(
            "finalise",
            None,
            None,
            {"pending": [it.code for it in self.pending()]},
            {"final": final, "edits": by_severity(self.edits)},
        )

    def _check_unique(self, code: str, system: str, ignore: ReviewItem | None = None) -> None:
        for other in self.final_items():
            if other is not ignore and (other.final_code, other.final_system) == (code, system):
                raise InputError(f"{code} is already in the final code set.")

    def _group(self) -> None:
        # Stable: keeps the coder's order within diagnoses and within procedures.
        self.items.sort(key=lambda it: not it.is_diagnosis)


@contextlib.contextmanager
def undo_on_error(review: Review) -> Iterator[None]:
    """Put the review back as it was if the action fails before it is committed.

    The screen must never show a decision the audit log does not hold.
    """
    saved = copy.deepcopy(
        (
            review.items,
            review.context,
            review.edits,
            review.row_edits,
            review.status,
            review._next_id,
        )
    )
    try:
        yield
    except BaseException:
        (
            review.items,
            review.context,
            review.edits,
            review.row_edits,
            review.status,
            review._next_id,
        ) = saved
        raise


@dataclass(slots=True)
class QueueEntry:
    """One note of the work queue; ``review`` is created when the note is first opened."""

    note_id: str
    text: str | None
    result: dict[str, Any] | None = None
    review: Review | None = None
    exports: dict[str, str] = field(default_factory=dict)
    problem: str = ""


@dataclass(slots=True)
class Session:
    """One browser tab's state: its queue, where it is in it, and the selected row."""

    queue: list[QueueEntry] = field(default_factory=list)
    position: int = 0
    selected: int | None = None
    reviewer: str = ""

    @property
    def entry(self) -> QueueEntry | None:
        """The note the tab is on, or None when the queue is empty."""
        return self.queue[self.position] if 0 <= self.position < len(self.queue) else None

    @property
    def review(self) -> Review | None:
        """The review of the note the tab is on, once that note is opened."""
        entry = self.entry
        return entry.review if entry else None
