"""The review screen's HTML: the note with its evidence highlighted, the code table, the
rule-edit panel, queue progress and the analytics tab.

Each ``render_*`` function works out what to show and hands it to a Jinja2 template in
``templates/``; the markup lives there. Templates escape every value they print, since notes
and batch files are untrusted input. The screen's CSS and JavaScript are in ``static/``.
"""

import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from codesuggest.core.records import ASSERTIONS, ICD10CM
from codesuggest.review.state import Review, ReviewItem, Session, by_severity

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
# On a tie for the narrowest span, the first of these shows: a conflict is never hidden.
_CAUTION = ("negated", "uncertain", "hypothetical", "family", "historical", "present", "context")
# Words the document model may weigh that say nothing clinical: doses, frequencies, ages.
_NOT_CLINICAL = frozenset(
    [
        "mg",
        "mcg",
        "ml",
        "mm",
        "cm",
        "kg",
        "lb",
        "lbs",
        "daily",
        "bid",
        "tid",
        "qid",
        "qd",
        "prn",
        "po",
        "iv",
        "year",
        "years",
        "yr",
        "yrs",
        "old",
        "month",
        "months",
        "week",
        "weeks",
        "day",
        "days",
        "hour",
        "hours",
        "patient",
        "pt",
        "pts",
    ]
)
_WORD = re.compile(r"[^\W\d_]+|\d+")


def _blank_none(value: Any) -> Any:
    # A missing description or message shows as nothing, not as Jinja's "None".
    return "" if value is None else value


@functools.cache
def _templates() -> jinja2.Environment:
    # Built on first use: importing the review package stays cheap.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("codesuggest.review", "templates"),
        autoescape=True,
        finalize=_blank_none,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(name: str, **values: Any) -> str:
    html = _templates().get_template(name).render(**values)
    # Quotes spelled as html.escape spells them, as the screen did before it had templates.
    # Safe on the whole page: a "&" in any value is already "&amp;", so only escapes match.
    return html.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")


def static_text(name: str) -> str:
    """A file of ``static/`` (the screen's CSS and JavaScript) as text."""
    return resources.files("codesuggest.review").joinpath("static", name).read_text("utf-8")


def _assertion_class(assertion: str | None) -> str:
    a = assertion or "present"
    return f"a-{a}" if a in _KNOWN_CLASSES else "a-other"


def render_header(versions: Mapping[str, str], model: Mapping[str, str]) -> str:
    """The screen's Markdown title: the code-set versions and the model in use."""
    return _render(
        "header.md",
        versions=" · ".join(f"{k} {v}" for k, v in versions.items()),
        model=f"model {model.get('name', '?')} {model.get('version', '')}".strip(),
    )


def render_legend() -> str:
    """The colour key of the evidence highlights."""
    chips = [(_assertion_class(a), label) for a, label in ASSERTION_LABELS.items()]
    return _render("legend.html", chips=chips)


# --------------------------------------------------------------------------- the note


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    assertion: str
    item: int | None
    label: str
    in_play: bool = True


@dataclass(slots=True)
class _Mark:
    classes: str
    item: int | None
    title: str


@dataclass(slots=True)
class _Piece:
    """A stretch of the note between two span or section boundaries."""

    text: str
    section: str | None = None
    mark: _Mark | None = None


@functools.cache
def _stop_words() -> frozenset[str]:
    # scikit-learn's list, imported on first use: the screen's server has it loaded anyway.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _NOT_CLINICAL


def is_clinical_phrase(text: str) -> bool:
    """Whether words the document model weighed say something clinical ("creatinine ratio"),
    not a function word, a number, a dose or an age ("with", "62 year", "mg daily")."""
    return any(
        not w.isdigit()
        and w.lower() not in _stop_words()
        and (len(w) > 2 or w.isupper())  # "MI", "HF": abbreviations are clinical
        for w in _WORD.findall(text)
    )


