"""The coder review screen as a Gradio app, and ``serve`` to start it.

``build_app`` is made of small parts: ``_Screen`` holds the event handlers, ``_layout_*``
build the components and ``_wire_*`` connect each group of events. Gradio is imported only
inside ``build_app`` and ``serve``, so importing this module is cheap. No postponed
annotations here: Gradio reads handler annotations (``gr.Request``, ``gr.EventData``) at run
time, so a handler taking one is a closure made where ``gr`` is at hand (``_with_request``).
"""

import atexit
import contextlib
import functools
import getpass
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from codesuggest.core.codes import split_claim_code
from codesuggest.core.errors import InputError
from codesuggest.core.records import SETTINGS
from codesuggest.review.files import PrivateFolder
from codesuggest.review.gate import Gate
from codesuggest.review.netguard import refuse_outbound
from codesuggest.review.service import (
    ReviewService,
    SuggesterLike,
    context_with_note,
    queue_from_batch,
    queue_from_note_files,
)
from codesuggest.review.state import QueueEntry, Review, Session, normalise_context
from codesuggest.review.views import (
    render_analytics,
    render_context_source,
    render_edits,
    render_header,
    render_legend,
    render_note,
    render_productivity,
    render_progress,
    render_queries,
    render_table,
    search_choices,
    static_text,
)
from codesuggest.store.audit import AuditStore, note_sha256
from codesuggest.store.queries import TOPICS

_PRIVATE = {"api_visibility": "private"}
# The patient-context inputs' labels, in ``_Ui.ctx_in``'s order.
CONTEXT_LABELS = {
    "age": "Age (years)",
    "sex": "Sex",
    "setting": "Setting",
    "encounter_date": "Encounter date",
}
# Suggesting takes up to a second: a small spinner. Review actions take milliseconds:
# no "processing" overlay flashing over the note and the table at every click.
_OPENING = {
    "concurrency_id": "suggest",
    "concurrency_limit": 1,
    "show_progress": "minimal",
    **_PRIVATE,
}
_REVIEWING = {
    "concurrency_id": "review",
    "concurrency_limit": 1,
    "show_progress": "hidden",
    **_PRIVATE,
}


