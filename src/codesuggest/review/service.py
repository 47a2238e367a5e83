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
from codesuggest.core.note_context import ReadValue, read_context
from codesuggest.core.records import ICD10CM, Decision
from codesuggest.core.records import SuggesterLike as BaseSuggester
from codesuggest.core.text import replace_surrogates
from codesuggest.output.schema import validate_result_dict
from codesuggest.review.state import (
    QueueEntry,
    Review,
    ReviewItem,
    normalise_context,
    undo_on_error,
)
from codesuggest.store import export
from codesuggest.store.audit import AuditStore
from codesuggest.store.productivity import (
    QualitySample,
    most_corrected,
    productivity,
    productivity_csv,
)
from codesuggest.store.queries import ProviderQuery, QueryStore, build_query, query_json, query_text

NOTE_SUFFIXES = (".txt", ".text")
# The patient context a note can state for itself (the setting it cannot: the screen's).
NOTE_CONTEXT_FIELDS = ("age", "sex", "encounter_date")


def context_with_note(
    text: str, context: Mapping[str, Any], stale: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, ReadValue]]:
    """The context to suggest a note in, with what the note states filled in.

    Each of age, sex and encounter date that the coder left blank is what the note states;
    one the coder gave is kept. ``stale``: values read from the previous note of the queue; a
    box still holding one of them is treated as blank, so one note's age never carries over
    to the next note.

    Returns:
        The context (``normalise_context``'s form) and the values it took from the note (a
        value the coder gave that equals the note's counts as read too).
    """
    ctx = normalise_context(**context)
    found = read_context(text)
    used: dict[str, ReadValue] = {}
    for name in NOTE_CONTEXT_FIELDS:
        if stale and name in stale and ctx.get(name) == stale[name]:
            ctx[name] = None
        if name not in found:
            continue
        value = found[name].to_dict()["value"]
        if ctx.get(name) is None:
            ctx[name] = value
        if ctx[name] == value:
            used[name] = found[name]
    return normalise_context(**ctx), used


