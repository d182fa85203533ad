"""The in-memory shape of one HR file: a :class:`Table`, and the reasons its rows are blocked.

``Table.frame`` is a polars DataFrame with the file's columns in file order, every one text
(``pl.String``); null means the record has no such field (a JSON or XML record without it, a CSV
row shorter than the header). Row *i* of the frame is the file's *i*-th data row, and
:meth:`Table.position` says where it is ("line 17", "record 3"). ``Table`` is a plain class on
purpose: Prefect hands it between tasks without walking it.

The blocked rows are a *reasons frame* (:data:`REASONS_SCHEMA`): one row per reason, in the order
found, with the row index, the reason code (the report case is ``reason_<code>``), the column and
a detail. Validation makes one, each data-quality check makes one, and they are concatenated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Literal, NamedTuple

import polars as pl

Value = str | None
PositionKind = Literal["line", "record"]

#: The columns of a reasons frame, in order.
REASONS_SCHEMA = pl.Schema(
    {"row": pl.UInt32(), "code": pl.String(), "column": pl.String(), "detail": pl.String()}
)


#: The date every accepted format is shown with, instead of ``%Y-%m-%d``.
EXAMPLE_DATE = date(2025, 1, 31)


def example_dates(formats: str) -> str:
    """``%Y-%m-%d, %d.%m.%Y`` → ``2025-01-31, 31.01.2025``: what an admin recognises."""
    shown = []
    for fmt in formats.split(", "):
        try:
            shown.append(EXAMPLE_DATE.strftime(fmt) if "%" in fmt else fmt)
        except ValueError:
            shown.append(fmt)
    return ", ".join(shown)


class Reason(NamedTuple):
    """One reason, as a Python value: only for the few rows a report or a log line shows."""

    code: str
    column: str = ""
    detail: str = ""

    def english(self) -> str:
        detail = self.detail
        if self.code == "invalid_date":
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


def no_reasons() -> pl.DataFrame:
    """An empty reasons frame."""
    return pl.DataFrame(schema=REASONS_SCHEMA)


def concat_reasons(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Reasons frames one after the other; each row's reasons keep the order they were found in."""
    parts = [
        f.select(list(REASONS_SCHEMA)).cast(REASONS_SCHEMA).fill_null("")
        for f in frames
        if f.height
    ]
    if not parts:
        return no_reasons()
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).sort("row", maintain_order=True)


def reason_texts(reasons: pl.DataFrame, templates: Mapping[str, str]) -> pl.Expr:
    """Each reason's text (an expression over ``reasons``): its code's template with
    ``{column}`` and ``{detail}`` filled in; an invalid date's formats shown as example dates."""
    detail = pl.col("detail")
    formats = reasons.filter(pl.col("code") == "invalid_date").get_column("detail").unique()
    if len(formats):
        examples = pl.Series([example_dates(f) for f in formats.to_list()], dtype=pl.String)
        shown = detail.replace_strict(formats, examples, default=detail)
        detail = pl.when(pl.col("code") == "invalid_date").then(shown).otherwise(detail)
    text = pl.col("code").replace_strict(dict(templates), default=pl.col("code"))
    return (
        text.str.replace_all("{column}", pl.col("column"), literal=True)
        .str.replace_all("{detail}", detail, literal=True)
        .str.replace_all("{{", "{", literal=True)
        .str.replace_all("}}", "}", literal=True)
    )


def english_texts(reasons: pl.DataFrame) -> pl.Expr:
    """:func:`reason_texts` in English (the log's and the error archive's words)."""
    codes = reasons.get_column("code").unique().to_list()
    return reason_texts(reasons, {c: REASON_TEXT_EN.get(c, c) for c in codes})


def taken(frame: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """The rows at ``rows`` (indices), in that order."""
    return frame.select(pl.all().gather(rows)) if frame.width else frame


def valid_mask(reasons: pl.DataFrame, height: int) -> pl.Series:
    """True for every row no reason blocks."""
    mask = pl.repeat(True, height, dtype=pl.Boolean, eager=True)
    return mask.scatter(blocked_rows(reasons), False) if reasons.height else mask


def blocked_rows(reasons: pl.DataFrame) -> pl.Series:
    """The blocked row indices, ascending, each once."""
    return reasons.get_column("row").unique().sort()


def blocked_count(reasons: pl.DataFrame) -> int:
    return reasons.get_column("row").n_unique() if reasons.height else 0


def first_blocked(reasons: pl.DataFrame, rows: int) -> dict[int, list[Reason]]:
    """The first ``rows`` blocked rows' reasons as Python values (a report's capped list)."""
    wanted = reasons.get_column("row").unique(maintain_order=True).head(rows)
    found: dict[int, list[Reason]] = {}
    picked = reasons.filter(pl.col("row").is_in(wanted.implode()))
    for row, code, column, detail in picked.rows():
        found.setdefault(row, []).append(Reason(code, column or "", detail or ""))
    return found


class Table:
    """All rows of one HR file, with their positions for error messages."""

    __slots__ = ("file", "frame", "notes", "position_kind", "positions", "problems")

    def __init__(
        self,
        file: str,
        frame: pl.DataFrame,
        position_kind: PositionKind,
        positions: pl.Series | None = None,
        problems: pl.DataFrame | None = None,
    ) -> None:
        self.file = file
        self.frame = frame
        self.position_kind: PositionKind = position_kind
        #: each row's line or record number (None: record i + 1)
        self.positions = positions
        #: the reader's structural problems (ragged rows, nested values, ...) as reasons
        self.problems = problems if problems is not None else no_reasons()
        #: what the reader read differently than written, for the admin task: report cases
        #: with their figures (``{"case": "csv_sep_line", "file": …}``)
        self.notes: list[dict[str, str]] = []

    @classmethod
    def of(
        cls,
        file: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Value]],
        position_kind: PositionKind = "line",
        first: int = 2,
    ) -> Table:
        """A small table from Python rows (tests and examples); positions count from ``first``."""
        data = [list(r) for r in rows]
        frame = (
            pl.DataFrame(data, schema={c: pl.String for c in columns}, orient="row")
            if data
            else pl.DataFrame(schema={c: pl.String for c in columns})
        )
        positions = pl.Series("position", range(first, first + len(data)), dtype=pl.UInt32)
        return cls(file, frame, position_kind, positions)

    @property
    def columns(self) -> list[str]:
        return self.frame.columns

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:  # never the rows: they hold personal data
        return f"Table(file={self.file!r}, columns={len(self.columns)}, rows={len(self)})"

    def position_numbers(self) -> pl.Series:
        """Every row's line or record number."""
        if self.positions is not None:
            return self.positions
        return pl.int_range(1, len(self) + 1, dtype=pl.UInt32, eager=True).alias("position")

    def position_texts(self) -> pl.Expr:
        """``"line 17"`` for every row, as an expression over :meth:`position_numbers`."""
        return pl.format(f"{self.position_kind} {{}}", pl.lit(self.position_numbers()))

    def position(self, index: int) -> str:
        number = self.positions[index] if self.positions is not None else index + 1
        return f"{self.position_kind} {number}"

    def as_dict(self, index: int) -> dict[str, str]:
        """One row as the file had it: present fields only, in column order."""
        return {c: v for c, v in self.frame.row(index, named=True).items() if v is not None}