def _calm(n_outputs: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A handler whose ``InputError`` (a coder's mistake) becomes a message in the status
    line, every other output left as it was: no error badge on each panel, no traceback."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def handler(self: "_Screen", *args: Any) -> Any:
            try:
                return fn(self, *args)
            except InputError as exc:
                return self.calm(n_outputs, str(exc))

        return handler

    return decorate


# What the handlers return values for: ``_Ui.view_out``, then the context inputs and their
# note-source line (``_Ui.ctx_out``), then the opener accordion.
_VIEWS, _WITH_CONTEXT, _OPENING_OUT = 11, 16, 17


def default_reviewer() -> str:
    """The reviewer name when there is no login: the OS user, else ``"reviewer"``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


# --------------------------------------------------------------------------- event handlers


class _Screen:
    """The review screen's event handlers; one instance serves every browser tab.

    Each tab's ``Session`` comes in from its ``gr.State`` and goes back out first in the
    outputs of ``views``. A coder's mistake (``InputError``) is shown in the status line.
    """

    def __init__(self, service: ReviewService, gr: ModuleType) -> None:
        self.service = service
        self.gr = gr

    # ------------------------------------------------------------ helpers

    def reviewer_of(self, session: Session | None, request: Any) -> str:
        """The login name when there is one, else the tab's reviewer, else the server's."""
        user = getattr(request, "username", None) if request is not None else None
        if user:
            return str(user)
        if session is not None and session.reviewer:
            return session.reviewer
        return self.service.reviewer

    def calm(self, n_outputs: int, message: str) -> tuple[Any, ...]:
        """``n_outputs`` values that leave the screen as it is but for the status line."""
        out: list[Any] = [self.gr.update() for _ in range(n_outputs)]
        out[5] = f"⚠ {message}"
        return tuple(out)

    def views(self, session: Session | None, message: str = "") -> tuple[Any, ...]:
        """New values of ``_Ui.view_out``: the tab's state, the HTML views and downloads."""
        gr = self.gr
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
            *self.query_values(review),
        )

    def query_values(self, review: Review | None) -> tuple[Any, Any]:
        """The review's provider queries (HTML) and the choices of the query picker."""
        queries = self.service.review_queries(review) if review is not None else []
        choices = [
            (f"{q['query_id'][:8]} · {q['code']} · {q['topic']} · {q['status']}", q["query_id"])
            for q in queries
        ]
        latest = choices[-1][1] if choices else None
        return render_queries(queries), self.gr.update(choices=choices, value=latest)

    def query_downloads(self, paths: Mapping[str, Any] | None) -> tuple[Any, Any]:
        """The text and JSON downloads of the query just raised or updated."""
        gr = self.gr
        paths = paths or {}
        return (
            gr.update(value=str(paths["txt"]) if paths else None, visible=bool(paths)),
            gr.update(value=str(paths["json"]) if paths else None, visible=bool(paths)),
        )

    def context_values(self, session: Session | None) -> tuple[Any, ...]:
        """New values of the patient-context inputs and their source line (``_Ui.ctx_out``):
        the open review's context, each value read from the note labelled so."""
        review = session.review if session else None
        if review is None:
            return (self.gr.update(),) * 5
        c = review.context
        age = "" if c["age"] is None else str(c["age"])
        return self.context_updates(
            {**c, "age": age, "sex": c["sex"] or "unknown", "encounter_date": c["encounter_date"]},
            review.context_read,
        )

    def context_updates(
        self, values: Mapping[str, Any], read: Mapping[str, Mapping[str, Any]]
    ) -> tuple[Any, ...]:
        """Updates of the four context inputs (label marks a value read from the note)."""
        gr = self.gr
        out = []
        for name, label in CONTEXT_LABELS.items():
            if name not in values:
                out.append(gr.update(label=label))
                continue
            value = values[name]
            mark = f"{label} · read from the note" if name in read else label
            out.append(gr.update(value="" if value is None else value, label=mark))
        return (*out, render_context_source(read))

    def on_note_typed(
        self, text: str, session: Session | None, age: Any, sex: Any, setting: Any, date: Any
    ) -> tuple[Any, ...]:
        """Pre-fill the context inputs with what a pasted note states (they stay editable)."""
        stale = session.review.context_read if session and session.review else {}
        stale_values = {k: v["value"] for k, v in stale.items()}
        try:
            ctx = self.ctx_of(age, sex, setting, date)
        except InputError:
            ctx = {"setting": "outpatient"}
        merged, read = context_with_note(text or "", ctx, stale_values)
        values = {
            "age": "" if merged["age"] is None else str(merged["age"]),
            "sex": merged["sex"] or "unknown",
            "encounter_date": merged["encounter_date"] or "",
        }
        return self.context_updates(values, {k: v.to_dict() for k, v in read.items()})

    def ensure_open(
        self,
        session: Session,
        context: Mapping[str, Any],
        request: Any,
        stale: Mapping[str, Any] | None = None,
    ) -> str:
        """Open the current queue entry's review if it has none yet; returns a message."""
        entry = session.entry
        if entry is None or entry.review is not None:
            return ""
        try:
            review = self.service.open_entry(
                entry, context=context, reviewer=self.reviewer_of(session, request), stale=stale
            )
        except InputError as exc:
            raise InputError(f"{entry.note_id}: {exc}") from None
        session.selected = None
        n = len(review.items)
        if entry.result is None:
            message = f"{n} code(s) suggested for {entry.note_id}."
        else:
            message = f"Opened {entry.note_id} from the batch output ({n} code(s))."
        if review.unstarred:
            why = "; ".join(f"{code}: {reason}" for code, reason in review.unstarred.items())
            message += f" Not pre-selected, as they clash with a better code: {why}"
        return message

    def start_queue(
        self,
        entries: list[QueueEntry],
        context: Mapping[str, Any],
        request: Any,
        note: str = "",
        stale: Mapping[str, Any] | None = None,
    ) -> tuple[Any, ...]:
        """A new session on ``entries`` with the first note open; closes the opener."""
        if not entries:
            raise InputError("No notes found: give .txt files, or a batch output in JSON Lines.")
        session = Session(queue=entries, reviewer=self.reviewer_of(None, request))
        message = self.ensure_open(session, context, request, stale)
        return (
            *self.views(session, " ".join(m for m in (message, note) if m)),
            *self.context_values(session),
            self.gr.update(open=False),
        )

    def ctx_of(self, age: Any, sex: Any, setting: Any, encounter_date: Any) -> dict[str, Any]:
        """The patient context from the four inputs (sex ``"unknown"`` is no sex given)."""
        return normalise_context(
            setting=setting,
            age=age,
            sex=None if sex == "unknown" else sex,
            encounter_date=encounter_date,
        )

    def act(self, session: Session | None, fn: Callable[[Review], str]) -> tuple[Any, ...]:
        """Run ``fn`` on the open review and redraw with the message it returns."""
        review = session.review if session else None
        if review is None:
            raise InputError("Open a note first.")
        message = fn(review)
        return self.views(session, message)

    def picked(self, choice: str | None) -> tuple[str, str, str]:
        """``(code, system, description)`` of the chosen search result."""
        if not choice or "|" not in choice:
            raise InputError("Pick a code from the search results first.")
        system, code = choice.split("|", 2)[:2]
        return self.service.describe(code, system)

    @staticmethod
    def claim_suffix(choice: str | None) -> str:
        """The modifiers and units typed with the code searched for (``25`` of ``99213-25``)."""
        parts = (choice or "").split("|")
        return parts[2] if len(parts) > 2 else ""

    def apply_suffix(self, review: Review, item: int, suffix: str) -> str:
        """Put the searched-for modifiers and units on a line; the words for the message."""
        if not suffix or review.item(item).is_diagnosis:
            return ""
        self.service.apply(review, "modify", item, suffix)
        return f" with {review.item(item).claim_code}"

    # ------------------------------------------------------------ opening notes

    def header(self) -> str:
        """The page title with the code-set and model versions (waits for the model)."""
        suggester = self.service.suggester
        model = getattr(suggester, "model_info", None) or {}
        return render_header(suggester.codebook.versions(), model)

    @_calm(_OPENING_OUT)
    def on_paste(
        self,
        text: str,
        session: Session | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: Any,
    ) -> tuple[Any, ...]:
        """Suggest codes for a pasted note, in the context it states where the boxes are blank."""
        if not text or not text.strip():
            raise InputError("Paste a note first: the note box is empty.")
        context = self.ctx_of(age, sex, setting, encounter_date)
        note_id = f"pasted-{note_sha256(text)[:10]}"
        stale = session.review.context_read if session and session.review else {}
        return self.start_queue(
            [QueueEntry(note_id=note_id, text=text)],
            context,
            request,
            stale={k: v["value"] for k, v in stale.items()},
        )

    @_calm(_OPENING_OUT)
    def on_files(
        self,
        files: list[str] | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: Any,
    ) -> tuple[Any, ...]:
        """A work queue of uploaded note files or a folder of them."""
        context = self.ctx_of(age, sex, setting, encounter_date)
        return self.start_queue(queue_from_note_files(files or []), context, request)

    @_calm(_OPENING_OUT)
    def on_batch(
        self,
        batch: str | None,
        folder: list[str] | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: Any,
    ) -> tuple[Any, ...]:
        """A work queue of a batch output, with its folder of notes when given."""
        if not batch:
            raise InputError("Choose the batch output file (.jsonl) first.")
        context = self.ctx_of(age, sex, setting, encounter_date)
        try:
            entries, problems = queue_from_batch(batch, folder or [])
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"Cannot read the batch output: {exc}") from None
        note = f"{len(problems)} line(s) had problems: {problems[0]}" if problems else ""
        return self.start_queue(entries, context, request, note)

    @_calm(_WITH_CONTEXT)
    def on_navigate(
        self,
        step: int,
        session: Session | None,
        age: Any,
        sex: Any,
        setting: Any,
        encounter_date: Any,
        request: Any,
    ) -> tuple[Any, ...]:
        """Move ``step`` notes along the queue and open the note there if it is not yet."""
        if session is None or not session.queue:
            return (*self.views(session, "Open notes first."), *self.context_values(None))
        left = session.review.context_read if session.review else {}
        session.position = max(0, min(len(session.queue) - 1, session.position + step))
        session.selected = None
        context = self.ctx_of(age, sex, setting, encounter_date)
        stale = {k: v["value"] for k, v in left.items()}
        message = self.ensure_open(session, context, request, stale)
        return (*self.views(session, message), *self.context_values(session))

    # ------------------------------------------------------------ reviewing

    @_calm(_VIEWS)
    def on_table(self, session: Session | None, data: Mapping[str, Any]) -> tuple[Any, ...]:
        """A click in the table or the note: ``data`` is ``{action, item}`` from static/*.js."""
        action, item = data.get("action"), data.get("item")
        if session is None or session.review is None or not isinstance(item, int):
            return self.views(session)
        session.selected = item
        return self.act(session, lambda review: self.row_action(review, action, item))

    def row_action(self, review: Review, action: Any, item: int) -> str:
        """Do one row button's action (or select the row); returns the message to show."""
        it = review.item(item)
        if action == "select":
            return f"Selected {it.final_code}: its evidence is outlined in the note."
        if action == "replace":
            return (
                f"Search below for the code to put in place of {it.code}, "
                "pick it, then press Replace."
            )
        if action in ("up", "down"):
            row = self.service.apply(review, "move", item, -1 if action == "up" else 1)
            return f"Moved {it.final_code} {action}." if row else ""
        if action in ("accept", "reject"):
            row = self.service.apply(review, action, item)
            return f"{action.capitalize()}ed {it.code}." if row else ""
        return ""

    def on_search(self, query: str) -> Any:
        """The search results' choices, labelled ``code · description (system)``."""
        try:
            results = self.service.search(query or "")
        except InputError:
            results = []
        claim = split_claim_code(query or "")
        suffix = ""
        if claim is not None and (claim[1] or claim[2]):
            suffix = " ".join([*claim[1], *([f"*{claim[2]}"] if claim[2] else [])])
        return self.gr.update(choices=search_choices(results, suffix), value=None)

    @_calm(_VIEWS + 2)
    def on_replace(self, session: Session | None, choice: str | None) -> tuple[Any, ...]:
        """Replace the selected row's code with the chosen search result; clears the search."""

        def run(review: Review) -> str:
            if session is None or session.selected is None:
                raise InputError("Select the row to replace first (click it in the table).")
            code, system, description = self.picked(choice)
            old = review.item(session.selected)
            row = self.service.apply(review, "replace", session.selected, code, system, description)
            extra = self.apply_suffix(review, session.selected, self.claim_suffix(choice))
            return f"Replaced {old.code} with {code}{extra}." if row or extra else ""

        return (*self.act(session, run), *self.search_cleared())

    def search_cleared(self) -> tuple[Any, Any]:
        """An empty search box and no results: the next search starts afresh."""
        return "", self.gr.update(choices=[], value=None)

    @_calm(_VIEWS + 2)
    def on_add(self, session: Session | None, choice: str | None) -> tuple[Any, ...]:
        """Add the chosen search result to the final set and select its row; clears the search."""

        def run(review: Review) -> str:
            code, system, description = self.picked(choice)
            self.service.apply(review, "add", code, system, description)
            added = max(it.item_id for it in review.items)
            if session is not None:
                session.selected = added
            extra = self.apply_suffix(review, added, self.claim_suffix(choice))
            return f"Added {code}{extra}."

        return (*self.act(session, run), *self.search_cleared())

    def on_set_line(self, session: Session | None, typed: str | None) -> tuple[Any, ...]:
        """Set the selected CPT/HCPCS line's modifiers and units as typed (``25``, ``RT *2``)."""

        def run(review: Review) -> str:
            if session is None or session.selected is None:
                raise InputError("Select the procedure line first (click it in the table).")
            row = self.service.apply(review, "modify", session.selected, typed or "")
            it = review.item(session.selected)
            return f"{it.claim_code} recorded." if row else f"{it.claim_code} is unchanged."

        return self.act(session, run)

    @_calm(_VIEWS)
    def on_accept_preselected(self, session: Session | None) -> tuple[Any, ...]:
        """Accept every pre-selected (★) suggestion still pending."""

        def run(review: Review) -> str:
            refused: dict[str, str] = {}
            done = self.service.accept_preselected(review, refused)
            message = (
                f"Accepted {len(done)} pre-selected code(s)."
                if done
                else "No pre-selected code could be accepted."
                if refused
                else "No pre-selected code is pending."
            )
            if refused:
                left = "; ".join(f"{code}: {why}" for code, why in refused.items())
                message += f" Left for you to decide ({len(refused)}), as they clash: {left}"
            return message

        return self.act(session, run)

    @_calm(_VIEWS)
    def on_context(
        self, session: Session | None, age: Any, sex: Any, setting: Any, encounter_date: Any
    ) -> tuple[Any, ...]:
        """Change the open review's patient context; the edits are re-run."""
        if session is None or session.review is None:
            return self.views(session)
        ctx = self.ctx_of(age, sex, setting, encounter_date)

        def run(review: Review) -> str:
            row = self.service.apply(review, "context", ctx)
            return "Patient context changed: edits re-run." if row else ""

        return self.act(session, run)

    @_calm(_VIEWS)
    def on_finalise(self, session: Session | None, snippets: bool = False) -> tuple[Any, ...]:
        """Finalise the open review and offer its CSV, JSON and FHIR downloads.

        ``snippets``: the coder ticked the box asking for the evidence words in the JSON.
        """
        entry = session.entry if session else None

        def run(review: Review) -> str:
            paths = self.service.finalise(review, snippets=bool(snippets))
            assert entry is not None
            entry.exports = {k: str(v) for k, v in paths.items()}
            n = len(review.final_codes())
            left = len(review.pending())
            extra = f" {left} undecided suggestion(s) were left out." if left else ""
            return f"Finalised {n} code(s) and saved them to the audit log.{extra} Download below."

        return self.act(session, run)

    @_calm(_VIEWS + 2)
    def on_query(self, session: Session | None, topic: str | None) -> tuple[Any, ...]:
        """Raise a provider query about the selected row (its missing documentation)."""
        paths: dict[str, Any] = {}

        def run(review: Review) -> str:
            if session is None or session.selected is None:
                raise InputError("Select the row to query the provider about (click it).")
            query, written = self.service.raise_query(
                review, session.selected, reviewer=review.reviewer, topic=topic or None
            )
            paths.update(written)
            return (
                f"Provider query {query.query_id[:8]} about {query.code} ({query.topic}) "
                "saved as open. Download it below."
            )

        views = self.act(session, run)
        return (*views, *self.query_downloads(paths))

    @_calm(_VIEWS + 2)
    def on_query_status(
        self, status: str, session: Session | None, query_id: str | None, answer: str | None
    ) -> tuple[Any, ...]:
        """Record the provider's answer, or close the query picked."""

        def run(review: Review) -> str:
            if not query_id:
                raise InputError("Pick the provider query first.")
            reviewer = review.reviewer
            d = self.service.queries.set_status(query_id, status, reviewer=reviewer, answer=answer)
            paths.update(self.service.write_query(self.service.quoted(review, d)))
            return f"Provider query {query_id[:8]} is {status}."

        paths: dict[str, Any] = {}
        views = self.act(session, run)
        return (*views, *self.query_downloads(paths))

    def on_analytics(self) -> tuple[Any, ...]:
        """The analytics tab: tables, productivity plots, QA, and fresh downloads
        (``_Ui.analytics_out``)."""
        gr = self.gr
        a = self.service.store.analytics()
        path = self.service.write_labelled()
        queries = self.service.queries.counts()
        rows, corrected, csv_path = self.service.productivity()
        return (
            render_analytics(a, queries),
            gr.update(value=str(path), visible=True),
            render_productivity(rows, corrected, self.service.qa.summary()),
            gr.update(value=str(csv_path), visible=bool(rows)),
            self.qa_choices(),
        )

    def qa_choices(self) -> Any:
        """The drawn reviews waiting for a second review, for the QA picker."""
        pending = self.service.qa.pending()
        choices = [
            (f"{p['review_id'][:8]} · {p['note_id']} · coded by {p['reviewer']}", p["review_id"])
            for p in pending
        ]
        return self.gr.update(choices=choices, value=choices[0][1] if choices else None)

    def on_qa_draw(self, share: Any, request: Any) -> tuple[Any, ...]:
        """Draw a share (percent) of the finalised notes not drawn before for QA."""
        try:
            drawn = self.service.qa.draw(
                float(share or 0) / 100, reviewer=self.reviewer_of(None, request)
            )
        except (InputError, ValueError) as exc:
            return (*self.on_analytics(), f"⚠ {exc}")
        note = f"Drew {len(drawn)} finalised note(s) for a second review."
        return (*self.on_analytics(), note if drawn else "No finalised note is left to draw.")

    def on_qa_record(
        self, agreed: bool, review_id: str | None, comment: str | None, request: Any
    ) -> tuple[Any, ...]:
        """Record the second reviewer's verdict on the drawn note picked."""
        if not review_id:
            return (*self.on_analytics(), "⚠ Draw a QA sample and pick a note first.")
        try:
            self.service.qa.record(
                review_id, agreed=agreed, reviewer=self.reviewer_of(None, request), comment=comment
            )
        except InputError as exc:
            return (*self.on_analytics(), f"⚠ {exc}")
        verdict = "agreed" if agreed else "did not agree"
        return (*self.on_analytics(), f"QA of {review_id[:8]}: {verdict}.")


