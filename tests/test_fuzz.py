"""Hostile text through ``suggest()``: no exception, offsets that quote the note, the schema.

A small, fixed budget of generated notes (it runs in CI): clinical words mixed with lone
surrogates, control characters, characters that change length when case-folded (İ, ß, ﬀ) and
long runs of one character.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesuggest.output.schema import validate_result_dict

pytestmark = pytest.mark.slow

WORDS = [
    "Patient",
    "denies",
    "chest pain",
    "hypertension",
    "type 2 diabetes",
    "excluded",
    "ruled out",
    "Assessment:",
    "Plan:",
    "MS",
    "CKD 3a",
    "history of",
    "(",
    ",",
    ".",
    "\n",
    " ",
]
ODD = ["\ud800", "\udcff", "\x00", "\x07", "\x1b", "\x7f", "İ", "ß", "ﬀ", "Σ", "\u0301", "\ufffd"]
RUN_CHARS = ["(", "a", ".", " ", "\n", "İ", "-", "\ud800"]

pieces = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(ODD),
    st.builds(lambda ch, n: ch * n, st.sampled_from(RUN_CHARS), st.integers(100, 2000)),
    st.text(max_size=20),
)
notes = st.lists(pieces, min_size=1, max_size=30).map("".join)


@pytest.fixture(scope="session")
def suggester():
    import codesuggest

    return codesuggest.load()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(notes)
def test_hostile_text_gives_a_valid_result_whose_spans_quote_the_note(suggester, note):
    d = suggester.suggest(note).to_dict()
    # Lone surrogates are read as U+FFFD in place, so that is the text the spans quote.
    as_read = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in note)
    assert validate_result_dict(d, note=as_read, extensions=()) == []
    json.dumps(d, ensure_ascii=False).encode("utf-8")
