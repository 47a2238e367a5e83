"""Exports of a finalised review: CSV, JSON (the suggestion schema plus decisions), FHIR R4.

Every function takes a *review record*: ``SuggestionResult.to_dict()`` with the review's
context, plus a ``review`` object (``Review.to_record`` in ``review.py`` builds it)::

    {"id", "schema", "codesets", "model", "context", "suggestions", "excluded", "errors",
     "review": {"review_id", "note_id", "note_sha256", "reviewer", "status", "finalised_at",
                "final": {"diagnoses": [...], "procedures": [...]},
                "items": [...], "edits": [...], "decisions": [...]}}

``final`` lists the final code set in billing order: diagnoses first-listed (principal) first,
then procedures; each entry has ``sequence``, ``code``, ``system``, ``description``,
``origin`` (suggested or added), ``status`` and ``replaces`` (the suggested code it corrected);
a procedure entry also has ``modifiers``, ``units`` and ``pointers`` (the diagnosis codes that
support it). No export contains the note text. Evidence and exclusion spans keep their
offsets, section and assertion; their ``text`` (words of the note: PHI) is in the JSON only
when asked for (``snippets=True``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.core.records import CPT, HCPCS, ICD10CM
from codesuggest.store.audit import redact_result

CODE_SYSTEM_URIS: dict[str, str] = {
    ICD10CM: "http://hl7.org/fhir/sid/icd-10-cm",
    CPT: "http://www.ama-assn.org/go/cpt",
    HCPCS: "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
}
CSV_COLUMNS = (
    "review_id",
    "note_id",
    "kind",
    "sequence",
    "code",
    "system",
    "codeset_version",
    "description",
    "origin",
    "status",
    "replaces",
    "modifiers",
    "units",
    "pointers",
    "score",
    "reviewer",
    "finalised_at",
    "note_sha256",
    "model_name",
    "model_version",
)
# Every resource id in a bundle is a UUID derived from the review id, so exporting the same
# review twice gives the same bundle.
_NAMESPACE = uuid.UUID("5f0e9a52-2f5e-4c1e-9a3b-6f1b1d2c7e41")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _review(record: Mapping[str, Any]) -> Mapping[str, Any]:
    review = record.get("review")
    if not isinstance(review, Mapping) or "final" not in review:
        raise InputError(
            "This is not a review record (no 'review.final'); build it with Review.to_record()."
        )
    return review


def final_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The final code set as flat rows, diagnoses in sequence then procedures."""
    review = _review(record)
    model = record.get("model") or {}
    codesets = record.get("codesets") or {}
    rows = []
    for kind, entries in (
        ("diagnosis", review["final"]["diagnoses"]),
        ("procedure", review["final"]["procedures"]),
    ):
        for e in entries:
            rows.append(
                {
                    "review_id": review["review_id"],
                    "note_id": review.get("note_id") or record.get("id") or "",
                    "kind": kind,
                    "sequence": e["sequence"],
                    "code": e["code"],
                    "system": e["system"],
                    "codeset_version": codesets.get(e["system"], ""),
                    "description": e.get("description", ""),
                    "origin": e.get("origin", ""),
                    "status": e.get("status", ""),
                    "replaces": e.get("replaces") or "",
                    "modifiers": ";".join(e.get("modifiers") or []),
                    "units": "" if kind == "diagnosis" else e.get("units") or 1,
                    "pointers": ";".join(e.get("pointers") or []),
                    "score": "" if e.get("score") is None else e["score"],
                    "reviewer": review.get("reviewer", ""),
                    "finalised_at": review.get("finalised_at") or "",
                    "note_sha256": review.get("note_sha256") or "",
                    "model_name": model.get("name", ""),
                    "model_version": model.get("version", ""),
                }
            )
    return rows


def to_csv(record: Mapping[str, Any]) -> str:
    """The final code set, one row per code (columns: ``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(final_rows(record))
    return out.getvalue()


def without_snippets(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with no words of the note: spans keep offsets, section and assertion only."""
    out = redact_result(record)
    review = dict(_review(record))
    review["items"] = [
        {**it, "evidence": [{k: v for k, v in e.items() if k != "text"} for e in it["evidence"]]}
        if isinstance(it, Mapping) and isinstance(it.get("evidence"), list)
        else it
        for it in review.get("items") or []
    ]
    out["review"] = review
    return out