# --------------------------------------------------------------------------- layout


@dataclass(slots=True)
class _Ui:
    """The screen's components that events read or write, filled in by ``_layout_*``."""

    state: Any = None
    header_md: Any = None
    opener: Any = None
    note_in: Any = None
    suggest_btn: Any = None
    files_in: Any = None
    folder_in: Any = None
    batch_in: Any = None
    batch_notes: Any = None
    batch_btn: Any = None
    age_in: Any = None
    sex_in: Any = None
    setting_in: Any = None
    date_in: Any = None
    ctx_source: Any = None
    prev_btn: Any = None
    progress: Any = None
    next_btn: Any = None
    message: Any = None
    note_view: Any = None
    table: Any = None
    accept_pre_btn: Any = None
    search_in: Any = None
    results: Any = None
    replace_btn: Any = None
    add_btn: Any = None
    line_in: Any = None
    line_btn: Any = None
    edits_view: Any = None
    snippets_in: Any = None
    finalise_btn: Any = None
    dl_csv: Any = None
    dl_json: Any = None
    dl_fhir: Any = None
    query_topic: Any = None
    query_btn: Any = None
    query_view: Any = None
    query_pick: Any = None
    query_answer: Any = None
    query_answered_btn: Any = None
    query_close_btn: Any = None
    dl_query_txt: Any = None
    dl_query_json: Any = None
    refresh_btn: Any = None
    analytics_view: Any = None
    dl_labels: Any = None
    productivity_view: Any = None
    dl_productivity: Any = None
    qa_share: Any = None
    qa_draw_btn: Any = None
    qa_pick: Any = None
    qa_comment: Any = None
    qa_agree_btn: Any = None
    qa_disagree_btn: Any = None
    qa_message: Any = None

    @property
    def analytics_out(self) -> list[Any]:
        """What ``_Screen.on_analytics`` returns values for, in its order."""
        return [
            self.analytics_view,
            self.dl_labels,
            self.productivity_view,
            self.dl_productivity,
            self.qa_pick,
        ]

    @property
    def view_out(self) -> list[Any]:
        """What ``_Screen.views`` returns values for, in its order."""
        return [
            self.state,
            self.note_view,
            self.table,
            self.edits_view,
            self.progress,
            self.message,
            self.dl_csv,
            self.dl_json,
            self.dl_fhir,
            self.query_view,
            self.query_pick,
        ]

    @property
    def ctx_in(self) -> list[Any]:
        """The patient-context inputs, in ``_Screen.ctx_of``'s order."""
        return [self.age_in, self.sex_in, self.setting_in, self.date_in]

    @property
    def ctx_out(self) -> list[Any]:
        """What ``_Screen.context_values`` returns values for: the inputs, the source line."""
        return [*self.ctx_in, self.ctx_source]


