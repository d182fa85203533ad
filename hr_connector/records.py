"""The in-memory shape of one HR file: a :class:`Table` of rows, and why a row is blocked.

Rows are tuples aligned with ``Table.columns`` (``None`` = the record had no such field), not
dicts: a million dicts cost several GB, a million tuples a fraction of that. ``Table`` is a plain
class on purpose: Prefect walks dataclasses, lists and pydantic models passed between tasks
(seconds for 100k rows) but treats a plain object as opaque.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

Value = str | None
Row = tuple[Value, ...]
PositionKind = Literal["line", "record"]


class Reason(NamedTuple):
    """Why a row is blocked: a translation case (``reason_<code>``) and its figures."""

    code: str
    column: str = ""
    detail: str = ""

    def english(self) -> str:
        return REASON_TEXT_EN.get(self.code, self.code).format(
            column=self.column, detail=self.detail
        )


#: English wording, for logs and error archives; the admin task uses translation.json.
REASON_TEXT_EN: dict[str, str] = {
    "missing_unique_id": "the unique ID column '{column}' is empty",
    "missing_value": "the mandatory column '{column}' is empty",
    "missing_field": "the record has no field '{column}'",
    "invalid_date": "'{column}' is not a date in the accepted formats: {detail}",
    "end_before_start": "'{column}' is before the start date {detail}",
    "duplicate_row_id": "the row ID {detail} appears more than once in the file",
    "duplicate_field": "the record has the field '{column}' more than once",
    "nested_value": "'{column}' holds a nested value where a flat one is expected",
    "wrong_field_count": "the number of fields differs from the header (row/header: {detail})",
    "not_a_record": "the record is not a flat object ({detail})",
}


class Table:
    """All rows of one HR file, with their positions for error messages."""

    __slots__ = ("columns", "file", "position_kind", "positions", "row_problems", "rows")

    def __init__(self, file: str, columns: list[str], position_kind: PositionKind) -> None:
        self.file = file
        self.columns = columns
        self.position_kind: PositionKind = position_kind
        self.rows: list[Row] = []
        self.positions: list[int] = []
        #: row index -> structural problems the reader found (ragged rows, nested values, ...)
        self.row_problems: dict[int, list[Reason]] = {}

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
