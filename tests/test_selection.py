"""Pre-selection holds what a coder would report: documented, in the assessment, no conflicts."""

from __future__ import annotations

from codesuggest.core.records import ICD10CM, Candidate, Evidence
from codesuggest.rank.candidates import ABSORBED, PRIMARY
from codesuggest.rank.selection import select

NOTE = "HPI: back pain for a week.\n\nASSESSMENT:\nAcute lumbar strain.\nDiabetes type 2.\n"


def cand(code: str, text: str, section: str, assertion: str = "present", **features) -> Candidate:
    start = NOTE.find(text)
    return Candidate(
        code=code,
        system=ICD10CM,
        evidence=[Evidence(start, start + len(text), text, section, assertion)],
        features={PRIMARY: 1.0, **features},
        sources={"lookup": 1.0, "index": 1.0},
    )


def chosen(cands: list[Candidate], icd) -> set[str]:
    sel = select(NOTE, cands, [0.9] * len(cands), icd)
    return {cands[i].code for i in sel.selected}


def test_assessment_diagnoses_are_selected_and_hpi_symptoms_are_not(icd):
    cands = [
        cand("S39.012A", "lumbar strain", "assessment"),
        cand("M54.50", "back pain", "history_of_present_illness"),
    ]
    assert chosen(cands, icd) == {"S39.012A"}


def test_a_symptom_of_the_same_site_as_a_diagnosis_is_not_selected(icd):
    cands = [
        cand("S39.012A", "lumbar strain", "assessment"),
        cand("M54.50", "back pain", "assessment"),
    ]
    assert chosen(cands, icd) == {"S39.012A"}


def test_codes_no_term_reads_as_and_absorbed_codes_are_not_selected(icd):
    doc_only = cand("I10", "Diabetes type 2", "assessment")
    doc_only.features.pop(PRIMARY)
    absorbed = cand("N18.9", "Diabetes type 2", "assessment", **{ABSORBED: 1.0})
    assert chosen([doc_only, absorbed], icd) == set()


def test_negated_evidence_is_never_selected(icd):
    assert chosen([cand("E11.9", "Diabetes type 2", "assessment", "negated")], icd) == set()


def test_an_unspecified_code_is_not_selected_beside_a_specific_one(icd):
    cands = [
        cand("E11.9", "Diabetes type 2", "assessment"),
        cand("E11.65", "Diabetes type 2", "assessment"),
    ]
    sel = select(NOTE, cands, [0.95, 0.5], icd)
    assert {cands[i].code for i in sel.selected} == {"E11.65"}
    assert "less specific" in sel.reasons[0]


def test_order_puts_must_not_lines_last_and_keeps_a_narratives_symptoms_by_score():
    from codesuggest.rank.selection import Selection

    reasons = {
        1: "a symptom of a diagnosis documented with it (guideline I.B.5)",
        2: "documented only as negated, uncertain, family or review-of-systems",
    }
    scores = [0.5, 0.9, 0.95, 0.3]
    narrative = Selection({0}, reasons, assessed=False, demoted={1, 2})
    assert narrative.order(scores, 10) == [1, 0, 3, 2]
    assessed = Selection({0}, reasons, assessed=True, demoted={1, 2})
    assert assessed.order(scores, 10) == [0, 3, 2, 1]


def test_an_icd_only_corpus_is_scored_on_its_icd_lines():
    from codesuggest.core.records import CPT
    from codesuggest.train.evaluation import labelled_systems

    assert labelled_systems([["E11.9"], ["I10"]]) == {ICD10CM}
    assert CPT in labelled_systems([["E11.9", "99213"]])


def test_a_drug_stopped_is_not_long_term_therapy_but_one_to_be_stopped_is():
    from codesuggest.rank.selection import _stopped

    assert _stopped(" aspirin stopped 2025 (on DOAC)")
    assert _stopped("metformin was discontinued")
    assert not _stopped("She will discontinue clopidogrel a week before her surgery")
    assert not _stopped("Takes aspirin 81 mg daily (not held)")
    assert not _stopped("Continue aspirin 81 mg")


