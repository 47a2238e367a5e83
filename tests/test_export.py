"""CSV, JSON and FHIR R4 exports of a finalised review."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from codesuggest.core.errors import InputError
from codesuggest.output.schema import validate_result_dict
from codesuggest.review import Review
from codesuggest.store import export

NOTE = "Type 2 diabetes with hyperglycemia. Essential hypertension. Colonoscopy done."


def _suggestion(code: str, system: str, word: str, rank: int) -> dict[str, Any]:
    start = NOTE.index(word)
    return {
        "code": code,
        "system": system,
        "description": f"description of {code}",
        "score": 0.9 - rank / 10,
        "rank": rank,
        "selected": True,
        "evidence": [
            {
                "start": start,
                "end": start + len(word),
                "text": word,
                "section": "",
                "assertion": "present",
            }
        ],
        "sources": {},
        "edits": [],
    }


@pytest.fixture
def record() -> dict[str, Any]:
    """A finalised review: E11.9 replaced by E11.65, I10 moved first, a CPT and a HCPCS code."""
    result = {
        "id": "visit/../7",
        "schema": "1.0",
        "codesets": {"ICD-10-CM": "2026", "CPT": "subset-2026.1", "HCPCS": "2026-01"},
        "model": {"name": "m", "version": "2", "sha256": "a" * 64},
        "context": {"setting": "inpatient", "age": 61, "sex": "F", "encounter_date": "2026-03-11"},
        "suggestions": [
            _suggestion("E11.9", "ICD-10-CM", "Type 2 diabetes", 1),
            _suggestion("I10", "ICD-10-CM", "Essential hypertension", 2),
            _suggestion("45378", "CPT", "Colonoscopy", 3),
            _suggestion("R07.9", "ICD-10-CM", "hyperglycemia", 4),
        ],
        "excluded": [],
        "errors": [],
    }
    r = Review(result, note_text=NOTE, reviewer="alice", review_id="0123456789abcdef")
    r.replace(0, "E11.65", "ICD-10-CM", "Type 2 diabetes mellitus with hyperglycemia")
    r.accept(1)
    r.move(1, -1)
    r.accept(2)
    r.reject(3)
    r.add("G0121", "HCPCS", "Colorectal cancer screening; colonoscopy")
    r.finalise("2026-03-12T10:00:00.000+00:00")
    return r.to_record([{"action": "replace", "code": "E11.9", "ts": "t1"}])


def test_csv_lists_the_final_codes_diagnoses_first_in_sequence(record):
    rows = list(csv.DictReader(io.StringIO(export.to_csv(record))))
    assert [(r["kind"], r["sequence"], r["code"], r["system"]) for r in rows] == [
        ("diagnosis", "1", "I10", "ICD-10-CM"),
        ("diagnosis", "2", "E11.65", "ICD-10-CM"),
        ("procedure", "1", "45378", "CPT"),
        ("procedure", "2", "G0121", "HCPCS"),
    ]
    assert rows[1]["replaces"] == "E11.9"
    assert rows[1]["status"] == "replaced"
    assert rows[3]["origin"] == "added"
    assert rows[0]["codeset_version"] == "2026"
    assert {r["reviewer"] for r in rows} == {"alice"}
    assert list(rows[0]) == list(export.CSV_COLUMNS)


def test_rejected_codes_are_not_in_the_csv(record):
    assert "R07.9" not in export.to_csv(record)


def test_json_export_keeps_the_suggestion_schema_and_adds_the_decisions(record):
    d = json.loads(export.to_json(record, snippets=True))
    assert validate_result_dict(d, note=NOTE) == []
    assert [s["code"] for s in d["suggestions"]] == ["E11.9", "I10", "45378", "R07.9"]
    review = d["review"]
    assert review["final"]["diagnoses"][0]["code"] == "I10"
    assert review["decisions"] == [{"action": "replace", "code": "E11.9", "ts": "t1"}]
    assert {i["code"]: i["status"] for i in review["items"]}["R07.9"] == "rejected"


def test_fhir_bundle_codes_carry_the_right_code_system_uris(record):
    bundle = export.to_fhir(record)
    codings = {
        c["code"]: c["system"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("Condition", "Procedure")
        for c in e["resource"]["code"]["coding"]
    }
    assert codings == {
        "I10": "http://hl7.org/fhir/sid/icd-10-cm",
        "E11.65": "http://hl7.org/fhir/sid/icd-10-cm",
        "45378": "http://www.ama-assn.org/go/cpt",
        "G0121": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    }


def test_fhir_encounter_ranks_the_principal_diagnosis_first(record):
    bundle = export.to_fhir(record)
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    (encounter,) = [r for r in resources.values() if r["resourceType"] == "Encounter"]
    ranked = sorted(encounter["diagnosis"], key=lambda d: d["rank"])
    first = resources[ranked[0]["condition"]["reference"]]
    assert first["code"]["coding"][0]["code"] == "I10"
    assert encounter["class"]["code"] == "IMP"
    assert encounter["period"] == {"start": "2026-03-11"}


def test_fhir_references_resolve_within_the_bundle(record):
    bundle = export.to_fhir(record)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "reference" in node:
                refs.append(node["reference"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(bundle)
    assert refs
    assert set(refs) <= urls
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in bundle["entry"])
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    json.dumps(bundle)  # valid JSON


def test_fhir_patient_has_sex_and_no_identity(record):
    bundle = export.to_fhir(record)
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patient == {"resourceType": "Patient", "id": patient["id"], "gender": "female"}


def test_exporting_the_same_review_twice_gives_the_same_bundle(record):
    assert export.to_fhir(record) == export.to_fhir(json.loads(json.dumps(record)))


def test_exports_contain_no_note_text(record, tmp_path):
    paths = export.write_exports(record, tmp_path)
    for p in paths.values():
        assert NOTE not in p.read_text(encoding="utf-8")


def test_export_files_get_safe_names_inside_the_folder(record, tmp_path):
    paths = export.write_exports(record, tmp_path)
    assert {p.parent for p in paths.values()} == {tmp_path}
    assert paths["csv"].name == "visit_.._7-01234567.csv"
    assert paths["fhir"].name.endswith(".fhir.json")


def test_json_export_holds_evidence_words_only_when_asked(record, tmp_path):
    plain = export.write_exports(record, tmp_path / "plain")["json"].read_text(encoding="utf-8")
    asked = export.write_exports(record, tmp_path / "asked", snippets=True)["json"]
    for word in ("Essential hypertension", "Colonoscopy"):  # words of the note, not of a code
        assert word not in plain
        assert word in asked.read_text(encoding="utf-8")
    d = json.loads(plain)
    spans = [e for s in d["suggestions"] for e in s["evidence"]]
    spans += [e for it in d["review"]["items"] for e in it["evidence"]]
    assert spans
    assert all(set(e) >= {"start", "end", "assertion"} and "text" not in e for e in spans)


def test_exporting_something_that_is_not_a_review_raises_input_error():
    with pytest.raises(InputError, match="not a review record"):
        export.to_csv({"id": "x", "suggestions": []})


def test_a_code_system_without_a_fhir_uri_is_refused(record):
    record["review"]["final"]["procedures"][0]["system"] = "LOCAL"
    with pytest.raises(InputError, match="No FHIR code system"):
        export.to_fhir(record)


@pytest.fixture
def claim_record() -> dict[str, Any]:
    """A knee injection visit: the E/M with 25, the injection with RT, the drug with units."""
    sugg = [
        _suggestion("M17.11", "ICD-10-CM", "Type 2 diabetes", 1),
        _suggestion("E11.9", "ICD-10-CM", "Essential hypertension", 2),
        _suggestion("99213", "CPT", "Colonoscopy", 3),
        _suggestion("20610", "CPT", "Colonoscopy", 4),
        _suggestion("J3301", "HCPCS", "Colonoscopy", 5),
    ]
    sugg[2].update(modifiers=[{"code": "25", "reason": "separate E/M"}], units=1)
    sugg[2]["pointers"] = ["M17.11", "E11.9"]
    sugg[3].update(modifiers=[{"code": "RT", "reason": "right"}], units=1, pointers=["M17.11"])
    sugg[4].update(units=4, pointers=["M17.11"])
    result = {
        "id": "knee",
        "schema": "1.1",
        "codesets": {"ICD-10-CM": "2026", "CPT": "subset-2026.1", "HCPCS": "2026-01"},
        "model": {"name": "m", "version": "2", "sha256": "a" * 64},
        "context": {"setting": "outpatient", "age": 61, "sex": "F", "encounter_date": "2026-03-11"},
        "suggestions": sugg,
        "excluded": [],
        "errors": [],
    }
    r = Review(result, note_text=NOTE, reviewer="alice", review_id="fedcba9876543210")
    for item in range(5):
        r.accept(item)
    r.set_line(4, "", units=8)  # the coder corrects the units
    r.replace(1, "E11.65", "ICD-10-CM", "Type 2 diabetes mellitus with hyperglycemia")
    r.finalise("2026-03-12T10:00:00.000+00:00")
    return r.to_record()


def test_csv_carries_modifiers_units_and_pointers(claim_record):
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(export.to_csv(claim_record)))}
    assert (rows["99213"]["modifiers"], rows["99213"]["units"]) == ("25", "1")
    assert rows["99213"]["pointers"] == "M17.11;E11.65"  # a replaced diagnosis by its replacement
    assert (rows["20610"]["modifiers"], rows["20610"]["pointers"]) == ("RT", "M17.11")
    assert rows["J3301"]["units"] == "8"
    assert rows["M17.11"]["units"] == rows["M17.11"]["modifiers"] == ""


def test_json_export_keeps_modifiers_with_their_reasons(claim_record):
    d = json.loads(export.to_json(claim_record, snippets=True))
    assert validate_result_dict(d) == []
    (em,) = [i for i in d["review"]["items"] if i["code"] == "99213"]
    assert em["modifiers"] == [{"code": "25", "reason": "separate E/M"}]
    final = {p["code"]: p for p in d["review"]["final"]["procedures"]}
    assert final["J3301"]["units"] == 8
    assert final["20610"]["modifiers"] == ["RT"]


def test_fhir_claim_items_carry_modifiers_quantity_and_diagnosis_pointers(claim_record):
    bundle = export.to_fhir(claim_record)
    (claim,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Claim"]
    dx = {
        d["sequence"]: d["diagnosisCodeableConcept"]["coding"][0]["code"]
        for d in claim["diagnosis"]
    }
    assert dx == {1: "M17.11", 2: "E11.65"}
    items = {i["productOrService"]["coding"][0]["code"]: i for i in claim["item"]}
    assert items["99213"]["modifier"][0]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "25",
    }
    assert items["20610"]["modifier"][0]["coding"][0]["code"] == "RT"
    assert items["J3301"]["quantity"] == {"value": 8}
    assert items["99213"]["diagnosisSequence"] == [1, 2]
    assert items["20610"]["diagnosisSequence"] == [1]
    assert claim["status"] == "active"
    assert claim["use"] == "claim"
