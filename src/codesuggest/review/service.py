"""The review screen's server side: suggest codes, commit each decision to the audit store
before the screen shows it, write the exports, and build work queues from note files or a
batch output.

One ``ReviewService`` serves every browser session; all per-note state lives in the
``state.Review`` each session holds.
"""

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from codesuggest.core.codes import split_claim_code
from codesuggest.core.errors import InputError
from codesuggest.core.records import Decision
from codesuggest.output.schema import validate_result_dict
from codesuggest.review.state import QueueEntry, Review, normalise_context, undo_on_error
from codesuggest.store import export
from codesuggest.store.audit import AuditStore

NOTE_SUFFIXES = (".txt", ".text")


class SuggesterLike(Protocol):
    """What the review screen needs of ``codesuggest.load()`` (see docs/interfaces.md)."""

    codebook: Any

    def suggest(self, text: str, **kwargs: Any) -> Any:
        """A ``SuggestionResult`` for ``text`` in a patient context (``normalise_context``)."""
        ...

    def validate(self, codes: list[str], **kwargs: Any) -> list[Any]:
        """The coding-rule ``Edit``s of ``codes`` (given in coding order) in a patient context."""
        ...


def read_note_file(path: str | os.PathLike[str]) -> str:
    """A note file's text exactly as written (UTF-8, else Windows-1252)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


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

    def open_entry(self, entry: QueueEntry, *, context: Mapping[str, Any], reviewer: str) -> Review:
        """Open a work-queue note's review and keep it on the entry.

        A note from a batch output is reviewed in the patient context it was coded with, not
        the screen's.
        """
        ctx = dict(context)
        if entry.result is not None:
            ctx = dict(entry.result.get("context") or {}) or ctx
            ctx = {k: ctx.get(k) for k in ("setting", "age", "sex", "encounter_date")}
        entry.review = self.open(
            text=entry.text,
            note_id=entry.note_id,
            context=ctx,
            reviewer=reviewer,
            result=entry.result,
        )
        return entry.review

    def revalidate(self, review: Review) -> None:
        """Re-run the coding-rule edits over the review's final code set."""
        codes = review.claim_codes()
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
            "modify": review.set_line,
            "context": review.set_context,
        }
        if action not in handlers:
            raise InputError(f"Unknown action {action!r}.")
        with undo_on_error(review):
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

    def accept_preselected(self, review: Review) -> list[str]:
        """Accept every suggestion the tool pre-selected that is still pending.

        Returns:
            The codes accepted, each committed to the audit store like a single accept.
        """
        return [
            it.code
            for it in list(review.items)
            if it.preselected
            and it.status == "pending"
            and self.apply(review, "accept", it.item_id)
        ]

    def finalise(self, review: Review) -> dict[str, Path]:
        """Store the final code set and write its CSV, JSON and FHIR files."""
        with undo_on_error(review):
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
        claim = split_claim_code(query)
        if claim is not None:  # "99213-25": the code, whose modifiers the screen keeps
            query = claim[0]
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
