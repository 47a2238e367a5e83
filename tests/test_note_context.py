"""Patient context read from the note's own words (issue 16.5), validated by PatientContext."""

from __future__ import annotations

import datetime as dt

import pytest

from codesuggest.core.note_context import read_context


def values(text: str) -> dict[str, object]:
    return {k: v.value for k, v in read_context(text).items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HPI: 62 year old woman with knee pain.", {"age": 62, "sex": "F"}),
        ("58 y/o F with T2DM", {"age": 58, "sex": "F"}),
        ("Age/Sex: 46 M", {"age": 46, "sex": "M"}),
        ("PATIENT: 19 years, Male", {"age": 19, "sex": "M"}),
        ("Patient: 68-year-old right-handed man", {"age": 68, "sex": "M"}),
        ("Patient: 31 y/o G2P1001 at 28w3d", {"age": 31, "sex": "F"}),
        ("Date of service: 03/11/2026", {"encounter_date": dt.date(2026, 3, 11)}),
        ("DOS: 2025-12-16", {"encounter_date": dt.date(2025, 12, 16)}),
    ],
)
def test_age_sex_and_date_are_read_as_the_note_states_them(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Last colonoscopy 5 years ago was normal.",  # a duration, not an age
        "Father diagnosed at age 58? no: Age: 130",  # outside 0-124: the validator refuses it
        "Date: 01/01/2010",  # before ICD-10-CM
        "Date: 02/30/2026",  # no such day
    ],
)
def test_what_is_not_the_patients_age_or_a_valid_date_is_not_read(text):
    assert values(text) == {}


def test_offsets_quote_the_note_exactly():
    text = "Clinic note\nPatient: 58 y/o female\nDate of service: 03/11/2026\n"
    found = read_context(text)
    for v in found.values():
        assert text[v.start : v.end] == v.text
    assert found["sex"].text == "female"
