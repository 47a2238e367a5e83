"""``PatientContext``: the one validator of care setting, age, sex and encounter date.

The API, the CLI, batch input, the review screen and the coding-rule edits all read patient
context through ``PatientContext.parse`` (which raises ``InputError`` naming the bad value) or
``PatientContext.lenient`` (which drops a value that does not parse, for records of notes that
could not be scored), so they cannot disagree on what a valid age or sex is.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from codesuggest.core.errors import InputError
from codesuggest.core.records import SETTINGS

# The Medicare Code Editor's age edits are defined for 0-124 years; an older age is a data error.
MAX_AGE = 124
# ICD-10-CM took effect on October 1, 2015; the edits describe ICD-10-CM encounters only.
FIRST_ICD10_DATE = dt.date(2015, 10, 1)
_SEXES = {"F": "F", "M": "M", "FEMALE": "F", "MALE": "M"}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_setting(value: object) -> str:
    """``outpatient`` (the default for a blank value) or ``inpatient``, any case."""
    if _blank(value):
        return "outpatient"
    setting = str(value).strip().lower()
    if setting not in SETTINGS:
        raise InputError(f"setting must be one of {', '.join(SETTINGS)}, got {value!r}.")
    return setting


def parse_age(value: object) -> int | None:
    """A whole number of years from 0 to ``MAX_AGE`` (``"67"``, ``67`` and ``67.0`` alike)."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise InputError(f"age must be a whole number of years, got {value!r}.")
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"age must be a whole number of years, got {value!r}.") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"age must be a whole number of years, got {value!r}.")
    if not 0 <= number <= MAX_AGE:
        raise InputError(f"age {int(number)} is outside 0-{MAX_AGE} years.")
    return int(number)


def parse_sex(value: object) -> str | None:
    """``F`` or ``M`` from F / M / female / male in any case; anything else is refused."""
    if _blank(value):
        return None
    sex = _SEXES.get(str(value).strip().upper())
    if sex is None:
        raise InputError(f"sex must be F or M (female / male), got {value!r}.")
    return sex


def parse_date(value: object) -> dt.date | None:
    """A date, a datetime or ``YYYY-MM-DD`` text, on or after October 1, 2015."""
    if _blank(value):
        return None
    if isinstance(value, dt.datetime):
        date = value.date()
    elif isinstance(value, dt.date):
        date = value
    else:
        try:
            date = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise InputError(
                f"encounter_date {value!r} is not a date: write it as YYYY-MM-DD."
            ) from None
    if date < FIRST_ICD10_DATE:
        raise InputError(
            f"encounter date {date.isoformat()} is before October 1, 2015, when ICD-10-CM took "
            "effect; these checks apply to ICD-10-CM encounters only."
        )
    return date


@dataclass(frozen=True, slots=True)
class PatientContext:
    """What a note's coding depends on besides its text."""

    setting: str = "outpatient"
    age: int | None = None
    sex: str | None = None
    encounter_date: dt.date | None = None

    @classmethod
    def parse(
        cls,
        *,
        setting: object = "outpatient",
        age: object = None,
        sex: object = None,
        encounter_date: object = None,
    ) -> PatientContext:
        """The context from user input.

        Raises:
            InputError: a value is present but not valid; the message names it.
        """
        return cls(
            parse_setting(setting), parse_age(age), parse_sex(sex), parse_date(encounter_date)
        )

    @classmethod
    def lenient(
        cls,
        *,
        setting: object = "outpatient",
        age: object = None,
        sex: object = None,
        encounter_date: object = None,
        default_setting: str = "outpatient",
    ) -> PatientContext:
        """The same rules as ``parse``, with each value that does not parse left out."""
        values: list[Any] = []
        for parser, value, fallback in (
            (parse_setting, setting, default_setting),
            (parse_age, age, None),
            (parse_sex, sex, None),
            (parse_date, encounter_date, None),
        ):
            try:
                values.append(parser(value))
            except InputError:
                values.append(fallback)
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        """The ``context`` object of the output schema."""
        return {
            "setting": self.setting,
            "age": self.age,
            "sex": self.sex,
            "encounter_date": self.encounter_date.isoformat() if self.encounter_date else None,
        }
