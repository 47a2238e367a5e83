"""The coder review screen as a Gradio app: ``build_app`` lays out the screen and wires its
events to ``service.ReviewService``; ``serve`` starts it.

Gradio is imported only inside ``build_app`` and ``serve``, so importing this module is cheap.
This module does not use postponed annotations: Gradio reads handler annotations
(``gr.EventData``, ``gr.Request``) at run time and needs them as real objects.
"""

import atexit
import getpass
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.core.records import SETTINGS
from codesuggest.review.service import (
    ReviewService,
    SuggesterLike,
    queue_from_batch,
    queue_from_note_files,
)
from codesuggest.review.state import QueueEntry, Review, Session, normalise_context
from codesuggest.review.views import (
    render_analytics,
    render_edits,
    render_header,
    render_legend,
    render_note,
    render_progress,
    render_table,
    static_text,
)
from codesuggest.store.audit import AuditStore, note_sha256

# --------------------------------------------------------------------------- Gradio app

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
        model = getattr(suggester, "model_info", None) or {}
        return render_header(suggester.codebook.versions(), model)

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
                            js_on_load=static_text("note.js"),
                            apply_default_css=False,
                            elem_id="note-view",
                        )
                    with gr.Column(scale=8, min_width=520):
                        table = gr.HTML(
                            render_table(None),
                            js_on_load=static_text("table.js"),
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
        css=static_text("review.css"),
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
