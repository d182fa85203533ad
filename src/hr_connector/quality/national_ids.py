"""National IDs: checksum and embedded birth date, by python-stdnum (never by hand).

``national_id_country`` picks the country's personal-ID module (``stdnum.fi.hetu``,
``stdnum.se.personnummer``, ``stdnum.no.fodselsnummer``, ``stdnum.dk.cpr``, ``stdnum.pl.pesel``
and the others :data:`~hr_connector.quality.settings.PERSONAL_ID_MODULES` lists). Each distinct
value is validated once and its verdict joined back to the rows; what is reported carries the
masked value only.
"""

from __future__ import annotations

import functools
import inspect
from datetime import date
from typing import Any

import polars as pl
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError

from hr_connector.masking import mask_value
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import CheckContext, national_id_module

#: stdnum's error -> the reason code (``reason_<code>`` in translation.json)
ERRORS: tuple[tuple[type[ValidationError], str], ...] = (
    (InvalidChecksum, "national_id_checksum"),
    (InvalidComponent, "national_id_birth_date"),
    (InvalidLength, "national_id_format"),
    (ValidationError, "national_id_format"),
)
CODES = ("national_id_checksum", "national_id_birth_date", "national_id_format")


def reads(ctx: CheckContext) -> list[str]:
    return ["national_id"]


def applies(ctx: CheckContext) -> bool:
    """Only with ``national_id_country``: the check needs to know whose IDs they are."""
    return ctx.settings.national_id_country is not None


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
        return next(code for kind, code in ERRORS if isinstance(error, kind))
    except ValueError:  # an impossible date some modules raise before their own check
        return "national_id_birth_date"
    return None


def invalid(values: pl.Series, module: Any, today: date) -> pl.DataFrame:
    """(row, code, detail) of every row whose national ID fails (blank ones are not checked)."""
    distinct = [v for v in values.unique().drop_nulls().to_list() if v.strip()]
    verdicts = {v: code for v in distinct if (code := problem(module, v, today)) is not None}
    bad = pl.DataFrame(
        {
            "value": list(verdicts),
            "code": list(verdicts.values()),
            "detail": [mask_value(v) for v in verdicts],
        },
        schema={"value": pl.String, "code": pl.String, "detail": pl.String},
    )
    rows = pl.DataFrame({"value": values}).with_row_index("row")
    return rows.join(bad, on="value", how="inner", maintain_order="left").drop("value")


def find(frame: pl.DataFrame, ctx: CheckContext, run: CheckRun) -> pl.DataFrame | None:
    """(row, code, column, detail): one finding per row with an invalid national ID; None
    when the file has no national ID column (the check is not listed)."""
    column = ctx.name("national_id")
    if column not in frame.columns:
        return None
    module = national_id_module(ctx.settings.national_id_country or "")
    found = invalid(frame[column], module, ctx.today)
    return found.select("row", "code", column=pl.lit(column), detail="detail")
