"""The coder's day (issue 16), server side: row edits that follow the code set, pre-selection
without clashes, the patient context read from the note, highlights, provider queries and
productivity. The review-screen round trips are in ``test_ui_coder_day.py``.

``StubSuggester`` and ``make_result`` come from ``test_review``: a fixed result and toy rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_review import NOTE, StubSuggester, _Result, item_of

from codesuggest.core.errors import InputError
from codesuggest.core.records import Edit
from codesuggest.review.service import ReviewService, context_with_note
from codesuggest.review.state import QueueEntry, ReviewItem
from codesuggest.review.views import (
    is_clinical_phrase,
    render_analytics,
    render_context_source,
    render_note,
    render_productivity,
    render_table,
)
from codesuggest.store.audit import AuditStore


class ClashingStub(StubSuggester):
    """The stub with E11.65 and E13.22 suggested too, and one Excludes1 rule (E11 / E13)."""

    def suggest(self, text: str, **kw: Any) -> _Result:
        d = super().suggest(text, **kw).d
        base = d["suggestions"][0]
        d["suggestions"][1:1] = [
            {
                **base,
                "code": "E11.65",
                "description": "T2DM with hyperglycemia",
                "score": 0.6,
                "rank": 2,
                "selected": True,
            },
            {
                **base,
                "code": "E13.22",
                "description": "Other DM with diabetic CKD",
                "score": 0.5,
                "rank": 3,
                "selected": True,
            },
        ]
        # As a batch made by an older model could carry it: an edit naming a code since gone.
        d["suggestions"][0]["edits"] = [
            {
                "rule": "excludes1",
                "severity": "error",
                "codes": ["E11.9", "E13.22"],
                "message": "E11.9 and E13.22 are not coded together.",
                "source": "I.A.12.a",
                "fix": [],
            }
        ]
        return _Result(d)

    def validate(self, codes: list[str], **kw: Any) -> list[Edit]:
        edits = super().validate(codes, **kw)
        for a in codes:
            for b in codes:
                if a.startswith("E11") and b.startswith("E13"):
                    edits.append(
                        Edit(
                            "excludes1",
                            "error",
                            (a, b),
                            f"{a} and {b} are not coded together.",
                            "ICD-10-CM Official Guidelines I.A.12.a",
                        )
                    )
        return edits


@pytest.fixture
def clashing(book, tmp_path) -> ReviewService:
    store = AuditStore(tmp_path / "audit.sqlite3")
    yield ReviewService(ClashingStub(book), store, reviewer="alice", export_dir=tmp_path / "x")
    store.close()


@pytest.fixture
def service(book, tmp_path) -> ReviewService:
    store = AuditStore(tmp_path / "audit.sqlite3")
    yield ReviewService(StubSuggester(book), store, reviewer="alice", export_dir=tmp_path / "x")
    store.close()


def open_review(service: ReviewService, text: str = NOTE) -> Any:
    return service.open(
        text=text, note_id="note-1", context={"setting": "outpatient"}, reviewer="alice"
    )


def messages(review: Any, code: str) -> list[str]:
    return [e["message"] for e in review.edits_for(review.item(item_of(review, code)))]


# --------------------------------------------------------------------------- item 1


def test_an_undecided_row_shows_the_edits_of_the_code_set_as_it_stands(service):
    r = open_review(service)
    service.apply(r, "add", "E11.65", "ICD-10-CM", "T2DM with hyperglycemia")
    assert any("E11.65" in m for m in messages(r, "E11.9"))
    service.apply(r, "reject", item_of(r, "E11.65"))
    assert messages(r, "E11.9") == []


def test_an_edit_naming_a_code_replaced_since_is_not_shown_on_an_undecided_row(clashing):
    r = open_review(clashing)
    clashing.apply(r, "replace", item_of(r, "E13.22"), "E11.22", "ICD-10-CM", "T2DM with CKD")
    assert not any("E13.22" in m for m in messages(r, "E11.9"))
    assert "E13.22" not in render_table(r).split('data-code="E11.9"', 1)[1].split("</tr>", 1)[0]


# --------------------------------------------------------------------------- item 6


def test_preselection_never_holds_both_codes_of_a_clashing_pair(clashing):
    r = open_review(clashing)
    starred = {it.code for it in r.items if it.preselected}
    # E11.9 is unspecified beside E11.65; E13.22 is Excludes1 with E11.65 (the better score)
    assert starred == {"E11.65", "I10"}
    assert set(r.unstarred) == {"E11.9", "E13.22"}


def test_accept_all_preselected_refuses_what_the_edits_flag_as_errors(clashing):
    r = open_review(clashing)
    clashing.apply(r, "accept", item_of(r, "E13.22"))
    for it in r.items:  # as a batch output made elsewhere could pre-select them
        it.preselected = it.code in {"E11.9", "E11.65", "I10"}
    refused: dict[str, str] = {}
    done = clashing.accept_preselected(r, refused)
    assert done == ["I10"]
    assert set(refused) == {"E11.9", "E11.65"}
    assert "not coded together" in refused["E11.65"]
    assert r.final_codes() == ["E13.22", "I10"]


def test_accept_all_keeps_the_specific_code_over_its_unspecified_sibling(service):
    r = open_review(service)
    service.apply(r, "add", "E11.65", "ICD-10-CM", "T2DM with hyperglycemia")
    refused: dict[str, str] = {}
    assert service.accept_preselected(r, refused) == ["I10"]
    assert "unspecified" in refused["E11.9"]


# --------------------------------------------------------------------------- item 4


def test_a_whitespace_paste_is_one_calm_message_and_raises_nothing(service):
    import gradio as gr

    from codesuggest.review.app import _Screen

    out = _Screen(service, gr).on_paste(" \n\t ", None, "", "unknown", "outpatient", "", None)
    assert "Paste a note first" in out[5]
    assert all(isinstance(v, dict) and v.get("__type__") == "update" for v in out[:5])


def test_a_bad_age_is_a_message_in_the_status_line(service):
    import gradio as gr

    from codesuggest.review.app import _Screen

    out = _Screen(service, gr).on_paste(NOTE, None, "two hundred", "F", "outpatient", "", None)
    assert "age must be a whole number" in out[5]


# --------------------------------------------------------------------------- item 5


def test_a_blank_box_takes_what_the_note_states_and_a_given_value_is_kept():
    note = "Patient: 58 y/o female\nDate of service: 03/11/2026\n" + NOTE
    ctx, read = context_with_note(note, {"setting": "outpatient", "age": "60"})
    assert (ctx["age"], ctx["sex"], ctx["encounter_date"]) == (60, "F", "2026-03-11")
    assert set(read) == {"sex", "encounter_date"}


def test_a_value_read_from_the_previous_note_never_carries_over():
    ctx, _ = context_with_note(
        "Patient: 72 year old male\n" + NOTE,
        {"setting": "outpatient", "age": 58, "sex": "F", "encounter_date": "2026-03-11"},
        stale={"age": 58, "sex": "F", "encounter_date": "2026-03-11"},
    )
    assert (ctx["age"], ctx["sex"], ctx["encounter_date"]) == (72, "M", None)


def test_opening_a_note_records_the_context_it_states(service):
    note = "Patient: 58 y/o female\n" + NOTE
    entry = QueueEntry(note_id="n", text=note)
    r = service.open_entry(entry, context={"setting": "outpatient"}, reviewer="alice")
    assert (r.context["age"], r.context["sex"]) == (58, "F")
    assert r.context_read["age"]["text"] == "58"
    assert "Read from the note: age **58**" in render_context_source(r.context_read)


# --------------------------------------------------------------------------- item 7


def _with_context_words(review: Any, words: list[str]) -> None:
    it = review.item(item_of(review, "I10"))
    for w in words:
        start = NOTE.index(w)
        it.evidence.append({"start": start, "end": start + len(w), "assertion": "context"})


def test_only_clinical_context_words_are_highlighted(service):
    r = open_review(service)
    _with_context_words(r, ["with", "hyperglycemia", "Plan"])
    out = render_note(r)
    assert ">with</mark>" not in out
    assert "a-context" not in out.split("hyperglycemia")[0][-200:] or "hyperglycemia" in out
    assert is_clinical_phrase("creatinine ratio")
    assert not any(map(is_clinical_phrase, ["with", "the", "and", "62 year", "mg daily"]))


def test_the_selected_evidence_is_outlined_once_not_word_by_word(service):
    r = open_review(service)
    e11 = r.item(item_of(r, "E11.9"))
    start = NOTE.index("diabetes")
    # Another code's evidence inside E11.9's span used to cut its outline into pieces.
    r.item(item_of(r, "I10")).evidence.append(
        {"start": start, "end": start + 8, "assertion": "present"}
    )
    out = render_note(r, selected=e11.item_id)
    assert out.count("cs-focus") == 1
    assert ">Type 2 diabetes</mark>" in out


def test_a_hover_lists_the_codes_in_play_and_counts_the_alternatives(service):
    r = open_review(service)
    span_ = r.item(item_of(r, "I10")).evidence[0]
    for code in ("I11.9", "I15.9", "I16.9"):
        r.items.append(
            ReviewItem(
                item_id=len(r.items) + 10,
                code=code,
                system="ICD-10-CM",
                description="",
                evidence=[{"start": span_["start"], "end": span_["end"], "assertion": "present"}],
            )
        )
    out = render_note(r)
    title = out.split(">Essential hypertension</mark>")[0].rsplit('title="', 1)[1]
    assert title.startswith("I10 · present")
    assert "+3 other suggestions" in title
    assert "I11.9" not in title


# --------------------------------------------------------------------------- item 2 (search)


@pytest.mark.parametrize(("query", "code"), [("99213-25", "99213"), ("20610-RT", "20610")])
def test_searching_a_code_with_its_modifier_finds_the_code(service, query, code):
    assert service.search(query)[0].code == code


def test_adding_a_searched_code_answers_every_output_and_clears_the_search(service):
    """Add, like Replace, is wired to the views plus the search box and its results: a reply
    short of those two left the screen as it was, with no "Added" message."""
    import gradio as gr

    from codesuggest.review.screen import _VIEWS, _Screen

    screen = _Screen(service, gr)
    session = screen.on_paste(NOTE, None, "", "unknown", "outpatient", "", None)[0]
    out = screen.on_add(session, "ICD-10-CM|E13.22")
    assert len(out) == _VIEWS + 2
    assert "Added E13.22." in out[5]
    assert out[-2] == ""
    assert out[-1].get("choices") == []
    assert out[-1].get("value") is None
    assert len(screen.on_add(session, None)) == _VIEWS + 2  # the calm reply, too


def test_setting_a_lines_modifiers_answers_exactly_the_views_it_is_wired_to(service):
    import gradio as gr

    from codesuggest.review.screen import _VIEWS, _Screen

    screen = _Screen(service, gr)
    session = screen.on_paste(NOTE, None, "", "unknown", "outpatient", "", None)[0]
    code, system, _ = service.describe("99213")
    assert "Added 99213" in screen.on_add(session, f"{system}|{code}")[5]
    out = screen.on_set_line(session, "25")
    assert len(out) == _VIEWS
    assert "99213-25 recorded." in out[5]


# --------------------------------------------------------------------------- item 13


def _with_missing_laterality(review: Any) -> int:
    it = review.item(item_of(review, "E11.9"))
    it.note = "Unspecified code: the note does not document laterality (right, left or bilateral)"
    return it.item_id


def test_a_missing_documentation_note_becomes_a_non_leading_query(service):
    r = open_review(service)
    item = _with_missing_laterality(r)
    query, paths = service.raise_query(r, item, reviewer="alice")
    assert query.topic == "laterality"
    assert "E11.9" not in query.question  # names no code
    assert query.options[-2:] == ["Other (please specify)", "Unable to determine"]
    assert {"Right", "Left", "Bilateral"} <= set(query.options)
    (ind,) = query.indicators
    assert NOTE[ind["start"] : ind["end"]] == ind["text"] == "Type 2 diabetes"
    text = paths["txt"].read_text(encoding="utf-8")
    assert '"Type 2 diabetes"' in text
    assert "[ ] Unable to determine" in text
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["status"] == "open"


def test_a_query_is_stored_without_note_words_and_its_status_is_audited(service):
    r = open_review(service)
    query, _ = service.raise_query(r, _with_missing_laterality(r), reviewer="alice")
    stored = service.queries.query(query.query_id)
    assert "text" not in stored["clinical_indicators"][0]  # no --store-note-text
    with pytest.raises(InputError, match="answer"):
        service.queries.set_status(query.query_id, "answered", reviewer="alice")
    service.queries.set_status(query.query_id, "answered", reviewer="dr", answer="Left")
    service.queries.set_status(query.query_id, "closed", reviewer="alice")
    assert [e["status"] for e in service.queries.events(query.query_id)] == [
        "open",
        "answered",
        "closed",
    ]
    assert service.queries.query(query.query_id)["answer"] == "Left"
    counts = service.queries.counts()
    assert counts["by_status"] == {"open": 0, "answered": 0, "closed": 1}
    assert "1</b> provider queries" in render_analytics(service.store.analytics(), counts)


def test_a_stage_query_offers_the_specific_stages(service, book):
    from codesuggest.store.queries import build_query

    q = build_query(
        review_id="r",
        code="N18.9",
        system="ICD-10-CM",
        description="Chronic kidney disease, unspecified",
        evidence=[{"start": 0, "end": 3, "assertion": "present"}],
        note_text="CKD noted.",
        topic="stage",
        codebook=book,
    )
    assert any("stage 4" in o for o in q.options)
    assert not any("unspecified" in o.lower() for o in q.options)


def test_a_row_without_missing_documentation_needs_a_topic(service):
    r = open_review(service)
    with pytest.raises(InputError, match="choose what to ask"):
        service.raise_query(r, item_of(r, "I10"), reviewer="alice")


# --------------------------------------------------------------------------- item 14


def _finalised(service: ReviewService, reviewer: str) -> Any:
    r = service.open(
        text=NOTE, note_id=f"n-{reviewer}", context={"setting": "outpatient"}, reviewer=reviewer
    )
    service.apply(r, "accept", item_of(r, "E11.9"))
    service.apply(r, "replace", item_of(r, "I10"), "I11.9", "ICD-10-CM", "HHD")
    service.apply(r, "reject", item_of(r, "99213"))
    service.apply(r, "add", "Z79.4", "ICD-10-CM", "insulin")
    service.finalise(r)
    return r


def test_productivity_per_coder_and_day_with_rates_and_a_csv(service):
    _finalised(service, "alice")
    _finalised(service, "alice")
    _finalised(service, "bob")
    rows, corrected, csv_path = service.productivity()
    alice = next(r for r in rows if r["reviewer"] == "alice")
    assert alice["notes_finalised"] == 2
    assert alice["median_minutes"] >= 0
    assert alice["acceptance_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert alice["replacement_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert alice["addition_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert {d["code"] for d in corrected} == {"I10", "99213"}
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("reviewer,day,notes_finalised,median_minutes")
    assert len(lines) == 3
    html = render_productivity(rows, corrected, service.qa.summary())
    assert html.count('class="cs-bar"') == 5 * len(rows)


def test_a_qa_sample_records_agreement_and_its_rate(service):
    for who in ("alice", "bob", "carol", "dan"):
        _finalised(service, who)
    drawn = service.qa.draw(0.5, reviewer="lead", seed=1)
    assert len(drawn) == 2
    assert len(service.qa.draw(1.0, reviewer="lead", seed=1)) == 2  # never the same twice
    service.qa.record(drawn[0], agreed=True, reviewer="lead")
    service.qa.record(drawn[1], agreed=False, reviewer="lead", comment="I11.9 needs N18")
    assert service.qa.summary() == {
        "drawn": 4,
        "reviewed": 2,
        "agreed": 1,
        "agreement_rate": 0.5,
    }
    with pytest.raises(InputError, match="not drawn"):
        service.qa.record("nope", agreed=True, reviewer="lead")


# --------------------------------------------------------------------------- item 8


def test_the_readme_screenshot_shows_the_shipped_model_version():
    from codesuggest.rank.model import default_model_dir, verify_model_dir

    root = Path(__file__).resolve().parents[1]
    shown = json.loads((root / "docs" / "review-screen.json").read_text(encoding="utf-8"))
    meta, _ = verify_model_dir(default_model_dir())
    assert f"model {meta['name']} {meta['version']}" in shown["header"], (
        "docs/review-screen.png is out of date: CODESUGGEST_UPDATE_SCREENSHOT=1 pytest "
        "tests/test_ui_browser.py"
    )
