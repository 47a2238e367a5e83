"""End to end with the shipped model: a note in, ranked checked suggestions out."""

from __future__ import annotations

import json

import pytest

from codesuggest.core.errors import InputError
from codesuggest.output.schema import validate_result_dict

pytestmark = pytest.mark.slow

NOTE = """CHIEF COMPLAINT: follow-up of diabetes.

HPI: 62 year old woman with type 2 diabetes mellitus with hyperglycemia, glucose 310.
She denies chest pain. Mother had breast cancer.

ASSESSMENT AND PLAN:
1. Type 2 diabetes mellitus with hyperglycemia - increase insulin.
2. Essential hypertension - continue lisinopril.
"""


@pytest.fixture(scope="module")
def suggester():
    import codesuggest

    return codesuggest.load()


def test_result_follows_the_shared_schema_and_names_versions(suggester):
    d = suggester.suggest(NOTE, id="n1").to_dict()
    assert validate_result_dict(d, note=NOTE) == []
    assert d["codesets"]["ICD-10-CM"] == "2026"
    assert d["model"]["sha256"]
    assert d["id"] == "n1"
    json.dumps(d)


def test_documented_diagnoses_are_suggested_with_exact_evidence(suggester):
    d = suggester.suggest(NOTE).to_dict()
    by_code = {s["code"]: s for s in d["suggestions"]}
    assert "E11.65" in by_code
    assert "I10" in by_code
    for s in d["suggestions"]:
        for e in s["evidence"]:
            assert NOTE[e["start"] : e["end"]] == e["text"]
    ranks = [s["rank"] for s in d["suggestions"]]
    assert ranks == sorted(ranks)
    icd = [s for s in d["suggestions"] if s["system"] == "ICD-10-CM"]
    flags = [s["selected"] for s in icd]
    assert flags == sorted(flags, reverse=True), "an assessed note lists its codes first"
    chosen = [s["score"] for s in icd if s["selected"]]
    assert chosen == sorted(chosen, reverse=True)


def test_pre_selection_is_what_the_assessment_documents_and_nothing_else(suggester):
    d = suggester.suggest(NOTE).to_dict()
    chosen = {s["code"] for s in d["suggestions"] if s["selected"]}
    assert {"E11.65", "I10", "Z79.4"} <= chosen
    assert "E11.9" not in chosen, "no uncomplicated code beside the combination code"
    for s in d["suggestions"]:
        if s["selected"] and s["system"] == "ICD-10-CM":
            assert any(e["assertion"] == "present" for e in s["evidence"]), s["code"]
            assert {"lookup", "index"} & set(s["sources"]), s["code"]


def test_a_code_the_index_reached_says_its_path(suggester):
    d = suggester.suggest(NOTE).to_dict()
    e11 = next(s for s in d["suggestions"] if s["code"] == "E11.65")
    assert e11["sources"].get("index") == 1.0
    assert "Index: Diabetes" in e11["note"]


def test_negated_and_family_findings_are_excluded_with_a_reason(suggester):
    d = suggester.suggest(NOTE).to_dict()
    reasons = {x["text"].lower(): x["reason"] for x in d["excluded"]}
    assert reasons.get("chest pain") == "negated"
    assert reasons.get("breast cancer") == "family"
    codes = {s["code"] for s in d["suggestions"] if s["evidence"]}
    assert "R07.9" not in codes


def test_score_sources_say_where_the_score_came_from(suggester):
    d = suggester.suggest(NOTE).to_dict()
    top = d["suggestions"][0]
    assert set(top["sources"]) <= {"lookup", "index", "classifier", "association"}
    assert top["sources"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_note"),
        ("   \n\t ", "empty_note"),
        (b"\x00\x01\x02\x03binary", "binary_note"),
        ("é".encode("latin-1") * 10, "encoding"),
        ("x" * 5_000_001, "note_too_large"),
    ],
)
def test_bad_input_gives_a_clean_result_with_an_error(suggester, text, code):
    d = suggester.suggest(text).to_dict()
    assert d["suggestions"] == []
    assert [e["code"] for e in d["errors"]] == [code]


def test_a_lone_surrogate_is_read_as_a_replacement_character_in_place(suggester):
    note = NOTE.replace("woman", "wo\ud800man")
    d = suggester.suggest(note).to_dict()
    assert d["errors"] == []
    assert validate_result_dict(d, note=note.replace("\ud800", "\ufffd")) == []
    assert "E11.65" in [s["code"] for s in d["suggestions"]]
    json.dumps(d, ensure_ascii=False).encode("utf-8")


