"""E/M levels follow the 2021 MDM table: two of three elements, or total time."""

from __future__ import annotations

from codesuggest.core.records import Evidence, Section
from codesuggest.rank.em import Problem, level_visit

HISTORY = "CHIEF COMPLAINT\n\nFollow-up.\n\nHISTORY OF PRESENT ILLNESS\n\nHere for follow-up.\n\n"


def visit(
    plan: str,
    history: str = HISTORY,
    age: int | None = 60,
    procedures_done: tuple[str, ...] = (),
    **problems: bool,
):
    note = history + "ASSESSMENT AND PLAN\n\n" + plan
    start = len(history)
    sections = [
        Section("chief_complaint", "CHIEF COMPLAINT", 0, 28),
        Section("history_of_present_illness", "HPI", 28, start),
        Section("assessment_and_plan", "ASSESSMENT AND PLAN", start, len(note)),
    ]
    ev = Evidence(start, start + 5, note[start : start + 5], "assessment_and_plan", "present")
    probs = [Problem(code, chronic, False, ev) for code, chronic in problems.items()]
    return level_visit(
        note, sections, probs, setting="outpatient", age=age, procedures_done=procedures_done
    )


def test_two_chronic_problems_with_prescription_management_are_moderate():
    v = visit(
        "Diabetes. Increase metformin to 1000 mg.\nHypertension. Continue lisinopril.",
        **{"E11.9": True, "I10": True},
    )
    assert v.code == "99214"
    assert "MDM moderate" in v.reasoning


def test_one_uncomplicated_problem_with_otc_advice_is_low():
    v = visit("Cough. Take ibuprofen and rest.", **{"R05.9": False})
    assert v.code == "99213"
    assert v.next_level.startswith("For 99214")


def test_documented_total_time_can_set_the_level():
    v = visit("Cough. Rest. I spent 42 minutes with the patient.", **{"R05.9": False})
    assert v.code == "99215"
    assert "total time 42 min" in v.reasoning


def test_a_referred_patient_is_new_but_a_referral_in_the_plan_is_not():
    new = visit(
        "Knee pain. Rest.",
        history=HISTORY.replace("Here for", "She was referred for"),
        **{"M25.561": False},
    )
    assert new.code.startswith("9920")
    established = visit("Knee pain. Referral to orthopedics.", **{"M25.561": False})
    assert established.code.startswith("9921")


def test_an_annual_exam_is_a_preventive_visit_by_age():
    v = visit("Routine care.", history="CHIEF COMPLAINT\n\nAnnual exam.\n\n", age=50)
    assert v.code == "99396"


def test_a_discharge_day_is_coded_by_the_time_documented():
    from codesuggest.rank.em import level_visit

    note = "DISCHARGE SUMMARY\n\nHospital course: improved.\nTime spent on discharge: 40 minutes.\n"
    visit = level_visit(note, [], [], setting="inpatient", age=70)
    assert visit.code == "99239"
    short = level_visit(
        note.replace("40 minutes", "25 minutes"), [], [], setting="inpatient", age=70
    )
    assert short.code == "99238"
    assert "more than 30 minutes" in short.next_level


def test_a_postoperative_visit_in_the_global_period_is_99024():
    from codesuggest.core.records import Section
    from codesuggest.rank.em import level_visit

    note = "ORTHO FOLLOW-UP\nGlobal period: postoperative day 42 after ORIF.\nPlan: PT.\n"
    plan = [Section("plan", "Plan", note.index("Plan"), len(note))]
    assert level_visit(note, plan, [], setting="outpatient", age=40).code == "99024"
    later = note.replace("day 42", "day 120")
    assert (
        level_visit(
            later.replace("Global period: ", ""), plan, [], setting="outpatient", age=40
        ).code
        != "99024"
    )


def test_tests_done_in_the_office_count_as_data_and_an_assessed_problem_counts():
    from codesuggest.core.records import Section
    from codesuggest.rank.em import level_visit

    note = (
        "Follow-up visit.\n"
        "Assessment and plan: finger fracture; buddy tape. Start ibuprofen 600 mg.\n"
    )
    plan = [Section("assessment_and_plan", "Assessment and plan", 17, len(note))]
    visit = level_visit(note, plan, [], setting="outpatient", age=40, tests_done=["73140", "73130"])
    problems, data = visit.elements[0], visit.elements[1]
    assert problems.level == 1  # assessed, though no diagnosis code was pre-selected
    assert data.level == 1  # two studies done and reviewed at the visit
    assert visit.code == "99213"


def test_an_office_follow_up_after_an_ed_visit_is_not_an_ed_encounter():
    from codesuggest.core.records import Section
    from codesuggest.rank.em import level_visit

    note = "CHIEF COMPLAINT\n\nEmergency department follow up.\n\nPLAN\n\nContinue lisinopril.\n"
    plan = [Section("plan", "PLAN", note.index("PLAN"), len(note))]
    visit = level_visit(note, plan, [], setting="outpatient", age=60)
    assert visit.kind == "office"


