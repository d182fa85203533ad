"""Validation: which rows are blocked, and every reason why (not only the first).

Rules (PLATFORM.md §4): every mandatory column carries a value; in JSON and XML every mapped
attribute exists in each record; dates match one of ``date_formats``; an end date is not before
its start date; a row ID appears once in the file (all rows sharing one are blocked). The CSV
header check is separate (:func:`check_header`) because a missing column interrupts the run
instead of blocking rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import compress, count, repeat
from operator import eq, is_, itemgetter, lt, not_
from typing import Any

from hr_connector import archive_index
from hr_connector.errors import MissingColumns
from hr_connector.records import Reason, Row, Table, Value, fast_path_enabled, paused_gc
from hr_connector.rowstore import BATCH
from hr_connector.schemas import RunSchema


def check_header(table: Table, schema: RunSchema) -> None:
    """CSV: the header must name every mapped column, or the run is interrupted."""
    present = set(table.columns)
    missing = [c for c in schema.mapped_columns if c not in present]
    if missing:
        raise MissingColumns(table.file, missing)


#: Not in the date cache yet.
_UNSEEN: Any = object()


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


def validate_table(table: Table, schema: RunSchema) -> dict[int, list[Reason]]:
    """Row index -> reasons, for every blocked row; rows not in the result are valid.

    The reference checks every row with :meth:`_Plan.reasons`. The fast path (a fast reader's
    table) asks that only of the rows that may be blocked: without a previous run, the rows
    :meth:`_Plan.suspects` finds column by column; with one, the rows that are not
    byte-identical to a row it imported under the same settings
    (:mod:`hr_connector.archive_index`), which pass the per-row checks again by construction.
    Repeated row IDs are always looked for in all rows.
    """
    plan = _Plan(table, schema)
    if fast_path_enabled() and table.digests is not None:
        with paused_gc():
            match = archive_index.match_for_validation(table, schema)
            rows = _rows_to_check(table, plan, None if match is None else match.hits)
            return _validate(table, schema, plan, rows)
    return _validate(table, schema, plan, enumerate(table.rows))


class _Plan:
    """The per-row checks of one run, resolved to column positions once."""

    def __init__(self, table: Table, schema: RunSchema) -> None:
        index = table.column_index()
        self.identity = set(schema.identity_columns)
        self.absent = [c for c in schema.mapped_columns if c not in index]
        self.checks = [
            (index[c], c, "missing_unique_id" if c in self.identity else "missing_value")
            for c in schema.mandatory_columns
            if c in index
        ]
        self.optional_mapped = [
            (index[c], c)
            for c in schema.mapped_columns
            if c in index and c not in schema.mandatory_columns
        ]
        self.dates = [(index[c], c) for c in schema.date_columns if c in index]
        self.order = [
            (index[s], index[e], s, e) for s, e in schema.date_order if s in index and e in index
        ]
        self.parse = DateParser(schema.date_formats)
        others = [f for f in schema.date_formats if f != "%Y-%m-%d"]
        # ISO 8601 dates and date-times are always accepted: shown as examples (language-neutral)
        self.formats = ", ".join(["%Y-%m-%d", "2025-01-31T08:00:00+02:00", *others])
        mandatory = [col for col, _name, _code in self.checks]
        self._mandatory_cols = list(dict.fromkeys(mandatory))
        self._mandatory = _getter(mandatory)
        self._optional = _getter([col for col, _name in self.optional_mapped])
        self._date_cols = [col for col, _name in self.dates]
        #: date texts seen by :meth:`suspects`, those that are not dates, and the dates the
        #: order check compares (kept across batches: dates repeat a lot)
        self._date_verdicts: set[Value] = set()
        self._wrong_dates: set[Value] = set()
        self._first: dict[Value, date] = {}
        self._last: dict[Value, date] = {}
        self._order_cols = [(s, e) for s, e, _s, _e in self.order]

    def passes(self, row: Row) -> bool:
        """A quick test that is True only for a row :meth:`reasons` finds nothing wrong with.

        Most rows are valid; this asks the same questions with fewer steps (cached dates are
        looked up directly). False means "look closer", not "invalid": :meth:`reasons` then
        gives the exact answer.
        """
        if self.absent:
            return False
        values = self._mandatory(row)
        if not all(values) or any(map(str.isspace, values)):  # type: ignore[arg-type]
            return False
        if None in self._optional(row):
            return False
        parse = self.parse
        cached = parse.cache.get
        for col in self._date_cols:
            v = row[col]
            if v:
                d = cached(v, _UNSEEN)
                if d is _UNSEEN:
                    d = parse(v)
                if d is None and not v.isspace():
                    return False
        for s_col, e_col in self._order_cols:
            s, e = row[s_col], row[e_col]
            if s and e:
                sd, ed = cached(s, _UNSEEN), cached(e, _UNSEEN)
                if sd is _UNSEEN:
                    sd = parse(s)
                if ed is _UNSEEN:
                    ed = parse(e)
                if sd is not None and ed is not None and ed < sd:  # type: ignore[operator]
                    return False
        return True

    def suspects(self, rows: Sequence[Row]) -> list[int]:
        """The rows of a batch that :meth:`reasons` may find something wrong with (sorted).

        The same questions, asked column by column (C-level passes over a column: ``all``,
        ``map``, ``compress``, dict look-ups) instead of row by row; a row not returned has no
        reason at all, a row returned is then checked by :meth:`reasons`.
        """
        if self.absent:
            return list(range(len(rows)))
        if not rows:
            return []
        columns = list(zip(*rows, strict=True))
        found: set[int] = set()
        for col in self._mandatory_cols:
            found.update(_blank(columns[col]))
        for col, _name in self.optional_mapped:
            if None in columns[col]:
                found.update(compress(count(), map(is_, columns[col], repeat(None))))
        for col in self._date_cols:
            wrong = self._wrong_dates
            for v in set(columns[col]).difference(self._date_verdicts):
                self._date_verdicts.add(v)
                if v and not v.isspace() and self.parse(v) is None:
                    wrong.add(v)
            if wrong:
                found.update(compress(count(), map(wrong.__contains__, columns[col])))
        for s_col, e_col in self._order_cols:
            starts, ends = columns[s_col], columns[e_col]
            first = self._dates_or(starts, self._first, date.min)
            last = self._dates_or(ends, self._last, date.max)
            found.update(
                compress(
                    count(), map(lt, map(last.__getitem__, ends), map(first.__getitem__, starts))
                )
            )
        return sorted(found)

    def _dates_or(
        self, values: Sequence[Value], known: dict[Value, date], default: date
    ) -> dict[Value, date]:
        """``known`` with every value added: its date as :meth:`reasons` reads it for the order
        check, or ``default`` (empty, blank, not a date)."""
        for text in set(values).difference(known):
            parsed = None if not text or text.isspace() else self.parse(text)
            known[text] = default if parsed is None else parsed
        return known

    def reasons(self, row: Row) -> list[Reason] | None:
        """Every reason the row is blocked for, in the order of the checks (None: valid)."""
        reasons: list[Reason] | None = None
        identity, parse = self.identity, self.parse
        for c in self.absent:
            (reasons := reasons or []).append(
                Reason("missing_unique_id" if c in identity else "missing_field", column=c)
            )
        for col, name, code in self.checks:
            v = row[col]
            if v is None:
                code_here = "missing_unique_id" if name in identity else "missing_field"
                (reasons := reasons or []).append(Reason(code_here, column=name))
            elif not v or v.isspace():
                (reasons := reasons or []).append(Reason(code, column=name))
        for col, name in self.optional_mapped:
            if row[col] is None:
                (reasons := reasons or []).append(Reason("missing_field", column=name))
        for col, name in self.dates:
            v = row[col]
            if v and not v.isspace() and parse(v) is None:
                (reasons := reasons or []).append(
                    Reason("invalid_date", column=name, detail=self.formats)
                )
        for s_col, e_col, _s_name, e_name in self.order:
            s, e = row[s_col], row[e_col]
            if s and e and not s.isspace() and not e.isspace():
                sd, ed = parse(s), parse(e)
                if sd is not None and ed is not None and ed < sd:
                    (reasons := reasons or []).append(
                        Reason("end_before_start", column=e_name, detail=s)
                    )
        return reasons


def _validate(
    table: Table, schema: RunSchema, plan: _Plan, rows: Iterable[tuple[int, Row]]
) -> dict[int, list[Reason]]:
    """The reasons of ``rows`` (after the reader's row problems), then the repeated row IDs."""
    blocked: dict[int, list[Reason]] = {i: list(r) for i, r in table.row_problems.items()}
    reasons_of = plan.reasons
    for i, row in rows:
        reasons = reasons_of(row)
        if reasons:
            blocked.setdefault(i, []).extend(reasons)
    key = table.column_index().get(schema.key_column)
    if key is not None:
        keys = key_values(table, key)
        dupes = _repeated(table, key, keys)
        if dupes:
            for i in compress(count(), map(dupes.__contains__, keys)):
                blocked.setdefault(i, []).append(Reason("duplicate_row_id", detail=keys[i]))
    return blocked


def _rows_to_check(table: Table, plan: _Plan, hits: list[int] | None) -> Iterator[tuple[int, Row]]:
    """The rows :meth:`_Plan.reasons` must look at, in order: every row that may be blocked.

    Without ``hits``: batch by batch, the rows :meth:`_Plan.suspects` points at. With them:
    the rows that match no previously imported row, each unless :meth:`_Plan.passes`.
    """
    rows = table.rows
    if hits is None:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            for k in plan.suspects(batch):
                yield start + k, batch[k]
        return
    unmatched = compress(count(), map(eq, hits, repeat(archive_index.MISS)))
    for i in sorted({*unmatched, *table.row_problems}):
        row = rows[i]
        if not plan.passes(row):
            yield i, row


def _getter(positions: list[int]) -> Callable[[Row], tuple[Value, ...]]:
    """``itemgetter`` that always returns a tuple (also for zero or one position)."""
    if len(positions) >= 2:
        return itemgetter(*positions)
    if len(positions) == 1:
        position = positions[0]
        return lambda row: (row[position],)
    return lambda row: ()


def _blank(values: Sequence[Value]) -> Iterator[int]:
    """Positions of the missing, empty and whitespace-only values (one pass when there is none)."""
    if not all(values):
        empty = list(compress(count(), map(not_, values)))
        rest = [v if v else "x" for v in values]  # keep positions, skip what is already found
        return iter(empty + list(compress(count(), map(str.isspace, rest))))
    if any(map(str.isspace, values)):  # type: ignore[arg-type]
        return compress(count(), map(str.isspace, values))  # type: ignore[arg-type]
    return iter(())


def key_values(table: Table, key: int) -> list[Value]:
    """The row IDs, kept on a fast table for the later steps of the run.

    A row matched to an archived row has that row's ID (the index keeps them), so only the
    other rows need to be decoded.
    """
    if table.digests is None:
        return table.column(key)
    cached: list[Value] | None = table.cache.get(("column", key))
    if cached is None:
        cached = table.cache[("column", key)] = _keys(table, key)
    return cached


def keyed_match(table: Table, key: int) -> archive_index.KeyedMatch | None:
    """The previous-run match of a fast table, by row ID, if the reader or validation made one."""
    match: archive_index.PreviousMatch | None = table.cache.get("previous")
    return None if match is None or table.digests is None else match.keyed(table, key)


def _keys(table: Table, key: int) -> list[Value]:
    keyed = keyed_match(table, key)
    return table.column(key) if keyed is None else keyed.keys


def _repeated(table: Table, key: int, keys: list[Value]) -> set[str]:
    keyed = keyed_match(table, key)
    repeated = repeated_ids(keys) if keyed is None else keyed.repeated_ids()
    return {k for k in repeated if k and not k.isspace()}


def repeated_ids(keys: list[Value]) -> set[str]:
    """Row IDs that appear more than once (blank ones do not count: they are blocked anyway)."""
    seen: set[Value] = set()
    add = seen.add
    repeated = {k for k in keys if k in seen or add(k)}  # type: ignore[func-returns-value]
    return {k for k in repeated if k and not k.isspace()}