def test_text_made_mostly_of_surrogates_is_an_encoding_error(suggester):
    d = suggester.suggest("\udcff\udcfe" * 50 + " chest pain").to_dict()
    assert [e["code"] for e in d["errors"]] == ["encoding"]


def test_evidence_stays_aligned_after_characters_that_fold_to_two(suggester):
    # "İ" lower-cases to two characters and "ﬀ" folds to "ff": offsets found in a folded copy
    # must be mapped back to the note as given.
    note = "İİİ ﬀ " + NOTE
    d = suggester.suggest(note).to_dict()
    assert validate_result_dict(d, note=note) == []
    spans = [(e["start"], e["end"]) for s in d["suggestions"] for e in s["evidence"]]
    assert any(e["assertion"] == "context" for s in d["suggestions"] for e in s["evidence"])
    for start, end in spans:  # whole words, not "betes.\n\n" shifted three characters
        word = note[start:end]
        assert word[0].isalnum(), word
        assert word[-1].isalnum(), word
        assert not note[start - 1].isalnum(), word
        assert not note[end].isalnum(), word


def test_a_condition_excluded_after_its_name_is_not_suggested(suggester):
    d = suggester.suggest("Tuberculosis excluded.").to_dict()
    assert [(x["text"], x["reason"]) for x in d["excluded"]] == [("Tuberculosis", "negated")]
    assert not any(e["assertion"] == "present" for s in d["suggestions"] for e in s["evidence"])


def test_bad_arguments_are_input_errors(suggester):
    with pytest.raises(InputError, match="setting"):
        suggester.suggest(NOTE, setting="clinic")
    with pytest.raises(InputError, match="age"):
        suggester.suggest(NOTE, age=-3)
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        suggester.suggest(NOTE, encounter_date="22/11/2026")


@pytest.mark.parametrize("age", [125, float("inf")])
def test_an_age_the_edits_would_refuse_is_refused_before_scoring(suggester, age):
    with pytest.raises(InputError, match="age"):
        suggester.suggest(NOTE, age=age)


def test_sex_is_read_in_lower_case_and_nonsense_is_refused(suggester):
    assert suggester.suggest(NOTE, sex="f").context["sex"] == "F"
    with pytest.raises(InputError, match="sex must be F or M"):
        suggester.suggest(NOTE, sex="Mango")


def test_suggest_many_keeps_order_and_ids(suggester):
    results = list(suggester.suggest_many([{"id": "a", "text": NOTE}, {"id": "b", "text": ""}]))
    assert [r.id for r in results] == ["a", "b"]
    assert results[1].errors


def test_validate_checks_a_hand_entered_list(suggester):
    assert not [e for e in suggester.validate(["E11.9", "I10"]) if e.severity == "error"]
    assert any(e.severity == "error" for e in suggester.validate(["E11"]))