def _layout_opener(gr: ModuleType, ui: _Ui) -> None:
    """The "Open notes" accordion: paste, text files, a folder, or a batch output."""
    with gr.Accordion("Open notes", open=True, elem_id="opener") as ui.opener, gr.Tabs():
        with gr.Tab("Paste"):
            ui.note_in = gr.Textbox(
                label="Note text",
                lines=8,
                max_lines=20,
                elem_id="note-input",
                placeholder="Paste a clinical note…",
            )
            ui.suggest_btn = gr.Button("Suggest codes", variant="primary", elem_id="suggest-btn")
        with gr.Tab("Text files"):
            ui.files_in = gr.File(
                label="One or more notes (.txt)",
                file_count="multiple",
                file_types=[".txt"],
                elem_id="files-input",
            )
        with gr.Tab("Folder of notes"):
            ui.folder_in = gr.File(
                label="A folder of .txt notes (a work queue)",
                file_count="directory",
                elem_id="folder-input",
            )
        with gr.Tab("Batch output"):
            ui.batch_in = gr.File(
                label="Batch output (.jsonl in the suggestion schema)",
                file_types=[".jsonl", ".json"],
                elem_id="batch-input",
            )
            ui.batch_notes = gr.File(
                label="Its folder of notes (when the output has no note text)",
                file_count="directory",
                elem_id="batch-notes-input",
            )
            ui.batch_btn = gr.Button("Open batch output", elem_id="batch-btn")


