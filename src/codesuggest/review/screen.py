"""The review screen's event handlers: ``_Screen``, one instance for every browser tab.

The handlers are handed the Gradio module (``_Screen(service, gr)``) and never import it, so
importing this module is cheap. No postponed annotations here: Gradio reads the annotations of
the handlers it is given at run time.
"""

import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from codesuggest.core.codes import split_claim_code
from codesuggest.core.errors import InputError
from codesuggest.review.layout import CONTEXT_LABELS
from codesuggest.review.service import (
    ReviewService,
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
    render_note,
    render_productivity,
    render_progress,
    render_queries,
    render_table,
    search_choices,
)
from codesuggest.store.audit import note_sha256


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
