"""The review logic, its HTML views, the work queue and the review service (no browser).

``StubSuggester`` below is a test double: it answers ``suggest`` with a fixed, hand-written
result and ``validate`` with three toy rules, so these tests do not depend on the model. It
emits only what the real ``Suggester`` emits: the keys of ``SuggestionResult.to_dict`` and rule
ids of ``rules.engine.RULES``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from codesuggest.core.errors import InputError
from codesuggest.core.records import Edit
from codesuggest.output.schema import validate_result_dict
from codesuggest.review.app import parse_auth
from codesuggest.review.service import ReviewService, queue_from_batch, queue_from_note_files
from codesuggest.review.state import QueueEntry, Review, Session, normalise_context
from codesuggest.review.views import (
    render_analytics,
    render_edits,
    render_note,
    render_progress,
    render_table,
    search_choices,
)
from codesuggest.store.audit import AuditStore, note_sha256

NOTE = (
    "Assessment:\n"
    "Type 2 diabetes with hyperglycemia. Essential hypertension.\n"
    "Denies chest pain. Mother had breast cancer.\n"
    "Plan: office visit.\n"
)


def span(word: str, text: str = NOTE, **extra: Any) -> dict[str, Any]:
    start = text.index(word)
    return {"start": start, "end": start + len(word), "text": word, **extra}


def make_result(text: str = NOTE, note_id: str = "note-1") -> dict[str, Any]:
    """A small suggestion result in the output schema, with offsets into ``text``."""
    return {
        "id": note_id,
        "schema": "1.0",
        "codesets": {"ICD-10-CM": "2026", "CPT": "subset-2026.1"},
        "model": {"name": "stub", "version": "1", "sha256": "0" * 64},
        "context": {"setting": "outpatient", "age": 58, "sex": "F", "encounter_date": None},
        "suggestions": [
            {
                "code": "E11.9",
                "system": "ICD-10-CM",
                "description": "Type 2 diabetes mellitus without complications",
                "score": 0.91,
                "rank": 1,
                "selected": True,
                "evidence": [
                    span("Type 2 diabetes", text, section="assessment", assertion="present")
                ],
                "sources": {"lookup": 0.9},
                "edits": [],
            },
            {
                "code": "I10",
                "system": "ICD-10-CM",
                "description": "Essential (primary) hypertension",
                "score": 0.84,
                "rank": 2,
                "selected": True,
                "evidence": [
                    span("Essential hypertension", text, section="assessment", assertion="present")
                ],
                "sources": {"lookup": 0.8},
                "edits": [],
            },
            {
                "code": "99213",
                "system": "CPT",
                "description": "Office visit, established patient, low MDM",
                "score": 0.55,
                "rank": 3,
                "selected": False,
                "evidence": [span("office visit", text, section="plan", assertion="present")],
                "sources": {"classifier": 0.5},
                "edits": [
                    {
                        "rule": "modifier-25",
                        "severity": "info",
                        "codes": ["99213"],
                        "message": "99213 is billed on the day of a procedure: add modifier 25 "
                        "if the E/M is significant and separately identifiable.",
                        "source": "CMS Medicare Claims Processing Manual, Chapter 12, "
                        "section 30.6.6",
                        "fix": ["99213-25"],
                    }
                ],
            },
        ],
        "excluded": [
            {**span("chest pain", text), "reason": "negated", "codes": ["R07.9"]},
            {**span("breast cancer", text), "reason": "family", "codes": ["Z80.3"]},
        ],
        "errors": [],
    }


class _Result:
    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d

    def to_dict(self) -> dict[str, Any]:
        return self.d


class StubSuggester:
    """Test double of ``codesuggest.load()``: fixed suggestions, three toy coding rules.

    The rules fire on simpler conditions than the real ones but say what those say (rule id,
    severity, citation, fix), so the screen shows the edits a coder would see.
    """

    def __init__(self, codebook: Any) -> None:
        self.codebook = codebook
        self.model_info = {"name": "stub", "version": "1", "sha256": "0" * 64}
        self.validate_calls: list[tuple[list[str], dict[str, Any]]] = []

    def suggest(self, text: str, **kw: Any) -> _Result:
        d = make_result(text if "Type 2 diabetes" in text else NOTE, kw.get("id") or "note")
        if "Type 2 diabetes" not in text:
            d["suggestions"], d["excluded"] = [], []
        d.pop("sections", None)  # suggest never emits sections
        d["context"] = {k: kw.get(k) for k in ("setting", "age", "sex", "encounter_date")}
        return _Result(d)

    def validate(self, codes: list[str], **kw: Any) -> list[Edit]:
        self.validate_calls.append((list(codes), kw))
        edits = []
        if "E11.9" in codes and "E11.65" in codes:
            edits.append(
                Edit(
                    "redundant-code",
                    "warning",
                    ("E11.9", "E11.65"),
                    "E11.9 means diabetes without complications, but E11.65 is also listed.",
                    "ICD-10-CM Official Guidelines I.C.4.a",
                    ("E11.65",),
                )
            )
        if codes[:1] == ["Z79.4"] and "E11.9" in codes:
            edits.append(
                Edit(
                    "code-first",
                    "info",
                    ("E11.9", "Z79.4"),
                    "List E11.9 before Z79.4: E11.9 has a 'use additional code' note.",
                    "ICD-10-CM Official Guidelines I.A.13",
                    ("E11.9", "Z79.4"),
                )
            )
        if kw.get("age") is not None and kw["age"] < 18 and "I10" in codes:
            edits.append(
                Edit(
                    "mce-age-conflict",
                    "warning",
                    ("I10",),
                    f"I10 is an adult code, but the patient is {kw['age']}: check the code "
                    "and the age.",
                    "CMS Medicare Code Editor (stub)",
                )
            )
        return edits


@pytest.fixture
def review() -> Review:
    return Review(make_result(), note_text=NOTE, reviewer="alice")


@pytest.fixture
def stub(book) -> StubSuggester:
    return StubSuggester(book)


@pytest.fixture
def service(stub, tmp_path) -> ReviewService:
    store = AuditStore(tmp_path / "audit.sqlite3")
    yield ReviewService(stub, store, reviewer="alice", export_dir=tmp_path / "exports")
    store.close()


def codes(review: Review) -> list[str]:
    return review.final_codes()


def item_of(review: Review, code: str) -> int:
    return next(it.item_id for it in review.items if it.code == code)


# --------------------------------------------------------------------------- review logic


def test_new_review_lists_suggestions_pending_with_preselected_marked(review):
    assert [(it.code, it.status, it.preselected) for it in review.items] == [
        ("E11.9", "pending", True),
        ("I10", "pending", True),
        ("99213", "pending", False),
    ]
    assert review.final_codes() == []


def test_accept_puts_code_in_final_set(review):
    d = review.accept(item_of(review, "I10"))
    assert d.action == "accept"
    assert d.code == "I10"
    assert d.reviewer == "alice"
    assert d.before["status"] == "pending"
    assert d.after["status"] == "accepted"
    assert codes(review) == ["I10"]


def test_reject_leaves_code_out(review):
    review.accept(item_of(review, "E11.9"))
    d = review.reject(item_of(review, "E11.9"))
    assert (d.before["status"], d.after["status"]) == ("accepted", "rejected")
    assert codes(review) == []


def test_replace_puts_replacement_in_final_set_in_place_of_the_suggestion(review):
    review.accept(item_of(review, "I10"))
    d = review.replace(item_of(review, "E11.9"), "E11.65", "ICD-10-CM", "T2DM w hyperglycemia")
    assert d.action == "replace"
    assert d.code == "E11.9"
    assert d.after == {
        "item": item_of(review, "E11.9"),
        "code": "E11.9",
        "status": "replaced",
        "replaced_by": "E11.65",
        "replaced_by_system": "ICD-10-CM",
    }
    assert codes(review) == ["E11.65", "I10"]
    first = review.final()["diagnoses"][0]
    assert first["code"] == "E11.65"
    assert first["replaces"] == "E11.9"


def test_accept_after_replace_restores_the_suggested_code(review):
    i = item_of(review, "E11.9")
    review.replace(i, "E11.65", "ICD-10-CM", "x")
    review.accept(i)
    assert codes(review) == ["E11.9"]
    assert review.item(i).replaced_by is None


def test_add_appends_an_accepted_code_after_the_other_diagnoses(review):
    review.accept(item_of(review, "E11.9"))
    review.accept(item_of(review, "99213"))
    d = review.add("Z79.4", "ICD-10-CM", "Long term (current) use of insulin")
    assert d.action == "add"
    assert d.before is None
    assert codes(review) == ["E11.9", "Z79.4", "99213"]
    assert review.items[-2].origin == "added"


def test_adding_a_code_already_in_the_final_set_is_refused(review):
    review.accept(item_of(review, "I10"))
    with pytest.raises(InputError, match="already in the final code set"):
        review.add("I10", "ICD-10-CM", "Essential (primary) hypertension")


def test_replacing_with_a_code_already_in_the_final_set_is_refused(review):
    review.accept(item_of(review, "I10"))
    with pytest.raises(InputError, match="already"):
        review.replace(item_of(review, "E11.9"), "I10", "ICD-10-CM", "x")


def test_move_up_makes_a_diagnosis_first_listed(review):
    review.accept(item_of(review, "E11.9"))
    review.accept(item_of(review, "I10"))
    d = review.move(item_of(review, "I10"), -1)
    assert d.action == "reorder"
    assert d.before["order"] == ["E11.9", "I10"]
    assert d.after["order"] == ["I10", "E11.9"]
    assert review.final()["diagnoses"][0]["code"] == "I10"
    assert review.final()["diagnoses"][0]["sequence"] == 1


def test_move_keeps_procedures_after_diagnoses(review):
    assert review.move(item_of(review, "99213"), -1) is None
    assert review.move(item_of(review, "I10"), 1) is None
    assert [it.code for it in review.items] == ["E11.9", "I10", "99213"]


def test_repeating_an_action_changes_nothing_and_records_nothing(review):
    i = item_of(review, "I10")
    assert review.accept(i) is not None
    assert review.accept(i) is None


def test_unknown_row_is_refused(review):
    with pytest.raises(InputError, match="not in this review"):
        review.accept(99)


def test_finalise_with_an_empty_final_set_is_refused(review):
    with pytest.raises(InputError, match="final code set is empty"):
        review.finalise()


def test_finalise_lists_undecided_suggestions_and_an_action_reopens_the_review(review):
    review.accept(item_of(review, "E11.9"))
    d = review.finalise()
    assert review.status == "finalised"
    assert d.before == {"pending": ["I10", "99213"]}
    assert d.after["final"]["diagnoses"][0]["code"] == "E11.9"
    review.accept(item_of(review, "I10"))
    assert review.status == "open"


def test_row_edits_list_errors_first(review):
    review.accept(item_of(review, "E11.9"))
    review.edits = [
        {"rule": "b", "severity": "info", "codes": ["E11.9"], "message": "i"},
        {"rule": "a", "severity": "error", "codes": ["E11.9"], "message": "e"},
        {"rule": "c", "severity": "warning", "codes": ["E11.9"], "message": "w"},
    ]
    shown = review.edits_for(review.item(item_of(review, "E11.9")))
    assert [e["severity"] for e in shown] == ["error", "warning", "info"]


def test_pending_row_shows_the_edits_that_came_with_its_suggestion(review):
    shown = review.edits_for(review.item(item_of(review, "99213")))
    assert [e["rule"] for e in shown] == ["modifier-25"]


def test_context_change_is_a_decision_with_before_and_after(review):
    d = review.set_context({"setting": "inpatient", "age": "7", "sex": "M"})
    assert d.action == "context"
    assert d.before["setting"] == "outpatient"
    assert d.after["setting"] == "inpatient"
    assert review.context == {
        "setting": "inpatient",
        "age": 7,
        "sex": "M",
        "encounter_date": None,
    }
    assert review.set_context({"setting": "inpatient", "age": 7, "sex": "M"}) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"setting": "ward"}, "setting must be one of"),
        ({"age": "fifty"}, "whole number of years"),
        ({"age": 200}, "outside 0-124"),
        ({"sex": "Mango"}, "sex must be F or M"),
        ({"age": 4.5}, "whole number"),
        ({"encounter_date": "03/11/2026"}, "YYYY-MM-DD"),
    ],
)
def test_invalid_context_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InputError, match=message):
        normalise_context(**kwargs)


def test_empty_age_means_unknown_and_zero_is_a_newborn():
    assert normalise_context(age="")["age"] is None
    assert normalise_context(age="0")["age"] == 0


# --------------------------------------------------------------------------- HTML views


def test_note_html_escapes_the_note_text():
    text = "Pt <script>alert(1)</script> & <img src=x onerror=alert(2)>\n" + NOTE
    r = Review(make_result(text), note_text=text, reviewer="alice")
    out = render_note(r)
    assert "<script>" not in out
    assert "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x" in out


def test_table_html_escapes_descriptions_from_a_batch_file(review):
    review.items[0].description = '<b onmouseover="x()">evil</b>'
    out = render_table(review)
    assert "<b onmouseover" not in out
    assert "&lt;b onmouseover=&quot;x()&quot;&gt;" in out


def test_note_html_colours_evidence_and_exclusions_by_assertion(review):
    out = render_note(review)
    assert 'class="cs-ev a-present" data-item="0"' in out
    assert '<mark class="cs-ev a-negated"' in out
    assert ">chest pain</mark>" in out
    assert '<mark class="cs-ev a-family"' in out
    assert ">breast cancer</mark>" in out


def test_note_html_shows_the_section_names_a_result_carries():
    # Suggester results have no "sections" key (the schema allows one); this one adds it.
    result = {**make_result(), "sections": [{"name": "assessment", "start": 0, "end": 100}]}
    out = render_note(Review(result, note_text=NOTE, reviewer="alice"))
    assert '<span class="cs-sec">assessment</span>' in out


def test_selected_suggestion_evidence_is_outlined(review):
    i = item_of(review, "I10")
    out = render_note(review, selected=i)
    assert f'class="cs-ev a-present cs-focus" data-item="{i}"' in out
    assert out.count("cs-focus") == 1


def test_rejected_suggestion_evidence_is_not_highlighted(review):
    review.reject(item_of(review, "I10"))
    assert f'data-item="{item_of(review, "I10")}"' not in render_note(review)


def test_note_html_keeps_every_character_of_the_note(review):
    import html as _html
    import re

    text_only = _html.unescape(
        re.sub(r"<span class=\"cs-sec\">.*?</span>|<[^>]+>", "", render_note(review))
    )
    assert text_only == NOTE


def test_table_marks_preselected_rows_and_numbers_the_final_set(review):
    review.accept(item_of(review, "I10"))
    out = render_table(review)
    assert out.count('title="pre-selected by the tool">★</span>') == 2
    assert "first-listed" in out
    review.set_context({"setting": "inpatient"})
    assert "principal" in render_table(review)


def test_table_lists_an_edit_error_before_a_warning(review):
    review.accept(item_of(review, "E11.9"))
    review.edits = [
        {"rule": "w", "severity": "warning", "codes": ["E11.9"], "message": "WARN-MSG"},
        {"rule": "e", "severity": "error", "codes": ["E11.9"], "message": "ERR-MSG"},
    ]
    out = render_table(review)
    assert out.index("ERR-MSG") < out.index("WARN-MSG")


def test_edits_panel_names_the_final_codes_and_undecided_count(review):
    review.accept(item_of(review, "E11.9"))
    out = render_edits(review)
    assert "E11.9" in out
    assert "2 suggestion(s) not yet decided" in out


def test_progress_shows_position_in_the_queue(tmp_path):
    session = Session(queue=[QueueEntry(f"n{i}", "x") for i in range(20)], position=2)
    assert render_progress(session).startswith("Note **3 / 20**")


# --------------------------------------------------------------------------- work queues


def test_note_files_queue_in_name_order_skipping_other_files(tmp_path):
    for name in ("b.txt", "a.txt", "c.pdf"):
        (tmp_path / name).write_text(f"note {name}", encoding="utf-8")
    queue = queue_from_note_files(tmp_path.iterdir())
    assert [(e.note_id, e.text) for e in queue] == [("a", "note a.txt"), ("b", "note b.txt")]


def test_note_file_in_windows_1252_is_read(tmp_path):
    (tmp_path / "n.txt").write_bytes("caf\xe9 au lait".encode("cp1252"))
    assert queue_from_note_files([tmp_path / "n.txt"])[0].text == "café au lait"


def write_batch(path: Path, results: list[dict[str, Any]], extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(r) for r in results] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_batch_queue_reads_text_from_the_matching_note_file(tmp_path):
    batch = write_batch(tmp_path / "out.jsonl", [make_result(note_id="visit-7")])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "visit-7.txt").write_text(NOTE, encoding="utf-8")
    queue, problems = queue_from_batch(batch, notes.iterdir())
    assert problems == []
    assert queue[0].note_id == "visit-7"
    assert queue[0].text == NOTE
    assert queue[0].result


def test_batch_queue_uses_text_carried_in_the_output(tmp_path):
    batch = write_batch(tmp_path / "out.jsonl", [{**make_result(), "text": NOTE}])
    queue, _ = queue_from_batch(batch)
    assert queue[0].text == NOTE
    assert queue[0].problem == ""


def test_batch_queue_without_text_opens_without_the_note(tmp_path):
    queue, problems = queue_from_batch(write_batch(tmp_path / "o.jsonl", [make_result()]))
    assert queue[0].text is None
    assert "open its folder of notes" in queue[0].problem
    assert problems == []
    r = Review(queue[0].result, note_text=None, reviewer="a")
    assert "not available" in render_note(r)
    assert "Type 2 diabetes" in render_table(r)


def test_batch_queue_refuses_a_note_whose_offsets_do_not_match(tmp_path):
    batch = write_batch(tmp_path / "out.jsonl", [make_result(note_id="n1")])
    (tmp_path / "n1.txt").write_text("A different note entirely. " * 5, encoding="utf-8")
    queue, problems = queue_from_batch(batch, [tmp_path / "n1.txt"])
    assert queue[0].text is None
    assert "does not match" in problems[0]


def test_batch_queue_reports_malformed_lines_and_keeps_the_rest(tmp_path):
    batch = write_batch(tmp_path / "o.jsonl", [make_result()], ["{not json", '{"id": 1}'])
    queue, problems = queue_from_batch(batch)
    assert len(queue) == 1
    assert problems[0].startswith("line 2: not JSON")
    assert problems[1].startswith("line 3: not a suggestion result")


# --------------------------------------------------------------------------- service


def open_review(service: ReviewService, text: str = NOTE, reviewer: str = "alice") -> Review:
    return service.open(
        text=text, note_id="note-1", context={"setting": "outpatient"}, reviewer=reviewer
    )


def test_opening_a_note_records_the_review_with_its_hash(service):
    r = open_review(service)
    row = service.store.review(r.review_id)
    assert row["note_sha256"] == note_sha256(NOTE)
    assert row["note_text"] is None
    assert row["reviewer"] == "alice"
    assert row["model_version"] == "1"
    assert validate_result_dict(r.result) == []


def test_a_note_with_a_lone_surrogate_opens_with_it_replaced_in_place(service):
    # What a pasted JSON "\ud800" or surrogateescape-decoded bytes give: no UTF-8 encoder
    # (SQLite's, the browser's) takes it, so the review reads it as U+FFFD, one for one.
    r = open_review(service, NOTE + "\ud800")
    assert r.note_text == NOTE + "\ufffd"
    assert service.store.review(r.review_id)["note_sha256"] == note_sha256(NOTE + "\ufffd")
    render_note(r).encode("utf-8")


def test_each_action_is_in_the_audit_log_when_apply_returns(service):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "E11.9"))
    service.apply(r, "reject", item_of(r, "I10"))
    rows = service.store.actions(r.review_id)
    assert [(a["action"], a["code"]) for a in rows] == [("accept", "E11.9"), ("reject", "I10")]


def test_edits_are_recomputed_as_the_final_set_changes(service, stub):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "E11.9"))
    service.apply(r, "add", "E11.65", "ICD-10-CM", "T2DM with hyperglycemia")
    assert stub.validate_calls[-1][0] == ["E11.9", "E11.65"]
    assert [e["rule"] for e in r.edits] == ["redundant-code"]
    service.apply(r, "reject", item_of(r, "E11.9"))
    assert r.edits == []


def test_reordering_reruns_the_edits_in_the_new_order(service, stub):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "E11.9"))
    service.apply(r, "add", "Z79.4", "ICD-10-CM", "insulin")
    assert r.edits == []
    service.apply(r, "move", item_of(r, "Z79.4"), -1)
    assert stub.validate_calls[-1][0] == ["Z79.4", "E11.9"]
    assert [e["rule"] for e in r.edits] == ["code-first"]


def test_changing_the_patient_context_reruns_the_edits(service, stub):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "I10"))
    assert r.edits == []
    service.apply(r, "context", {"setting": "outpatient", "age": "9", "sex": "F"})
    assert stub.validate_calls[-1][1]["age"] == 9
    assert [e["rule"] for e in r.edits] == ["mce-age-conflict"]
    row = service.store.actions(r.review_id)[-1]
    assert row["action"] == "context"
    assert row["after"]["age"] == 9
    assert service.store.review(r.review_id)["context"]["age"] == 9


def test_an_action_that_changes_nothing_is_not_audited(service):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "I10"))
    assert service.apply(r, "accept", item_of(r, "I10")) is None
    assert len(service.store.actions(r.review_id)) == 1


def test_finalise_stores_the_final_set_and_writes_three_exports(service):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "E11.9"))
    service.apply(r, "accept", item_of(r, "99213"))
    paths = service.finalise(r, snippets=True)
    assert set(paths) == {"csv", "json", "fhir"}
    assert all(p.is_file() for p in paths.values())
    row = service.store.review(r.review_id)
    assert row["status"] == "finalised"
    assert row["final"]["procedures"][0]["code"] == "99213"
    exported = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert validate_result_dict(exported, note=NOTE) == []
    assert [d["action"] for d in exported["review"]["decisions"]] == [
        "accept",
        "accept",
        "finalise",
    ]
    assert exported["review"]["finalised_at"] == row["finalised_at"]


def test_finalise_leaves_the_evidence_words_out_of_the_json_unless_asked(service):
    r = open_review(service)
    service.apply(r, "accept", item_of(r, "E11.9"))
    exported = service.finalise(r)["json"].read_text(encoding="utf-8")
    assert "chest pain" not in exported  # an excluded finding's words, as the issue found
    assert "breast cancer" not in exported
    d = json.loads(exported)
    assert all("text" not in e for s in d["suggestions"] for e in s["evidence"])


def test_an_action_the_store_could_not_commit_is_undone_on_screen(service, monkeypatch):
    import sqlite3

    r = open_review(service)
    i = item_of(r, "E11.9")

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(service.store, "record", full_disk)
    with pytest.raises(sqlite3.OperationalError):
        service.apply(r, "accept", i)
    with pytest.raises(sqlite3.OperationalError):
        service.apply(r, "add", "Z79.4", "ICD-10-CM", "insulin")
    assert r.item(i).status == "pending"
    assert [it.code for it in r.items] == ["E11.9", "I10", "99213"]
    assert r.final_codes() == []


def test_a_batch_note_is_reviewed_in_the_context_it_was_coded_with(service):
    entry = QueueEntry(note_id="b1", text=NOTE, result=make_result(note_id="b1"))
    review = service.open_entry(entry, context={"setting": "inpatient"}, reviewer="alice")
    assert entry.review is review
    assert review.context == {
        "setting": "outpatient",
        "age": 58,
        "sex": "F",
        "encounter_date": None,
    }


def test_accept_preselected_accepts_each_pending_starred_row_and_audits_it(service):
    r = open_review(service)
    service.apply(r, "reject", item_of(r, "I10"))
    assert service.accept_preselected(r) == ["E11.9"]
    assert codes(r) == ["E11.9"]
    assert [a["action"] for a in service.store.actions(r.review_id)] == ["reject", "accept"]
    assert service.accept_preselected(r) == []


def test_search_choices_say_when_a_code_is_a_header_not_billable(service):
    labels = dict(search_choices(service.search("type 2 diabetes mellitus")))
    header = next(label for label, value in labels.items() if value == "ICD-10-CM|E11")
    assert header.startswith("E11 · ")
    assert header.endswith("(ICD-10-CM, header: not billable)")


def test_search_answers_with_codes_from_the_whole_code_set(service):
    found = service.search("essential hypertension")
    assert found[0].code == "I10"
    assert any(r.system == "CPT" for r in service.search("office visit established"))
    assert service.search("e") == []


def test_describe_refuses_a_code_not_in_the_code_sets(service):
    assert service.describe("e11.65")[0] == "E11.65"
    with pytest.raises(InputError, match="not in the code sets"):
        service.describe("Q99.99.9")


def test_two_sessions_reviewing_different_notes_never_share_a_review(service):
    a = open_review(service, reviewer="alice")
    other = "Second visit.\n" + NOTE
    b = open_review(service, text=other, reviewer="bob")
    errors: list[BaseException] = []

    def work(r: Review, code: str) -> None:
        try:
            for _ in range(10):
                service.apply(r, "accept", item_of(r, code))
                service.apply(r, "reject", item_of(r, code))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(a, "E11.9")),
        threading.Thread(target=work, args=(b, "I10")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.review_id != b.review_id
    assert {x["code"] for x in service.store.actions(a.review_id)} == {"E11.9"}
    assert {x["reviewer"] for x in service.store.actions(b.review_id)} == {"bob"}
    assert service.store.review(b.review_id)["note_sha256"] == note_sha256(other)


def test_parse_auth_reads_pairs_and_a_file(tmp_path):
    f = tmp_path / "users"
    f.write_text("# coders\nbob:pa:ss\n\n", encoding="utf-8")
    assert parse_auth(["alice:secret"], f) == [("alice", "secret"), ("bob", "pa:ss")]
    with pytest.raises(InputError, match="user:password"):
        parse_auth(["alice"])


def test_importing_codesuggest_and_the_review_logic_does_not_import_gradio():
    code = (
        "import sys, codesuggest, codesuggest.review, codesuggest.store, codesuggest.store.export, "
        "codesuggest.cli; print('gradio' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "False"


def test_moving_a_final_row_passes_over_undecided_rows(review):
    review.accept(item_of(review, "E11.9"))
    review.add("Z79.4", "ICD-10-CM", "insulin")
    d = review.move(item_of(review, "Z79.4"), -1)
    assert d.after["order"] == ["Z79.4", "E11.9"]
    assert codes(review) == ["Z79.4", "E11.9"]


# --------------------------------------------------------------------------- serving
# The server runs in a child process (``codesuggest serve`` with ``codesuggest.load`` patched
# to return the stub), so Gradio's threads and event loops never live in the test process.

SERVE = """
import sys
sys.path.insert(0, {tests!r})
import codesuggest
from codesuggest.cli import main
from codesuggest.codebook import default_codebook
from codesuggest.core.errors import ArtifactError
from test_review import StubSuggester