def _layout_context(gr: ModuleType, ui: _Ui) -> None:
    """The patient-context row, above *Suggest codes* so a note is never suggested without it.

    Age, sex and encounter date a pasted note states are filled in (and marked so); the coder
    can change them.
    """
    with gr.Row(equal_height=True):
        # A textbox, not gr.Number: an empty age means unknown, while 0 is a newborn.
        ui.age_in = gr.Textbox(
            label=CONTEXT_LABELS["age"], placeholder="unknown", elem_id="ctx-age"
        )
        ui.sex_in = gr.Radio(
            ["F", "M", "unknown"], value="unknown", label=CONTEXT_LABELS["sex"], elem_id="ctx-sex"
        )
        ui.setting_in = gr.Radio(
            list(SETTINGS),
            value="outpatient",
            label=CONTEXT_LABELS["setting"],
            elem_id="ctx-setting",
        )
        ui.date_in = gr.Textbox(
            label=CONTEXT_LABELS["encounter_date"], placeholder="YYYY-MM-DD", elem_id="ctx-date"
        )
    ui.ctx_source = gr.Markdown(render_context_source({}), elem_id="ctx-source")


def _layout_queue(gr: ModuleType, ui: _Ui) -> None:
    """The queue's previous / next row and the status line."""
    with gr.Row(equal_height=True):
        ui.prev_btn = gr.Button("◀ Previous", size="sm", elem_id="prev-btn", scale=0)
        ui.progress = gr.Markdown("No note open.", elem_id="progress")
        ui.next_btn = gr.Button("Next ▶", size="sm", elem_id="next-btn", scale=0)
    ui.message = gr.Markdown("", elem_id="status")