def test_cli_suggest_prints_json(capsys, tmp_path):
    from codesuggest.cli import main

    f = tmp_path / "note.txt"
    f.write_text(NOTE)
    assert main(["suggest", str(f), "--json", "--age", "62", "--sex", "F"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["context"]["age"] == 62
    assert d["suggestions"]


def test_cli_suggest_reports_an_empty_note(capsys, tmp_path):
    from codesuggest.cli import main

    f = tmp_path / "empty.txt"
    f.write_text("")
    assert main(["suggest", str(f)]) == 1
    assert "empty" in capsys.readouterr().out


def test_cli_evaluate_prints_map_in_every_matching_mode(capsys, tmp_path):
    from codesuggest.cli import main

    f = tmp_path / "gold.jsonl"
    f.write_text(
        json.dumps({"id": "1", "text": NOTE, "codes": ["E11.65", "I10"]})
        + "\n"
        + json.dumps({"id": "2", "text": "Essential hypertension.", "codes": ["i10"]})
        + "\n"
    )
    assert main(["evaluate", "--data", str(f), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    scores = table["default"]
    assert set(scores) == {"exact", "prefix", "category"}
    assert 0 < scores["prefix"]["MAP"] <= 1


def test_cli_models_list_shows_the_shipped_model_card_summary(capsys):
    from codesuggest.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "codesuggest-default" in out
    assert "validation MAP" in out


def test_history_only_conditions_are_offered_with_a_note_to_confirm(suggester):
    d = suggester.suggest("Cough for two days. She has a history of hypertension.").to_dict()
    htn = next(s for s in d["suggestions"] if s["code"] == "I10")
    assert {e["assertion"] for e in htn["evidence"]} == {"historical"}
    assert "history" in htn["note"].lower()
    assert "I10" not in {x["codes"][0] for x in d["excluded"] if x["codes"]}


def test_history_code_is_not_asked_to_be_confirmed_as_current(suggester):
    d = suggester.suggest("Chest pain. History of old myocardial infarction.").to_dict()
    old_mi = next(s for s in d["suggestions"] if s["code"] == "I25.2")
    assert {e["assertion"] for e in old_mi["evidence"]} == {"historical"}
    assert "code it if the condition is current" not in old_mi["note"]


def test_cli_evaluate_codes_uncertain_diagnoses_only_as_inpatient(capsys, tmp_path):
    from codesuggest.cli import main

    f = tmp_path / "gold.jsonl"
    f.write_text(json.dumps({"id": "1", "text": "Probable pneumonia.", "codes": ["J18.9"]}) + "\n")
    runs = {}
    for setting in ("outpatient", "inpatient"):
        assert main(["evaluate", "--data", str(f), "--json", "--setting", setting]) == 0
        runs[setting] = json.loads(capsys.readouterr().out)["default"]["prefix"]["MAP"]
    assert runs["outpatient"] == 0
    assert runs["inpatient"] == 1


def test_a_drug_injected_in_the_office_is_a_hcpcs_line_with_units_and_pointers(suggester):
    note = (
        "PROCEDURE NOTE: RIGHT KNEE INJECTION\n\n"
        "Indication: primary osteoarthritis of the right knee.\n\n"
        "Procedure: The right knee was prepped. Injected 40 mg triamcinolone acetonide with "
        "4 mL 1% lidocaine. No complications.\n"
    )
    d = suggester.suggest(note).to_dict()
    (j,) = [s for s in d["suggestions"] if s["code"] == "J3301"]
    assert j["system"] == "HCPCS"
    assert j["selected"]
    assert j["units"] == 4
    assert "10 mg a unit" in j["note"]
    assert all(p.startswith("M17") for p in j["pointers"])
    assert validate_result_dict(d, note=note, extensions=()) == []


INJECTION_VISIT = (
    "Chief complaint: right knee pain, follow-up.\n\n"
    "History: 64 year old established patient with primary osteoarthritis of the right knee, "
    "worse over two months despite naproxen.\n\n"
    "Procedure: the right knee was prepped and injected with 40 mg triamcinolone acetonide "
    "and 3 mL 1% lidocaine.\n\n"
    "Assessment and plan:\n1. Primary osteoarthritis, right knee: injection today.\n"
)


def test_ncci_and_mue_tables_run_on_the_suggested_lines(suggester, tmp_path):
    from codesuggest.rules import load_mue, load_ncci_ptp

    ptp = tmp_path / "ptp.txt"
    visits = [f"992{n:02d}" for n in (*range(2, 6), *range(12, 16))]
    ptp.write_text(
        "Column 1\tColumn 2\t*\tEffective\tDeletion\tModifier\tRationale\n"
        + "".join(f"20610\t{v}\t\t20200101\t*\t1\tStandard of care\n" for v in visits)
    )
    mue = tmp_path / "mue.txt"
    mue.write_text(
        "HCPCS/CPT Code\tMUE Value\tMUE Adjudication Indicator\tRationale\n"
        "J3301\t2\t3 Date of Service Edit: Clinical\tClinical data\n"
    )
    saved = suggester.cms_edits
    suggester.cms_edits = [load_ncci_ptp(ptp), load_mue(mue)]
    try:
        d = suggester.suggest(INJECTION_VISIT).to_dict()
    finally:
        suggester.cms_edits = saved
    by_code = {s["code"]: s for s in d["suggestions"] if s["selected"]}
    em = next(c for c in by_code if c.startswith("992"))
    assert [m["code"] for m in by_code[em]["modifiers"]] == ["25"]
    ptp_edits = [e for e in by_code["20610"]["edits"] if e["rule"] == "ncci-ptp"]
    assert ptp_edits
    assert "bypassed by modifier 25" in ptp_edits[0]["message"]
    (limit,) = [e for e in by_code["J3301"]["edits"] if e["rule"] == "mue"]
    assert "4 units" in limit["message"]


DRUG_NOTE = """ASSESSMENT AND PLAN:
1. Steroid-induced hyperglycemia due to prednisone, resolving. A1c 5.6.
2. COPD, stable on tiotropium.
"""
OVERDOSE_NOTE = """ASSESSMENT AND PLAN:
1. Nausea.
2. Intentional acetaminophen overdose, suicide attempt. Start N-acetylcysteine.
"""


def test_an_adverse_effect_is_coded_after_its_nature_with_the_tables_path(suggester):
    d = suggester.suggest(DRUG_NOTE).to_dict()
    chosen = [s["code"] for s in d["suggestions"] if s["selected"] and s["code"][0] in "RTJ"]
    assert {"R73.9", "T38.0X5A", "J44.9"} <= set(chosen)
    assert chosen.index("R73.9") < chosen.index("T38.0X5A")
    t38 = next(s for s in d["suggestions"] if s["code"] == "T38.0X5A")
    assert "Table of Drugs and Chemicals > Prednisone > (adverse effect)" in t38["note"]


def test_a_poisoning_is_listed_first_with_its_documented_intent(suggester):
    d = suggester.suggest(OVERDOSE_NOTE).to_dict()
    chosen = [s["code"] for s in d["suggestions"] if s["selected"] and s["system"] == "ICD-10-CM"]
    assert chosen[0] == "T39.1X2A"
    assert "R11.0" in chosen
    assert "T39.1X1A" not in chosen


ED_NOTE = """EMERGENCY DEPARTMENT NOTE

Chief complaint: Ingestion.

HPI: 19-year-old took 30 tablets of acetaminophen 4 hours ago in a suicide attempt.

Labs: Urine hCG negative. Acetaminophen level 182.

Assessment:
1. Intentional acetaminophen overdose, suicide attempt.

Disposition: Admit to medicine for N-acetylcysteine.
"""


def test_an_emergency_visit_leaves_the_hospital_laboratorys_tests_off_the_claim(suggester):
    d = suggester.suggest(ED_NOTE, age=19, sex="F").to_dict()
    chosen = [s["code"] for s in d["suggestions"] if s["selected"] and s["system"] != "ICD-10-CM"]
    assert any(c.startswith("9928") for c in chosen)
    assert not [c for c in chosen if c.startswith("8")]


INJURY_NOTE = """CC: wrist pain after a fall.

HPI: 44-year-old roofer fell off a ladder at work this morning onto his outstretched right hand.

ASSESSMENT AND PLAN:
1. Closed nondisplaced fracture of the right distal radius, initial encounter. Splint applied.
"""


def test_an_injury_brings_its_external_causes_after_it_with_their_index_path(suggester):
    d = suggester.suggest(INJURY_NOTE, age=44, sex="M").to_dict()
    chosen = [s["code"] for s in d["suggestions"] if s["selected"] and s["system"] == "ICD-10-CM"]
    assert chosen[0].startswith("S52")
    assert {"W11.XXXA", "Y99.0"} <= set(chosen)
    w11 = next(s for s in d["suggestions"] if s["code"] == "W11.XXXA")
    assert "External Cause Index > Fall, falling" in w11["note"]
    assert [e["text"] for e in w11["evidence"]] == ["fell off a ladder"]


def _chosen(suggester, text: str, **context) -> set[str]:
    result = suggester.suggest(text, **context).to_dict()
    return {s["code"] for s in result["suggestions"] if s["selected"]}


@pytest.mark.parametrize(
    ("assessment", "code"),
    [
        # The side comes from the statement (the Tabular's right/left children), never the
        # first child: "left foot" was once coded as the right foot.
        ("Fracture of the left foot.", "S92.902A"),
        # A side further off in the injury's own statement.
        ("Displaced fracture of the base of the second metatarsal, left foot.", "S92.322A"),
        # A written "nondisplaced" picks the nondisplaced child; unwritten is displaced.
        ("Nondisplaced fracture of the right fifth metatarsal.", "S92.354A"),
        ("Fifth metatarsal fracture, right foot.", "S92.351A"),
        # The statement's words pick among the Tabular's children (which finger).
        ("Right middle finger distal phalanx fracture.", "S62.632A"),
    ],
)
def test_the_tabular_reads_side_displacement_and_site_from_the_statement(
    suggester, assessment, code
):
    assert code in _chosen(suggester, f"ASSESSMENT: {assessment}", age=30, sex="F")


def test_a_risk_or_a_test_for_a_condition_is_not_the_condition(suggester):
    text = (
        "ASSESSMENT: Colles fracture of the left distal radius, initial encounter.\n"
        "PLAN: Cast. She has a high likelihood of developing arthritis in the wrist. Low-energy "
        "fracture with known osteopenia: DEXA ordered to evaluate for osteoporosis."
    )
    chosen = _chosen(suggester, text, age=54, sex="F")
    assert "S52.532A" in chosen
    # Neither the risk (arthritis) nor the condition tested for (osteoporosis) is coded, and
    # the tested-for word opens no Fracture > due to > osteoporosis (M80.-).
    assert not {c for c in chosen if c.startswith(("M19", "M80", "M81"))}


def test_a_loaded_suggester_keeps_one_thread_per_thread_pool(suggester):
    # Idle BLAS threads spinning beside a one-note scorer cost a fifth of the throughput.
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p["user_api"] in {"blas", "openmp"}]
    assert pools
    assert all(p["num_threads"] == 1 for p in pools)


def selected(suggester, note: str) -> dict:
    """The pre-selected suggestions of a note, by code."""
    return {s.code: s for s in suggester.suggest(note).suggestions if s.selected}


def test_a_side_the_note_gives_the_site_elsewhere_completes_the_code(suggester):
    # I.B.13: the assessment's "Ovarian cancer" and the CT's "left ovarian mass".
    note = (
        "HPI: CT of the abdomen demonstrated a 3 cm left ovarian mass.\n\n"
        "ASSESSMENT:\n1. Ovarian cancer.\n"
    )
    chosen = selected(suggester, note)
    assert "C56.2" in chosen
    assert "left ovarian" in chosen["C56.2"].note
    # Two sides for the site say nothing of this one's.
    both = note.replace("a 3 cm left", "a 3 cm left ovarian and a 2 cm right")
    chosen = {s.code for s in suggester.suggest(both).suggestions if s.selected}
    assert {"C56.1", "C56.2"}.isdisjoint(chosen)


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        # The Index has no Lisfranc: the fracture is of the second metatarsal's base, the
        # dislocation and the sprain are of the tarsometatarsal joint and ligament.
        ("Lisfranc fracture, left foot.", "S92.322A"),
        ("Lisfranc dislocation of the right foot.", "S93.324A"),
        ("Lisfranc sprain, left foot.", "S93.622A"),
    ],
)
def test_an_eponym_the_index_lacks_reads_as_the_structure_it_names(suggester, statement, code):
    chosen = {s.code for s in suggester.suggest(f"ASSESSMENT:\n{statement}").suggestions}
    assert code in chosen


def test_pain_documented_as_chronic_takes_g89_29_beside_its_site(suggester):
    chosen = {
        s.code
        for s in suggester.suggest("ASSESSMENT:\nChronic low back pain.").suggestions
        if s.selected
    }
    assert {"M54.50", "G89.29"} <= chosen
    acute = {
        s.code for s in suggester.suggest("ASSESSMENT:\nLow back pain.").suggestions if s.selected
    }
    assert "G89.29" not in acute
    # A definitive diagnosis of the site takes the pain codes away (I.C.6.b.1.a, I.B.5).
    known = suggester.suggest(
        "ASSESSMENT:\nChronic low back pain due to lumbar degenerative disc disease."
    )
    assert "G89.29" not in {s.code for s in known.suggestions if s.selected}


def test_an_uncertain_statement_still_gives_the_side_of_the_same_condition(suggester):
    note = (
        "ASSESSMENT:\nRight foot pain, consistent with a Lisfranc fracture.\n\n"
        "PLAN:\nI explained that her x-rays revealed a Lisfranc fracture.\n"
    )
    chosen = selected(suggester, note)
    assert "S92.321A" in chosen
    assert "the statement" in chosen["S92.321A"].note


def test_the_site_a_finding_locates_the_condition_in_is_the_one_coded(suggester):
    # A coder codes where the CT puts the "kidney stone", not the organ of its lay name.
    note = (
        "HPI: CT of the abdomen revealed a stone measuring 0.5 cm located in the proximal "
        "right ureter.\n\nASSESSMENT:\n1. Right kidney stone.\n"
    )
    chosen = selected(suggester, note)
    assert "N20.1" in chosen
    assert "N20.0" not in chosen
    assert "located in the proximal right ureter" in chosen["N20.1"].note
    # A bare "pain" located in a sided site takes the site and its side.
    pain = "HPI: The pain is located in the left shoulder.\n\nASSESSMENT:\n1. Pain.\n"
    assert "M25.512" in {s.code for s in suggester.suggest(pain).suggestions}
    # Without the finding the name's organ stands.
    plain = "ASSESSMENT:\n1. Right kidney stone.\n"
    assert "N20.0" in selected(suggester, plain)


def test_a_visit_without_a_procedure_is_not_told_to_add_modifier_25(suggester):
    result = suggester.suggest("Assessment: Right knee osteoarthritis.", setting="outpatient")
    visit = [s for s in result.suggestions if s.selected and s.code.startswith("992")]
    assert visit, "the visit is levelled"
    assert not any(e.rule == "modifier-25" for s in visit for e in s.edits)


def test_a_condition_the_assessment_only_supposes_is_uncertain_in_every_mention(suggester):
    # "might have Lyme disease" in the reasoning; the education line that names it does not
    # diagnose it (outpatient, IV.H).
    note = (
        "ASSESSMENT AND PLAN\n\n1. Tick bite.\n"
        "- Medical Reasoning: My concern is that he might have Lyme disease.\n"
        "- Patient Education: I explained that Lyme disease can cause problems with other "
        "organs.\n"
    )
    assert not {"A69.20", "A69.23"} & set(selected(suggester, note))
    # A problem title that states it, or a finding, does diagnose it.
    stated = note.replace("1. Tick bite.", "1. Lyme disease.")
    assert "A69.20" in selected(suggester, stated)
    found = note + "- Results: the Western blot confirmed Lyme disease.\n"
    assert "A69.20" in selected(suggester, found)


def test_a_supposed_cause_opens_no_index_subterm(suggester):
    note = (
        "ASSESSMENT AND PLAN\n\n1. Headache.\n"
        "- Patient Education: I explained that her headaches may be caused by tension around "
        "the muscles of her neck.\n"
    )
    chosen = selected(suggester, note)
    assert "G44.209" not in chosen
    assert "R51.9" in chosen
    said = "ASSESSMENT AND PLAN\n\n1. Tension headache.\n"
    assert "G44.209" in selected(suggester, said)


def test_an_organ_removed_long_ago_is_not_pre_selected_unless_the_assessment_discusses_it(
    suggester,
):
    note = "PSH: s/p appendectomy (age 15)\n\nASSESSMENT:\n1. Essential hypertension.\n"
    lines = {s.code: s for s in suggester.suggest(note).suggestions}
    assert "Z90.49" in lines
    assert not lines["Z90.49"].selected
    assert "I.C.21.c.3" in lines["Z90.49"].note


def test_a_heart_attack_dated_years_back_is_an_old_mi_not_a_current_one(suggester):
    note = (
        "HPI: He sustained a heart attack in 2018 and had a stent placed.\n\n"
        "ASSESSMENT:\n1. Coronary artery disease.\n"
    )
    chosen = selected(suggester, note)
    assert "I25.2" in chosen
    assert not any(c.startswith("I21") for c in chosen)
    # Three weeks back is still the acute infarction's period (I.C.9.e): not history.
    recent = "ASSESSMENT:\n1. Heart attack 3 weeks ago.\n"
    assert "I25.2" not in selected(suggester, recent)


def test_a_with_subterm_in_the_partners_own_category_leaves_the_partner_as_documented(suggester):
    # "Rhinitis, allergic > with asthma" is J45.909; the asthma is documented as moderate
    # persistent, and the rhinitis stays a code of its own.
    note = "ASSESSMENT:\n1. Moderate persistent asthma.\n2. Allergic rhinitis.\n"
    chosen = selected(suggester, note)
    assert "J45.40" in chosen
    assert "J45.909" not in chosen
    assert any(c.startswith("J30") for c in chosen)


def test_an_acute_change_superimposed_on_a_chronic_condition_is_coded_and_dnr_from_anywhere(
    suggester,
):
    note = (
        "SH: Resides in memory care. DNR/DNI per POLST.\n\n"
        "Impression:\n1. Altered mental status, superimposed on Alzheimer dementia.\n"
    )
    chosen = {
        s.code for s in suggester.suggest(note, setting="outpatient").suggestions if s.selected
    }
    assert {"R41.82", "G30.9", "Z66"} <= chosen


def test_an_opioid_dispensed_for_breakthrough_pain_is_no_long_term_use(suggester):
    note = (
        "Postoperative Diagnosis: Right inguinal hernia.\n\n"
        "Postop Plan: Discharge home. Oxycodone 5 mg for breakthrough (#8).\n"
    )
    lines = {s.code: s for s in suggester.suggest(note).suggestions}
    assert not (lines.get("Z79.891") and lines["Z79.891"].selected)


def test_a_misspelled_term_is_read_through_the_index_as_the_phrase_the_speller_read(suggester):
    note = "ASSESSMENT:\n1. Right lower lobe pnuemonia due to Streptococcus pneumoniae.\n"
    chosen = selected(suggester, note)
    assert "J13" in chosen
    assert "Pneumonia > Streptococcus pneumoniae" in chosen["J13"].note


def test_a_sign_the_plan_works_up_is_coded_beside_the_diagnosis_of_its_entry(suggester):
    note = (
        "ASSESSMENT AND PLAN:\n1. Coronary artery disease.\n"
        "- Medical Reasoning: A murmur was heard today.\n"
        "- Medical Treatment: I will order an echocardiogram to evaluate his murmur. "
        "Continue aspirin.\n"
    )
    assert {"I25.10", "R01.1"} <= set(selected(suggester, note))
    # Without the work-up, a sign in a diagnosis's problem entry is left to the diagnosis.
    plain = note.replace("I will order an echocardiogram to evaluate his murmur. ", "")
    assert "R01.1" not in selected(suggester, plain)


def test_an_etiology_and_its_bracketed_manifestation_are_both_selected_etiology_first(
    suggester,
):
    note = "ASSESSMENT:\n1. Alzheimer's disease with dementia. Continue donepezil.\n"
    lines = [s for s in suggester.suggest(note).suggestions if s.selected]
    codes = [s.code for s in lines]
    assert {"G30.9", "F02.80"} <= set(codes)
    assert codes.index("G30.9") < codes.index("F02.80")
    f02 = next(s for s in lines if s.code == "F02.80")
    assert "bracketed manifestation" in f02.note
    assert f02.evidence


def test_an_organism_named_as_the_cause_is_coded_after_the_condition_that_asks_for_it(
    suggester,
):
    lines = list(suggester.suggest("ASSESSMENT:\n1. E. coli UTI.\n").suggestions)
    codes = [s.code for s in lines if s.selected]
    assert codes.index("N39.0") < codes.index("B96.20")
    assert "A49.8" not in codes
    agent = next(s for s in lines if s.code == "B96.20")
    assert "E. coli" in {e.text for e in agent.evidence}
    assert "use additional code for N39.0" in agent.note


def test_a_urinary_infection_at_its_documented_site_is_the_sites_code(suggester):
    note = (
        "ASSESSMENT:\n1. Acute cystitis with hematuria.\n"
        "2. Urinary tract infection due to E. coli.\n"
    )
    chosen = selected(suggester, note)
    assert {"N30.01", "B96.20"} <= set(chosen)
    assert "N39.0" not in chosen


def test_a_species_name_is_no_disease(suggester):
    note = "ASSESSMENT:\n1. UTI. Urine culture positive for Klebsiella pneumoniae.\n"
    chosen = selected(suggester, note)
    assert {"N39.0", "B96.1"} <= set(chosen)
    assert not any(c.startswith("J1") for c in chosen)


def test_the_guidelines_combinations_are_made_in_the_pre_selection(suggester):
    note = (
        "ASSESSMENT:\n1. Hypertension.\n2. Congestive heart failure.\n3. CKD stage 3.\n"
        "4. COPD.\n5. Community-acquired pneumonia.\n"
    )
    lines = {s.code: s for s in suggester.suggest(note).suggestions}
    chosen = {c for c, s in lines.items() if s.selected}
    assert {"I13.0", "I50.9", "N18.30", "J44.0", "J18.9"} <= chosen
    assert not chosen & {"I10", "I11.0", "J44.9"}
    assert "I.C.9.a" in lines["I13.0"].note
    assert lines["I13.0"].evidence
    assert "Not pre-selected: reported as J44.0" in lines["J44.9"].note


def test_pre_selected_diagnoses_follow_the_tabulars_code_first_notes(suggester):
    note = "ASSESSMENT:\n1. Congestive heart failure.\n2. Hypertension.\n3. CKD stage 3.\n"
    codes = [s.code for s in suggester.suggest(note).suggestions if s.selected]
    # I50 says "code also ... hypertensive heart and chronic kidney disease (I13.-)" first.
    assert codes[:3] == ["I13.0", "I50.9", "N18.30"]
    ranks = [s.rank for s in suggester.suggest(note).suggestions]
    assert ranks == sorted(ranks) == list(range(1, len(ranks) + 1))


def test_an_event_the_history_lists_or_the_entry_calls_quiet_is_its_history_code(suggester):
    note = (
        "HPI: 50-year-old with a past medical history significant for kidney stones.\n\n"
        "ASSESSMENT AND PLAN:\n\nKidney stones.\n"
        "- Medical Reasoning: She is asymptomatic and denies any recent flare ups.\n"
        "- Plan: Continue hydration.\n"
    )
    chosen = selected(suggester, note)
    assert "Z87.442" in chosen
    assert "N20.0" not in chosen
    current = "ASSESSMENT AND PLAN:\n\nKidney stones.\n- Flank pain since Monday. Tamsulosin.\n"
    assert "N20.0" in selected(suggester, current)


def test_a_condition_in_another_keeps_its_own_code_where_the_index_gives_the_others(suggester):
    # "Arthritis > in > hypothyroidism" is E03.9 [M14.8-]; the flattened Index lost the
    # bracket, and the arthritis must not vanish into the hypothyroidism's code.
    note = "ASSESSMENT:\n1. Hypothyroidism.\n2. Arthritis.\n"
    chosen = selected(suggester, note)
    assert {"E03.9", "M19.90"} <= set(chosen)


def test_each_diabetic_complication_the_note_documents_is_coded_once_diabetes_is_assessed(
    suggester,
):
    note = (
        "HPI: He has diabetic neuropathy.\n\n"
        "ASSESSMENT:\n1. Diabetic foot ulcer of the right heel.\n2. Type 2 diabetes.\n"
    )
    chosen = selected(suggester, note)
    assert {"E11.40", "E11.621"} <= set(chosen)
    assert "E11.9" not in chosen


def test_two_problems_of_one_title_are_each_coded_and_combined_as_the_guidelines_say(suggester):
    note = (
        "ASSESSMENT AND PLAN:\n1. Left ventricular dysfunction and moderate mitral "
        "regurgitation.\n2. Hypertension.\n"
    )
    lines = suggester.suggest(note).suggestions
    chosen = [s.code for s in lines if s.selected]
    assert {"I11.9", "I34.0"} <= set(chosen)
    assert "I10" not in chosen
    # The replaced code goes below the pre-selected lines.
    assert [s.code for s in lines].index("I10") > max(i for i, s in enumerate(lines) if s.selected)


def test_a_diabetes_drug_goes_only_beside_the_diabetes_code(suggester):
    note = (
        "HPI: Here for lab results.\n\nPMH: Type 2 diabetes.\n\n"
        "MEDICATIONS: Metformin 500 mg twice daily.\n\nASSESSMENT:\n1. IgA deficiency.\n"
    )
    chosen = selected(suggester, note)
    assert "D80.2" in chosen
    assert "Z79.84" not in chosen


def test_a_procedure_notes_history_gives_its_chronic_comorbidities_not_its_risks(suggester):
    note = (
        "PROCEDURE NOTE: RIGHT KNEE INJECTION\n\n"
        "Indication: Right knee primary osteoarthritis. T2DM, last A1c 6.8%, on metformin.\n\n"
        "Procedure: Risks (infection, transient hyperglycemia) were discussed. The right knee "
        "was injected with 40 mg triamcinolone.\n\n"
        "Impression: Primary osteoarthritis, right knee.\n"
    )
    chosen = selected(suggester, note)
    assert {"M17.11", "E11.9", "Z79.84"} <= set(chosen)
    # The consent's "transient hyperglycemia" is a risk, not the diabetes's complication.
    assert "E11.65" not in chosen


def test_a_history_list_gives_each_condition_its_own_treatment(suggester):
    note = (
        "HPI: Here for depression.\n"
        "Medical History: hypothyroidism on levothyroxine, migraine.\n\n"
        "ASSESSMENT:\n1. Major depressive disorder, single episode, moderate.\n"
    )
    chosen = selected(suggester, note)
    assert "E03.9" in chosen
    assert "G43.909" not in chosen


def test_a_cancer_treated_and_free_of_disease_is_its_personal_history(suggester):
    note = (
        "PAST HISTORY:\nCarcinoma of the right breast, status post lumpectomy and radiation.\n\n"
        "ASSESSMENT:\n\nCarcinoma of the right breast.\n"
        "She is status post lumpectomy and radiation. Today's examination shows no evidence "
        "of recurrent disease.\n"
    )
    chosen = selected(suggester, note)
    assert "Z85.3" in chosen
    assert not any(c.startswith(("C50", "C80")) for c in chosen)
    current = "ASSESSMENT:\n\nCarcinoma of the right breast.\nStarting chemotherapy next week.\n"
    assert any(c.startswith("C50") for c in selected(suggester, current))