def load(*args):
    if {broken!r}:
        raise ArtifactError("Model folder /nowhere does not exist.")
    return StubSuggester(default_codebook())

codesuggest.load = load
sys.exit(main(["serve", *{argv!r}]))
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path: Path, *argv: str, broken: bool = False) -> subprocess.Popen[str]:
    code = SERVE.format(
        tests=str(Path(__file__).parent),
        broken=broken,
        argv=["--port", str(free_port()), "--db", str(tmp_path / "a.sqlite3"), *argv],
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_url(proc: subprocess.Popen[str]) -> str:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("model loaded"):
            break
    url = next(
        (ln.split(": ", 1)[1].strip() for ln in lines if ln.startswith("codesuggest review:")), ""
    )
    assert url, "".join(lines) + proc.stderr.read()
    return url


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def test_serve_command_defaults_to_loopback_port_7860():
    from codesuggest.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.store_note_text, args.auth) == (
        "127.0.0.1",
        7860,
        False,
        None,
    )


def test_serve_prints_a_loopback_url_and_answers_without_a_share_link(tmp_path):
    import urllib.request

    proc = start_server(tmp_path, "--reviewer", "alice")
    try:
        url = wait_for_url(proc)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "config", timeout=10) as page:
            config = json.loads(page.read().decode())
        assert config.get("share_url") in (None, "")
        assert config.get("auth_required") in (None, False)
        assert (tmp_path / "a.sqlite3").exists()
    finally:
        stop(proc)


