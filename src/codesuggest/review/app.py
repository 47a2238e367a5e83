"""The coder review screen as a Gradio app, and ``serve`` to start it.

``build_app`` is made of small parts: ``screen._Screen`` holds the event handlers,
``layout._layout_*`` build the components and the ``_wire_*`` here connect each group of
events. Gradio is imported only inside ``build_app`` and ``serve``, so importing this module is
cheap. No postponed annotations here: Gradio reads handler annotations (``gr.Request``,
``gr.EventData``) at run time, so a handler taking one is a closure made where ``gr`` is at
hand (``_with_request``).
"""

import atexit
import contextlib
import functools
import getpass
import os
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.review.files import PrivateFolder
from codesuggest.review.gate import Gate
from codesuggest.review.layout import CONTEXT_LABELS, _layout, _Ui
from codesuggest.review.netguard import refuse_outbound
from codesuggest.review.screen import _Screen
from codesuggest.review.service import ReviewService, SuggesterLike
from codesuggest.review.state import Session
from codesuggest.review.views import static_text
from codesuggest.store.audit import AuditStore

__all__ = [
    "CONTEXT_LABELS",
    "build_app",
    "default_db_path",
    "default_reviewer",
    "parse_auth",
    "serve",
]

_PRIVATE = {"api_visibility": "private"}
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


def default_reviewer() -> str:
    """The reviewer name when there is no login: the OS user, else ``"reviewer"``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


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
    ui.finalise_btn.click(screen.on_finalise, [ui.state, ui.snippets_in], ui.view_out, **_REVIEWING)
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