def test_an_evaluation_service_named_in_the_title_replaces_the_em_level():
    plan = "Major depressive disorder. Start sertraline 50 mg daily.\n"
    intake = level_visit(
        "PSYCHIATRIC INTAKE EVALUATION\n\n" + HISTORY + "ASSESSMENT AND PLAN\n\n" + plan,
        [],
        [],
        setting="outpatient",
        age=34,
    )
    assert intake.code == "90791"
    assert intake.kind == "evaluation"
    assert "not an E/M level" in intake.reasoning


def test_a_therapy_evaluation_takes_the_complexity_documented_else_low():
    body = "\n\nAssessment: deficits in gait; presentation supports {} complexity.\nPlan: PT 2x/wk."
    pt = "PHYSICAL THERAPY INITIAL EVALUATION" + body
    assert level_visit(pt.format("moderate"), [], [], setting="outpatient", age=47).code == "97162"
    low = level_visit(pt.replace("{} complexity", "care"), [], [], setting="outpatient", age=47)
    assert low.code == "97161"
    assert "complexity" in low.next_level
    ot = "OCCUPATIONAL THERAPY EVALUATION" + body.format("high")
    assert level_visit(ot, [], [], setting="outpatient", age=47).code == "97167"


def ed_visit(course: str, diagnoses: str, extra: str = "") -> object:
    head = "ED PROVIDER NOTE\n\nCC: injury.\n\n"
    course_at = len(head)
    note = head + f"ED Course: {course}\n\n"
    dx_at = len(note)
    note += f"Diagnosis:\n{diagnoses}\n\n"
    plan_at = len(note)
    note += f"Disposition: {extra or 'Discharged home.'}\n"
    sections = [
        Section("hospital_course", "ED Course", course_at, dx_at),
        Section("diagnoses", "Diagnosis", dx_at, plan_at),
        Section("plan", "Disposition", plan_at, len(note)),
    ]
    ev = Evidence(dx_at, dx_at + 5, note[dx_at : dx_at + 5], "diagnoses", "present")
    return level_visit(
        note, sections, [Problem("S93.401A", False, False, ev)], setting="outpatient", age=22
    )


def test_an_otc_drug_given_in_the_ed_course_is_low_risk_not_prescription_management():
    v = ed_visit("Ankle placed in a brace; ibuprofen 600 mg PO.", "1. Sprain of right ankle")
    assert v.code == "99283"
    assert v.elements[2].level == 1


def test_a_threat_to_life_with_extensive_data_and_admission_is_a_high_ed_level():
    v = ed_visit(
        "Blood cultures x2, lactate, CBC, CMP. Discussed with Dr. Lee of medicine.",
        "1. Concern for sepsis, likely urinary source",
        "Admit to medicine.",
    )
    assert v.elements[0].level == 3
    assert v.code == "99285"
    ruled_out = ed_visit("CBC.", "1. Chest pain; no sepsis", "Discharged home.")
    assert ruled_out.elements[0].level < 3


def test_an_annual_exam_whose_plan_changes_a_drug_is_levelled_as_a_problem_visit():
    annual = "CHIEF COMPLAINT\n\nAnnual exam.\n\n"
    changed = visit(
        "Hypertension, not at goal. Increase her lisinopril to 40 mg daily.",
        history=annual,
        age=50,
        I10=True,
    )
    assert changed.kind == "office"
    assert changed.code.startswith("9921")
    stable = visit("Hypertension. Continue lisinopril 20 mg; refill given.", history=annual, age=50)
    assert stable.code == "99396"


def test_managing_an_over_the_counter_drug_is_low_risk_not_prescription_management():
    v = visit(
        "Ankle sprain. She should continue taking ibuprofen as needed.", **{"S93.401A": False}
    )
    assert v.elements[2].level == 1
    rx = visit("Ankle sprain. Continue taking meloxicam 15 mg daily.", **{"S93.401A": False})
    assert rx.elements[2].level == 2


def test_a_new_fracture_is_an_acute_complicated_injury_but_a_healing_one_is_not():
    new = visit("Humerus fracture. Sling. Prescribe Lortab 5 mg.", **{"S42.201A": False})
    assert new.elements[0].level == 2
    assert new.code == "99214"
    healing = visit("Humerus fracture, healing. Sling.", **{"S42.201D": False})
    assert healing.elements[0].level == 1


def test_nsaids_rice_and_a_brace_are_low_risk_management():
    v = visit(
        "Ankle sprain. He will follow the RICE protocol and take NSAIDs as needed. Aircast.",
        **{"S93.402A": False},
    )
    assert v.elements[2].level == 1
    assert v.code == "99213"


