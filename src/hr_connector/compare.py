"""Compare: the run's changes against the previous completed run, as a :class:`Changeset`.

A partial run joins its valid rows on the row ID with the rows the previous run imported
(:mod:`hr_connector.previous_run`): no match is new; a match is changed when a compared column
differs (a missing value and ``""`` compare equal), else unchanged; an imported row ID no row of
the file has any more is removed. The compared columns are ``change_columns``, or every column of
the file and of the archive except the row ID the connector adds under ``objectGUID_field_name``.
Rows blocked last time were never imported, so they are not "previous": valid now, they are new.

A full run outputs every valid row. A changeset has a digest: the same file against the same
archive always gives the same digest (it is what an admin approves with ``approved_changeset``),
and two different changesets never share one (every value is length-prefixed).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import orjson
import polars as pl

from hr_connector.previous_run import PreviousRun
from hr_connector.records import Table, taken, valid_mask
from hr_connector.schemas import RunSchema

_ROW = "\x00row"
#: Rows hashed at a time (bounded memory).
_SLICE = 100_000
_HIT = "\x00hit"
_OLD = "\x00old"


class Changeset:
    """What this run would change: row indices of the table (new, changed), how many rows are
    unchanged, and the removed row IDs (sorted)."""

    __slots__ = ("changed", "digest", "new", "previous", "removed", "run_type", "unchanged")

    def __init__(
        self,
        run_type: str,
        new: pl.Series,
        changed: pl.Series,
        unchanged: int,
        removed: pl.Series,
        digest: str,
    ) -> None:
        self.run_type = run_type
        self.new = new
        self.changed = changed
        self.unchanged = unchanged
        self.removed = removed
        self.digest = digest
        #: the previous run it was compared with (a partial run), for the change list
        self.previous: PreviousRun | None = None

    @property
    def updates(self) -> int:
        return len(self.new) + len(self.changed)

    def output_indices(self) -> pl.Series:
        return pl.concat([self.new, self.changed]).sort()

    def __repr__(self) -> str:
        return (
            f"Changeset({self.run_type}, new={len(self.new)}, changed={len(self.changed)}, "
            f"unchanged={self.unchanged}, removed={len(self.removed)}, {self.digest[:12]})"
        )


def valid_rows(table: Table, blocked: pl.DataFrame) -> pl.Series:
    """The indices of the rows no reason blocks."""
    rows = pl.int_range(0, len(table), dtype=pl.UInt32, eager=True)
    return rows.filter(valid_mask(blocked, len(table))) if blocked.height else rows


def compared_columns(table: Table, schema: RunSchema, previous: PreviousRun) -> list[str]:
    if schema.change_columns is not None:
        return list(schema.change_columns)
    # the row ID the connector adds under objectGUID_field_name (an archive the vendor's script
    # left has it) is not data: it must not make every row "changed"
    added = {schema.guid_field} - set(table.columns)
    return sorted((set(table.columns) | set(previous.columns)) - added)


def compare(
    table: Table, blocked: pl.DataFrame, schema: RunSchema, previous: PreviousRun | None
) -> Changeset:
    """Sort the valid rows; ``previous`` is None for a full run."""
    valid = valid_rows(table, blocked)
    key = schema.key_column
    empty_ids = pl.Series("removed", [], dtype=pl.String)
    if previous is None:
        digest = changeset_digest(schema.data_type, "full", table.frame, key, valid, empty_ids)
        return Changeset("full", valid, pl.Series([], dtype=pl.UInt32), 0, empty_ids, digest)
    joined = joined_with_previous(table, valid, schema, previous)
    hit = pl.col(_HIT).fill_null(False)
    new = joined.filter(~hit).get_column(_ROW)
    changed = joined.filter(hit & pl.col("\x00differs")).get_column(_ROW)
    unchanged = joined.height - len(new) - len(changed)
    present = table.frame.lazy().select(pl.col(key).alias(previous.key))
    gone = previous.rows.lazy().select(previous.key).join(present, on=previous.key, how="anti")
    removed = gone.collect(engine="streaming").get_column(previous.key).sort().alias("removed")
    rows = pl.concat([new, changed])
    digest = changeset_digest(schema.data_type, "partial", table.frame, key, rows, removed)
    return Changeset("partial", new, changed, unchanged, removed, digest)


def _fingerprints(frame: pl.DataFrame | pl.LazyFrame, key: str, columns: list[str]) -> pl.DataFrame:
    """(row ID, fingerprint of the compared values) of ``frame`` (streamed when lazy); a value
    it lacks and ``""`` count alike, as do a missing value and ``""``."""
    present = frame.lazy().collect_schema().names()
    values = [
        (pl.col(c) if c in present else pl.lit(None, pl.String)).fill_null("").alias(c)
        for c in columns
    ]
    hashed = frame.lazy().select(pl.col(key), pl.struct(values).hash().alias(_HIT))
    return hashed.collect(engine="streaming")


def joined_with_previous(
    table: Table, rows: pl.Series, schema: RunSchema, previous: PreviousRun
) -> pl.DataFrame:
    """``rows`` of the table (row index ``_ROW``) left-joined on the row ID with the previous
    run's rows, with ``_HIT`` (matched) and ``\x00differs`` (a compared column differs), in row
    order. The values are compared by a 64-bit fingerprint of each row's compared columns (a
    row's own columns are only joined again for the few changed rows, by the change list)."""
    key = schema.key_column
    columns = [c for c in compared_columns(table, schema, previous) if c != key]
    now = taken(_fingerprints(table.frame, key, columns).with_row_index(_ROW), rows)
    before = _fingerprints(previous.rows.rename({previous.key: key}), key, columns)
    joined = now.join(before, on=key, how="left", maintain_order="left", suffix=_OLD)
    return joined.with_columns(
        pl.col(_HIT + _OLD).is_not_null().alias(_HIT),
        (pl.col(_HIT) != pl.col(_HIT + _OLD)).fill_null(True).alias("\x00differs"),
    )


