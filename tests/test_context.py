"""Patient context is read by one validator everywhere (API, batch, review, edits)."""

import datetime as dt
import math

import pytest

from codesuggest.core.context import MAX_AGE, PatientContext
from codesuggest.core.errors import InputError


def test_lower_case_and_spelled_out_sex_are_accepted():
    assert PatientContext.parse(sex="f").sex == "F"
    assert PatientContext.parse(sex=" male ").sex == "M"
    assert PatientContext.parse(sex="").sex is None


@pytest.mark.parametrize("sex", ["Mango", "X", "femal", "0"])
def test_a_sex_that_is_not_f_or_m_is_refused_not_guessed(sex):
    with pytest.raises(InputError, match="sex must be F or M"):
        PatientContext.parse(sex=sex)


@pytest.mark.parametrize("age", [MAX_AGE + 1, -1, 67.5, float("inf"), math.nan, "old", True])
def test_an_age_outside_the_code_editors_range_or_not_whole_is_an_input_error(age):
    with pytest.raises(InputError, match="age"):
        PatientContext.parse(age=age)


def test_ages_as_text_or_whole_floats_are_read_as_years():
    assert PatientContext.parse(age="67").age == 67
    assert PatientContext.parse(age=67.0).age == 67
    assert PatientContext.parse(age=MAX_AGE).age == MAX_AGE


def test_setting_is_read_in_any_case_and_blank_means_outpatient():
    assert PatientContext.parse(setting="Inpatient").setting == "inpatient"
    assert PatientContext.parse(setting=None).setting == "outpatient"
    with pytest.raises(InputError, match="setting"):
        PatientContext.parse(setting="er")


def test_encounter_dates_before_icd10_or_not_iso_are_refused():
    assert PatientContext.parse(encounter_date="2026-10-02").encounter_date == dt.date(2026, 10, 2)
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        PatientContext.parse(encounter_date="10/02/2026")
    with pytest.raises(InputError, match="October 1, 2015"):
        PatientContext.parse(encounter_date="2014-01-01")


def test_lenient_context_keeps_what_parses_and_drops_the_rest():
    ctx = PatientContext.lenient(setting="nowhere", age="200", sex="f", encounter_date="bad")
    assert ctx.to_dict() == {
        "setting": "outpatient",
        "age": None,
        "sex": "F",
        "encounter_date": None,
    }
