"""Problem statements of the assessment are read whole; history codes by the condition's code."""

from __future__ import annotations

from codesuggest.codebook.history import load_history
from codesuggest.codebook.index import load_index
from codesuggest.core.records import PROBLEM_LABEL, Section
from codesuggest.terms.problems import problem_terms

NOTE = (
    "HPI: knee pain.\n\n"
    "ASSESSMENT AND PLAN\n\n"
    "1. Patellofemoral pain syndrome, bilateral.\n"
    "- Medical Reasoning: consistent with the exam.\n"
    "2. Possible meniscal tear - MRI ordered.\n"
    "3. Hypertension: continue lisinopril.\n"
    "   follow up in 3 months\n"
)


def _sections() -> list[Section]:
    start = NOTE.index("ASSESSMENT")
    return [Section("assessment_and_plan", "ASSESSMENT AND PLAN", start, len(NOTE))]


def test_numbered_titles_are_statements_and_labelled_or_uncertain_lines_are_not():
    terms = problem_terms(NOTE, _sections(), [])
    assert [t.text for t in terms] == ["Patellofemoral pain syndrome, bilateral", "Hypertension"]
    assert all(NOTE[t.start : t.end] == t.text for t in terms)
    assert {t.label for t in terms} == {PROBLEM_LABEL}
    assert terms[0].attributes["laterality"] == "bilateral"


def test_a_statement_on_the_heading_line_and_unnumbered_paragraphs():
    note = "Assessment: Acute lumbar strain.\n\nRight kidney stone.\nrest and fluids\n"
    terms = problem_terms(note, [Section("assessment", "Assessment", 0, len(note))], [])
    assert [t.text for t in terms] == ["Acute lumbar strain", "Right kidney stone"]


def test_a_heading_inside_the_diagnoses_is_not_a_problem():
    note = "Diagnoses:\n\nHeart failure.\n\nReason for Admission:\n81 yo F with dyspnea.\n"
    terms = problem_terms(note, [Section("diagnoses", "Diagnoses", 0, len(note))], [])
    assert [t.text for t in terms] == ["Heart failure"]


def test_the_index_reads_a_syndrome_under_disorder_and_says_how_much_it_used():
    hit = load_index().lookup("Patellofemoral pain syndrome, bilateral")
    assert hit is not None
    assert hit.code == "M22.2X-"
    old = load_index().lookup("Old CVA without residual deficits")
    assert old is None or old.coverage < 0.6


def test_history_codes_follow_the_condition_code():
    table = load_history()
    assert table.lookup("C18.9", "family").code == "Z80.0"
    assert table.lookup("C18.9", "personal").code == "Z85.038"
    assert table.lookup("C44.612", "personal").code == "Z85.828"
    assert table.lookup("I21.4", "personal").code == "I25.2"
    assert table.lookup("N20.0", "personal").code == "Z87.442"
    # A chronic condition has no personal-history code: it is coded as current.
    assert table.lookup("I10", "personal") is None
    assert table.lookup("N18.3", "family").code == "Z84.19"  # FY2026 split of Z84.1


def test_every_history_code_is_billable_in_fy2026(icd):
    table = load_history()
    for kind, rows in table._rows.items():
        for *_, code, _ in rows:
            rec = icd.find(code)
            assert rec is not None, (kind, code)
            assert rec.billable, (kind, code)


def test_an_unnumbered_statement_right_under_the_heading():
    note = "Impression:\nRight kidney stone.\nhydrate well\n"
    terms = problem_terms(note, [Section("impression", "Impression", 0, len(note))], [])
    assert [t.text for t in terms] == ["Right kidney stone"]


