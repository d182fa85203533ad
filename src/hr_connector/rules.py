"""The validation rules (PLATFORM.md §4), each declared once, as column expressions.

A :class:`Rule` is a name, the reason code it gives (the admin task's text is
``reason_<code>`` in translation.json, in every language), the data types it applies to, and
:attr:`Rule.checks`: given the run's :class:`Context` (schema, the file's columns, the parsed
dates), the checks it makes, each a :class:`Check` with the column it names, a boolean
expression that is true on the rows it blocks, and the expression of the reason's detail.
Validation (:mod:`hr_connector.validate`) evaluates every check of every rule in one polars
``select`` and turns the true rows into the reasons frame, in rule order; a rule added to
:data:`RULES` applies to every run.

Dates: the distinct texts of a date column are parsed once (:func:`parse_dates`: ISO 8601 and
Workday's offset dates, then ``date_formats``, then the common forms of :data:`COMMON_FORMS`, then
``dd/mm/yyyy`` or ``mm/dd/yyyy`` as the column's other values show); dates repeat, so a million
rows hold a few thousand distinct texts. A value is only read, never rewritten: the output keeps
it as the file wrote it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from hr_connector.errors import DateOrderAmbiguous
from hr_connector.schemas import RunSchema


def iso_date(value: str) -> date | None:
    """The date of an ISO 8601 date or date-time, or ``None``.

    ``2025-01-01``; a date-time with or without an offset (``2025-01-01T08:00:00``,
    ``2025-01-01T00:00:00+02:00``, ``…Z``, ``2025-01-01 08:00``); and Workday's date with an
    offset (``2025-01-01-08:00``). The date is the one written, not converted to another zone.
    """
    if len(value) < 10 or value[4] != "-" or value[7] != "-" or not value[:4].isdigit():
        return None
    try:
        day = date.fromisoformat(value[:10])
        rest = value[10:]
        if not rest:
            return day
        if rest[0] in "T ":
            datetime.fromisoformat(value)  # the time (and offset) must be valid too
        elif (rest[0] in "+-" and len(rest) > 1) or rest == "Z":
            datetime.fromisoformat(f"{value[:10]}T00:00{rest}")  # a valid offset
        else:
            return None
    except ValueError:
        return None
    return day


#: The forms every run reads besides ISO 8601 and ``date_formats``, each with the pattern that
#: guards it (``strptime`` alone would read ``2025311`` or ``1.3.25``): ``dd.mm.yyyy`` and
#: ``d.m.yyyy``, ``yyyymmdd``, ``yyyy-m-d``.
COMMON_FORMS = (
    (re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}"), "%d.%m.%Y"),
    (re.compile(r"\d{8}"), "%Y%m%d"),
    (re.compile(r"\d{4}-\d{1,2}-\d{1,2}"), "%Y-%m-%d"),
)
#: Day and month in either order (``03/01/2025``): the column's other values decide.
SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
DAY_FIRST, MONTH_FIRST = "%d/%m/%Y", "%m/%d/%Y"


def _strptime(value: str, fmt: str) -> date | None:
    try:
        return datetime.strptime(value, fmt).date()
    except ValueError:
        return None


def parse_date(text: str, formats: Sequence[str]) -> date | None:
    """One date text: ISO 8601 (always accepted), else the first of ``formats`` that reads it,
    else one of the :data:`COMMON_FORMS`."""
    value = text.strip()
    parsed = iso_date(value)
    if parsed is not None:
        return parsed
    for fmt in formats:
        if fmt != "%Y-%m-%d" and (parsed := _strptime(value, fmt)) is not None:
            return parsed  # (ISO 8601: done above)
    for pattern, fmt in COMMON_FORMS:
        if pattern.fullmatch(value):
            return _strptime(value, fmt)
    return None


def column_formats(
    texts: Collection[str], formats: Sequence[str], column: str = "?"
) -> tuple[str, ...]:
    """``formats`` and the order of day and month the column's slashed dates show: a first part
    above 12 is a day (``dd/mm/yyyy``), a second part above 12 a day too (``mm/dd/yyyy``).

    Only the texts nothing else reads count, and none when ``formats`` has a slashed format of its
    own (the customer chose the order). When no part is above 12 and no value reads two ways
    (``05/05/2025``), either order gives the same dates; when some value does, the order is
    undecided and the run stops naming both readings (:class:`DateOrderAmbiguous`); when the
    values contradict each other, no order is added and they are blocked as invalid dates.
    """
    if any("/" in fmt for fmt in formats):
        return tuple(formats)
    slashed = [
        (text, int(m[1]), int(m[2]))
        for text in texts
        if (m := SLASHED.fullmatch(text.strip())) and parse_date(text, formats) is None
    ]
    day_first = any(a > 12 for _, a, _ in slashed)
    month_first = any(b > 12 for _, _, b in slashed)
    if day_first != month_first:
        return (*formats, DAY_FIRST if day_first else MONTH_FIRST)
    if day_first:  # contradicting values: each is blocked as not a date
        return tuple(formats)
    for text, a, b in sorted(slashed):
        readings = _strptime(text.strip(), DAY_FIRST), _strptime(text.strip(), MONTH_FIRST)
        day, month = readings
        if a != b and day is not None and month is not None:
            raise DateOrderAmbiguous(text.strip(), str(day), str(month), column)
    return (*formats, DAY_FIRST) if slashed else tuple(formats)


def date_parser(
    formats: Sequence[str], texts: pl.Series | None = None
) -> Callable[[str], date | None]:
    """:func:`parse_date` with the run's ``formats`` as one function of the text; with a
    column's ``texts``, the order of day and month they show too (undecided: none)."""
    if texts is not None:
        # an undecided order stops the run in validation; here: no slashed date is read
        with contextlib.suppress(DateOrderAmbiguous):
            formats = column_formats(texts.drop_nulls().unique().to_list(), formats)
    return functools.partial(parse_date, formats=tuple(formats))


