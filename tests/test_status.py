"""Status codes from the surgery a note says the patient had (Z96.6- joints, Z95.2 valves)."""

from __future__ import annotations

import pytest

from codesuggest.core.records import Section
from codesuggest.terms.status import status_terms


def _read(text: str, section: str = "history_of_present_illness"):
    return status_terms(text, [Section(section, "", 0, len(text))])


@pytest.mark.parametrize(
    ("text", "code", "side"),
    [
        ("He is doing well status post knee arthroplasty.", "Z96.65", ""),
        ("Hx of right TKA 2021 with excellent result.", "Z96.65", "right"),
        ("She has a history of a left total hip arthroplasty.", "Z96.64", "left"),
        ("He underwent an aortic valve replacement in 2019.", "Z95.2", ""),
        ("s/p reverse shoulder arthroplasty, right, 2020.", "Z96.61", "right"),
    ],
)
def test_a_replaced_joint_or_valve_the_patient_had_is_a_status(text, code, side):
    (term,) = _read(text)
    assert term.codes == (code,)
    assert term.attributes.get("laterality", "") == side
    assert term.assertion == "historical"
    assert text[term.start : term.end] == term.text


def test_the_surgical_history_needs_no_past_cue():
    (term,) = _read("Right hip hemiarthroplasty 2022.", "past_surgical_history")
    assert term.codes == ("Z96.64",)
    assert _read("Right hip hemiarthroplasty 2022.") == []


@pytest.mark.parametrize(
    "text",
    [
        "She is going to be having a right knee replacement in June.",
        "Discuss TKA referral at next visit.",
        "Her mother had a knee replacement.",
        "Procedure: Left total knee arthroplasty.",
    ],
)
def test_a_planned_a_relatives_or_todays_surgery_is_not_a_status(text):
    assert _read(text) == []


@pytest.fixture(scope="module")
def suggester():
    import codesuggest

    return codesuggest.load()


def test_the_status_is_pre_selected_with_its_side(suggester):
    note = "HPI: Hx of right TKA 2021.\n\nASSESSMENT:\n1. Anemia.\n"
    chosen = {s.code for s in suggester.suggest(note).suggestions if s.selected}
    assert "Z96.651" in chosen
