"""Procedures are pre-selected only when the note documents them done at this visit."""

from __future__ import annotations

from codesuggest.core.records import Evidence, Section, Term
from codesuggest.rank.procedures import is_report, performed_procedures


def lines(text: str) -> list[tuple[str, str]]:
    sections = [Section("results", "RESULTS", 0, len(text))]
    return [(p.code, p.modifier) for p in performed_procedures(text, sections)]


def test_an_xray_obtained_today_is_coded_with_its_side():
    assert lines("X-rays of the right knee were obtained and reviewed in office today.") == [
        ("73560", "RT")
    ]


def test_documented_views_choose_the_code():
    assert lines("X-rays of the left knee, 4 views, obtained on today's visit.") == [
        ("73564", "LT")
    ]


def test_an_ordered_or_outside_study_is_not_coded():
    assert lines("We will order an x-ray of the right knee today.") == []
    assert lines("Prior x-ray of the knee from the hospital was obtained today for review.") == []


def test_an_ecg_done_in_the_office_is_coded():
    assert lines("An EKG was performed today in the office and shows sinus rhythm.") == [
        ("93000", "")
    ]


def test_operative_and_imaging_reports_are_not_e_m_visits():
    assert is_report("OPERATIVE REPORT\n\nProcedure: Laparoscopic cholecystectomy.")
    assert is_report("RADIOLOGY REPORT\nCHEST X-RAY")
    assert not is_report("CHIEF COMPLAINT\n\nKnee pain.")


def test_a_joint_injected_today_is_coded_by_joint_size_with_its_side():
    assert lines("The right knee was prepped and injected with 40 mg triamcinolone.") == [
        ("20610", "RT")
    ]
    assert lines("Left wrist aspirated; 2 mL clear fluid.") == [("20605", "LT")]


def test_ultrasound_guidance_is_coded_only_when_documented():
    assert lines("Left shoulder injected under ultrasound guidance.") == [("20611", "LT")]
    assert lines("Right knee injected using anatomic landmarks, no ultrasound guidance.") == [
        ("20610", "RT")
    ]


def test_views_taken_are_films_read_at_the_visit():
    assert lines("3 views of the right foot were taken. These reveal a fracture.") == [
        ("73630", "RT")
    ]
    assert lines("4 views of the left knee were taken.") == [("73564", "LT")]
    # A film the visit reviewed is data for the E/M level, not one it took.
    assert lines("X-ray of the bilateral knees are reviewed and reveal no fractures.") == []


def test_an_injection_given_today_takes_its_joint_from_the_sentence_before():
    note = (
        "She would like to proceed with a cortisone injection into her right hip joint. "
        "We will administer the injection today."
    )
    assert lines(note) == [("20610", "RT")]
    assert lines("If needed, we will give the injection today.") == []


def test_an_injection_discussed_planned_or_done_before_is_not_coded():
    assert lines("Risks of a knee injection were discussed.") == []
    assert lines("Last right knee injection 5 months ago.") == []
    assert lines("We will schedule a shoulder injection.") == []


def test_a_procedure_notes_title_names_the_injection_performed():
    note = "PROCEDURE NOTE: LEFT KNEE INTRA-ARTICULAR INJECTION\n\nIndication: knee OA.\n"
    assert [(p.code, p.modifier) for p in performed_procedures(note, [])] == [("20610", "LT")]


def sized_codes(note: str, code: str, text: str) -> list[str]:
    from codesuggest.rank.procedures import ProcedureLine
    from codesuggest.rank.sizes import sized

    start = note.index(text)
    line = ProcedureLine(code, Evidence(start, start + len(text), text), "", "named")
    return [p.code for p in sized(note, [line])]


def test_an_excision_is_coded_by_excised_diameter_with_its_layered_closure():
    line = "Procedure: Excision of benign lesion, back, with intermediate (layered) closure"
    note = f"{line}\nElliptical excision; excised diameter 1.6 cm. Final repair length 3.0 cm.\n"
    assert sized_codes(note, "11400", line) == ["11402", "12032"]


def test_a_repair_is_coded_by_the_length_repaired():
    line = "Procedure: Simple laceration repair, left forearm, 3.5 cm"
    assert sized_codes(line, "12001", line) == ["12002"]


def test_a_cpt_term_done_today_is_coded_and_one_planned_is_not():
    from codesuggest.rank.procedures import documented_today

    def found(text: str) -> list[str]:
        end = text.index("varnish") + len("varnish")
        term = Term(
            "Fluoride varnish",
            text.index("Fluoride"),
            end,
            "procedure",
            system="CPT",
            sentence_start=0,
            sentence_end=len(text),
            codes=("99188",),
        )
        return [p.code for p in documented_today(text, [term])]

    assert found("Fluoride varnish applied to teeth today.") == ["99188"]
    assert found("Fluoride varnish recommended at the next visit today.") == []
    assert found("Fluoride varnish was not performed today.") == []


