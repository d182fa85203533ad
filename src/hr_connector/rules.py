"""The validation rules (PLATFORM.md §4), each defined once.

A rule is bound to one run (the schema and the file's columns) and answers two questions:

* :meth:`Rule.reasons`: every reason one row is blocked for (the reference, asked of every row
  with ``HR_CONNECTOR_FAST_PATH=0``, and of every row that may be blocked on the fast path);
* :meth:`Rule.suspects`: optionally, a batch pre-check the fast path uses on a file without a
  previous run: the rows of a batch the rule may block, found column by column. A row it does
  not return must have no reason; the default asks :meth:`Rule.reasons` of each row.

Both paths derive from these objects, so a rule added to :data:`RULES` (through
:func:`register`) applies on both. The archive index (:mod:`hr_connector.fastpath.archive_index`)
records :func:`fingerprint` of the rule set and the schema settings; when either changed, the
rows that match the previous run are checked again instead of being trusted.

Repeated row IDs are a check across rows (:mod:`hr_connector.validate`), not a row rule.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import date, datetime
from functools import cache
from itertools import compress, count, repeat
from operator import is_, lt, not_
from typing import Any, ClassVar

import orjson

from hr_connector.records import Reason, Row, Value
from hr_connector.schemas import RunSchema

#: A batch as columns: ``columns[i][k]`` is row ``k``'s value of column ``i``.
Columns = Sequence[Sequence[Value]]
#: No reason (shared, never mutated).
NONE: tuple[Reason, ...] = ()


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


class DateParser:
    """Parse dates with the run's formats; caches each distinct text (dates repeat a lot)."""

    __slots__ = ("_cache", "formats")

    def __init__(self, formats: tuple[str, ...]) -> None:
        self.formats = formats
        self._cache: dict[str, date | None] = {}

    @property
    def cache(self) -> dict[str, date | None]:
        """Text -> parsed date (None: not a date), for a caller that looks dates up in bulk."""
        return self._cache

    def __call__(self, text: str) -> date | None:
        try:
            return self._cache[text]
        except KeyError:
            pass
        value = text.strip()
        parsed = iso_date(value)  # always accepted; date_formats adds others
        for fmt in self.formats if parsed is None else ():
            try:
                if fmt == "%Y-%m-%d":
                    continue  # ISO 8601: done above
                parsed = datetime.strptime(value, fmt).date()
                break
            except ValueError:
                continue
        if len(self._cache) < 100_000:
            self._cache[text] = parsed
        return parsed


class Rule:
    """One validation rule, bound to a run: ``schema``, the file's ``index`` (column name ->
    position) and the run's shared date parser. Subclass it, implement :meth:`reasons`, and
    :func:`register` the class; bump :attr:`version` when the rule's meaning changes (its
    source is part of the fingerprint too)."""

    version: ClassVar[int] = 1

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        self.schema = schema
        self.index = index
        self.parse = parse

    def reasons(self, row: Row) -> Sequence[Reason]:
        """Every reason ``row`` is blocked for by this rule, in column order (empty: none)."""
        raise NotImplementedError

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        """The rows of a batch this rule may block (a superset of those :meth:`reasons` blocks)."""
        return [k for k, row in enumerate(rows) if self.reasons(row)]


class MappedColumnsPresent(Rule):
    """Every mapped column exists (JSON and XML: in each record; CSV: the header, checked
    before, so this only blocks rows of formats where a record can lack a field)."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        identity = set(schema.identity_columns)
        self.absent = tuple(
            Reason("missing_unique_id" if c in identity else "missing_field", column=c)
            for c in schema.mapped_columns
            if c not in index
        )

    def reasons(self, row: Row) -> Sequence[Reason]:
        return self.absent

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        return range(len(rows)) if self.absent else ()


class MandatoryValues(Rule):
    """Every mandatory column carries a value (not empty, not only whitespace)."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        identity = set(schema.identity_columns)
        self.checks = [(index[c], c, c in identity) for c in schema.mandatory_columns if c in index]
        self.columns = list(dict.fromkeys(col for col, _name, _id in self.checks))

    def reasons(self, row: Row) -> Sequence[Reason]:
        found: list[Reason] | None = None
        for col, name, is_id in self.checks:
            v = row[col]
            if v is None:
                code = "missing_unique_id" if is_id else "missing_field"
            elif not v or v.isspace():
                code = "missing_unique_id" if is_id else "missing_value"
            else:
                continue
            (found := found or []).append(Reason(code, column=name))
        return found or NONE

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        found: set[int] = set()
        for col in self.columns:
            found.update(_blank(columns[col]))
        return found


class OptionalFieldsPresent(Rule):
    """A mapped column that is not mandatory still exists in each record (JSON, XML)."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        mandatory = set(schema.mandatory_columns)
        self.fields = [
            (index[c], c) for c in schema.mapped_columns if c in index and c not in mandatory
        ]

    def reasons(self, row: Row) -> Sequence[Reason]:
        found = [
            Reason("missing_field", column=name) for col, name in self.fields if row[col] is None
        ]
        return found or NONE

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        found: set[int] = set()
        for col, _name in self.fields:
            if None in columns[col]:
                found.update(compress(count(), map(is_, columns[col], repeat(None))))
        return found


class ValidDates(Rule):
    """A date column's value, when set, is a date in one of ``date_formats`` (or ISO 8601)."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        self.dates = [(index[c], c) for c in schema.date_columns if c in index]
        others = [f for f in schema.date_formats if f != "%Y-%m-%d"]
        # ISO 8601 dates and date-times are always accepted: shown as examples (language-neutral)
        self.formats = ", ".join(["%Y-%m-%d", "2025-01-31T08:00:00+02:00", *others])
        #: date texts seen by :meth:`suspects`, and those that are not dates (dates repeat)
        self._seen: set[Value] = set()
        self._wrong: set[Value] = set()

    def reasons(self, row: Row) -> Sequence[Reason]:
        parse = self.parse
        found = [
            Reason("invalid_date", column=name, detail=self.formats)
            for col, name in self.dates
            if (v := row[col]) and not v.isspace() and parse(v) is None
        ]
        return found or NONE

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        found: set[int] = set()
        wrong = self._wrong
        for col, _name in self.dates:
            for v in set(columns[col]).difference(self._seen):
                self._seen.add(v)
                if v and not v.isspace() and self.parse(v) is None:
                    wrong.add(v)
            if wrong:
                found.update(compress(count(), map(wrong.__contains__, columns[col])))
        return found


