"""The coder review screen: review logic, its HTML views and the Gradio app that serves them.

A *review* is one note opened by one coder in one browser session. ``Review`` holds its code
table (suggested and added codes, each pending, accepted, rejected or replaced, in coding
order) and turns each coder action into a ``schema.Decision``; ``ReviewService`` re-runs the
coding-rule edits after each change and commits the decision to the ``AuditStore`` before the
screen updates. The ``render_*`` functions build the screen's HTML; every piece of note text
and code description is escaped, since notes are untrusted input.

Gradio is imported only inside ``build_app`` and ``serve``, so importing this module is cheap.
This module does not use postponed annotations: Gradio reads handler annotations
(``gr.EventData``, ``gr.Request``) at run time and needs them as real objects.
"""

import atexit
import contextlib
import copy
import getpass
import html
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from codesuggest.core.context import PatientContext
from codesuggest.core.errors import InputError
from codesuggest.core.records import ASSERTIONS, ICD10CM, SETTINGS, SEVERITIES, Decision
from codesuggest.output.schema import validate_result_dict
from codesuggest.store import export
from codesuggest.store.audit import AuditStore, new_review_id, note_sha256

log = logging.getLogger(__name__)

STATUSES = ("pending", "accepted", "rejected", "replaced")
NOTE_SUFFIXES = (".txt", ".text")


class SuggesterLike(Protocol):
    """What the review screen needs of ``codesuggest.load()`` (see docs/interfaces.md)."""

    codebook: Any

    def suggest(self, text: str, **kwargs: Any) -> Any: ...

    def validate(self, codes: list[str], **kwargs: Any) -> list[Any]: ...


# --------------------------------------------------------------------------- review logic


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

    @property
    def in_final(self) -> bool:
        return self.status in ("accepted", "replaced")

    @property
    def final_code(self) -> str:
        return self.replaced_by if self.status == "replaced" and self.replaced_by else self.code

    @property
    def final_system(self) -> str:
        if self.status == "replaced" and self.replaced_by_system:
            return self.replaced_by_system
        return self.system

    @property
    def is_diagnosis(self) -> bool:
        return self.final_system == ICD10CM

    def state(self) -> dict[str, Any]:
        """The decision part of the row, as audit before/after values show it."""
        d: dict[str, Any] = {"item": self.item_id, "code": self.code, "status": self.status}
        if self.status == "replaced":
            d["replaced_by"] = self.replaced_by
            d["replaced_by_system"] = self.replaced_by_system
        return d

    def to_dict(self) -> dict[str, Any]:
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
        }


def _severity_key(edit: Mapping[str, Any]) -> int:
    sev = edit.get("severity", "info")
    return SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES)


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
            )
            for i, s in enumerate(result.get("suggestions") or [])
        ]
        self._next_id = len(self.items)
        self._group()
        self.edits: list[dict[str, Any]] = []
        self.status = "open"
        self.finalised_at: str | None = None

    # ------------------------------------------------------------ queries

    def item(self, item_id: int) -> ReviewItem:
        for it in self.items:
            if it.item_id == item_id:
                return it
        raise InputError(f"Row {item_id} is not in this review; reload the note.")

    def final_items(self) -> list[ReviewItem]:
        """Rows in the final code set, in coding order (diagnoses first)."""
        return [it for it in self.items if it.in_final]

    def final_codes(self) -> list[str]:
        return [it.final_code for it in self.final_items()]

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
        return out

    def edits_for(self, item: ReviewItem) -> list[dict[str, Any]]:
        """The edits to show on a row, errors first.

        A row in the final set shows the edits recomputed for the final set; any other row
        shows the edits that came with the suggestion.
        """
        if item.in_final:
            found = [e for e in self.edits if item.final_code in (e.get("codes") or ())]
        else:
            found = list(item.suggested_edits)
        return sorted(found, key=_severity_key)

    def pending(self) -> list[ReviewItem]:
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
            "edits": sorted(self.edits, key=_severity_key),
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
            {"final": final, "edits": sorted(self.edits, key=_severity_key)},
        )

    def _check_unique(self, code: str, system: str, ignore: ReviewItem | None = None) -> None:
        for other in self.final_items():
            if other is not ignore and (other.final_code, other.final_system) == (code, system):
                raise InputError(f"{code} is already in the final code set.")

    def _group(self) -> None:
        # Stable: keeps the coder's order within diagnoses and within procedures.
        self.items.sort(key=lambda it: not it.is_diagnosis)


# --------------------------------------------------------------------------- service


