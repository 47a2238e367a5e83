"""The coder's day (issue 16), server side: row edits that follow the code set, pre-selection
without clashes, the patient context read from the note, highlights, provider queries and
productivity. The review-screen round trips are in ``test_ui_coder_day.py``.

``StubSuggester`` and ``make_result`` come from ``test_review``: a fixed result and toy rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_review import NOTE, StubSuggester, _Result, item_of

from codesuggest.core.records import Edit
from codesuggest.review.service import ReviewService
from codesuggest.review.views import render_table
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