def _spans(review: Review, text: str, selected: int | None = None) -> list[_Span]:
    spans = []
    for it in review.items:
        if it.status == "rejected":
            continue
        # The model's context words are shown for the codes in play (pre-selected, in the
        # final set, or selected), not for every alternative far down the list.
        in_play = it.preselected or it.in_final or it.item_id == selected
        for e in it.evidence:
            start, end = e.get("start", -1), e.get("end", -1)
            if not 0 <= start < end <= len(text):
                continue
            assertion = e.get("assertion") or "present"
            if assertion == "context" and not (in_play and is_clinical_phrase(text[start:end])):
                continue
            where = f" · {e['section']}" if e.get("section") else ""
            spans.append(
                _Span(start, end, assertion, it.item_id, f"{it.code} · {assertion}{where}", in_play)
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


def _span_priority(span: _Span) -> tuple[int, int]:
    rank = _CAUTION.index(span.assertion) if span.assertion in _CAUTION else len(_CAUTION)
    return span.end - span.start, rank


def _mark(covering: list[_Span], selected: int | None) -> _Mark | None:
    if not covering:
        return None
    focused = [s for s in covering if selected is not None and s.item == selected]
    # The narrowest span wins; on a tie the more cautious assertion shows (a "negated"
    # exclusion over a "present" evidence span), so a conflict is never hidden.
    main = (focused or sorted(covering, key=_span_priority))[0]
    classes = f"cs-ev {_assertion_class(main.assertion)}" + (" cs-focus" if focused else "")
    return _Mark(classes, main.item, _title(covering))


def _title(covering: list[_Span]) -> str:
    """The hover text: the codes with real evidence here that are in play (pre-selected, final
    or selected), then how many alternatives also read these words; model context words only
    where there is nothing else."""
    real = [s for s in covering if s.assertion != "context"] or covering
    shown = [s for s in real if s.in_play] or real[:3]
    labels = list(dict.fromkeys(s.label for s in shown))
    others = len({s.label for s in real} - set(labels))
    if others:
        labels.append(f"+{others} other suggestion{'s' if others > 1 else ''}")
    return "; ".join(labels)


def _pieces(review: Review, text: str, selected: int | None) -> list[_Piece]:
    spans = _spans(review, text, selected)
    # SuggestionResult.to_dict has no "sections" key: only a result that adds one (the schema
    # allows extra keys) gets section names in the note; evidence names its own section.
    sections = {
        s["start"]: s.get("name") or s.get("title") or ""
        for s in review.result.get("sections") or []
        if isinstance(s, dict) and isinstance(s.get("start"), int) and 0 <= s["start"] < len(text)
    }
    cuts = {0, len(text), *sections, *(s.start for s in spans), *(s.end for s in spans)}
    # The selected evidence is one outlined span, not cut into fragments by spans inside it.
    for s in spans:
        if selected is not None and s.item == selected:
            cuts -= {c for c in cuts if s.start < c < s.end and c not in sections}
    cuts = sorted(cuts)
    return [
        _Piece(
            text[a:b],
            sections.get(a),
            _mark([s for s in spans if s.start <= a and b <= s.end], selected),
        )
        for a, b in itertools.pairwise(cuts)
    ]


def render_note(review: Review | None, selected: int | None = None, problem: str = "") -> str:
    """The note with evidence highlighted by assertion and section names shown.

    Overlapping spans are split at every boundary; a piece takes the colour of the selected
    suggestion's span when it has one, else of the narrowest span covering it (on a tie, the
    most cautious assertion: negated before present).
    """
    text = review.note_text if review is not None else None
    return _render(
        "note.html",
        opened=review is not None,
        problem=problem,
        pieces=None if review is None or text is None else _pieces(review, text, selected),
    )


# --------------------------------------------------------------------------- the code table


@dataclass(slots=True)
class _Snippet:
    """The first evidence span of a row, as the table quotes it."""

    text: str
    css: str
    section: str
    more: int


@dataclass(slots=True)
class _Button:
    action: str
    label: str
    hint: str
    disabled: bool = False


@dataclass(slots=True)
class _Row:
    item: ReviewItem
    heading: str
    number: str
    first: str
    confidence: str
    selected: bool
    snippet: _Snippet | None
    edits: list[dict[str, Any]]
    buttons: list[_Button]


def _snippet(review: Review, item: ReviewItem) -> _Snippet | None:
    if not item.evidence:
        return None
    e = item.evidence[0]
    text = e.get("text")
    if text is None and review.note_text is not None:
        text = review.note_text[e.get("start", 0) : e.get("end", 0)]
    return _Snippet(
        text=text or "",
        css=_assertion_class(e.get("assertion") or "present"),
        section=str(e.get("section") or "").replace("_", " "),
        more=len(item.evidence) - 1,
    )


def _buttons(item: ReviewItem) -> list[_Button]:
    return [
        _Button("accept", "✓ Accept", f"Accept {item.code}", item.status == "accepted"),
        _Button("reject", "✗ Reject", f"Reject {item.code}", item.status == "rejected"),
        _Button("replace", "⇄ Replace", f"Replace {item.code} with a code you search for"),
        _Button("up", "↑", f"Move {item.final_code} up"),
        _Button("down", "↓", f"Move {item.final_code} down"),
    ]


def _rows(review: Review, selected: int | None) -> list[_Row]:
    first = "principal" if review.context.get("setting") == "inpatient" else "first-listed"
    rows = []
    seq = {True: 0, False: 0}
    current_group: bool | None = None
    for it in review.items:
        heading = ""
        if it.is_diagnosis != current_group:
            current_group = it.is_diagnosis
            heading = (
                f"Diagnoses (ICD-10-CM): the first accepted is the {first} diagnosis"
                if it.is_diagnosis
                else "Procedures (CPT / HCPCS)"
            )
        if it.in_final:
            seq[it.is_diagnosis] += 1
        rows.append(
            _Row(
                item=it,
                heading=heading,
                number=str(seq[it.is_diagnosis]) if it.in_final else "",
                first=first if it.in_final and it.is_diagnosis and seq[True] == 1 else "",
                confidence="" if it.score is None else f"{round(100 * float(it.score))}%",
                selected=selected == it.item_id,
                snippet=_snippet(review, it),
                edits=review.edits_for(it),
                buttons=_buttons(it),
            )
        )
    return rows


def render_table(review: Review | None, selected: int | None = None) -> str:
    """The suggestions table: one row per code with its evidence, edits and actions."""
    errors = ""
    if review is not None and not review.items:
        errors = "; ".join(str(e.get("message", "")) for e in review.result.get("errors") or [])
    return _render(
        "table.html",
        review=review,
        rows=_rows(review, selected) if review is not None else [],
        errors=errors,
    )


# --------------------------------------------------------------------------- panels


def render_edits(review: Review | None) -> str:
    """The rule edits of the final code set, errors first, and what is still undecided."""
    if review is None:
        return ""
    return _render(
        "edits.html",
        final=review.final_codes(),
        pending=len(review.pending()),
        edits=by_severity(review.edits),
    )


_CONTEXT_NAMES = {"age": "age", "sex": "sex", "encounter_date": "encounter date"}


def render_context_source(read: Mapping[str, Mapping[str, Any]]) -> str:
    """Which context values were read from the note, quoting its words (Markdown).

    Args:
        read: ``Review.context_read``: ``{"value", "start", "end", "text"}`` by field name.
    """
    if not read:
        return "Age, sex and encounter date stated in a pasted note are filled in here."
    bits = [
        f"{_CONTEXT_NAMES[name]} **{read[name]['value']}** (“{_md_escape(read[name]['text'])}”)"
        for name in _CONTEXT_NAMES
        if name in read
    ]
    return "Read from the note: " + ", ".join(bits) + ". Check them; change a box if wrong."


def _md_escape(text: str) -> str:
    # Note words in Markdown: no markup, no HTML.
    out = "".join(f"\\{c}" if c in "\\`*_{}[]()#+-.!|<>~" else c for c in text)
    return out.replace("\n", " ")


def render_progress(session: Session | None) -> str:
    """The queue position and the review's identity, e.g. ``Note 3 / 20 · note-id``.

    Markdown, not HTML: the screen shows it in a ``gr.Markdown``.
    """
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


def search_choices(results: Iterable[Any], suffix: str = "") -> list[tuple[str, str]]:
    """Code-search results as ``(label, "system|code")`` choices for the results list.

    Args:
        results: ``CodeInfo``-like records with ``code``, ``system``, ``description`` and
            ``billable``.
        suffix: modifiers and units typed with the code (``"25"`` of ``99213-25``); a
            procedure code's choice carries them as ``"system|code|suffix"``.
    """
    mods = [p for p in suffix.split() if not p.startswith("*")]
    units = next((p[1:] for p in suffix.split() if p.startswith("*")), "")
    out = []
    for r in results:
        procedure = bool(suffix) and r.system != ICD10CM
        shown = r.code
        if procedure:
            shown = "-".join([r.code, *mods]) + (f" ×{units}" if units else "")
        out.append(
            (
                f"{shown} · {r.description} "
                f"({r.system}{'' if r.billable else ', header: not billable'})",
                f"{r.system}|{r.code}|{suffix}" if procedure else f"{r.system}|{r.code}",
            )
        )
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _analytics_tables(a: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """``(title, headers, rows)`` of each analytics table, in the order the tab shows them."""
    per_code = [
        [
            d["code"],
            d["system"],
            d["description"],
            d["suggested"],
            d["accepted"],
            d["rejected"],
            d["replaced"],
            _pct(d["acceptance_rate"]),
        ]
        for d in a["per_code"]
    ]
    replaced = [
        [
            d["code"],
            d["description"],
            d["replaced"],
            ", ".join(f"{r['code']} ×{r['count']}" for r in d["replaced_by"]),
        ]
        for d in a["most_replaced"]
    ]
    return [
        (
            "Most often rejected",
            ["Code", "Description", "Rejected", "Suggested"],
            [
                [d["code"], d["description"], d["rejected"], d["suggested"]]
                for d in a["most_rejected"]
            ],
        ),
        (
            "Most often replaced, and by what",
            ["Code", "Description", "Replaced", "Replaced by"],
            replaced,
        ),
        (
            "Most often added (missed by the tool)",
            ["Code", "Description", "Added"],
            [[d["code"], d["description"], d["added"]] for d in a["most_added"]],
        ),
        (
            "Per code",
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
            per_code,
        ),
    ]


def render_analytics(a: Mapping[str, Any], queries: Mapping[str, Any] | None = None) -> str:
    """The analytics tab: acceptance overall and per code, most rejected and replaced, and
    the provider queries by status and topic.

    Args:
        a: ``AuditStore.analytics()``.
        queries: ``QueryStore.counts()``.
    """
    o = a["overall"]
    return _render(
        "analytics.html",
        o=o,
        rate=_pct(o["acceptance_rate"]),
        tables=_analytics_tables(a),
        queries=queries,
    )


_BAR_WIDTH = 320


def _bars(rows: list[Mapping[str, Any]], key: str, fmt: str) -> list[dict[str, Any]]:
    """Horizontal bars of ``key`` per coder and day, scaled to the largest value."""
    values = [r[key] for r in rows if r[key] is not None]
    top = max(values, default=0) or 1
    return [
        {
            "label": f"{r['reviewer']} · {r['day']}",
            "width": 0 if r[key] is None else max(2, round(_BAR_WIDTH * r[key] / top)),
            "value": "–" if r[key] is None else fmt.format(r[key]),
            "y": 22 * i,
        }
        for i, r in enumerate(rows)
    ]


def render_productivity(
    rows: list[Mapping[str, Any]],
    corrected: list[Mapping[str, Any]],
    qa: Mapping[str, Any],
) -> str:
    """The productivity plots (per coder and day), the most corrected codes and QA agreement.

    Args:
        rows: ``store.productivity.productivity``; corrected: ``most_corrected``;
        qa: ``QualitySample.summary``.
    """
    plots = [
        ("Notes finalised", _bars(rows, "notes_finalised", "{:d}")),
        ("Median minutes per note (opened to finalised)", _bars(rows, "median_minutes", "{:.1f}")),
        ("Acceptance rate", _bars(rows, "acceptance_rate", "{:.0%}")),
        ("Replacement rate", _bars(rows, "replacement_rate", "{:.0%}")),
        ("Addition rate", _bars(rows, "addition_rate", "{:.0%}")),
    ]
    return _render(
        "productivity.html",
        rows=rows,
        plots=plots,
        height=22 * max(1, len(rows)),
        bar_width=_BAR_WIDTH,
        corrected=corrected,
        qa=qa,
        agreement=_pct(qa.get("agreement_rate")),
    )


def render_queries(queries: Iterable[Mapping[str, Any]]) -> str:
    """A review's provider queries: question, quoted indicators, options, status, answer.

    Args:
        queries: ``QueryStore.queries(review_id)`` rows.
    """
    return _render("queries.html", queries=list(queries))