def read_note_file(path: str | os.PathLike[str]) -> str:
    """A note file's text exactly as written (UTF-8, else Windows-1252)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


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
        return self.queue[self.position] if 0 <= self.position < len(self.queue) else None

    @property
    def review(self) -> Review | None:
        entry = self.entry
        return entry.review if entry else None


def queue_from_note_files(paths: Iterable[str | os.PathLike[str]]) -> list[QueueEntry]:
    """A work queue of ``.txt`` notes in name order; other files are left out."""
    files = sorted(
        (Path(p) for p in paths if Path(p).suffix.lower() in NOTE_SUFFIXES),
        key=lambda p: p.name,
    )
    return [QueueEntry(note_id=p.stem, text=read_note_file(p)) for p in files]


def queue_from_batch(
    batch_path: str | os.PathLike[str], note_paths: Iterable[str | os.PathLike[str]] = ()
) -> tuple[list[QueueEntry], list[str]]:
    """A work queue from a batch output (JSON Lines in the suggestion schema).

    A line's note text is its ``text`` field when present, else the note file whose name or
    stem equals the result's ``id`` (or its last path part: ``codesuggest batch`` names a
    note ``sub/name`` after its path) among ``note_paths``. A note whose evidence offsets do not
    match the text found is opened without the text, with a problem noted.

    Returns:
        The queue and the problems found (one message per skipped or degraded line).
    """
    by_name: dict[str, Path] = {}
    for p in map(Path, note_paths):
        by_name.setdefault(p.name, p)
        by_name.setdefault(p.stem, p)
    entries: list[QueueEntry] = []
    problems: list[str] = []
    with Path(batch_path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {n}: not JSON ({exc.msg})")
                continue
            if not isinstance(d, dict):
                problems.append(f"line {n}: not a JSON object")
                continue
            issues = validate_result_dict(d)
            if issues:
                problems.append(f"line {n}: not a suggestion result ({issues[0]})")
                continue
            note_id = str(d.get("id") if d.get("id") is not None else f"line-{n}")
            text = d.get("text") if isinstance(d.get("text"), str) else None
            # batch names a note in a subfolder "sub/name"; a browser upload keeps only "name"
            match = by_name.get(note_id) or by_name.get(note_id.rsplit("/", 1)[-1])
            if text is None and match is not None:
                text = read_note_file(match)
            entry = QueueEntry(note_id=note_id, text=text, result=d)
            if text is not None and not offsets_match(d, text):
                entry.text = None
                entry.problem = (
                    f"The note text found for {note_id!r} does not match the batch output's "
                    "evidence offsets; it is not shown."
                )
                problems.append(f"line {n}: {entry.problem}")
            elif text is None:
                entry.problem = (
                    f"The batch output has no text for {note_id!r}: open its folder of notes "
                    "to see the evidence in context."
                )
            entries.append(entry)
    return entries, problems


def offsets_match(result: Mapping[str, Any], text: str) -> bool:
    """Whether every evidence span of ``result`` lies in ``text`` and quotes it exactly."""
    for s in result.get("suggestions") or []:
        for e in s.get("evidence") or []:
            start, end = e.get("start", -1), e.get("end", -1)
            if not 0 <= start <= end <= len(text):
                return False
            if "text" in e and text[start:end] != e["text"]:
                return False
    return True


@contextlib.contextmanager
def _undo_on_error(review: Review) -> Iterator[None]:
    """Put the review back as it was if the action fails before it is committed.

    The screen must never show a decision the audit log does not hold.
    """
    saved = copy.deepcopy(
        (review.items, review.context, review.edits, review.status, review._next_id)
    )
    try:
        yield
    except BaseException:
        review.items, review.context, review.edits, review.status, review._next_id = saved
        raise


class ReviewService:
    """The review screen's server side: the suggester, the audit store and exports.

    One instance serves every browser session; all per-note state lives in ``Review``
    objects held by each session.
    """

    def __init__(
        self,
        suggester: SuggesterLike | Future[SuggesterLike],
        store: AuditStore,
        *,
        reviewer: str,
        export_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._suggester = suggester
        self.store = store
        self.reviewer = reviewer
        self.export_dir = Path(export_dir or tempfile.mkdtemp(prefix="codesuggest-exports-"))
        self.export_dir.mkdir(parents=True, exist_ok=True)

    @property
    def suggester(self) -> SuggesterLike:
        """The suggester; while it is still loading in the background, waits for it."""
        if isinstance(self._suggester, Future):
            return self._suggester.result()
        return self._suggester

    def open(
        self,
        *,
        text: str | None,
        note_id: str | None,
        context: Mapping[str, Any],
        reviewer: str,
        result: Mapping[str, Any] | None = None,
    ) -> Review:
        """Start a review of a note: suggest codes (unless a batch ``result`` is given)."""
        ctx = normalise_context(**context)
        if result is None:
            if text is None:
                raise InputError("There is no note text to suggest codes for.")
            result = self.suggester.suggest(text, id=note_id, **ctx).to_dict()
        review = Review(result, note_text=text, reviewer=reviewer, note_id=note_id)
        self.revalidate(review)
        self.store.start_review(
            review_id=review.review_id,
            reviewer=reviewer,
            result=review.result,
            note_text=text,
            items=review.snapshot(),
            note_id=review.note_id,
        )
        return review

    def revalidate(self, review: Review) -> None:
        """Re-run the coding-rule edits over the review's final code set."""
        codes = review.final_codes()
        found = self.suggester.validate(codes, **review.context) if codes else []
        review.edits = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in found]

    def apply(self, review: Review, action: str, *args: Any) -> dict[str, Any] | None:
        """Do one action on a review, re-run the edits and commit it to the audit store.

        Returns:
            The stored audit row, or None when the action changed nothing.
        """
        handlers: dict[str, Callable[..., Decision | None]] = {
            "accept": review.accept,
            "reject": review.reject,
            "replace": review.replace,
            "add": review.add,
            "move": review.move,
            "context": review.set_context,
        }
        if action not in handlers:
            raise InputError(f"Unknown action {action!r}.")
        with _undo_on_error(review):
            decision = handlers[action](*args)
            if decision is None:
                return None
            self.revalidate(review)
            return self.store.record(
                review.review_id,
                decision,
                items=review.snapshot(),
                context=review.context if action == "context" else None,
            )

    def finalise(self, review: Review) -> dict[str, Path]:
        """Store the final code set and write its CSV, JSON and FHIR files."""
        with _undo_on_error(review):
            self.revalidate(review)
            decision = review.finalise()
            row = self.store.record(
                review.review_id, decision, items=review.snapshot(), final=review.final()
            )
        review.finalised_at = row["ts"]
        record = review.to_record(self.store.actions(review.review_id))
        return export.write_exports(record, self.export_dir / review.review_id)

    def search(self, query: str, *, limit: int = 12) -> list[Any]:
        """Typeahead over every code set in use; an empty or one-letter query finds nothing."""
        if len(query.strip()) < 2:
            return []
        return self.suggester.codebook.search(query, limit=limit)

    def describe(self, code: str, system: str | None = None) -> tuple[str, str, str]:
        """``(code, system, description)`` of a code in the code sets; ``InputError`` if none."""
        info = self.suggester.codebook.find(code, system)
        if info is None:
            raise InputError(f"{code!r} is not in the code sets in use; search for it instead.")
        return info.code, info.system, info.description

    def write_labelled(self) -> Path:
        """The labelled-data export of every finalised review, as a JSONL file."""
        fd, name = tempfile.mkstemp(
            prefix="codesuggest-labels-", suffix=".jsonl", dir=self.export_dir
        )
        os.close(fd)
        self.store.write_labelled(name)
        return Path(name)


# --------------------------------------------------------------------------- HTML views

ASSERTION_LABELS = {
    "present": "present",
    "negated": "negated",
    "uncertain": "uncertain",
    "hypothetical": "hypothetical",
    "historical": "historical",
    "family": "family history",
    "context": "context (model)",
}
_KNOWN_CLASSES = (*ASSERTIONS, "context", "excluded")


def _assertion_class(assertion: str | None) -> str:
    a = assertion or "present"
    return f"a-{a}" if a in _KNOWN_CLASSES else "a-other"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_legend() -> str:
    """The colour key of the evidence highlights."""
    chips = "".join(
        f'<span class="cs-ev {_assertion_class(a)}">{_e(label)}</span>'
        for a, label in ASSERTION_LABELS.items()
    )
    return (
        '<div class="cs-legend"><span class="cs-legend-title">Evidence:</span>'
        f'{chips}<span class="cs-ev a-present cs-focus">selected suggestion</span></div>'
    )


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    assertion: str
    item: int | None
    label: str