class EndNotBeforeStart(Rule):
    """An end date is not before its start date (both set and dates)."""

    def __init__(self, schema: RunSchema, index: dict[str, int], parse: DateParser) -> None:
        super().__init__(schema, index, parse)
        self.order = [
            (index[s], index[e], e) for s, e in schema.date_order if s in index and e in index
        ]
        #: the dates the order check compares, by text (kept across batches)
        self._first: dict[Value, date] = {}
        self._last: dict[Value, date] = {}

    def reasons(self, row: Row) -> Sequence[Reason]:
        found: list[Reason] | None = None
        parse = self.parse
        for s_col, e_col, e_name in self.order:
            s, e = row[s_col], row[e_col]
            if s and e and not s.isspace() and not e.isspace():
                sd, ed = parse(s), parse(e)
                if sd is not None and ed is not None and ed < sd:
                    (found := found or []).append(
                        Reason("end_before_start", column=e_name, detail=s)
                    )
        return found or NONE

    def suspects(self, rows: Sequence[Row], columns: Columns) -> Iterable[int]:
        found: set[int] = set()
        for s_col, e_col, _e_name in self.order:
            starts, ends = columns[s_col], columns[e_col]
            first = self._dates_or(starts, self._first, date.min)
            last = self._dates_or(ends, self._last, date.max)
            found.update(
                compress(
                    count(), map(lt, map(last.__getitem__, ends), map(first.__getitem__, starts))
                )
            )
        return found

    def _dates_or(
        self, values: Sequence[Value], known: dict[Value, date], default: date
    ) -> dict[Value, date]:
        """``known`` with every value added: its date as :meth:`reasons` reads it, or
        ``default`` (empty, blank, not a date)."""
        for text in set(values).difference(known):
            parsed = None if not text or text.isspace() else self.parse(text)
            known[text] = default if parsed is None else parsed
        return known


#: The rules every run applies, in the order their reasons are listed.
RULES: list[type[Rule]] = [
    MappedColumnsPresent,
    MandatoryValues,
    OptionalFieldsPresent,
    ValidDates,
    EndNotBeforeStart,
]


def register(rule: type[Rule]) -> type[Rule]:
    """Add a rule to :data:`RULES` (usable as a class decorator); its reasons follow the
    built-in ones. The next run re-checks every row (the rule set's fingerprint changed)."""
    if rule not in RULES:
        RULES.append(rule)
    return rule


def unregister(rule: type[Rule]) -> None:
    """Remove a rule added with :func:`register`."""
    RULES.remove(rule)


class RuleSet:
    """The rules of :data:`RULES`, bound to one run: both paths' per-row and batch checks."""

    def __init__(self, schema: RunSchema, index: dict[str, int]) -> None:
        parse = DateParser(schema.date_formats)
        self.rules = [rule(schema, index, parse) for rule in RULES]

    def reasons(self, row: Row) -> list[Reason] | None:
        """Every reason the row is blocked for, rule by rule (None: valid)."""
        found: list[Reason] | None = None
        for rule in self.rules:
            reasons = rule.reasons(row)
            if reasons:
                (found := found or []).extend(reasons)
        return found

    def suspects(self, rows: Sequence[Row]) -> list[int]:
        """The rows of a batch that :meth:`reasons` may find something wrong with (sorted)."""
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        found: set[int] = set()
        for rule in self.rules:
            found.update(rule.suspects(rows, columns))
        return sorted(found)


def fingerprint(schema: RunSchema) -> str:
    """What the per-row checks depend on besides the row: the rule set (each rule's name,
    version and the source of its module) and every schema setting (column names, unique ID,
    mandatory and date columns, date formats, change columns...)."""
    settings = {
        "rules": [[_name(rule), rule.version, _source_digest(rule.__module__)] for rule in RULES],
        "schema": {f.name: _jsonable(getattr(schema, f.name)) for f in fields(schema)},
    }
    return hashlib.sha1(orjson.dumps(settings), usedforsecurity=False).hexdigest()


def _name(rule: type[Rule]) -> str:
    return f"{rule.__module__}.{rule.__qualname__}"


@cache
def _source_digest(module_name: str) -> str:
    """SHA-1 of a module's source ("" when it has none to read, e.g. defined interactively)."""
    try:
        source = inspect.getsource(sys.modules[module_name])
    except (KeyError, OSError, TypeError):
        return ""
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return [_jsonable(v) for v in value]


def _blank(values: Sequence[Value]) -> Iterator[int]:
    """Positions of the missing, empty and whitespace-only values (one pass when there is none)."""
    if not all(values):
        empty = list(compress(count(), map(not_, values)))
        rest = [v if v else "x" for v in values]  # keep positions, skip what is already found
        return iter(empty + list(compress(count(), map(str.isspace, rest))))
    if any(map(str.isspace, values)):  # type: ignore[arg-type]
        return compress(count(), map(str.isspace, values))  # type: ignore[arg-type]
    return iter(())