def to_json(record: Mapping[str, Any], *, snippets: bool = False) -> str:
    """The suggestion schema plus the review (final codes, every decision with its time).

    Args:
        snippets: keep each evidence and exclusion span's ``text``, the note's words there.
            Without them the spans do not meet the schema's ``text`` field, only its offsets.
    """
    _review(record)
    data = record if snippets else without_snippets(record)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _coding(entry: Mapping[str, Any], codesets: Mapping[str, str]) -> dict[str, Any]:
    system = entry["system"]
    if system not in CODE_SYSTEM_URIS:
        raise InputError(f"No FHIR code system is known for {system!r} ({entry['code']}).")
    coding: dict[str, Any] = {"system": CODE_SYSTEM_URIS[system], "code": entry["code"]}
    if codesets.get(system):
        coding["version"] = str(codesets[system])
    if entry.get("description"):
        coding["display"] = entry["description"]
    return coding


def to_fhir(record: Mapping[str, Any]) -> dict[str, Any]:
    """A FHIR R4 ``Bundle`` (type ``collection``) of the final code set.

    It holds a ``Patient`` (sex only: the tool knows no identity), an ``Encounter`` (class
    from the setting, period from the encounter date) whose ``diagnosis`` list ranks the
    ``Condition`` resources in coding order (rank 1 is the principal / first-listed
    diagnosis), a ``Procedure`` per CPT or HCPCS code, and a ``Claim`` (professional) whose
    items carry each procedure code with its modifiers, quantity (units) and the sequence
    numbers of the diagnoses that support it (``diagnosisSequence``).
    """
    review = _review(record)
    codesets = record.get("codesets") or {}
    context = record.get("context") or {}

    def urn(*parts: object) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(map(str, parts)))}"

    rid = review["review_id"]
    patient_url, encounter_url = urn(rid, "patient"), urn(rid, "encounter")
    gender = {"F": "female", "M": "male"}.get(context.get("sex") or "", "unknown")
    patient = {"resourceType": "Patient", "id": patient_url[9:], "gender": gender}
    inpatient = context.get("setting") == "inpatient"
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_url[9:],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP" if inpatient else "AMB",
            "display": "inpatient encounter" if inpatient else "ambulatory",
        },
        "subject": {"reference": patient_url},
    }
    if context.get("encounter_date"):
        encounter["period"] = {"start": str(context["encounter_date"])}
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_url, "resource": patient},
        {"fullUrl": encounter_url, "resource": encounter},
    ]
    diagnosis_refs = []
    for d in review["final"]["diagnoses"]:
        url = urn(rid, "condition", d["sequence"], d["code"])
        entries.append(
            {
                "fullUrl": url,
                "resource": {
                    "resourceType": "Condition",
                    "id": url[9:],
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                    "code": "encounter-diagnosis",
                                    "display": "Encounter Diagnosis",
                                }
                            ]
                        }
                    ],
                    "code": {
                        "coding": [_coding(d, codesets)],
                        "text": d.get("description") or d["code"],
                    },
                    "subject": {"reference": patient_url},
                    "encounter": {"reference": encounter_url},
                },
            }
        )
        diagnosis_refs.append(
            {
                "condition": {"reference": url},
                "use": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/diagnosis-role",
                            "code": "billing",
                            "display": "Billing",
                        }
                    ]
                },
                "rank": d["sequence"],
            }
        )
    if diagnosis_refs:
        encounter["diagnosis"] = diagnosis_refs
    for p in review["final"]["procedures"]:
        url = urn(rid, "procedure", p["sequence"], p["code"])
        procedure: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": url[9:],
            "status": "completed",
            "code": {"coding": [_coding(p, codesets)], "text": p.get("description") or p["code"]},
            "subject": {"reference": patient_url},
            "encounter": {"reference": encounter_url},
        }
        if context.get("encounter_date"):
            procedure["performedDateTime"] = str(context["encounter_date"])
        entries.append({"fullUrl": url, "resource": procedure})
    if review["final"]["procedures"]:
        claim_url = urn(rid, "claim")
        entries.append(
            {
                "fullUrl": claim_url,
                "resource": _claim(
                    claim_url[9:], review, codesets, patient_url, encounter_url, context
                ),
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, f"{rid}/bundle")),
        "identifier": {"system": "urn:codesuggest:review", "value": rid},
        "type": "collection",
        "entry": entries,
    }
    if review.get("finalised_at"):
        bundle["timestamp"] = review["finalised_at"]
    return bundle