def test_never_smoker_is_negated_and_pack_years_read_as_cigarettes():
    from codesuggest.terms.extractor import TermExtractor

    terms = TermExtractor.default().extract("Social: Never smoker.").terms
    smoker = [t for t in terms if t.text.lower() == "smoker"]
    assert smoker
    assert smoker[0].assertion == "negated"
    hit = load_index().lookup("smoker", "smoker, 1 ppd for 20 years")
    assert hit is not None
    assert hit.code == "F17.210"


def test_a_see_reference_that_skips_the_with_level_is_followed():
    # Polyneuropathy > diabetic -> see Diabetes, polyneuropathy (= Diabetes > with > ...).
    hit = load_index().lookup("polyneuropathy", "diabetic polyneuropathy of both feet")
    assert hit is not None
    assert hit.code == "E11.42"


def test_loosely_written_see_references_are_resolved():
    index = load_index()
    # An inverted main term named by its first parts, nonessential words, two levels in one.
    for see in ("Wound, open, leg", "Diabetes, polyneuropathy"):
        assert index.follow(see) is not None, see
    resolved = [e for e in index.entries if e.see and not e.code]
    share = sum(index.follow(e.see) is not None for e in resolved[:3000]) / 3000
    assert share > 0.7  # the rest name the Neoplasm Table, the Drug Table or code ranges


def test_a_bmi_value_reads_as_its_adult_z68_code():
    from codesuggest.terms.measurements import bmi_code, bmi_terms

    assert [bmi_code(v) for v in (18.5, 24.9, 33.4, 41, 47.2, 55, 72)] == [
        "Z68.1",
        "Z68.24",
        "Z68.33",
        "Z68.41",
        "Z68.42",
        "Z68.43",
        "Z68.45",
    ]
    terms = bmi_terms("PMH: obesity (BMI 33.4). BMI percentile 97th.", [])
    assert [(t.text, t.codes) for t in terms] == [("BMI 33.4", ("Z68.33",))]
    assert bmi_terms("BMI 33.4", [], age=15) == []


def test_a_bmi_is_selected_only_with_a_weight_diagnosis(icd):
    from codesuggest.core.records import ICD10CM, Candidate, Evidence
    from codesuggest.rank.candidates import PRIMARY
    from codesuggest.rank.selection import select

    note = "PMH: obesity (BMI 33.4).\n\nASSESSMENT:\nKnee sprain. Obesity.\n"

    def at(code, text, section):
        start = note.rfind(text)
        ev = Evidence(start, start + len(text), text, section, "present")
        return Candidate(
            code=code,
            system=ICD10CM,
            evidence=[ev],
            features={PRIMARY: 1.0},
            sources={"lookup": 1.0, "index": 1.0},
        )

    cands = [
        at("S83.91XA", "Knee sprain", "assessment"),
        at("E66.9", "Obesity", "assessment"),
        at("Z68.33", "BMI 33.4", "past_medical_history"),
    ]
    assert {cands[i].code for i in select(note, cands, [0.9] * 3, icd).selected} == {
        "S83.91XA",
        "E66.9",
        "Z68.33",
    }
    without = [cands[0], cands[2]]
    assert {without[i].code for i in select(note, without, [0.9] * 2, icd).selected} == {"S83.91XA"}


def test_a_genus_initial_does_not_end_a_problem_title():
    from codesuggest.terms.problems import _title

    assert _title("Urinary tract infection due to E. coli.") == (
        "Urinary tract infection due to E. coli"
    )
    assert _title("Hepatitis B. Stable.") == "Hepatitis B"


def test_a_title_joining_two_problems_with_and_is_also_read_as_each():
    from codesuggest.terms.problems import _conjuncts

    text = "Newly reduced left ventricular dysfunction and moderate mitral regurgitation"
    parts = [text[a:b] for a, b in _conjuncts(text, 0, len(text))]
    assert parts == ["Newly reduced left ventricular dysfunction", "moderate mitral regurgitation"]
    # One-word parts are one problem's words ("nausea and vomiting", R11.2).
    assert _conjuncts("Nausea and vomiting", 0, 19) == []
