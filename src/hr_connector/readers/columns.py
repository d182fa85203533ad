"""Records (JSON objects, XML elements) gathered into the table's columns, a batch at a time.

A JSON or XML reader hands each record over as a dict of text values; every
:data:`~hr_connector.readers.limits.BATCH` records become a polars frame (columns in the order
they were first seen, a field a record lacks is null), so memory holds one batch of Python
values at most, then columns.
"""

from __future__ import annotations

import polars as pl

from hr_connector.readers.limits import BATCH
from hr_connector.records import REASONS_SCHEMA, PositionKind, Table, Value


class RecordColumns:
    """The table being built: :meth:`add` each record, then :meth:`table`."""

    def __init__(self, name: str, position_kind: PositionKind) -> None:
        self.name = name
        self.position_kind: PositionKind = position_kind
        self.names: dict[str, None] = {}
        self._batch: list[dict[str, Value]] = []
        self._frames: list[pl.DataFrame] = []
        self._positions: list[int] = []
        self._problems: dict[str, list[object]] = {k: [] for k in REASONS_SCHEMA}
        self.count = 0

    def add(self, record: dict[str, Value], position: int | None = None) -> None:
        for key in record:
            if key not in self.names:
                self.names[key] = None
        self._batch.append(record)
        if position is not None:
            self._positions.append(position)
        self.count += 1
        if len(self._batch) >= BATCH:
            self._flush()

    def problem(self, code: str, column: str = "", detail: str = "") -> None:
        """A structural problem of the record :meth:`add` gets next (or got last: ``row``)."""
        for key, value in zip(REASONS_SCHEMA, (self.count, code, column, detail), strict=True):
            self._problems[key].append(value)

    def _flush(self) -> None:
        if self._batch:
            schema = {n: pl.String for n in self.names}
            self._frames.append(pl.from_dicts(self._batch, schema=schema))
            self._batch = []

    def table(self) -> Table:
        self._flush()
        if not self._frames:
            frame = pl.DataFrame(schema={n: pl.String for n in self.names})
        elif len(self._frames) == 1:
            frame = self._frames[0]
        else:
            frame = pl.concat(self._frames, how="diagonal")
        if frame.columns != list(self.names):  # (a select of no column would drop the rows)
            frame = frame.select(list(self.names))
        positions = (
            pl.Series("position", self._positions, dtype=pl.UInt32) if self._positions else None
        )
        problems = pl.DataFrame(self._problems, schema=REASONS_SCHEMA)
        return Table(self.name, frame, self.position_kind, positions, problems)
