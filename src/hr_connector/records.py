"""The in-memory shape of one HR file: a :class:`Table` of rows, and why a row is blocked.

Rows are tuples aligned with ``Table.columns`` (``None`` = the record had no such field), not
dicts: a million dicts cost several GB, a million tuples a fraction of that. ``Table`` is a plain
class on purpose: Prefect walks dataclasses, lists and pydantic models passed between tasks
(seconds for 100k rows) but treats a plain object as opaque.

``Table.rows`` is a plain list of tuples when the reference readers build it. The fast readers
(:mod:`hr_connector.fastpath`) store the rows more compactly (one string per row, or the raw CSV
lines) and decode a row when it is asked for; both behave as a sequence of tuples. The fast
readers also give every row a fingerprint (``Table.digests``), which lets the later steps
recognise rows that are byte-identical to rows of the previous run (see
:mod:`hr_connector.fastpath.archive_index`). With the fast path off every step runs the simple
reference code, which the tests compare the fast path against.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from hr_connector.fastpath.archive_index import PreviousMatch

Value = str | None
Row = tuple[Value, ...]
PositionKind = Literal["line", "record"]

#: Separator of the joined row text: the changeset digest's, and the compact row store's.
SEP = "\x1f"


class _GcPause:
    """Who holds the collector paused (see :func:`paused_gc`)."""

    lock = threading.Lock()
    holders = 0
    was_enabled = True


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a step builds or walks a million small objects.

    With millions of live tuples and strings every full collection walks all of them, which
    makes bulk loops several times slower; the objects built here hold no reference cycles.
    Re-entrant and thread-safe: the collector runs again when the last holder leaves.
    """
    with _GcPause.lock:
        if _GcPause.holders == 0:
            _GcPause.was_enabled = gc.isenabled()
            gc.disable()
        _GcPause.holders += 1
    try:
        yield
    finally:
        with _GcPause.lock:
            _GcPause.holders -= 1
            if _GcPause.holders == 0 and _GcPause.was_enabled:
                gc.enable()


class Reason(NamedTuple):
    """Why a row is blocked: a translation case (``reason_<code>``) and its figures."""

    code: str
    column: str = ""
    detail: str = ""

    def english(self) -> str:
        detail = self.detail
        if self.code == "invalid_date":
            from hr_connector.wording import example_dates

            detail = example_dates(detail)
        return REASON_TEXT_EN.get(self.code, self.code).format(column=self.column, detail=detail)


#: English wording for logs and error archives: the same words as the English admin task
#: (translation.json's "en" texts; tests/test_changes.py checks that they agree).
REASON_TEXT_EN: dict[str, str] = {
    "missing_unique_id": "the unique ID {column} is missing",
    "missing_value": "the mandatory value {column} is missing",
    "missing_field": "the field {column} is missing from the record",
    "invalid_date": "{column} is not a valid date (write it like {detail})",
    "end_before_start": "{column} is before the start date {detail}",
    "duplicate_row_id": "the row ID {detail} appears more than once in the file",
    "duplicate_field": "the field {column} appears more than once in the record",
    "nested_value": "{column} holds a nested value instead of a single value",
    "wrong_field_count": "the number of fields differs from the header (row/header: {detail})",
    "not_a_record": "the record is not a flat object ({detail})",
    # data-quality checks (hr_connector/quality/)
    "unknown_reference": "{column} {detail} does not exist in the last completed import of its "
    "data type",
    "unknown_person": "{column} {detail} is not the unique ID of a person in this file or in the "
    "last work-period import",
    "unknown_parent": "{column} {detail} is not an organization unit of this file",
    "manager_cycle": "the manager chain loops back on itself ({column}): {detail}",
    "org_cycle": "the chain of parent organization units loops back on itself ({column}): {detail}",
    "overlapping_period": "the person's work periods overlap ({column}): {detail}",
    "national_id_checksum": "the national ID {detail} in '{column}' has a wrong check character",
    "national_id_birth_date": "the national ID {detail} in '{column}' contains an impossible "
    "birth date",
    "national_id_format": "the national ID {detail} in '{column}' does not have the country's "
    "format",
}