def _layout_note(gr: ModuleType, ui: _Ui) -> None:
    """The note column: the evidence colour key and the highlighted note."""
    gr.HTML(render_legend(), js_on_load=None, apply_default_css=False)
    ui.note_view = gr.HTML(
        render_note(None),
        js_on_load=static_text("note.js"),
        apply_default_css=False,
        elem_id="note-view",
    )


def _layout_codes(gr: ModuleType, ui: _Ui) -> None:
    """The codes column: the table, code search, edits panel, finalise and downloads."""
    ui.table = gr.HTML(
        render_table(None),
        js_on_load=static_text("table.js"),
        apply_default_css=False,
        elem_id="suggestions",
    )
    with gr.Row():
        ui.accept_pre_btn = gr.Button(
            "Accept all ★ pre-selected", size="sm", elem_id="accept-preselected-btn"
        )
    ui.search_in = gr.Textbox(
        label="Find a code (ICD-10-CM, CPT, HCPCS): words or a code, e.g. 99213-25",
        elem_id="code-search",
        placeholder="e.g. type 2 diabetes with hyperglycemia, E11.6",
    )
    ui.results = gr.Radio([], label="Search results", elem_id="search-results")
    with gr.Row():
        ui.replace_btn = gr.Button(
            "Replace the selected row with this code", size="sm", elem_id="replace-btn"
        )
        ui.add_btn = gr.Button("Add this code", size="sm", elem_id="add-btn")
    with gr.Row(equal_height=True):
        ui.line_in = gr.Textbox(
            label="Modifiers and units of the selected CPT/HCPCS line",
            elem_id="line-claim",
            placeholder="e.g. 25, or RT 59, units as *4 (empty clears the modifiers)",
            scale=3,
        )
        ui.line_btn = gr.Button("Set modifiers / units", size="sm", elem_id="set-line-btn", scale=1)
    ui.edits_view = gr.HTML(
        render_edits(None), js_on_load=None, apply_default_css=False, elem_id="edits"
    )
    _layout_queries(gr, ui)
    ui.snippets_in = gr.Checkbox(
        value=False,
        label="Put the evidence words (note text, PHI) in the JSON download",
        elem_id="export-snippets",
    )
    ui.finalise_btn = gr.Button("Finalise", variant="primary", elem_id="finalise-btn")
    with gr.Row():
        ui.dl_csv = gr.DownloadButton("CSV", visible=False, elem_id="dl-csv")
        ui.dl_json = gr.DownloadButton("JSON", visible=False, elem_id="dl-json")
        ui.dl_fhir = gr.DownloadButton("FHIR R4", visible=False, elem_id="dl-fhir")


def _layout_queries(gr: ModuleType, ui: _Ui) -> None:
    """Provider queries: raise one about the selected row, record the answer, close it."""
    with gr.Accordion("Provider queries (CDI)", open=False, elem_id="queries"):
        with gr.Row(equal_height=True):
            ui.query_topic = gr.Dropdown(
                [("what the suggestion notes is missing", ""), *((t, t) for t in TOPICS)],
                value="",
                label="Ask the provider about",
                elem_id="query-topic",
            )
            ui.query_btn = gr.Button(
                "Query the provider about the selected row", size="sm", elem_id="query-btn"
            )
        ui.query_view = gr.HTML(
            render_queries([]), js_on_load=None, apply_default_css=False, elem_id="query-view"
        )
        with gr.Row(equal_height=True):
            ui.query_pick = gr.Dropdown([], label="Query", elem_id="query-pick")
            ui.query_answer = gr.Textbox(label="Provider's answer", elem_id="query-answer")
        with gr.Row():
            ui.query_answered_btn = gr.Button(
                "Record the answer", size="sm", elem_id="query-answered-btn"
            )
            ui.query_close_btn = gr.Button("Close the query", size="sm", elem_id="query-close-btn")
            ui.dl_query_txt = gr.DownloadButton(
                "Query (text)", visible=False, elem_id="dl-query-txt"
            )
            ui.dl_query_json = gr.DownloadButton(
                "Query (JSON)", visible=False, elem_id="dl-query-json"
            )


