"""Uncertain-diagnosis edits: diagnoses the note qualifies as probable, suspected or rule out.

ICD-10-CM Official Guidelines IV.H: outpatient encounters code the documented signs and
symptoms instead. II.H and III.C: an inpatient record codes them as if established.
"""

from __future__ import annotations

from codesuggest.rules.run import Run, guide


def check_uncertain(run: Run) -> None:
    """Uncertain diagnoses: an error outpatient (code the symptoms), a note inpatient."""
    for code in run.dx_codes:
        if code not in run.ctx.uncertain_terms:
            continue
        words = run.ctx.uncertain_terms[code]
        said = f" ('{words}')" if words else ""
        if run.setting == "outpatient":
            symptoms = [c for c in run.ctx.symptom_codes if c != code]
            instead = (
                f" Report the documented signs or symptoms instead: {', '.join(symptoms)}."
                if symptoms
                else " Code the signs, symptoms or findings the note documents instead."
            )
            run.add(
                "uncertain-diagnosis",
                "error",
                [code],
                f"{code} is documented as uncertain{said}. Outpatient encounters do not code "
                f"probable, suspected or rule-out diagnoses.{instead}",
                guide("IV.H"),
                symptoms,
            )
        else:
            run.add(
                "uncertain-diagnosis",
                "info",
                [code],
                f"{code} is documented as uncertain{said}. For an inpatient admission it is coded "
                "as if established when it is still uncertain at discharge.",
                guide("II.H, III.C"),
            )