def test_serve_requires_a_login_when_given_one(tmp_path):
    import urllib.error
    import urllib.request

    users = tmp_path / "users"
    users.write_text("alice:secret\n", encoding="utf-8")
    proc = start_server(tmp_path, "--auth-file", str(users))
    try:
        url = wait_for_url(proc)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "config", timeout=10).close()
        assert err.value.code in (401, 403)
        err.value.close()
    finally:
        stop(proc)


def test_serve_stops_with_the_reason_when_the_model_cannot_load(tmp_path):
    proc = start_server(tmp_path, broken=True)
    try:
        assert proc.wait(timeout=120) == 1
        assert "Model folder /nowhere does not exist" in proc.stderr.read()
    finally:
        stop(proc)


def test_batch_queue_matches_a_note_named_by_its_subfolder_path(tmp_path):
    batch = write_batch(tmp_path / "out.jsonl", [make_result(note_id="clinic/visit-7")])
    (tmp_path / "visit-7.txt").write_text(NOTE, encoding="utf-8")
    queue, _ = queue_from_batch(batch, [tmp_path / "visit-7.txt"])
    assert queue[0].text == NOTE


def test_analytics_view_shows_the_rate_and_escapes_descriptions(tmp_path):
    with AuditStore(tmp_path / "a.sqlite3") as store:
        r = Review(make_result(), note_text=NOTE, reviewer="alice")
        r.items[0].description = "<i>x</i>"
        store.start_review(
            review_id=r.review_id, reviewer="a", result=r.result, note_text=NOTE, items=[]
        )
        r.accept(item_of(r, "E11.9"))
        d = r.reject(item_of(r, "I10"))
        store.record(r.review_id, d, items=r.snapshot())
        out = render_analytics(store.analytics())
    assert "<b>50.0%</b> of decided suggestions accepted" in out
    assert "&lt;i&gt;x&lt;/i&gt;" in out
    assert "<i>x</i>" not in out