def changeset_digest(
    data_type: str,
    run_type: str,
    frame: pl.DataFrame,
    key: str | None,
    rows: pl.Series,
    removed: pl.Series,
) -> str:
    """SHA-256 of the changes: the rows to import (ordered by row ID) and the removed IDs.

    Injective: the rows are written as CSV with every value quoted (a quote doubled) and a
    missing value as a quoted NUL, which no value holds (every reader refuses a NUL); the header
    frames the column names and both counts.
    """
    h = hashlib.sha256(b"changeset-v3")
    _framed(h, b"H", orjson.dumps([data_type, run_type, frame.columns, len(rows), len(removed)]))
    order = rows.sort()
    if key is not None and key in frame.columns:
        ids = frame.get_column(key).gather(order).fill_null("")
        order = pl.DataFrame({"k": ids, "r": order}).sort("k", "r").get_column("r")
    # rows the file already lists by row ID are read in place (a slice, filtered), not gathered
    in_place = (order.diff().drop_nulls() > 0).all()
    picked = pl.repeat(False, frame.height, eager=True).scatter(order, True) if in_place else None
    for tag, part, at in ((b"T", frame, order), (b"R", pl.DataFrame({"r": removed}), None)):
        for start in range(0, max(len(part) if at is None else len(at), 1), _SLICE):
            buffer = io.BytesIO()  # a slice at a time: bounded memory
            these = None if at is None else at.slice(start, _SLICE)
            if these is None:
                chosen = part.slice(start, _SLICE)
            elif picked is not None and len(these):
                first, span = int(these[0]), int(these[-1]) - int(these[0]) + 1
                chosen = part.slice(first, span).filter(picked.slice(first, span))
            else:
                chosen = taken(part, these)
            chosen.write_csv(buffer, quote_style="always", null_value="\x00", line_terminator="\n")
            _framed(h, tag, buffer.getvalue())
    return "sha256:" + h.hexdigest()[:32]


def _framed(h: Any, tag: bytes, data: bytes) -> None:
    h.update(tag + len(data).to_bytes(8, "big") + data)
