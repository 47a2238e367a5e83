"""The review screen's components: ``_Ui`` holds the ones events read or write, and each
``_layout_*`` builds one part of the screen inside a ``gr.Blocks`` context already open.

The builders are handed the Gradio module and never import it.
"""

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from codesuggest.core.records import SETTINGS
from codesuggest.review.views import (
    render_context_source,
    render_edits,
    render_legend,
    render_note,
    render_queries,
    render_table,
    static_text,
)
from codesuggest.store.queries import TOPICS

# The patient-context inputs' labels, in ``_Ui.ctx_in``'s order.
CONTEXT_LABELS = {
    "age": "Age (years)",
    "sex": "Sex",
    "setting": "Setting",
    "encounter_date": "Encounter date",
}


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