def parse_dates(values: pl.Expr, texts: pl.Series, formats: Sequence[str]) -> pl.Expr:
    """``values`` (a text column whose distinct texts are ``texts``) as dates; null where a
    value is missing, blank or not a date. Each distinct text is parsed once; a slashed date
    whose order of day and month the column leaves open stops the run."""
    distinct = texts.drop_nulls().unique()
    texts_list = distinct.to_list()
    formats = column_formats(texts_list, formats, texts.name)
    parsed = [parse_date(t, formats) for t in texts_list]
    return values.replace_strict(distinct, pl.Series(parsed, dtype=pl.Date), default=None)


def is_blank(value: pl.Expr) -> pl.Expr:
    """Empty or only whitespace (not null)."""
    return value.str.strip_chars().str.len_bytes() == 0


@dataclass(frozen=True)
class Context:
    """What every rule's checks are built from: the run's schema, the file's columns, and the
    parsed date columns (``dates[column]``: an expression of that column's dates)."""

    schema: RunSchema
    columns: Collection[str]
    dates: dict[str, pl.Expr] = field(default_factory=dict)
    #: how the accepted date formats are shown to a person (ISO first)
    date_examples: str = ""

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass(frozen=True)
class Check:
    """One check of a rule: the rows where ``blocks`` is true get ``code`` on ``column``."""

    code: str
    column: str
    blocks: pl.Expr
    detail: pl.Expr = field(default_factory=lambda: pl.lit(""))


@dataclass(frozen=True)
class Rule:
    """A validation rule: its name, its reason codes, where it applies, and its checks."""

    name: str
    codes: tuple[str, ...]
    checks: Callable[[Context], list[Check]]
    #: data types the rule applies to (None: all)
    data_types: frozenset[str] | None = None

    def applies_to(self, data_type: str) -> bool:
        return self.data_types is None or data_type in self.data_types


def _identity_code(ctx: Context, column: str, otherwise: str) -> str:
    return "missing_unique_id" if column in ctx.schema.identity_columns else otherwise


def _mapped_columns_present(ctx: Context) -> list[Check]:
    """JSON and XML: a mapped column no record has blocks every row (CSV: the header check)."""
    return [
        Check(_identity_code(ctx, c, "missing_field"), c, pl.lit(True))
        for c in ctx.schema.mapped_columns
        if not ctx.has(c)
    ]


def _mandatory_values(ctx: Context) -> list[Check]:
    """Every mandatory column carries a value: a missing field, or an empty or blank value."""
    checks = []
    for c in dict.fromkeys(ctx.schema.mandatory_columns):
        if ctx.has(c):
            value = pl.col(c)
            checks.append(Check(_identity_code(ctx, c, "missing_field"), c, value.is_null()))
            checks.append(Check(_identity_code(ctx, c, "missing_value"), c, is_blank(value)))
    return checks


def _optional_fields_present(ctx: Context) -> list[Check]:
    """A mapped column that is not mandatory still exists in each record (JSON, XML)."""
    mandatory = set(ctx.schema.mandatory_columns)
    return [
        Check("missing_field", c, pl.col(c).is_null())
        for c in ctx.schema.mapped_columns
        if ctx.has(c) and c not in mandatory
    ]


def _valid_dates(ctx: Context) -> list[Check]:
    """A date column's value, when set, is a date in one of ``date_formats`` (or ISO 8601)."""
    return [
        Check(
            "invalid_date",
            c,
            pl.col(c).is_not_null() & ~is_blank(pl.col(c)) & ctx.dates[c].is_null(),
            pl.lit(ctx.date_examples),
        )
        for c in ctx.schema.date_columns
        if c in ctx.dates
    ]


def _end_not_before_start(ctx: Context) -> list[Check]:
    """An end date is not before its start date (both set and dates)."""
    return [
        Check(
            "end_before_start",
            end,
            (ctx.dates[end] < ctx.dates[start]).fill_null(False),
            pl.col(start),
        )
        for start, end in ctx.schema.date_order
        if start in ctx.dates and end in ctx.dates
    ]


#: The rules every run applies, in the order their reasons are listed.
RULES: list[Rule] = [
    Rule("mapped columns present", ("missing_field", "missing_unique_id"), _mapped_columns_present),
    Rule(
        "mandatory values",
        ("missing_field", "missing_value", "missing_unique_id"),
        _mandatory_values,
    ),
    Rule("optional fields present", ("missing_field",), _optional_fields_present),
    Rule("valid dates", ("invalid_date",), _valid_dates),
    Rule("end not before start", ("end_before_start",), _end_not_before_start),
]


def date_examples(formats: Sequence[str]) -> str:
    """How the accepted formats are named in a reason (ISO 8601 dates and date-times always)."""
    others = [f for f in formats if f != "%Y-%m-%d"]
    common = [f for _, f in COMMON_FORMS[:2]]
    return ", ".join(dict.fromkeys(["%Y-%m-%d", "2025-01-31T08:00:00+02:00", *others, *common]))