def _layout_analytics(gr: ModuleType, ui: _Ui) -> None:
    """The analytics tab: a refresh button, the tables and the labelled-data download."""
    ui.refresh_btn = gr.Button("Refresh", elem_id="analytics-refresh")
    ui.productivity_view = gr.HTML(
        "", js_on_load=None, apply_default_css=False, elem_id="productivity"
    )
    ui.dl_productivity = gr.DownloadButton(
        "Productivity per coder and day (CSV)", visible=False, elem_id="dl-productivity"
    )
    with gr.Row(equal_height=True):
        ui.qa_share = gr.Number(
            10, label="QA: share of finalised notes to draw (%)", elem_id="qa-share", minimum=1
        )
        ui.qa_draw_btn = gr.Button("Draw a QA sample", size="sm", elem_id="qa-draw-btn")
        ui.qa_pick = gr.Dropdown([], label="Note for a second review", elem_id="qa-pick")
        ui.qa_comment = gr.Textbox(label="QA comment", elem_id="qa-comment")
    with gr.Row():
        ui.qa_agree_btn = gr.Button("Agree with the final codes", size="sm", elem_id="qa-agree")
        ui.qa_disagree_btn = gr.Button("Disagree", size="sm", elem_id="qa-disagree")
    ui.qa_message = gr.Markdown("", elem_id="qa-status")
    ui.analytics_view = gr.HTML("", js_on_load=None, apply_default_css=False, elem_id="analytics")
    ui.dl_labels = gr.DownloadButton(
        "Labelled decisions for retraining (JSONL)", visible=False, elem_id="dl-labels"
    )


def _layout(gr: ModuleType) -> _Ui:
    """Every component of the screen, in a ``gr.Blocks`` context already open."""
    ui = _Ui(state=gr.State(None))
    ui.header_md = gr.Markdown("## codesuggest · coder review\nLoading the model…")
    with gr.Tabs():
        with gr.Tab("Review", id="review"):
            _layout_context(gr, ui)
            _layout_opener(gr, ui)
            _layout_queue(gr, ui)
            with gr.Row():
                with gr.Column(scale=5, min_width=340):
                    _layout_note(gr, ui)
                with gr.Column(scale=8, min_width=520):
                    _layout_codes(gr, ui)
        with gr.Tab("Analytics", id="analytics"):
            _layout_analytics(gr, ui)
    return ui


# --------------------------------------------------------------------------- wiring