def _spans(review: Review, text: str) -> list[_Span]:
    spans = []
    for it in review.items:
        if it.status == "rejected":
            continue
        for e in it.evidence:
            start, end = e.get("start", -1), e.get("end", -1)
            if not 0 <= start < end <= len(text):
                continue
            assertion = e.get("assertion") or "present"
            where = f" · {e['section']}" if e.get("section") else ""
            spans.append(
                _Span(start, end, assertion, it.item_id, f"{it.code} · {assertion}{where}")
            )
    for x in review.result.get("excluded") or []:
        start, end = x.get("start", -1), x.get("end", -1)
        if not 0 <= start < end <= len(text):
            continue
        reason = x.get("reason", "")
        assertion = reason if reason in ASSERTIONS else "excluded"
        codes = ", ".join(x.get("codes") or [])
        spans.append(_Span(start, end, assertion, None, f"not coded: {reason} {codes}".strip()))
    return spans


_CAUTION = ("negated", "uncertain", "hypothetical", "family", "historical", "present", "context")


def _span_priority(span: _Span) -> tuple[int, int]:
    rank = _CAUTION.index(span.assertion) if span.assertion in _CAUTION else len(_CAUTION)
    return span.end - span.start, rank


def render_note(review: Review | None, selected: int | None = None, problem: str = "") -> str:
    """The note with evidence highlighted by assertion and section names shown.

    Overlapping spans are split at every boundary; a piece takes the colour of the selected
    suggestion's span when it has one, else of the narrowest span covering it (on a tie, the
    most cautious assertion: negated before present).
    """
    if review is None:
        return '<div class="cs-note cs-empty">Paste a note or open files to start.</div>'
    notice = f'<div class="cs-notice">{_e(problem)}</div>' if problem else ""
    text = review.note_text
    if text is None:
        return notice + (
            '<div class="cs-note cs-empty">The note text is not available for this result. '
            "Evidence is listed in the table.</div>"
        )
    spans = _spans(review, text)
    sections = {
        s["start"]: s.get("name") or s.get("title") or ""
        for s in review.result.get("sections") or []
        if isinstance(s, dict) and isinstance(s.get("start"), int) and 0 <= s["start"] < len(text)
    }
    cuts = sorted({0, len(text), *sections, *(s.start for s in spans), *(s.end for s in spans)})
    out = [notice, '<div class="cs-note" role="document">']
    for a, b in itertools.pairwise(cuts):
        if a in sections:
            out.append(f'<span class="cs-sec">{_e(sections[a])}</span>')
        piece = _e(text[a:b])
        covering = [s for s in spans if s.start <= a and b <= s.end]
        if not covering:
            out.append(piece)
            continue
        focused = [s for s in covering if selected is not None and s.item == selected]
        # The narrowest span wins; on a tie the more cautious assertion shows (a "negated"
        # exclusion over a "present" evidence span), so a conflict is never hidden.
        main = (focused or sorted(covering, key=_span_priority))[0]
        classes = f"cs-ev {_assertion_class(main.assertion)}" + (" cs-focus" if focused else "")
        title = "; ".join(dict.fromkeys(s.label for s in covering))
        item_attr = f' data-item="{main.item}"' if main.item is not None else ""
        out.append(f'<mark class="{classes}"{item_attr} title="{_e(title)}">{piece}</mark>')
    out.append("</div>")
    return "".join(out)


def _snippet(review: Review, item: ReviewItem) -> str:
    if not item.evidence:
        return '<span class="cs-muted">added by the coder</span>' if item.origin == "added" else ""
    e = item.evidence[0]
    text = e.get("text")
    if text is None and review.note_text is not None:
        text = review.note_text[e.get("start", 0) : e.get("end", 0)]
    more = (
        f' <span class="cs-muted">+{len(item.evidence) - 1}</span>'
        if len(item.evidence) > 1
        else ""
    )
    where = str(e.get("section") or "").replace("_", " ")
    section = f'<div class="cs-muted">{_e(where)}</div>' if where else ""
    assertion = e.get("assertion") or "present"
    return (
        f'{section}<span class="cs-ev {_assertion_class(assertion)}">'
        f"“{_e(text or '')}”</span>{more}"
    )


def _edits_cell(edits: list[dict[str, Any]]) -> str:
    # Two lines each in the table; the full text is in the tooltip and the edits panel.
    return "".join(
        f'<div class="cs-edit cs-clamp sev-{_e(e.get("severity"))}" title="{_e(e.get("message"))}">'
        f"<b>{_e(e.get('severity'))}</b> {_e(e.get('message'))}</div>"
        for e in edits
    )


def _row_actions(item: ReviewItem) -> str:
    def button(action: str, label: str, hint: str, disabled: bool = False) -> str:
        dis = " disabled" if disabled else ""
        return (
            f'<button type="button" class="cs-btn cs-{action}" data-action="{action}" '
            f'data-item="{item.item_id}" title="{_e(hint)}" aria-label="{_e(hint)}"{dis}>'
            f"{label}</button>"
        )

    return (
        button("accept", "✓ Accept", f"Accept {item.code}", item.status == "accepted")
        + button("reject", "✗ Reject", f"Reject {item.code}", item.status == "rejected")
        + button("replace", "⇄ Replace", f"Replace {item.code} with a code you search for")
        + button("up", "↑", f"Move {item.final_code} up")
        + button("down", "↓", f"Move {item.final_code} down")
    )


