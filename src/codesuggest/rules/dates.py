"""The code-set year edit: an encounter date outside the year of the ICD-10-CM tables in use.

ICD-10-CM changes every October 1 with the US federal fiscal year; a code added or deleted
since the tables' year may read wrongly.
"""

from __future__ import annotations

from codesuggest.rules.run import Run


def check_code_set_date(run: Run) -> None:
    if not run.date_given:
        return
    fiscal = run.day.year + (1 if run.day.month >= 10 else 0)
    version = run.icd.version.version
    if version.isdigit() and fiscal != int(version):
        run.add(
            "code-set-date",
            "info",
            [],
            f"The encounter on {run.day.isoformat()} falls in FY{fiscal}, but the codes were "
            f"checked against {run.icd.version} (FY{version}): a code added or deleted since may "
            "read wrongly. The Medicare Code Editor checks use the tables in force on the date.",
            f"{run.icd.version} code table",
        )