def _with_request(gr: ModuleType, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called with the browser request after its inputs.

    Gradio passes the request to a parameter annotated ``gr.Request``; ``_Screen`` is defined
    before Gradio is imported, so its methods cannot carry that annotation themselves.
    """

    def handler(request: gr.Request, *inputs: Any) -> Any:
        return fn(*inputs, request)

    handler.__name__ = getattr(fn, "__name__", "handler")  # Gradio names the endpoint after it
    return handler


def _wire_opening(gr: ModuleType, ui: _Ui, screen: _Screen) -> None:
    """Paste, files, folder and batch output each start a new work queue."""
    on_files = _with_request(gr, screen.on_files)
    out = [*ui.view_out, *ui.ctx_out, ui.opener]
    ui.suggest_btn.click(
        _with_request(gr, screen.on_paste), [ui.note_in, ui.state, *ui.ctx_in], out, **_OPENING
    )
    # "change": Gradio sends no "input" event for a paste made by a script or for a deletion.
    ui.note_in.change(
        screen.on_note_typed,
        [ui.note_in, ui.state, *ui.ctx_in],
        ui.ctx_out,
        trigger_mode="always_last",
        show_progress="hidden",
        concurrency_id="note-context",
        concurrency_limit=1,
        **_PRIVATE,
    )
    ui.files_in.upload(on_files, [ui.files_in, *ui.ctx_in], out, **_OPENING)
    ui.folder_in.upload(on_files, [ui.folder_in, *ui.ctx_in], out, **_OPENING)
    batch_in = [ui.batch_in, ui.batch_notes, *ui.ctx_in]
    ui.batch_btn.click(_with_request(gr, screen.on_batch), batch_in, out, **_OPENING)


def _wire_navigation(gr: ModuleType, ui: _Ui, screen: _Screen) -> None:
    """Previous and Next step through the work queue."""
    out = [*ui.view_out, *ui.ctx_out]
    for button, step in ((ui.prev_btn, -1), (ui.next_btn, 1)):
        handler = _with_request(gr, functools.partial(screen.on_navigate, step))
        button.click(handler, [ui.state, *ui.ctx_in], out, **_OPENING)


def _wire_table(gr: ModuleType, ui: _Ui, screen: _Screen) -> None:
    """Clicks on the table's rows and buttons, and on the note's evidence."""

    def on_table(session: Session | None, evt: gr.EventData) -> tuple[Any, ...]:
        return screen.on_table(session, getattr(evt, "_data", None) or {})

    # Every click counts: a coder clicking down the table must not lose a click that
    # came while the previous one was still being saved ("once" would drop it).
    for view in (ui.table, ui.note_view):
        view.click(on_table, [ui.state], ui.view_out, trigger_mode="multiple", **_REVIEWING)


def _wire_codes(ui: _Ui, screen: _Screen) -> None:
    """Code search, replace, add, and accepting the pre-selected suggestions."""
    # "change", not "input": Gradio sends no input event when characters are deleted, so
    # clearing the box left the old results. Queued, one at a time, the last keystroke last,
    # so an older answer never lands after a newer one.
    ui.search_in.change(
        screen.on_search,
        [ui.search_in],
        [ui.results],
        trigger_mode="always_last",
        show_progress="hidden",
        concurrency_id="search",
        concurrency_limit=1,
        **_PRIVATE,
    )
    found = [*ui.view_out, ui.search_in, ui.results]
    ui.replace_btn.click(screen.on_replace, [ui.state, ui.results], found, **_REVIEWING)
    ui.add_btn.click(screen.on_add, [ui.state, ui.results], found, **_REVIEWING)
    ui.line_btn.click(screen.on_set_line, [ui.state, ui.line_in], ui.view_out, **_REVIEWING)
    ui.line_in.submit(screen.on_set_line, [ui.state, ui.line_in], ui.view_out, **_REVIEWING)
    ui.accept_pre_btn.click(screen.on_accept_preselected, [ui.state], ui.view_out, **_REVIEWING)


def _wire_context(ui: _Ui, screen: _Screen) -> None:
    """A changed patient context is a decision on the open review; its edits are re-run."""
    inputs = [ui.state, *ui.ctx_in]
    for radio in (ui.sex_in, ui.setting_in):
        radio.input(screen.on_context, inputs, ui.view_out, **_REVIEWING)
    for box in (ui.age_in, ui.date_in):  # on submit or leaving the box, not at each keystroke
        box.submit(screen.on_context, inputs, ui.view_out, **_REVIEWING)
        box.blur(screen.on_context, inputs, ui.view_out, **_REVIEWING)


def _wire_queries(ui: _Ui, screen: _Screen) -> None:
    """Raising a provider query, and recording its answer or closing it."""
    out = [*ui.view_out, ui.dl_query_txt, ui.dl_query_json]
    ui.query_btn.click(screen.on_query, [ui.state, ui.query_topic], out, **_REVIEWING)
    for button, status in ((ui.query_answered_btn, "answered"), (ui.query_close_btn, "closed")):
        handler = functools.partial(screen.on_query_status, status)
        inputs = [ui.state, ui.query_pick, ui.query_answer]
        button.click(handler, inputs, out, **_REVIEWING)


def _wire_finish(gr: ModuleType, ui: _Ui, screen: _Screen) -> None:
    """Finalise, and the analytics tab: refresh, the QA sample and its verdicts."""
    ui.finalise_btn.click(
        screen.on_finalise, [ui.state, ui.snippets_in], ui.view_out, **_REVIEWING
    )
    ui.refresh_btn.click(screen.on_analytics, None, ui.analytics_out, **_PRIVATE)
    out = [*ui.analytics_out, ui.qa_message]
    draw = _with_request(gr, screen.on_qa_draw)
    ui.qa_draw_btn.click(draw, [ui.qa_share], out, **_PRIVATE)
    for button, agreed in ((ui.qa_agree_btn, True), (ui.qa_disagree_btn, False)):
        record = _with_request(gr, functools.partial(screen.on_qa_record, agreed))
        button.click(record, [ui.qa_pick, ui.qa_comment], out, **_PRIVATE)


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

    screen = _Screen(service, gr)
    with gr.Blocks(
        title=title, analytics_enabled=False, fill_width=True, delete_cache=delete_cache
    ) as app:
        ui = _layout(gr)
        _wire_opening(gr, ui, screen)
        _wire_navigation(gr, ui, screen)
        _wire_table(gr, ui, screen)
        _wire_codes(ui, screen)
        _wire_context(ui, screen)
        _wire_queries(ui, screen)
        _wire_finish(gr, ui, screen)
        app.load(screen.header, None, ui.header_md, **_PRIVATE)
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
    analytics; from the start the process refuses connections to other machines
    (``netguard``), the app answers through ``gate.Gate``, and uploads and exports live in a
    ``files.PrivateFolder`` removed when the server stops.

    Returns:
        The launched ``gr.Blocks`` (useful with ``block=False``).
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Gradio takes seconds to import: say at once where the screen will be.
    print(f"starting the review screen on http://{host}:{port}/ ...", flush=True)
    import codesuggest

    # Uploaded notes, Gradio's copies of them and the exports stay in a folder only this user
    # can read, removed at shutdown (or by the next start after a kill). Gradio reads
    # GRADIO_TEMP_DIR when its components and app are made, so it is set before build_app.
    files = PrivateFolder()
    atexit.register(files.close)
    if block and threading.current_thread() is threading.main_thread():
        # SIGTERM (systemd, kill) stops the server as Ctrl-C does, so the folder is removed.
        signal.signal(signal.SIGTERM, _interrupt)
    os.environ["GRADIO_TEMP_DIR"] = str(files.uploads)
    refuse_outbound(_this_machine(host))
    suggester: Future[SuggesterLike] = Future()
    store = AuditStore(db or default_db_path(), store_note_text=store_note_text)
    service = ReviewService(
        suggester, store, reviewer=reviewer or default_reviewer(), export_dir=files.exports
    )
    app = build_app(service)
    from starlette.middleware import Middleware  # Gradio's web framework

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
        allowed_paths=[str(files.exports)],
        css=static_text("review.css"),
        app_kwargs={
            # FastAPI would serve its own description of every route at /openapi.json.
            "openapi_url": None,
            "docs_url": None,
            "redoc_url": None,
            "middleware": [Middleware(Gate)],
        },
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
        files.close()
        raise
    print("model loaded: ready", flush=True)
    if on_ready is not None:
        on_ready(url)
    if block:
        try:
            app.block_thread()
        finally:
            store.close()
            files.close()
    return app


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _this_machine(host: str) -> set[str]:
    """The names and addresses the server may connect to: its own (Gradio checks it is up)."""
    names = {host}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    return names