def test_a_chronic_condition_treated_per_the_history_is_selected_beside_the_assessment(icd):
    note = (
        "HPI: knee pain. Her hypertension is controlled on lisinopril.\n\n"
        "ASSESSMENT:\nKnee sprain.\n"
    )

    cands = [
        at(note, "S83.91XA", "Knee sprain", "assessment"),
        at(note, "I10", "hypertension", "history_of_present_illness"),
    ]
    sel = select(note, cands, [0.9, 0.9], icd)
    assert {cands[i].code for i in sel.selected} == {"S83.91XA", "I10"}
    untreated = note.replace(" is controlled on lisinopril", " was mentioned")
    cands[1].evidence[0] = Evidence(
        untreated.find("hypertension"),
        untreated.find("hypertension") + 12,
        "hypertension",
        "history_of_present_illness",
        "present",
    )
    cands[0].evidence[0] = Evidence(
        untreated.find("Knee sprain"),
        untreated.find("Knee sprain") + 11,
        "Knee sprain",
        "assessment",
        "present",
    )
    sel = select(untreated, cands, [0.9, 0.9], icd)
    assert {cands[i].code for i in sel.selected} == {"S83.91XA"}


def test_cancer_of_unspecified_site_is_not_selected_beside_a_cancer_with_its_site(icd):
    cands = [
        cand("C56.9", "Diabetes type 2", "assessment"),
        cand("C80.1", "Acute lumbar strain", "assessment"),
    ]
    sel = select(NOTE, cands, [0.9, 0.9], icd)
    assert {cands[i].code for i in sel.selected} == {"C56.9"}
    assert sel.reasons[1].startswith("less specific")


def at(note: str, code: str, text: str, section: str = "assessment") -> Candidate:
    """A candidate a documented term reads as, with its evidence at ``text`` in ``note``."""
    start = note.find(text)
    return Candidate(
        code=code,
        system=ICD10CM,
        evidence=[Evidence(start, start + len(text), text, section)],
        features={PRIMARY: 1.0},
        sources={"lookup": 1.0, "index": 1.0},
    )


LIST_NOTE = (
    "HPI: took a prednisone taper last week.\n\nASSESSMENT:\n1. COPD, stable.\n"
    "2. Hyperglycemia, resolving.\n3. Fever.\n"
)


def test_an_abnormal_finding_of_its_own_problem_entry_is_kept_beside_a_diagnosis(icd):
    # Hyperglycemia (R73.9) is an abnormal finding, not a symptom of COPD, and each numbered
    # entry is a problem of its own.
    cands = [at(LIST_NOTE, "J44.9", "COPD"), at(LIST_NOTE, "R73.9", "Hyperglycemia")]
    sel = select(LIST_NOTE, cands, [0.9] * 2, icd)
    assert {cands[i].code for i in sel.selected} == {"J44.9", "R73.9"}


def test_a_short_course_of_a_drug_is_not_long_term_therapy(icd):
    # Guideline I.C.21.c.3: Z79 codes are not for a taper or a short course.
    cands = [at(LIST_NOTE, "Z79.52", "prednisone", "history_of_present_illness")]
    sel = select(LIST_NOTE, cands, [0.9], icd)
    assert sel.selected == set()
    assert "short course" in sel.reasons[0]


def test_a_poisoning_leads_the_selected_codes_and_an_adverse_effect_follows_its_nature(icd):
    cands = [
        at(LIST_NOTE, "J44.9", "COPD"),
        at(LIST_NOTE, "T38.0X5A", "Hyperglycemia"),
        at(LIST_NOTE, "R73.9", "Hyperglycemia"),
    ]
    sel = select(LIST_NOTE, cands, [0.9, 0.95, 0.5], icd)
    assert [cands[i].code for i in sel.order([0.9, 0.95, 0.5], 3)][-1] == "T38.0X5A"