def _modifier_coding(modifier: str) -> dict[str, Any]:
    """A modifier's coding: two digits are CPT modifiers, letters HCPCS Level II ones."""
    system = CPT if modifier.isdigit() else HCPCS
    return {"coding": [{"system": CODE_SYSTEM_URIS[system], "code": modifier}]}


def _claim(
    claim_id: str,
    review: Mapping[str, Any],
    codesets: Mapping[str, str],
    patient_url: str,
    encounter_url: str,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """A FHIR R4 ``Claim`` of the final code set: diagnoses in order, one item per procedure.

    The tool knows neither the provider nor the coverage, so those references carry only a
    display text; the claim is for the coder's system to complete.
    """
    diagnoses = review["final"]["diagnoses"]
    sequence_of = {d["code"]: d["sequence"] for d in diagnoses}
    items = []
    for p in review["final"]["procedures"]:
        item: dict[str, Any] = {
            "sequence": p["sequence"],
            "productOrService": {
                "coding": [_coding(p, codesets)],
                "text": p.get("description") or p["code"],
            },
            "quantity": {"value": int(p.get("units") or 1)},
            "encounter": [{"reference": encounter_url}],
        }
        if p.get("modifiers"):
            item["modifier"] = [_modifier_coding(m) for m in p["modifiers"]]
        pointed = [sequence_of[c] for c in p.get("pointers") or [] if c in sequence_of]
        if pointed:
            item["diagnosisSequence"] = pointed
        if context.get("encounter_date"):
            item["servicedDate"] = str(context["encounter_date"])
        items.append(item)
    created = review.get("finalised_at") or context.get("encounter_date") or ""
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": claim_id,
        "status": "draft" if review.get("status") != "finalised" else "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": patient_url},
        "created": str(created)[:10] if created else "",
        "provider": {"display": "the rendering provider (not known to codesuggest)"},
        "priority": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                    "code": "normal",
                }
            ]
        },
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"display": "not known to codesuggest"}}
        ],
        "diagnosis": [
            {
                "sequence": d["sequence"],
                "diagnosisCodeableConcept": {
                    "coding": [_coding(d, codesets)],
                    "text": d.get("description") or d["code"],
                },
            }
            for d in diagnoses
        ],
        "item": items,
    }
    if not claim["created"]:
        del claim["created"]
    return claim


def file_stem(record: Mapping[str, Any]) -> str:
    """A safe file name for a review's exports: ``<note id>-<first 8 of review id>``."""
    review = _review(record)
    note = _SAFE.sub("_", str(review.get("note_id") or record.get("id") or "note")).strip("._")
    return f"{(note or 'note')[:60]}-{review['review_id'][:8]}"


def write_exports(
    record: Mapping[str, Any], directory: str | PathLike[str], *, snippets: bool = False
) -> dict[str, Path]:
    """Write the CSV, JSON and FHIR files of a review; returns their paths by format.

    ``snippets``: whether the JSON keeps the evidence words (``to_json``).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(record)
    paths = {
        "csv": folder / f"{stem}.csv",
        "json": folder / f"{stem}.json",
        "fhir": folder / f"{stem}.fhir.json",
    }
    paths["csv"].write_text(to_csv(record), encoding="utf-8")
    paths["json"].write_text(to_json(record, snippets=snippets), encoding="utf-8")
    paths["fhir"].write_text(
        json.dumps(to_fhir(record), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return paths