class Table:
    """All rows of one HR file, with their positions for error messages."""

    __slots__ = (
        "columns",
        "digest_kind",
        "digests",
        "file",
        "position_kind",
        "positions",
        "previous",
        "row_ids",
        "row_problems",
        "rows",
    )

    def __init__(self, file: str, columns: list[str], position_kind: PositionKind) -> None:
        self.file = file
        self.columns = columns
        self.position_kind: PositionKind = position_kind
        #: a list of tuples, or a compact store that decodes a row on access (fast readers)
        self.rows: Sequence[Row] = []
        self.positions: Sequence[int] = []
        #: row index -> structural problems the reader found (ragged rows, nested values, ...)
        self.row_problems: dict[int, list[Reason]] = {}
        #: one fingerprint per row (fast readers only): equal fingerprints, equal rows
        self.digests: list[bytes] | None = None
        #: what the fingerprints are computed over; only equal kinds can be compared
        self.digest_kind: tuple[Any, ...] | None = None
        #: the rows matched against the previous run's archive index, which the run hands to
        #: the steps (made by the fast CSV reader or the first step that needs it; kept for the
        #: later steps, :func:`hr_connector.fastpath.archive_index.match_previous`)
        self.previous: PreviousMatch | None = None
        #: key column position -> every row's ID, worked out once for the later steps
        self.row_ids: dict[int, list[Value]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:  # never the rows: they hold personal data
        return f"Table(file={self.file!r}, columns={len(self.columns)}, rows={len(self.rows)})"

    def position(self, index: int) -> str:
        return f"{self.position_kind} {self.positions[index]}"

    def column_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.columns)}

    def as_dict(self, index: int) -> dict[str, str]:
        """The row as the file had it: present fields only, in column order."""
        return {c: v for c, v in zip(self.columns, self.rows[index], strict=False) if v is not None}

    def iter_dicts(self, indices: Iterator[int] | list[int]) -> Iterator[dict[str, str]]:
        for i in indices:
            yield self.as_dict(i)

    def column(self, index: int) -> list[Value]:
        """Every row's value of one column, without decoding whole rows where the store can."""
        rows = self.rows
        if isinstance(rows, list):
            return list(map(itemgetter(index), rows))
        return rows.column(index)  # type: ignore[attr-defined]

    def columns_at(self, indices: list[int]) -> list[list[Value]]:
        """:meth:`column` of several columns, in one pass where the store can."""
        rows = self.rows
        if not indices:
            return []
        if hasattr(rows, "columns"):
            found = rows.columns(indices, len(self.columns))
            if found is not None:
                return found  # type: ignore[no-any-return]
        return [self.column(i) for i in indices]

    def joined(self, indices: Iterable[int]) -> Iterator[str]:
        """Each row's values joined by :data:`SEP`, a missing value as NUL (the digest's text)."""
        rows = self.rows
        if hasattr(rows, "joined"):
            return rows.joined(indices)  # type: ignore[no-any-return]
        return (joined_text(rows[i]) for i in indices)

    def joined_utf8(self, indices: Iterable[int]) -> Iterator[bytes]:
        """:meth:`joined`, UTF-8 encoded (a CSV store gives it without decoding the lines)."""
        rows = self.rows
        if hasattr(rows, "joined_utf8"):
            return rows.joined_utf8(indices)  # type: ignore[no-any-return]
        return map(str.encode, self.joined(indices))


def joined_text(row: Row) -> str:
    """The changeset digest's text of one row (kept byte-identical to the first implementation)."""
    try:
        return SEP.join(row)  # type: ignore[arg-type]
    except TypeError:  # a missing value
        return SEP.join(v if v is not None else "\x00" for v in row)