class SuggesterLike(BaseSuggester, Protocol):
    """What the review screen needs of ``codesuggest.load()`` (see docs/interfaces.md): a
    ``core.records.SuggesterLike``, whose ``suggest`` it calls in a patient context
    (``normalise_context``), with the code sets it searches and rule edits besides."""

    codebook: Any

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
        queries: QueryStore | None = None,
    ) -> None:
        self._suggester = suggester
        self.store = store
        self.queries = queries or QueryStore(store.path, store_note_text=store.store_note_text)
        self.qa = QualitySample(store.path)
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
        if text is not None:
            # As the suggester reads it: SQLite and the browser take no lone surrogates.
            text = replace_surrogates(text)
        if result is None:
            if text is None:
                raise InputError("There is no note text to suggest codes for.")
            result = self.suggester.suggest(text, id=note_id, **ctx).to_dict()
        review = Review(result, note_text=text, reviewer=reviewer, note_id=note_id)
        review.unstarred = self.unstar_clashes(review)
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

    def open_entry(
        self,
        entry: QueueEntry,
        *,
        context: Mapping[str, Any],
        reviewer: str,
        stale: Mapping[str, Any] | None = None,
    ) -> Review:
        """Open a work-queue note's review and keep it on the entry.

        A note from a batch output is reviewed in the patient context it was coded with, not
        the screen's; any other note in the screen's, with what the note itself states filled
        in (``context_with_note``; ``stale`` is passed on).
        """
        ctx = dict(context)
        read: dict[str, ReadValue] = {}
        if entry.result is not None:
            ctx = dict(entry.result.get("context") or {}) or ctx
            ctx = {k: ctx.get(k) for k in ("setting", "age", "sex", "encounter_date")}
        elif entry.text is not None:
            ctx, read = context_with_note(entry.text, ctx, stale)
        entry.review = self.open(
            text=entry.text,
            note_id=entry.note_id,
            context=ctx,
            reviewer=reviewer,
            result=entry.result,
        )
        entry.review.context_read = {k: v.to_dict() for k, v in read.items()}
        return entry.review

    def revalidate(self, review: Review) -> None:
        """Re-run the coding-rule edits over the final code set, and for each undecided row
        over the final set with that row's code added (what accepting it would bring)."""
        codes = review.claim_codes()
        review.row_edits = {
            it.item_id: [
                e for e in self._edits([*codes, it.code], review.context) if it.code in e["codes"]
            ]
            for it in review.pending()
        }
        review.edits = self._edits(codes, review.context)

    def _edits(self, codes: list[str], context: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = self.suggester.validate(codes, **context) if codes else []
        out = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in found]
        for e in out:
            e["codes"] = list(e.get("codes") or ())
        return out

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

    def accept_preselected(
        self, review: Review, refused: dict[str, str] | None = None
    ) -> list[str]:
        """Accept every suggestion the tool pre-selected that is still pending, best first,
        except one that would clash with the final set (see ``clash``).

        Args:
            refused: filled with the codes left undecided and why.

        Returns:
            The codes accepted, each committed to the audit store like a single accept.
        """
        accepted: list[str] = []
        rows = [it for it in review.items if it.preselected and it.status == "pending"]
        for it in sorted(rows, key=self._specific_first):
            why = self.clash(
                review.final_codes(), it.code, review.context, review.row_edits.get(it.item_id)
            )
            if why:
                if refused is not None:
                    refused[it.code] = why
            elif self.apply(review, "accept", it.item_id):
                accepted.append(it.code)
        return accepted

    def clash(
        self,
        codes: list[str],
        code: str,
        context: Mapping[str, Any],
        edits: list[dict[str, Any]] | None = None,
    ) -> str:
        """Why ``code`` must not join ``codes`` (an error edit, or an unspecified code beside
        a specific one of its category, either way round); empty when it may.

        ``edits``: those of ``codes`` plus ``code`` when already computed (``row_edits``).
        """
        if edits is None:
            edits = self._edits([*codes, code], context)
        for e in edits:
            if e.get("severity") == "error" and code in e["codes"]:
                return str(e.get("message", ""))
        for other in codes:
            if other == code or other[:3] != code[:3]:
                continue
            for vague, specific in ((code, other), (other, code)):
                if self._unspecified(vague):
                    return f"{vague} is unspecified beside the more specific {specific}."
        return ""

    def _specific_first(self, item: ReviewItem) -> tuple[bool, float]:
        # A specific code wins over its unspecified sibling; otherwise the better score wins.
        return self._unspecified(item.code), -(item.score or 0.0)

    def _unspecified(self, code: str) -> bool:
        info = self.suggester.codebook.find(code, ICD10CM)
        words = info.description.lower() if info is not None else ""
        return "unspecified" in words or "without complication" in words

    def unstar_clashes(self, review: Review) -> dict[str, str]:
        """Take the star off each pre-selected row that clashes with a better pre-selected
        one, so pre-selection never holds both codes of a pair that must not be coded together.

        Returns:
            The codes un-starred, with the reason.
        """
        kept: list[str] = []
        out: dict[str, str] = {}
        rows = [it for it in review.items if it.preselected and it.is_diagnosis]
        for it in sorted(rows, key=self._specific_first):
            why = self.clash(kept, it.code, review.context)
            if why:
                it.preselected = False
                out[it.code] = why
            else:
                kept.append(it.code)
        return out

    def finalise(self, review: Review, *, snippets: bool = False) -> dict[str, Path]:
        """Store the final code set and write its CSV, JSON and FHIR files.

        ``snippets``: the coder asked for the evidence words (PHI) in the JSON.
        """
        with undo_on_error(review):
            self.revalidate(review)
            decision = review.finalise()
            row = self.store.record(
                review.review_id, decision, items=review.snapshot(), final=review.final()
            )
        review.finalised_at = row["ts"]
        record = review.to_record(self.store.actions(review.review_id))
        return export.write_exports(record, self.export_dir / review.review_id, snippets=snippets)

    def search(self, query: str, *, limit: int = 12) -> list[Any]:
        """Typeahead over every code set in use; an empty or one-letter query finds nothing.

        A code written with a modifier, as the edits' fixes spell it ("99213-25", "20610-RT"),
        finds the code: modifiers are recorded on the code, not searched for.
        """
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

    def raise_query(
        self, review: Review, item_id: int, *, reviewer: str, topic: str | None = None
    ) -> tuple[ProviderQuery, dict[str, Path]]:
        """Turn a row's missing-documentation note into a provider query, store it (open)
        and write it as text and JSON for the provider.

        Returns:
            The query (its indicators quote the note) and its ``txt`` and ``json`` files.
        """
        it = review.item(item_id)
        query = build_query(
            review_id=review.review_id,
            code=it.code,
            system=it.system,
            description=it.description,
            evidence=it.evidence,
            note_text=review.note_text,
            note=it.note,
            topic=topic or None,
            codebook=self.suggester.codebook,
            note_id=review.note_id,
            note_sha256=review.note_sha256,
        )
        self.queries.add(query, reviewer=reviewer)
        return query, self.write_query(query)

    def review_queries(self, review: Review) -> list[dict[str, Any]]:
        """The review's stored queries, their indicators quoting the open note's words."""
        return [self.quoted(review, q) for q in self.queries.queries(review.review_id)]

    def quoted(self, review: Review, query: Mapping[str, Any]) -> dict[str, Any]:
        """A stored query with its indicators' words put back from the note on screen (the
        database keeps them only with ``--store-note-text``)."""
        d = dict(query)
        text = review.note_text
        d["clinical_indicators"] = [
            {**i, "text": text[i["start"] : i["end"]]} if text is not None else dict(i)
            for i in d["clinical_indicators"]
        ]
        return d

    def write_query(self, query: ProviderQuery | Mapping[str, Any]) -> dict[str, Path]:
        """The query's ``txt`` and ``json`` files in the export folder."""
        d = query.to_dict() if isinstance(query, ProviderQuery) else query
        folder = self.export_dir / d["review_id"]
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "txt": folder / f"query-{d['query_id'][:8]}.txt",
            "json": folder / f"query-{d['query_id'][:8]}.json",
        }
        paths["txt"].write_text(query_text(query), encoding="utf-8")
        paths["json"].write_text(query_json(query), encoding="utf-8")
        return paths

    def productivity(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Path]:
        """Per coder and day figures, the codes most often corrected, and the figures' CSV."""
        rows = productivity(self.store.path)
        fd, name = tempfile.mkstemp(
            prefix="codesuggest-productivity-", suffix=".csv", dir=self.export_dir
        )
        os.close(fd)
        Path(name).write_text(productivity_csv(rows), encoding="utf-8")
        return rows, most_corrected(self.store.path), Path(name)

    def write_labelled(self) -> Path:
        """The labelled-data export of every finalised review, as a JSONL file."""
        fd, name = tempfile.mkstemp(
            prefix="codesuggest-labels-", suffix=".jsonl", dir=self.export_dir
        )
        os.close(fd)
        self.store.write_labelled(name)
        return Path(name)
