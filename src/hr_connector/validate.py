"""Validation: which rows are blocked, and every reason why (not only the first).

Rules (PLATFORM.md §4): the per-row rules are the objects of :mod:`hr_connector.rules` (every
mandatory column carries a value; in JSON and XML every mapped attribute exists in each record;
dates match one of ``date_formats``; an end date is not before its start date); here, across
rows: a row ID appears once in the file (all rows sharing one are blocked). The CSV
header check is separate (:func:`check_header`) because a missing column interrupts the run
instead of blocking rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from itertools import compress, count, repeat
from operator import eq, ne, not_

from hr_connector.errors import MissingColumns
from hr_connector.fastpath import archive_index
from hr_connector.fastpath.archive_index import ArchiveIndex
from hr_connector.fastpath.rowstore import BATCH
from hr_connector.records import Reason, Row, Table, Value, paused_gc
from hr_connector.rules import DateParser as DateParser
from hr_connector.rules import RuleSet
from hr_connector.rules import iso_date as iso_date
from hr_connector.schemas import RunSchema


def check_header(table: Table, schema: RunSchema) -> None:
    """CSV: the header must name every mapped column, or the run is interrupted."""
    present = set(table.columns)
    missing = [c for c in schema.mapped_columns if c not in present]
    if missing:
        raise MissingColumns(table.file, missing)


def validate_table(
    table: Table, schema: RunSchema, previous: ArchiveIndex | None = None
) -> dict[int, list[Reason]]:
    """Row index -> reasons, for every blocked row; rows not in the result are valid.

    Both paths apply the rules of :mod:`hr_connector.rules`. The reference asks every row for
    its reasons. The fast path (a fast reader's table) asks that only of the rows that may be
    blocked: without the previous run's archive index (``previous``), the rows the rules' batch
    pre-checks point at; with it, the rows that are not byte-identical to a row that run imported
    under the same rules and settings (:mod:`hr_connector.fastpath.archive_index`), which pass the
    per-row checks again by construction.
    Repeated row IDs are always looked for in all rows.
    """
    plan = RuleSet(schema, table.column_index())
    if table.digests is not None:  # a fast reader's table: the switch was on when read
        with paused_gc():
            match = archive_index.match_for_validation(table, schema, previous)
            rows = _rows_to_check(table, plan, None if match is None else match.hits)
            return _validate(table, schema, plan, rows)
    return _validate(table, schema, plan, enumerate(table.rows))


def _validate(
    table: Table, schema: RunSchema, plan: RuleSet, rows: Iterable[tuple[int, Row]]
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
        for i in look_alike_ids(keys, dupes):
            blocked.setdefault(i, []).append(Reason("duplicate_row_id", detail=keys[i]))
    return blocked


def canonical_id(value: str) -> str:
    """A row ID as it is compared for duplicates: surrounding whitespace stripped, Unicode NFC."""
    return unicodedata.normalize("NFC", value.strip())


def look_alike_ids(keys: list[Value], dupes: set[str]) -> list[int]:
    """Rows whose IDs differ from another row's only by surrounding whitespace or Unicode
    normalisation (``Mäkinen`` composed and decomposed): one person, not two (issue 17).

    Only IDs that are not plain ASCII without surrounding whitespace can look alike; on a usual
    file that is none, found by C-level passes.
    """
    texts = [k or "" for k in keys]
    odd = set(compress(count(), map(not_, map(str.isascii, texts))))
    odd.update(compress(count(), map(ne, map(str.strip, texts), texts)))
    if not odd:
        return []
    groups: dict[str, list[int]] = {}
    for i in odd:
        if texts[i].strip() and texts[i] not in dupes:
            groups.setdefault(canonical_id(texts[i]), []).append(i)
    if not groups:
        return []
    found: list[int] = []
    plain = {canonical: i for i, canonical in enumerate(texts) if canonical in groups}
    for canonical, rows in groups.items():
        others = rows + ([plain[canonical]] if canonical in plain else [])
        distinct = {texts[i] for i in others}
        if len(distinct) > 1:  # the same ID written differently
            found.extend(i for i in sorted(set(others)) if texts[i] not in dupes)
    return sorted(set(found))


def _rows_to_check(
    table: Table, plan: RuleSet, hits: list[int] | None
) -> Iterator[tuple[int, Row]]:
    """The rows whose reasons must be looked at, in order: every row that may be blocked.

    Without ``hits``: batch by batch, the rows :meth:`RuleSet.suspects` points at. With them:
    the rows that match no previously imported row (and those the reader found a problem in).
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
        yield i, rows[i]


def key_values(table: Table, key: int) -> list[Value]:
    """The row IDs, kept on a fast table for the later steps of the run.

    A row matched to an archived row has that row's ID (the index keeps them), so only the
    other rows need to be decoded.
    """
    if table.digests is None:
        return table.column(key)
    cached = table.row_ids.get(key)
    if cached is None:
        cached = table.row_ids[key] = _keys(table, key)
    return cached


def keyed_match(table: Table, key: int) -> archive_index.KeyedMatch | None:
    """The previous-run match of a fast table, by row ID, if the reader or validation made one."""
    match = table.previous
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
