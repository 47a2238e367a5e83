"""The patient's sex as the note documents it, when the caller gives none."""

from __future__ import annotations

import pytest

from codesuggest.terms.demographics import documented_sex


@pytest.mark.parametrize(
    ("text", "sex"),
    [
        ("Mr. Paul Edwards is a 59-year-old male, an established patient.", "M"),
        ("81 yo F with HFpEF presented with dyspnea.", "F"),
        ("Mrs. Smith comes in today. She reports pain.", "F"),
        ("He reports knee pain. His pain started when he fell.", "M"),
        # Nothing said, or both said: no guess.
        ("Knee pain for two weeks.", None),
        ("A 40-year-old male and his 38-year-old female partner.", None),
        ("She brought him in; he says she worries.", None),
    ],
)
def test_the_sex_the_note_documents(text, sex):
    assert documented_sex(text) == sex


def test_a_sex_read_from_the_note_opens_the_index_male_and_female_subterms():
    import codesuggest

    suggester = codesuggest.load()
    note = "HPI: A 59-year-old male with low testosterone.\n\nASSESSMENT:\n1. Hypogonadism.\n"
    chosen = {s.code for s in suggester.suggest(note).suggestions if s.selected}
    assert "E29.1" in chosen
    # The caller's sex wins over the note's.
    given = suggester.suggest(note, sex="F").suggestions
    assert "E29.1" not in {s.code for s in given if s.selected}
