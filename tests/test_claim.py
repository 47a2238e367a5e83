"""Procedure lines become claim lines: drug units from the dose, modifiers with reasons,
diagnosis pointers."""

from __future__ import annotations

import pytest

from codesuggest.core.records import CPT, HCPCS, ICD10CM, Evidence, Modifier, Suggestion
from codesuggest.rank.claim import complete_lines
from codesuggest.rank.drugs import given_drugs


def drugs(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.units) for d in given_drugs(text, [])]


def test_triamcinolone_40_mg_injected_is_four_units_of_j3301():
    assert drugs("Injected 40 mg\ntriamcinolone acetonide with 4 mL 1% lidocaine.") == [
        ("J3301", 4)
    ]


def test_units_follow_each_codes_own_unit_dose():
    assert drugs("Toradol 60 mg IM given today.") == [("J1885", 4)]  # per 15 mg
    assert drugs("Ceftriaxone 1 g IM administered in clinic.") == [("J0696", 4)]  # per 250 mg


def test_a_brand_dose_in_ml_uses_the_products_strength():
    assert drugs("Tendon sheath injected with 1.0 cc of Celestone and 0.5 cc lidocaine.") == [
        ("J0702", 1)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "We will inject 40 mg triamcinolone at the next visit.",
        "Prescribed prednisone 40 mg tablets daily.",
        "Right knee injected with triamcinolone; patient tolerated well.",  # no dose
        "Injected 5 mL of 1% lidocaine.",  # part of the procedure, not a line
    ],
)
def test_no_drug_line_without_a_dose_given_today(text):
    assert drugs(text) == []


def line(code: str, system: str = CPT, text: str = "", modifiers: tuple[str, ...] = ()):
    return Suggestion(
        code,
        system,
        "",
        0.7,
        selected=True,
        evidence=[Evidence(0, len(text), text)] if text else [],
        modifiers=[Modifier(m, "side") for m in modifiers],
    )


def dx(code: str, description: str) -> Suggestion:
    return Suggestion(code, ICD10CM, description, 0.9, selected=True)


def complete(lines: list[Suggestion], facility: bool = False) -> list[Suggestion]:
    complete_lines("", lines, facility=facility, known=lambda c: c == "93010")
    return lines


def test_an_em_with_a_joint_injection_takes_modifier_25_with_its_reason():
    em, inj = line("99213"), line("20610", text="Right knee injected.", modifiers=("RT",))
    complete([em, inj])
    assert [m.code for m in em.modifiers] == ["25"]
    assert "20610" in em.modifiers[0].reason
    assert [m.code for m in inj.modifiers] == ["RT"]


def test_an_em_with_tobacco_cessation_counselling_takes_modifier_25():
    em = line("99214")
    complete([em, line("99406", text="Counseled on smoking cessation for 5 minutes.")])
    assert [m.code for m in em.modifiers] == ["25"]
    assert "99406" in em.modifiers[0].reason


def test_an_xray_alone_does_not_need_modifier_25():
    em = line("99213")
    complete([em, line("73560")])
    assert em.modifiers == []


def test_interpretation_only_at_a_facility():
    xray, ecg = line("71046", text="Chest x-ray"), line("93000", text="ECG")
    complete([line("99284"), xray, ecg], facility=True)
    assert [m.code for m in xray.modifiers] == ["26"]
    assert ecg.code == "93010"
    assert ecg.modifiers == []


def test_images_sent_out_to_be_read_are_technical_only():
    xray = line("73610", text="Ankle films taken here and sent to radiology for interpretation.")
    complete([xray])
    assert [m.code for m in xray.modifiers] == ["TC"]


def test_a_repeat_of_the_same_study_takes_76():
    first = line("73100", text="Wrist x-ray obtained today.")
    again = line("73100", text="Post-reduction x-ray repeated.")
    complete([first, again])
    assert first.modifiers == []
    assert [m.code for m in again.modifiers] == ["76"]


def test_a_second_procedure_on_the_other_side_takes_xs():
    a = line("20610", text="Right knee injected.", modifiers=("RT",))
    b = line("20605", text="Left elbow injected.", modifiers=("LT",))
    complete([a, b])
    assert [m.code for m in b.modifiers] == ["LT", "XS"]


def test_pointers_name_the_diagnoses_the_line_treats():
    lines = [
        dx("E11.9", "Type 2 diabetes mellitus without complications"),
        dx("M17.11", "Unilateral primary osteoarthritis, right knee"),
        line("99213"),
        line("20610", text="Right knee joint injected."),
        line("J3301", HCPCS, text="Injected 40 mg triamcinolone into the right knee."),
    ]
    complete(lines)
    assert lines[2].pointers == ["E11.9", "M17.11"]
    assert lines[3].pointers == ["M17.11"]
    assert lines[4].pointers == ["M17.11"]
    assert lines[3].units == 1


def test_timed_codes_get_units_from_the_documented_minutes():
    ther = Suggestion(
        "97110",
        CPT,
        "Therapeutic exercise, each 15 min",
        0.7,
        selected=True,
        evidence=[Evidence(0, 30, "Therapeutic exercise 38 minutes")],
    )
    complete([ther])
    assert ther.units == 3  # 38 minutes: two full units and more than half of a third


def vaccines(text: str, age: int | None) -> list[tuple[str, int]]:
    from codesuggest.codebook.cpt import load_cpt_subset
    from codesuggest.rank.vaccines import vaccine_lines

    return [(v.code, v.units) for v in vaccine_lines(text, [], load_cpt_subset(), age=age)]


def test_an_adult_vaccine_takes_90471():
    assert vaccines("Tdap given today (left deltoid, IM), VIS provided.", 29) == [
        ("90715", 1),
        ("90471", 1),
    ]


def test_a_child_counselled_gets_90460_per_vaccine_and_90461_per_further_component():
    text = "Tdap and MMR given today; mother counseled on risks and benefits."
    assert vaccines(text, 12) == [("90715", 1), ("90707", 1), ("90460", 2), ("90461", 4)]


def test_without_counselling_a_child_gets_90471_and_90472():
    assert vaccines("Tdap and MMR given today.", 12) == [
        ("90715", 1),
        ("90707", 1),
        ("90471", 1),
        ("90472", 1),
    ]


def test_a_vaccine_offered_and_declined_is_not_coded():
    assert vaccines("Influenza vaccine offered; declined by mother.", 3) == []
