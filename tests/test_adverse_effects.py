"""A drug the provider names as the cause of a condition adds its adverse-effect code."""

from __future__ import annotations

import pytest

from codesuggest.codebook.drugs import load_drug_table
from codesuggest.core.records import Term
from codesuggest.rank.adverse_effects import ADVERSE_LABEL, adverse_effect_terms


def effects(text: str, condition: str, code: str, **kw) -> list[Term]:
    start = text.find(condition)
    term = Term(
        text=condition,
        start=start,
        end=start + len(condition),
        label="finding",
        section="assessment",
        sentence_start=0,
        sentence_end=len(text),
        codes=(code,),
    )
    return list(adverse_effect_terms(text, [term], load_drug_table(), **kw))


@pytest.mark.parametrize(
    ("text", "condition", "code", "drug", "t_code"),
    [
        ("Steroid-induced hyperglycemia.", "hyperglycemia", "R73.9", "Steroid", "T38.0X5"),
        ("Hyperglycemia due to prednisone.", "Hyperglycemia", "R73.9", "prednisone", "T38.0X5"),
        ("Rash secondary to amoxicillin.", "Rash", "R21", "amoxicillin", "T36.0X5"),
        ("Cough, a side effect of lisinopril.", "Cough", "R05.9", "lisinopril", "T46.4X5"),
        ("Ankle edema from amlodipine.", "edema", "R60.0", "amlodipine", "T46.1X5"),
    ],
)
def test_a_stated_link_to_a_drug_adds_its_adverse_effect_code(text, condition, code, drug, t_code):
    (term,) = effects(text, condition, code)
    assert term.label == ADVERSE_LABEL
    assert term.codes == (t_code,)
    # The evidence is the drug as written; the path names the table row and column.
    assert text[term.start : term.end] == drug
    assert term.source.startswith("Adverse effect > Table of Drugs and Chemicals")
    assert term.source.endswith("(adverse effect)")


@pytest.mark.parametrize(
    "text",
    [
        "Lower extremity edema likely from Norvasc.",
        "Edema, possibly due to amlodipine.",
        "Edema not due to amlodipine.",
        "Edema, which is probably from amlodipine.",
    ],
)
def test_a_hedged_or_negated_link_is_not_coded_in_the_outpatient_setting(text):
    assert effects(text, "dema", "R60.0") == []


def test_a_hedged_link_is_coded_in_the_inpatient_setting_but_a_negated_one_never():
    # Guideline II.H: uncertain diagnoses at discharge are coded as if established.
    assert effects("Edema likely from amlodipine.", "Edema", "R60.0", hedged_ok=True)
    assert not effects("Edema not due to amlodipine.", "Edema", "R60.0", hedged_ok=True)


def test_a_cause_that_is_not_a_drug_adds_nothing():
    assert effects("Knee pain due to a fall.", "Knee pain", "M25.569") == []
    assert effects("Cough from smoking.", "Cough", "R05.9") == []
