"""The code-set year edit: an encounter date outside the year of the ICD-10-CM tables in use.

ICD-10-CM changes every October 1 with the US federal fiscal year; a code added or deleted
since the tables' year may read wrongly.
"""

from __future__ import annotations

from codesuggest.rules.run import Run

# The fiscal year, and with it the ICD-10-CM code set, starts on October 1.
_FISCAL_YEAR_START_MONTH = 10


def check_code_set_date(run: Run) -> None:
    """A note when the given encounter date falls in another fiscal year than the code set."""
    if not run.date_given:
        return
    fiscal = run.day.year + (1 if run.day.month >= _FISCAL_YEAR_START_MONTH else 0)
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