RX_NOTE = (
    "ASSESSMENT:\n1. Low back pain. Back pain for a week.\n"
    "PLAN: I have also prescribed oxycodone 5 mg as needed. Continue Tylenol between doses.\n"
)


def test_of_two_unspecified_codes_of_a_category_the_deeper_one_is_kept(icd):
    # M54.50 "low back pain, unspecified" says more than M54.9 "dorsalgia, unspecified".
    cands = [at(RX_NOTE, "M54.9", "Back pain"), at(RX_NOTE, "M54.50", "Low back pain")]
    sel = select(RX_NOTE, cands, [0.9, 0.5], icd)
    assert {cands[i].code for i in sel.selected} == {"M54.50"}


def test_a_drug_prescribed_at_this_visit_is_not_long_term_therapy(icd):
    cands = [at(RX_NOTE, "Z79.891", "oxycodone", "plan")]
    assert select(RX_NOTE, cands, [0.9], icd).selected == set()


HF_NOTE = (
    "HPI: chronic congestive heart failure with diastolic dysfunction; COPD exacerbation in May.\n"
    "\nASSESSMENT:\n1. Congestive heart failure.\n2. COPD.\n"
)


def test_the_historys_more_specific_reading_replaces_the_assessments_unspecified_code(icd):
    cands = [
        at(HF_NOTE, "I50.9", "Congestive heart failure", "assessment"),
        at(HF_NOTE, "I50.32", "chronic congestive heart failure", "history_of_present_illness"),
        at(HF_NOTE, "J44.9", "COPD.", "assessment"),
        # An exacerbation is a state of its moment: the history's does not carry to today.
        at(HF_NOTE, "J44.1", "COPD exacerbation", "history_of_present_illness"),
    ]
    sel = select(HF_NOTE, cands, [0.9, 0.6, 0.9, 0.6], icd)
    assert {cands[i].code for i in sel.selected} == {"I50.32", "J44.9"}
    assert sel.reasons[0] == "less specific than I50.32"


OA_NOTE = (
    "HPI: Regarding his osteoarthritis, his knee aches when he runs. Pain in the kidney area.\n"
    "\nASSESSMENT:\n1. Osteoarthritis.\n2. Pain.\n"
)


def test_a_reading_further_down_the_same_index_path_replaces_the_assessments(icd):
    def read(code: str, text: str, section: str, *path: str) -> Candidate:
        c = at(OA_NOTE, code, text, section)
        c.index_paths.append(path)
        return c

    cands = [
        read("M19.90", "Osteoarthritis.", "assessment", "Osteoarthritis"),
        read("M17.9", "osteoarthritis", "history_of_present_illness", "Osteoarthritis", "knee"),
        # A symptom is the integral-symptom rule's (I.B.4-5), not a site to carry over.
        read("R52", "Pain.", "assessment", "Pain"),
        read("N23", "Pain in the kidney", "history_of_present_illness", "Pain", "kidney"),
    ]
    sel = select(OA_NOTE, cands, [0.9, 0.6, 0.9, 0.6], icd)
    assert "M17.9" in {cands[i].code for i in sel.selected}
    assert {"M19.90", "N23"}.isdisjoint(cands[i].code for i in sel.selected)
    assert not sel.reasons.get(2, "").startswith("less specific than N23")
    assert sel.reasons[0].startswith("less specific than M17.9")
    assert "Osteoarthritis > knee" in sel.reasons[0]


def test_a_title_that_says_more_of_the_same_condition_wins(icd):
    # R11.2 "nausea with vomiting, unspecified" says all R11.0 "nausea" says, and more.
    cands = [
        at(HF_NOTE, "R11.0", "COPD.", "assessment"),
        at(HF_NOTE, "R11.2", "COPD.", "assessment"),
    ]
    sel = select(HF_NOTE, cands, [0.9, 0.8], icd)
    assert {cands[i].code for i in sel.selected} == {"R11.2"}