def test_a_negation_is_shown_where_evidence_and_an_exclusion_disagree():
    result = make_result()
    result["excluded"].append({**span("Essential hypertension"), "reason": "negated", "codes": []})
    out = render_note(Review(result, note_text=NOTE, reviewer="a"))
    assert '<mark class="cs-ev a-negated" title="I10 · present · assessment; not coded:' in out


def test_modifiers_and_units_on_a_procedure_line_are_audited_and_rechecked(service, stub):
    r = open_review(service)
    em = item_of(r, "99213")
    service.apply(r, "accept", em)
    row = service.apply(r, "modify", em, "25 *1")
    assert row is not None
    assert row["action"] == "modify"
    assert stub.validate_calls[-1][0] == ["99213-25*1"]
    (last,) = service.store.actions(r.review_id)[-1:]
    assert last["before"]["modifiers"] == []
    assert last["after"]["modifiers"] == ["25"]
    service.apply(r, "modify", em, "25 RT", 2)
    assert stub.validate_calls[-1][0] == ["99213-25-RT*2"]
    service.apply(r, "add", "J3489", "HCPCS", "Injection, zoledronic acid, 1 mg")
    assert stub.validate_calls[-1][0][-1] == "J3489*1"  # not the ICD-10-CM code J34.89
    assert r.final()["procedures"][0]["units"] == 2
    assert service.apply(r, "modify", em, "25 RT", 2) is None  # nothing changed, nothing stored


@pytest.mark.parametrize("typed", ["2X5", "RT *0", "twenty-five"])
def test_a_modifier_that_is_not_one_is_refused_with_what_to_type(review, typed):
    with pytest.raises(InputError, match=r"modifier|Units"):
        review.set_line(item_of(review, "99213"), typed)


def test_a_diagnosis_takes_no_modifiers(review):
    with pytest.raises(InputError, match="diagnosis"):
        review.set_line(item_of(review, "E11.9"), "25")
