"""National IDs: checksum and embedded birth date, by python-stdnum (never by hand).

``national_id_country`` picks the country's personal-ID module (``stdnum.fi.hetu``,
``stdnum.se.personnummer``, ``stdnum.no.fodselsnummer``, ``stdnum.dk.cpr``, ``stdnum.pl.pesel``
and the others :data:`~hr_connector.quality.settings.PERSONAL_ID_MODULES` lists). Each distinct
value is validated once; what is reported carries the masked value only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from itertools import compress, count
from typing import Any

from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidLength,
    ValidationError,
)

from hr_connector.masking import mask_value
from hr_connector.records import Reason, Value

#: stdnum's error -> the reason code (``reason_<code>`` in translation.json)
CODES: tuple[tuple[type[ValidationError], str], ...] = (
    (InvalidChecksum, "national_id_checksum"),
    (InvalidComponent, "national_id_birth_date"),
    (InvalidLength, "national_id_format"),
    (ValidationError, "national_id_format"),
)


@functools.cache
def _allows_temporary(module: Any) -> bool:
    return "allow_temporary" in inspect.signature(module.validate).parameters


def problem(module: Any, value: str, today: date) -> str | None:
    """The reason code of one national ID, or None when it is valid."""
    try:
        if _allows_temporary(module):  # Finland: HR keeps temporary IDs (900-999) of foreigners
            module.validate(value, allow_temporary=True)
        else:
            module.validate(value)
        birth = getattr(module, "get_birth_date", None)
        if birth is not None and birth(value) > today:
            raise InvalidComponent("birth date in the future")
    except ValidationError as error:
        for kind, code in CODES:
            if isinstance(error, kind):
                return code
    except ValueError:  # an impossible date some modules raise before their own check
        return "national_id_birth_date"
    return None


def invalid_codes(module: Any, values: Iterable[Value], today: date) -> dict[str, str]:
    """The reason code of every invalid value among ``values`` (distinct; blank ones are not
    checked). A large file's are found by the helper process (:mod:`.helper`)."""
    codes: dict[str, str] = {}
    for value in values:
        if value and not value.isspace():
            code = problem(module, value, today)
            if code is not None:
                codes[value] = code
    return codes


def invalid_national_ids(
    values: Sequence[Value],
    module: Any,
    column: str,
    known_valid: Collection[Value] = (),
    today: date | None = None,
    codes: dict[str, str] | None = None,
) -> list[tuple[int, Reason]]:
    """(row, reason) for every row whose national ID fails; blank values are not checked.

    ``known_valid`` are values already validated under the same country (skipped); ``codes``,
    the :func:`invalid_codes` of the distinct values when already found.
    """
    if codes is None:
        codes = invalid_codes(module, set(values).difference(known_valid), today or date.today())
    if not codes:
        return []
    return [
        (i, Reason(codes[values[i]], column=column, detail=mask_value(values[i] or "")))  # type: ignore[index]
        for i in compress(count(), map(codes.__contains__, values))
    ]