def render_table(review: Review | None, selected: int | None = None) -> str:
    """The suggestions table: one row per code with its evidence, edits and actions."""
    if review is None:
        return '<div class="cs-empty">No suggestions yet.</div>'
    if not review.items:
        errors = "; ".join(str(e.get("message", "")) for e in review.result.get("errors") or [])
        why = f" ({_e(errors)})" if errors else ""
        return (
            f'<div class="cs-empty">No codes were suggested for this note{why}. '
            "Add codes with the search below.</div>"
        )
    first = "principal" if review.context.get("setting") == "inpatient" else "first-listed"
    rows = []
    seq = {True: 0, False: 0}
    current_group: bool | None = None
    for it in review.items:
        if it.is_diagnosis != current_group:
            current_group = it.is_diagnosis
            heading = (
                f"Diagnoses (ICD-10-CM): the first accepted is the {first} diagnosis"
                if it.is_diagnosis
                else "Procedures (CPT / HCPCS)"
            )
            rows.append(f'<tr class="cs-group"><td colspan="8">{_e(heading)}</td></tr>')
        number = ""
        if it.in_final:
            seq[it.is_diagnosis] += 1
            number = str(seq[it.is_diagnosis])
            if it.is_diagnosis and seq[True] == 1:
                number += f' <span class="cs-muted">{first}</span>'
        if it.status == "replaced":
            code = f"<s>{_e(it.code)}</s> → <b>{_e(it.replaced_by)}</b>"
            desc = (
                f"{_e(it.replaced_by_description)}"
                f'<div class="cs-muted">was: {_e(it.description)}</div>'
            )
        else:
            code = f"<b>{_e(it.code)}</b>"
            desc = _e(it.description)
        star = (
            '<span class="cs-star" title="pre-selected by the tool">★</span>'
            if it.preselected
            else ""
        )
        conf = "" if it.score is None else f"{round(100 * float(it.score))}%"
        sel = " cs-selected" if selected == it.item_id else ""
        rows.append(
            f'<tr class="cs-row st-{_e(it.status)}{sel}" data-item="{it.item_id}" '
            f'data-code="{_e(it.code)}">'
            f'<td class="cs-c-star">{star}</td><td class="cs-c-seq">{number}</td>'
            f'<td class="cs-c-code">{code}<div class="cs-muted">{_e(it.final_system)}</div>'
            f'<span class="cs-pill st-{_e(it.status)}">{_e(it.status)}</span></td>'
            f'<td class="cs-c-desc">{desc}</td><td class="cs-c-conf">{conf}</td>'
            f'<td class="cs-c-ev">{_snippet(review, it)}</td>'
            f'<td class="cs-c-edits">{_edits_cell(review.edits_for(it))}</td>'
            f'<td class="cs-c-actions">{_row_actions(it)}</td></tr>'
        )
    head = (
        '<tr><th title="pre-selected by the tool">★</th><th>#</th><th>Code</th>'
        "<th>Description</th><th>Conf.</th><th>Evidence</th><th>Edits</th>"
        "<th>Actions</th></tr>"
    )
    return (
        f'<div class="cs-table-wrap"><table class="cs-table"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_edits(review: Review | None) -> str:
    """The rule edits of the final code set, errors first, and what is still undecided."""
    if review is None:
        return ""
    parts = []
    final = review.final_codes()
    if final:
        parts.append(f"<div><b>Final codes:</b> {_e(', '.join(final))}</div>")
    else:
        parts.append('<div class="cs-muted">The final code set is empty.</div>')
    pending = review.pending()
    if pending:
        parts.append(
            f'<div class="cs-muted">{len(pending)} suggestion(s) not yet decided '
            "(left out unless accepted).</div>"
        )
    for e in sorted(review.edits, key=_severity_key):
        fix = f" Fix: {_e(', '.join(e.get('fix') or []))}." if e.get("fix") else ""
        parts.append(
            f'<div class="cs-edit sev-{_e(e.get("severity"))}"><b>{_e(e.get("severity"))}</b> '
            f"[{_e(', '.join(e.get('codes') or []))}] {_e(e.get('message'))}{fix}</div>"
        )
    if final and not review.edits:
        parts.append('<div class="cs-muted">No coding-rule edits for the final code set.</div>')
    return "".join(parts)


def render_progress(session: Session | None) -> str:
    """The queue position and the review's identity, e.g. ``Note 3 / 20 · note-id``."""
    if session is None or not session.queue:
        return "No note open."
    entry = session.entry
    assert entry is not None
    bits = [f"Note **{session.position + 1} / {len(session.queue)}**", f"`{entry.note_id}`"]
    if entry.review is not None:
        r = entry.review
        bits.append(f"review `{r.review_id[:8]}`")
        bits.append(f"status **{r.status}**")
        bits.append(f"reviewer {r.reviewer}")
    return " · ".join(bits)


def render_analytics(a: Mapping[str, Any]) -> str:
    """The analytics tab: acceptance overall and per code, most rejected and replaced."""
    o = a["overall"]

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
        body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
        if not body:
            body = f'<tr><td colspan="{len(headers)}" class="cs-muted">none yet</td></tr>'
        head = "".join(f"<th>{_e(h)}</th>" for h in headers)
        return (
            f'<table class="cs-table cs-analytics"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    summary = (
        f'<div class="cs-stat"><b>{pct(o["acceptance_rate"])}</b> of decided suggestions accepted '
        f"({o['accepted']} accepted, {o['rejected']} rejected, {o['replaced']} replaced, "
        f"{o['pending']} undecided; {o['added']} codes added by coders) over {o['reviews']} "
        f"reviews, {o['finalised']} finalised.</div>"
    )
    per_code = table(
        [
            "Code",
            "System",
            "Description",
            "Suggested",
            "Accepted",
            "Rejected",
            "Replaced",
            "Acceptance",
        ],
        (
            [
                d["code"],
                d["system"],
                d["description"],
                d["suggested"],
                d["accepted"],
                d["rejected"],
                d["replaced"],
                pct(d["acceptance_rate"]),
            ]
            for d in a["per_code"]
        ),
    )
    rejected = table(
        ["Code", "Description", "Rejected", "Suggested"],
        ([d["code"], d["description"], d["rejected"], d["suggested"]] for d in a["most_rejected"]),
    )
    replaced = table(
        ["Code", "Description", "Replaced", "Replaced by"],
        (
            [
                d["code"],
                d["description"],
                d["replaced"],
                ", ".join(f"{r['code']} ×{r['count']}" for r in d["replaced_by"]),
            ]
            for d in a["most_replaced"]
        ),
    )
    added = table(
        ["Code", "Description", "Added"],
        ([d["code"], d["description"], d["added"]] for d in a["most_added"]),
    )
    return (
        summary
        + '<h3 class="cs-h">Most often rejected</h3>'
        + rejected
        + '<h3 class="cs-h">Most often replaced, and by what</h3>'
        + replaced
        + '<h3 class="cs-h">Most often added (missed by the tool)</h3>'
        + added
        + '<h3 class="cs-h">Per code</h3>'
        + per_code
    )


# --------------------------------------------------------------------------- Gradio app

CSS = """
.cs-note { position: relative; white-space: pre-wrap;
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 13px; line-height: 1.55; max-height: 640px; overflow-y: auto; padding: 10px 12px;
  border: 1px solid var(--border-color-primary); border-radius: 6px;
  background: var(--block-background-fill); color: var(--body-text-color); }
.cs-empty { color: var(--body-text-color-subdued); padding: 12px; }
.cs-notice { background: #fff7ed; color: #7c2d12; border: 1px solid #fdba74; border-radius: 6px;
  padding: 6px 10px; margin-bottom: 6px; }
.cs-ev { color: #111827; border-radius: 3px; padding: 0 1px; cursor: pointer; }
.cs-ev.a-present { background: #bbf7d0; border-bottom: 2px solid #15803d; }
.cs-ev.a-negated { background: #fecaca; border-bottom: 2px solid #b91c1c;
  text-decoration: line-through; }
.cs-ev.a-uncertain { background: #fde68a; border-bottom: 2px dashed #b45309; }
.cs-ev.a-hypothetical { background: #e9d5ff; border-bottom: 2px dotted #7e22ce; }
.cs-ev.a-historical { background: #e5e7eb; border-bottom: 2px solid #4b5563; }
.cs-ev.a-family { background: #a5f3fc; border-bottom: 2px double #0e7490; }
.cs-ev.a-context { background: #dbeafe; border-bottom: 1px dashed #1d4ed8; }
.cs-ev.a-excluded, .cs-ev.a-other { background: #f3f4f6; border-bottom: 1px dotted #6b7280; }
.cs-ev.cs-focus { outline: 2px solid #1d4ed8; outline-offset: 1px; box-shadow: 0 0 0 4px #bfdbfe; }
.cs-legend { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 12px;
  margin-bottom: 6px; }
.cs-legend .cs-ev { padding: 1px 6px; }
.cs-legend-title { font-weight: 600; }
.cs-sec { display: inline-block; font-family: var(--font); font-size: 10px;
  text-transform: uppercase;
  letter-spacing: .05em; color: #1e3a8a; background: #dbeafe; border-radius: 8px; padding: 0 6px;
  margin-right: 4px; }
.cs-table-wrap { overflow: auto; max-width: 100%; max-height: 70vh; }
.cs-table-wrap thead th { position: sticky; top: 0; z-index: 1;
  background: var(--block-background-fill); }
.cs-table { width: 100%; border-collapse: collapse; font-size: 13px; }
.cs-table th { text-align: left; border-bottom: 2px solid var(--border-color-primary);
  padding: 4px; }
.cs-table td { border-bottom: 1px solid var(--border-color-primary); padding: 4px;
  vertical-align: top; }
.cs-row { cursor: pointer; }
.cs-row.cs-selected { background: rgba(59, 130, 246, .12); box-shadow: inset 3px 0 0 #1d4ed8; }
.cs-row.st-rejected td.cs-c-code, .cs-row.st-rejected td.cs-c-desc { text-decoration: line-through;
  opacity: .6; }
.cs-group td { font-weight: 600; background: var(--background-fill-secondary); }
.cs-muted { color: var(--body-text-color-subdued); font-size: 11px; }
.cs-star { color: #d97706; font-size: 15px; }
.cs-pill { border-radius: 9px; padding: 1px 7px; font-size: 11px; font-weight: 600; }
.cs-pill.st-pending { background: #e5e7eb; color: #374151; }
.cs-pill.st-accepted { background: #bbf7d0; color: #14532d; }
.cs-pill.st-rejected { background: #fecaca; color: #7f1d1d; }
.cs-pill.st-replaced { background: #bfdbfe; color: #1e3a8a; }
.cs-edit { font-size: 12px; margin: 1px 0; }
.cs-edit.sev-error b { color: #b91c1c; }
.cs-edit.sev-warning b { color: #b45309; }
.cs-edit.sev-info b { color: #1d4ed8; }
.cs-c-actions { min-width: 140px; }
.cs-c-code .cs-pill { display: inline-block; margin-top: 3px; }
.cs-clamp { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; }
.cs-c-code { white-space: nowrap; }
.cs-c-desc { min-width: 150px; }
.cs-c-ev { min-width: 120px; max-width: 200px; overflow-wrap: break-word; }
.cs-c-edits { min-width: 170px; }
.cs-btn { font-size: 12px; padding: 2px 6px; margin: 1px; border-radius: 4px;
  border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill);
  color: var(--button-secondary-text-color); cursor: pointer; }
.cs-btn:disabled { opacity: .4; cursor: default; }
.cs-btn.cs-accept:not(:disabled) { border-color: #15803d; }
.cs-btn.cs-reject:not(:disabled) { border-color: #b91c1c; }
.cs-stat { font-size: 15px; margin: 6px 0 12px; }
.cs-h { font-size: 16px; font-weight: 600; margin: 16px 0 4px; }
"""

_TABLE_JS = """
element.addEventListener('click', (ev) => {
  const button = ev.target.closest('button[data-action]');
  if (button) {
    if (button.disabled) return;
    trigger('click', {action: button.dataset.action, item: Number(button.dataset.item)});
    if (button.dataset.action === 'replace') {
      const box = document.querySelector('#code-search textarea, #code-search input');
      if (box) box.focus();
    }
    return;
  }
  const row = ev.target.closest('tr[data-item]');
  if (row) trigger('click', {action: 'select', item: Number(row.dataset.item)});
});
"""

_NOTE_JS = """
element.addEventListener('click', (ev) => {
  const mark = ev.target.closest('mark[data-item]');
  if (mark) trigger('click', {action: 'select', item: Number(mark.dataset.item)});
});
watch('value', () => {
  // Scroll the note box only, never the page, to bring the selected evidence into view.
  const box = element.querySelector('.cs-note');
  const focus = element.querySelector('.cs-focus');
  if (!box || !focus) return;
  const top = focus.offsetTop, bottom = top + focus.offsetHeight;
  if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
    box.scrollTop = Math.max(0, top - box.clientHeight / 3);
  }
});
"""


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def build_app(
    service: ReviewService,
    *,
    title: str = "codesuggest review",
    delete_cache: tuple[int, int] | None = (3600, 3600),
) -> Any:
    """The review screen as a ``gr.Blocks`` (not launched).

    ``delete_cache`` (every, older than; seconds): how often uploaded notes and downloads are
    removed from Gradio's file cache, since they are PHI.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr

    def header() -> str:
        suggester = service.suggester
        versions = " · ".join(f"{k} {v}" for k, v in suggester.codebook.versions().items())
        model = getattr(suggester, "model_info", None) or {}
        model_text = f"model {model.get('name', '?')} {model.get('version', '')}".strip()
        return f"## codesuggest · coder review\n{_e(versions)} · {_e(model_text)}"

    def reviewer_of(session: Session | None, request: gr.Request | None) -> str:
        user = getattr(request, "username", None) if request is not None else None
        if user:
            return str(user)
        if session is not None and session.reviewer:
            return session.reviewer
        return service.reviewer

    def views(session: Session | None, message: str = "") -> tuple[Any, ...]:
        review = session.review if session else None
        entry = session.entry if session else None
        selected = session.selected if session else None
        exports = entry.exports if entry and review and review.status == "finalised" else {}
        return (
            session,
            render_note(review, selected, entry.problem if entry else ""),
            render_table(review, selected),
            render_edits(review),
            render_progress(session),
            message,
            gr.update(value=exports.get("csv"), visible=bool(exports)),
            gr.update(value=exports.get("json"), visible=bool(exports)),
            gr.update(value=exports.get("fhir"), visible=bool(exports)),
        )

    def context_values(session: Session | None) -> tuple[Any, ...]:
        review = session.review if session else None
        if review is None:
            return (gr.update(),) * 4
        c = review.context
        age = "" if c["age"] is None else str(c["age"])
        return (age, c["sex"] or "unknown", c["setting"], c["encounter_date"] or "")

    def ensure_open(session: Session, context: Mapping[str, Any], request: Any) -> str:
        """Open the current queue entry's review if it has none yet; returns a message."""
        entry = session.entry
        if entry is None or entry.review is not None:
            return ""
        ctx = dict(context)
        if entry.result is not None:
            ctx = dict(entry.result.get("context") or {}) or ctx
            ctx = {k: ctx.get(k) for k in ("setting", "age", "sex", "encounter_date")}
        try:
            entry.review = service.open(
                text=entry.text,
                note_id=entry.note_id,
                context=ctx,
                reviewer=reviewer_of(session, request),
                result=entry.result,
            )
        except InputError as exc:
            raise gr.Error(f"{entry.note_id}: {exc}") from None
        session.selected = None
        n = len(entry.review.items)
        return (
            f"{n} code(s) suggested for {entry.note_id}."
            if entry.result is None
            else (f"Opened {entry.note_id} from the batch output ({n} code(s)).")
        )

    def start_queue(
        entries: list[QueueEntry], context: Mapping[str, Any], request: Any, note: str = ""
    ) -> tuple[Any, ...]:
        if not entries:
            raise gr.Error("No notes found: give .txt files, or a batch output in JSON Lines.")
        session = Session(queue=entries, reviewer=reviewer_of(None, request))
        message = ensure_open(session, context, request)
        return (
            *views(session, " ".join(m for m in (message, note) if m)),
            *context_values(session),
            gr.update(open=False),
        )

    def ctx_of(age: Any, sex: Any, setting: Any, encounter_date: Any) -> dict[str, Any]:
        try:
            return normalise_context(
                setting=setting,
                age=age,
                sex=None if sex == "unknown" else sex,
                encounter_date=encounter_date,
            )
        except InputError as exc:
            raise gr.Error(str(exc)) from None

    def on_paste(
        text: str, age: Any, sex: Any, setting: Any, encounter_date: Any, request: gr.Request
    ) -> tuple[Any, ...]:
        if not text or not text.strip():
            raise gr.Error("Paste a note first.")
        ctx = ctx_of(age, sex, setting, encounter_date)
        note_id = f"pasted-{note_sha256(text)[:10]}"
        return start_queue([QueueEntry(note_id=note_id, text=text)], ctx, request)

    def on_files(
        files: list[str] | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        ctx = ctx_of(age, sex, setting, encounter_date)
        return start_queue(queue_from_note_files(files or []), ctx, request)

    def on_batch(
        batch: str | None,
        folder: list[str] | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        if not batch:
            raise gr.Error("Choose the batch output file (.jsonl) first.")
        ctx = ctx_of(age, sex, setting, encounter_date)
        try:
            entries, problems = queue_from_batch(batch, folder or [])
        except (OSError, UnicodeDecodeError) as exc:
            raise gr.Error(f"Cannot read the batch output: {exc}") from None
        note = f"{len(problems)} line(s) had problems: {problems[0]}" if problems else ""
        return start_queue(entries, ctx, request, note)

    def on_navigate(
        session: Session | None,
        step: int,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        if session is None or not session.queue:
            return (*views(session, "Open notes first."), *context_values(None))
        session.position = max(0, min(len(session.queue) - 1, session.position + step))
        session.selected = None
        message = ensure_open(session, ctx_of(age, sex, setting, encounter_date), request)
        return (*views(session, message), *context_values(session))

    def nav(step: int) -> Callable[..., tuple[Any, ...]]:
        def handler(
            session: Session | None,
            age: Any,
            sex: Any,
            setting: Any,
            encounter_date: Any,
            request: gr.Request,
        ) -> tuple[Any, ...]:
            return on_navigate(session, step, age, sex, setting, encounter_date, request)

        return handler

    def act(session: Session | None, fn: Callable[[Review], str]) -> tuple[Any, ...]:
        review = session.review if session else None
        if review is None:
            raise gr.Error("Open a note first.")
        try:
            message = fn(review)
        except InputError as exc:
            raise gr.Error(str(exc)) from None
        return views(session, message)

    def on_table(session: Session | None, evt: gr.EventData) -> tuple[Any, ...]:
        data = getattr(evt, "_data", None) or {}
        action, item = data.get("action"), data.get("item")
        if session is None or session.review is None or not isinstance(item, int):
            return views(session)
        session.selected = item

        def run(review: Review) -> str:
            it = review.item(item)
            if action == "select":
                return f"Selected {it.final_code}: its evidence is outlined in the note."
            if action == "replace":
                return (
                    f"Search below for the code to put in place of {it.code}, "
                    "pick it, then press Replace."
                )
            if action in ("up", "down"):
                row = service.apply(review, "move", item, -1 if action == "up" else 1)
                return f"Moved {it.final_code} {action}." if row else ""
            if action in ("accept", "reject"):
                row = service.apply(review, action, item)
                return f"{action.capitalize()}ed {it.code}." if row else ""
            return ""

        return act(session, run)

    def on_search(query: str) -> Any:
        try:
            results = service.search(query or "")
        except InputError:
            results = []
        choices = [
            (
                f"{r.code} · {r.description} "
                f"({r.system}{'' if r.billable else ', header: not billable'})",
                f"{r.system}|{r.code}",
            )
            for r in results
        ]
        return gr.update(choices=choices, value=None)

    def picked(choice: str | None) -> tuple[str, str, str]:
        if not choice or "|" not in choice:
            raise InputError("Pick a code from the search results first.")
        system, code = choice.split("|", 1)
        return service.describe(code, system)

    def on_replace(session: Session | None, choice: str | None) -> tuple[Any, ...]:
        def run(review: Review) -> str:
            if session is None or session.selected is None:
                raise InputError("Select the row to replace first (click it in the table).")
            code, system, description = picked(choice)
            old = review.item(session.selected)
            row = service.apply(review, "replace", session.selected, code, system, description)
            return f"Replaced {old.code} with {code}." if row else ""

        return act(session, run)

    def on_add(session: Session | None, choice: str | None) -> tuple[Any, ...]:
        def run(review: Review) -> str:
            code, system, description = picked(choice)
            service.apply(review, "add", code, system, description)
            if session is not None:
                session.selected = max(it.item_id for it in review.items)
            return f"Added {code}."

        return act(session, run)

    def on_accept_preselected(session: Session | None) -> tuple[Any, ...]:
        def run(review: Review) -> str:
            done = [
                it.code
                for it in list(review.items)
                if it.preselected
                and it.status == "pending"
                and service.apply(review, "accept", it.item_id)
            ]
            return (
                f"Accepted {len(done)} pre-selected code(s)."
                if done
                else "No pre-selected code is pending."
            )

        return act(session, run)

    def on_context(
        session: Session | None, age: Any, sex: Any, setting: Any, encounter_date: Any
    ) -> tuple[Any, ...]:
        if session is None or session.review is None:
            return views(session)
        ctx = ctx_of(age, sex, setting, encounter_date)

        def run(review: Review) -> str:
            row = service.apply(review, "context", ctx)
            return "Patient context changed: edits re-run." if row else ""

        return act(session, run)

    def on_finalise(session: Session | None) -> tuple[Any, ...]:
        entry = session.entry if session else None

        def run(review: Review) -> str:
            paths = service.finalise(review)
            assert entry is not None
            entry.exports = {k: str(v) for k, v in paths.items()}
            n = len(review.final_codes())
            left = len(review.pending())
            extra = f" {left} undecided suggestion(s) were left out." if left else ""
            return f"Finalised {n} code(s) and saved them to the audit log.{extra} Download below."

        return act(session, run)

    def on_analytics() -> tuple[str, Any]:
        a = service.store.analytics()
        path = service.write_labelled()
        return render_analytics(a), gr.update(value=str(path), visible=True)

    private = {"api_visibility": "private"}
    with gr.Blocks(
        title=title, analytics_enabled=False, fill_width=True, delete_cache=delete_cache
    ) as app:
        state = gr.State(None)
        header_md = gr.Markdown("## codesuggest · coder review\nLoading the model…")
        with gr.Tabs():
            with gr.Tab("Review", id="review"):
                with (
                    gr.Accordion("Open notes", open=True, elem_id="opener") as opener,
                    gr.Tabs(),
                ):
                    with gr.Tab("Paste"):
                        note_in = gr.Textbox(
                            label="Note text",
                            lines=8,
                            max_lines=20,
                            elem_id="note-input",
                            placeholder="Paste a clinical note…",
                        )
                        suggest_btn = gr.Button(
                            "Suggest codes", variant="primary", elem_id="suggest-btn"
                        )
                    with gr.Tab("Text files"):
                        files_in = gr.File(
                            label="One or more notes (.txt)",
                            file_count="multiple",
                            file_types=[".txt"],
                            elem_id="files-input",
                        )
                    with gr.Tab("Folder of notes"):
                        folder_in = gr.File(
                            label="A folder of .txt notes (a work queue)",
                            file_count="directory",
                            elem_id="folder-input",
                        )
                    with gr.Tab("Batch output"):
                        batch_in = gr.File(
                            label="Batch output (.jsonl in the suggestion schema)",
                            file_types=[".jsonl", ".json"],
                            elem_id="batch-input",
                        )
                        batch_notes = gr.File(
                            label="Its folder of notes (when the output has no note text)",
                            file_count="directory",
                            elem_id="batch-notes-input",
                        )
                        batch_btn = gr.Button("Open batch output", elem_id="batch-btn")
                with gr.Row(equal_height=True):
                    # A textbox, not gr.Number: an empty age means unknown, while 0 is a newborn.
                    age_in = gr.Textbox(
                        label="Age (years)", placeholder="unknown", elem_id="ctx-age"
                    )
                    sex_in = gr.Radio(
                        ["F", "M", "unknown"], value="unknown", label="Sex", elem_id="ctx-sex"
                    )
                    setting_in = gr.Radio(
                        list(SETTINGS), value="outpatient", label="Setting", elem_id="ctx-setting"
                    )
                    date_in = gr.Textbox(
                        label="Encounter date", placeholder="YYYY-MM-DD", elem_id="ctx-date"
                    )
                with gr.Row(equal_height=True):
                    prev_btn = gr.Button("◀ Previous", size="sm", elem_id="prev-btn", scale=0)
                    progress = gr.Markdown("No note open.", elem_id="progress")
                    next_btn = gr.Button("Next ▶", size="sm", elem_id="next-btn", scale=0)
                message = gr.Markdown("", elem_id="status")
                with gr.Row():
                    with gr.Column(scale=5, min_width=340):
                        gr.HTML(render_legend(), js_on_load=None, apply_default_css=False)
                        note_view = gr.HTML(
                            render_note(None),
                            js_on_load=_NOTE_JS,
                            apply_default_css=False,
                            elem_id="note-view",
                        )
                    with gr.Column(scale=8, min_width=520):
                        table = gr.HTML(
                            render_table(None),
                            js_on_load=_TABLE_JS,
                            apply_default_css=False,
                            elem_id="suggestions",
                        )
                        with gr.Row():
                            accept_pre_btn = gr.Button(
                                "Accept all ★ pre-selected",
                                size="sm",
                                elem_id="accept-preselected-btn",
                            )
                        search_in = gr.Textbox(
                            label="Find a code (ICD-10-CM, CPT): words or a code",
                            elem_id="code-search",
                            placeholder="e.g. type 2 diabetes with hyperglycemia, E11.6",
                        )
                        results = gr.Radio([], label="Search results", elem_id="search-results")
                        with gr.Row():
                            replace_btn = gr.Button(
                                "Replace the selected row with this code",
                                size="sm",
                                elem_id="replace-btn",
                            )
                            add_btn = gr.Button("Add this code", size="sm", elem_id="add-btn")
                        edits_view = gr.HTML(
                            render_edits(None),
                            js_on_load=None,
                            apply_default_css=False,
                            elem_id="edits",
                        )
                        finalise_btn = gr.Button(
                            "Finalise", variant="primary", elem_id="finalise-btn"
                        )
                        with gr.Row():
                            dl_csv = gr.DownloadButton("CSV", visible=False, elem_id="dl-csv")
                            dl_json = gr.DownloadButton("JSON", visible=False, elem_id="dl-json")
                            dl_fhir = gr.DownloadButton("FHIR R4", visible=False, elem_id="dl-fhir")
            with gr.Tab("Analytics", id="analytics"):
                refresh_btn = gr.Button("Refresh", elem_id="analytics-refresh")
                analytics_view = gr.HTML(
                    "", js_on_load=None, apply_default_css=False, elem_id="analytics"
                )
                dl_labels = gr.DownloadButton(
                    "Labelled decisions for retraining (JSONL)", visible=False, elem_id="dl-labels"
                )

        view_out = [
            state,
            note_view,
            table,
            edits_view,
            progress,
            message,
            dl_csv,
            dl_json,
            dl_fhir,
        ]
        ctx_in = [age_in, sex_in, setting_in, date_in]
        open_out = [*view_out, *ctx_in, opener]
        # Suggesting takes up to a second: a small spinner. Review actions take milliseconds:
        # no "processing" overlay flashing over the note and the table at every click.
        opening = {
            "concurrency_id": "suggest",
            "concurrency_limit": 1,
            "show_progress": "minimal",
            **private,
        }
        reviewing = {
            "concurrency_id": "review",
            "concurrency_limit": 1,
            "show_progress": "hidden",
            **private,
        }

        suggest_btn.click(on_paste, [note_in, *ctx_in], open_out, **opening)
        files_in.upload(on_files, [files_in, *ctx_in], open_out, **opening)
        folder_in.upload(on_files, [folder_in, *ctx_in], open_out, **opening)
        batch_btn.click(on_batch, [batch_in, batch_notes, *ctx_in], open_out, **opening)
        nav_out = [*view_out, *ctx_in]
        prev_btn.click(nav(-1), [state, *ctx_in], nav_out, **opening)
        next_btn.click(nav(1), [state, *ctx_in], nav_out, **opening)
        # Every click counts: a coder clicking down the table must not lose a click that
        # came while the previous one was still being saved ("once" would drop it).
        table.click(on_table, [state], view_out, trigger_mode="multiple", **reviewing)
        note_view.click(on_table, [state], view_out, trigger_mode="multiple", **reviewing)
        search_in.input(
            on_search,
            [search_in],
            [results],
            trigger_mode="always_last",
            show_progress="hidden",
            queue=False,
            **private,
        )
        replace_btn.click(on_replace, [state, results], view_out, **reviewing)
        add_btn.click(on_add, [state, results], view_out, **reviewing)
        accept_pre_btn.click(on_accept_preselected, [state], view_out, **reviewing)
        for radio in (sex_in, setting_in):
            radio.input(on_context, [state, *ctx_in], view_out, **reviewing)
        for box in (age_in, date_in):  # on submit or leaving the box, not at each keystroke
            box.submit(on_context, [state, *ctx_in], view_out, **reviewing)
            box.blur(on_context, [state, *ctx_in], view_out, **reviewing)
        finalise_btn.click(on_finalise, [state], view_out, **reviewing)
        refresh_btn.click(on_analytics, None, [analytics_view, dl_labels], **private)
        app.load(header, None, header_md, **private)
    return app


def parse_auth(
    pairs: Sequence[str] = (), auth_file: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """Login pairs from ``user:pass`` strings and a file of such lines (``#`` comments)."""
    lines = list(pairs)
    if auth_file is not None:
        try:
            text = Path(auth_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"Cannot read the auth file {auth_file}: {exc.strerror}.") from None
        lines += [
            ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
        ]
    out = []
    for line in lines:
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise InputError(f"Login {user.strip() or line!r} must be written user:password.")
        out.append((user.strip(), password))
    return out


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/codesuggest/audit.sqlite3`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "codesuggest" / "audit.sqlite3"


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    db: str | os.PathLike[str] | None = None,
    model: str | None = None,
    reviewer: str | None = None,
    auth: Sequence[tuple[str, str]] = (),
    store_note_text: bool = False,
    block: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> Any:
    """Start the review server and print its URL; block until interrupted unless ``block``.

    The model loads in the background while the server starts, so the URL appears at once;
    the first request waits for the model. Never creates a public share link and sends no
    analytics.

    Returns:
        The launched ``gr.Blocks`` (useful with ``block=False``).
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Gradio takes seconds to import: say at once where the screen will be.
    print(f"starting the review screen on http://{host}:{port}/ ...", flush=True)
    import codesuggest

    suggester: Future[SuggesterLike] = Future()
    store = AuditStore(db or default_db_path(), store_note_text=store_note_text)
    export_dir = Path(tempfile.mkdtemp(prefix="codesuggest-exports-"))
    atexit.register(shutil.rmtree, export_dir, True)
    service = ReviewService(
        suggester, store, reviewer=reviewer or default_reviewer(), export_dir=export_dir
    )
    app = build_app(service)
    _, url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=list(auth) or None,
        auth_message="codesuggest review: sign in with your reviewer name." if auth else None,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
        footer_links=[],
        run_history=False,
        mcp_server=False,
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        max_file_size="50mb",
        allowed_paths=[str(export_dir)],
        css=CSS,
    )

    # The model loads only once the server listens: loading it alongside Gradio's start
    # would slow both (one interpreter lock), and the URL is what the user waits for.
    def load() -> None:
        try:
            suggester.set_result(codesuggest.load(model) if model else codesuggest.load())
        except BaseException as exc:  # handed to whoever waits for the model
            suggester.set_exception(exc)

    threading.Thread(target=load, name="codesuggest-load", daemon=True).start()
    print(f"codesuggest review: {url}", flush=True)
    print(f"audit log: {store.path}", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1") and not auth:
        print(
            "warning: the server is reachable from other machines without a login; "
            "give --auth-file to require one.",
            flush=True,
        )
    try:
        service.suggester  # noqa: B018 - fail now, not at the first request, if it cannot load
    except BaseException:
        app.close()
        store.close()
        raise
    print("model loaded: ready", flush=True)
    if on_ready is not None:
        on_ready(url)
    if block:
        try:
            app.block_thread()
        finally:
            store.close()
    return app