def test_receptor_status_goes_with_a_breast_cancer_from_any_section(icd):
    note = "HPI: IDC of the left breast, ER positive.\n\nASSESSMENT:\n1. Breast cancer.\n"

    status = at(note, "Z17.0", "ER positive", "history_of_present_illness")
    with_cancer = [at(note, "C50.912", "Breast cancer"), status]
    sel = select(note, with_cancer, [0.9, 0.5], icd)
    assert {with_cancer[i].code for i in sel.selected} == {"C50.912", "Z17.0"}
    alone = select(note, [status], [0.9], icd)
    assert alone.selected == set()
    assert "breast cancer" in alone.reasons[0]


def test_a_finding_never_outranks_the_diagnosis_it_excludes(icd):
    # R73 Excludes1 diabetes mellitus (E08-E13): even scored higher, the finding goes and the
    # diagnosis stays (I.B.4-5).
    note = "ASSESSMENT:\n1. Hyperglycemia in type 2 diabetes.\n2. Impaired fasting glucose.\n"

    def at(code: str, text: str) -> Candidate:
        start = note.find(text)
        return Candidate(
            code=code,
            system=ICD10CM,
            evidence=[Evidence(start, start + len(text), text, "assessment", "present")],
            features={PRIMARY: 1.0},
            sources={"lookup": 1.0, "index": 1.0},
        )

    cands = [at("R73.01", "Impaired fasting glucose"), at("E11.65", "type 2 diabetes")]
    sel = select(note, cands, [0.95, 0.6], icd)
    assert {cands[i].code for i in sel.selected} == {"E11.65"}


ECHO_NOTE = (
    "ASSESSMENT AND PLAN\n\nCongestive heart failure.\n"
    "\u2022 Medical Reasoning: She has some leg edema. Her echocardiogram from 6 months ago "
    "demonstrated a reduced ejection fraction, as well as moderate mitral regurgitation.\n"
    "\u2022 Medical Treatment: Start Lasix.\n\nAortic stenosis.\n"
)


def test_an_earlier_studys_finding_restated_in_the_reasoning_is_not_a_diagnosis(icd):
    cands = [
        at(ECHO_NOTE, "I50.9", "Congestive heart failure", "assessment_and_plan"),
        at(ECHO_NOTE, "I34.0", "mitral regurgitation", "assessment_and_plan"),
        # A problem of its own is coded, whatever study found it.
        at(ECHO_NOTE, "I35.0", "Aortic stenosis", "assessment_and_plan"),
    ]
    sel = select(ECHO_NOTE, cands, [0.9, 0.9, 0.9], icd)
    assert {cands[i].code for i in sel.selected} == {"I50.9", "I35.0"}


def test_a_bullet_of_a_problem_entry_belongs_to_that_entry(icd):
    # "Medical Reasoning:" under "Congestive heart failure." is that entry's: its edema is
    # a sign of the heart failure (I.B.5).
    cands = [
        at(ECHO_NOTE, "I50.9", "Congestive heart failure", "assessment_and_plan"),
        at(ECHO_NOTE, "R60.0", "leg edema", "assessment_and_plan"),
    ]
    sel = select(ECHO_NOTE, cands, [0.9, 0.9], icd)
    assert {cands[i].code for i in sel.selected} == {"I50.9"}


def test_of_an_excludes1_pair_the_reading_further_down_the_index_is_kept():
    import codesuggest

    suggester = codesuggest.load()
    note = (
        "Admitting Diagnosis: Sepsis\n\nDischarge Diagnoses:\n"
        "1. Sepsis due to Streptococcus pneumoniae.\n\nHospital course: met sepsis criteria.\n"
    )
    chosen = {
        s.code for s in suggester.suggest(note, setting="inpatient").suggestions if s.selected
    }
    assert "A40.3" in chosen
    assert "A41.9" not in chosen


def test_copd_not_in_exacerbation_is_read_without_the_exacerbation():
    from codesuggest.codebook.index import load_index

    assert load_index().lookup("COPD", "COPD, not in exacerbation").code == "J44.9"