def test_a_diagnostic_test_ordered_in_the_plan_is_low_risk():
    v = visit("Breast lump. We will order a mammogram.", **{"N63.10": False})
    assert v.elements[2].level == 1
    assert "diagnostic testing" in v.elements[2].why
    assert visit("Breast lump. Reassured.", **{"N63.10": False}).elements[2].level == 0


def test_symptoms_of_one_problem_entry_are_one_problem_addressed():
    from codesuggest.rank.em import one_per_entry

    note = "1. Dysuria with urinary frequency.\n2. Vaginal discharge.\n3. Hypertension, diabetes.\n"

    def at(code: str, text: str) -> Problem:
        start = note.find(text)
        return Problem(code, False, False, Evidence(start, start + len(text), text, "assessment"))

    problems = [
        at("R30.0", "Dysuria"),
        at("R35.0", "urinary frequency"),
        at("N89.8", "Vaginal discharge"),
        at("I10", "Hypertension"),
        at("E11.9", "diabetes"),
    ]
    # Two diagnoses of one line stay two problems; two symptoms of one entry are one.
    assert [p.code for p in one_per_entry(note, problems)] == ["R30.0", "N89.8", "I10", "E11.9"]


def test_a_hospital_stay_that_happened_is_history_not_a_high_risk_decision():
    past = visit(
        "Chest pain after a visit to the emergency department. Since his recent "
        "hospitalization he is better. Take ibuprofen.",
        **{"R07.9": False},
    )
    assert "intensive monitoring" not in past.reasoning
    sent = visit("Chest pain. I will send him to the emergency department now.", **{"R07.9": False})
    assert "risk high" in sent.reasoning


def test_a_minor_procedure_done_at_the_visit_is_at_least_low_risk():
    v = visit(
        "Hip osteoarthritis. We will inject the hip today.",
        procedures_done=("20610",),
        **{"M16.11": True},
    )
    assert "minor procedure performed (20610)" in v.reasoning
    assert v.code == "99213"


def test_a_workup_makes_a_symptom_not_a_named_diagnosis_a_problem_of_uncertain_prognosis():
    plan = "Chest pain. We will order a stress test. Take ibuprofen."
    symptom = visit(plan, **{"R07.9": False})
    assert "uncertain prognosis" in symptom.reasoning
    named = visit(plan.replace("Chest pain", "Carpal tunnel syndrome"), **{"G56.01": False})
    assert "uncertain prognosis" not in named.reasoning


def test_outside_records_reviewed_count_once_in_the_data():
    history = HISTORY + (
        "The patient's emergency department records from her visit were reviewed. "
        "Outside records were reviewed again.\n\n"
    )
    v = visit("Chest pain. We will order a stress test.", history=history, **{"R07.9": False})
    assert "data low (2 of tests ordered or reviewed, outside records)" in v.reasoning


def test_a_second_opinion_written_2nd_is_a_new_patient():
    v = visit(
        "Finger injury. Rest.",
        history=HISTORY.replace("Here for follow-up", "Here today for a 2nd opinion"),
        **{"S63.610A": False},
    )
    assert v.code.startswith("9920")


def _with_results(results: str, **kwargs):
    """A follow-up visit with a RESULTS section, levelled; the data element and the visit."""
    note = HISTORY + "RESULTS\n\n" + results + "\n\nASSESSMENT AND PLAN\n\nKnee sprain. Brace.\n"
    at = note.index("RESULTS")
    plan = note.index("ASSESSMENT AND PLAN")
    sections = [
        Section("history_of_present_illness", "HPI", 0, at),
        Section("results", "RESULTS", at, plan),
        Section("assessment_and_plan", "ASSESSMENT AND PLAN", plan, len(note)),
    ]
    visit = level_visit(note, sections, [], setting="outpatient", age=40, **kwargs)
    return visit.elements[1], note


def test_a_study_is_independently_interpreted_only_where_the_note_says_the_provider_read_it():
    # A study mentioned with its findings is a unique test reviewed (category 1) ...
    data, _ = _with_results("X-rays of the right knee show no fracture.")
    assert "interpretation" not in data.why
    # ... the provider's own reading of another physician's study is category 2.
    data, _ = _with_results("Independent review of the MRI images shows a meniscal tear.")
    assert data.why == "independent interpretation of imaging or tracing"
    # A tracing whose findings the provider writes is the provider's read.
    data, _ = _with_results("ECG: sinus tachycardia, normal intervals.")
    assert data.why == "independent interpretation of imaging or tracing"


def test_a_study_done_at_the_visit_counts_once_and_is_not_an_independent_interpretation():
    results = "X-rays of the right knee were obtained and independently reviewed today."
    _, note = _with_results(results)
    at = note.index("X-rays")
    data, _ = _with_results(results, tests_done=["73560"], studies_at=[(at, at + len(results))])
    # One unique test (its code), not the code and the mention again, and no interpretation.
    assert data.level == 0
    assert "interpretation" not in data.why