def test_an_imaging_report_is_coded_by_its_exam_line():
    from codesuggest.codebook.book import default_codebook
    from codesuggest.rank.procedures import exam_lines

    book = default_codebook()

    def search(q: str) -> list:
        return [book.find(r.code, "CPT") for r in book.search(q, system="CPT")]

    def exam(title: str) -> list[str]:
        note = f"{title}\n\nINDICATION: pain.\nFINDINGS: normal.\nIMPRESSION: normal.\n"
        return [p.code for p in exam_lines(note, search)]

    assert exam("CT ABDOMEN AND PELVIS WITH IV CONTRAST") == ["74177"]
    assert exam("RADIOLOGY REPORT\nEXAMINATION: XR CHEST PA AND LATERAL (2 VIEWS)") == ["71046"]
    assert exam("CT HEAD WITHOUT CONTRAST") == ["70450"]


def test_labs_drawn_today_are_a_venipuncture_and_a_plan_to_draw_is_not():
    from codesuggest.rank.procedures import office_services

    def codes(text: str) -> list[str]:
        return [p.code for p in office_services(text, [Section("plan", "PLAN", 0, len(text))])]

    assert codes("Labs today: CBC and ferritin.") == ["36415"]
    assert codes("Repeat liver enzyme labs today.") == []


def test_tobacco_counselling_is_coded_by_its_minutes():
    from codesuggest.rank.procedures import office_services

    def codes(text: str) -> list[str]:
        return [p.code for p in office_services(text, [Section("plan", "PLAN", 0, len(text))])]

    assert codes("Smoker: counseled 5 minutes on cessation.") == ["99406"]
    assert codes("Counseled on smoking cessation for 15 minutes.") == ["99407"]
    assert codes("Advised to quit smoking.") == []


def test_a_routine_prenatal_visit_has_no_em_level():
    from codesuggest.rank.em import level_visit

    note = "PRENATAL VISIT - OB CLINIC\nPatient at 28 weeks.\n"
    plan = [Section("plan", "Plan", 0, len(note))]
    assert level_visit(note, plan, [], setting="outpatient", age=31) is None


def test_an_xray_sentence_without_a_site_takes_the_site_just_before():
    text = "Exam of the right shoulder: painful arc.\nX-rays were obtained and reviewed today."
    assert lines(text) == [("73030", "RT")]


def test_a_procedure_notes_documented_technique_sets_the_code_and_a_negated_one_does_not():
    from codesuggest.rank.procedures import ProcedureLine, with_techniques

    def coded(code: str, body: str) -> list[str]:
        note = f"PROCEDURE NOTE\n\nProcedure: colonoscopy.\n\nFindings:\n{body}\n"
        ev = Evidence(16, 38, "Procedure: colonoscopy.", "", "present")
        return [p.code for p in with_techniques(note, [ProcedureLine(code, ev, "", "named")])]

    assert coded("45378", "- A 9 mm polyp removed with cold snare\n  and retrieved.") == ["45385"]
    assert coded("45378", "- Normal mucosa. No biopsies taken.") == ["45378"]
    assert coded("47563", "Intraoperative cholangiogram was not performed.") == ["47562"]
    assert coded("47563", "An intraoperative cholangiogram showed no filling defect.") == ["47563"]
    office = "Colonoscopy with snare polypectomy last year."
    ev = Evidence(0, 10, office[:10], "", "present")
    assert with_techniques(office, [ProcedureLine("45378", ev, "", "x")])[0].code == "45378"


def test_fracture_care_takes_the_site_and_manipulation_documented_and_includes_the_visit():
    from codesuggest.rank.procedures import includes_visit, treatments

    note = (
        "Assessment: Closed Colles fracture of left distal radius.\n\n"
        "Plan:\n- Closed treatment without manipulation; short arm cast applied today.\n"
    )
    lines_ = treatments(note)
    assert [line.code for line in lines_] == ["25600"]
    assert includes_visit(lines_)
    reduced = note.replace("without manipulation", "with manipulation under hematoma block")
    assert [line.code for line in treatments(reduced)] == ["25605"]
    planned = note.replace("- Closed treatment", "- If it displaces, consider closed treatment")
    assert treatments(planned) == []


def test_excisional_debridement_is_coded_by_the_deepest_tissue_removed():
    from codesuggest.rank.procedures import treatments

    def coded(depth: str) -> list[str]:
        note = (
            "Procedure: Excisional debridement, left heel ulcer\n"
            f"Nonviable tissue excised down to {depth}. Total area 4.3 sq cm.\n\nPlan: offload.\n"
        )
        return [line.code for line in treatments(note)]

    assert coded("subcutaneous tissue") == ["11042"]
    assert coded("muscle and fascia") == ["11043"]
    assert coded("bone") == ["11044"]
