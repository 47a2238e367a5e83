"""The Table of Drugs and Chemicals is reached from the Index: substance, form, then column."""

from __future__ import annotations

import pytest

from codesuggest.codebook.drugs import DrugTable, column_of
from codesuggest.codebook.index import AlphabeticIndex, load_index, words_of

# level, term, see, see also, nonessential, then poisoning accidental, intentional, assault,
# undetermined, adverse effect, underdosing.
TABLE = [
    (
        "0",
        "Prednisone",
        "",
        "",
        "",
        "T38.0X1",
        "T38.0X2",
        "T38.0X3",
        "T38.0X4",
        "T38.0X5",
        "T38.0X6",
    ),
    ("0", "Carbon", "", "", "", "", "", "", "", "", ""),
    ("1", "monoxide", "", "", "", "T58.91", "T58.92", "T58.93", "T58.94", "", ""),
    ("0", "Monoxide, carbon", "Carbon, monoxide", "", "", "", "", "", "", "", ""),
    ("0", "Drug NEC", "", "", "", "T50.901", "T50.902", "T50.903", "T50.904", "T50.905", ""),
]
INDEX = [
    (
        "0",
        "Adverse effect",
        "Table of Drugs and Chemicals, categories T36-T50, with 6th character 5",
        "",
        "",
        "",
    ),
    ("0", "Overdose, overdosage", "Table of Drugs and Chemicals, by drug, poisoning", "", "", ""),
    ("0", "Poisoning", "", "Table of Drugs and Chemicals", "(acute)", ""),
    ("1", "food", "", "", "", "T62.9-"),
    ("0", "Anemia", "", "Table of Drugs and Chemicals", "", "D64.9"),
]


@pytest.fixture
def index() -> AlphabeticIndex:
    return AlphabeticIndex(INDEX, None, None, DrugTable(TABLE))


def test_the_reference_names_the_column():
    assert column_of("Table of Drugs, categories T36-T50, with 6th character 5", frozenset()) == (
        "adverse_effect"
    )
    assert column_of("Table of Drugs, categories T36-T50, with final character 6", frozenset()) == (
        "underdosing"
    )


def test_a_poisonings_intent_is_accidental_unless_documented():
    # Guideline I.C.19.e.5.b: no documented intent is accidental.
    assert (
        column_of("Table of Drugs and Chemicals, by drug, poisoning", frozenset()) == "accidental"
    )
    said = words_of("intentional overdose, suicide attempt")
    assert column_of("Table of Drugs and Chemicals, by drug, poisoning", said) == "intentional"
    assert column_of("Table of Drugs and Chemicals", words_of("carbon monoxide poisoning")) == (
        "accidental"
    )


def test_the_index_sends_the_adverse_effect_to_the_substance_row(index):
    hit = index.lookup("adverse effect of prednisone")
    assert hit.code == "T38.0X5"
    assert hit.path == (
        "Adverse effect",
        "Table of Drugs and Chemicals",
        "Prednisone",
        "(adverse effect)",
    )


def test_an_overdose_is_a_poisoning_with_the_documented_intent(index):
    assert index.lookup("overdose", "overdose of prednisone").code == "T38.0X1"
    assert index.lookup("overdose", "intentional overdose of prednisone").code == "T38.0X2"


def test_a_see_row_of_the_table_is_followed(index):
    hit = index.lookup("carbon monoxide poisoning")
    assert hit.code == "T58.91"
    assert "see Carbon, monoxide" in hit.path


def test_no_substance_named_gives_no_table_code(index):
    # "Drug NEC" is not a substance the note names; the Index subterm stands.
    assert index.lookup("overdose", "overdose") is None
    assert index.lookup("food poisoning").code == "T62.9-"


def test_a_see_also_the_table_never_replaces_the_conditions_code(index):
    assert index.lookup("anemia", "anemia from prednisone").code == "D64.9"


@pytest.mark.parametrize(
    ("phrase", "context", "code"),
    [
        ("adverse effect of prednisone", "", "T38.0X5"),
        ("overdose", "acetaminophen overdose", "T39.1X1"),
        ("overdose", "intentional overdose of acetaminophen, suicide attempt", "T39.1X2"),
        ("poisoning", "carbon monoxide poisoning", "T58.91"),
    ],
)
def test_the_shipped_table_reaches_the_code_a_coder_would(phrase, context, code):
    assert load_index().lookup(phrase, context).code == code


def test_every_drug_class_row_of_the_shipped_map_exists():
    from codesuggest.codebook.drugs import load_drug_table

    table = load_drug_table()
    assert table.classes
    assert [row for _, row in table.classes if table.tree.follow(row) is None] == []


def test_a_drug_the_table_does_not_name_is_read_as_its_class():
    hit = load_index().lookup("adverse effect of amlodipine")
    assert hit.code == "T46.1X5"
    assert "Blockers, calcium channel (the drug's class)" in hit.path
