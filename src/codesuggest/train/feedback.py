"""Coders' review decisions as training labels (``codesuggest train --feedback audit.db``).

Accepted, added and replacement codes become the note's gold codes; rejected and replaced
codes are left out, so the ranker learns them as wrong candidates. A review can teach only if
the server stored its note text (``codesuggest serve --store-note-text``): by default only a
hash of the note is kept, and such reviews are counted and skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from codesuggest.core.errors import ArtifactError, InputError
from codesuggest.train.corpus import LabelledNote, normalise_gold_icd


def notes_from_audit(path: str | os.PathLike[str]) -> tuple[list[LabelledNote], str]:
    """Labelled notes from the finalised reviews of an audit DB, and a report of what was used."""
    from codesuggest.store.audit import AuditStore

    p = Path(path)
    if not p.is_file():
        raise InputError(f"Audit database {p} does not exist.")
    notes: list[LabelledNote] = []
    without_text = rejected = 0
    with AuditStore(p) as store:
        check = store.verify()
        if not check.ok:
            # Coders' decisions teach the model: a log that was edited must not.
            raise ArtifactError(
                f"The audit database {p} fails its integrity check ({check.problems[0]}); "
                f"see `codesuggest audit verify {p}`. It is not used for training."
            )
        for example in store.labelled():
            text = example.get("text")
            if not text:
                without_text += 1
                continue
            codes: list[tuple[str, str]] = []
            for item in example["labels"]:
                if item["label"] == 1 and item.get("code"):
                    system = item.get("system") or "ICD-10-CM"
                    code = item["code"]
                    if system == "ICD-10-CM":
                        code = normalise_gold_icd(code)
                    if (system, code) not in codes:
                        codes.append((system, code))
                elif item["label"] == 0:
                    rejected += 1
            notes.append(LabelledNote(f"review:{example['review_id']}", text, codes))
    report = (
        f"feedback {p}: {len(notes)} reviewed notes used, {rejected} rejected/replaced codes "
        f"learned as negatives, {without_text} reviews skipped (note text not stored; start "
        "`codesuggest serve --store-note-text` to learn from reviews)"
    )
    return notes, report
