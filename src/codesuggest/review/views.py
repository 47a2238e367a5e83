"""The review screen's HTML: the note with its evidence highlighted, the code table, the
rule-edit panel, queue progress and the analytics tab.

Every piece of note text and code description is escaped, since notes and batch files are
untrusted input.
"""

import html
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codesuggest.core.records import ASSERTIONS
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
    for e in by_severity(review.edits):
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
