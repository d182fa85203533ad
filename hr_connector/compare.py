"""Compare: the run's changes against the previous completed run, as a :class:`Changeset`.

A partial run sorts every valid row by its row ID into new, changed and unchanged, and finds
the row IDs that were imported last time but are gone from the file (removed). A full run outputs
every valid row. A changeset has a digest: the same file against the same archive always gives the
same digest, which is what an admin approves with ``approved_changeset``.

Rows that were blocked last time were never imported, so they do not count as "previous": when
such a row is valid now it is new, and when it disappears nothing is removed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from hr_connector.errors import ArchiveMissing, FileUnreadable
from hr_connector.records import Reason, Table
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir


class PreviousRun:
    """The last completed run, reduced to what the comparison needs."""

    __slots__ = ("blocked_ids", "columns", "values")

    def __init__(self, values: dict[str, dict[str, Any]], blocked_ids: set[str]) -> None:
        #: row ID -> the row as archived (only rows that were imported)
        self.values = values
        self.blocked_ids = blocked_ids
        self.columns: set[str] = set()
        for row in values.values():
            self.columns.update(row)


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise FileUnreadable(str(path), "the archive", f"not valid JSON ({exc})") from None


def load_previous(workdir: WorkDir, schema: RunSchema) -> PreviousRun:
    if not workdir.archive.exists():
        raise ArchiveMissing(str(workdir.archive.relative_to(workdir.root)))
    rows = _load_json(workdir.archive)
    blocked_ids: set[str] = set()
    if workdir.error_archive.exists():
        for entry in _load_json(workdir.error_archive):
            row_id = entry.get("row_id")
            if row_id:
                blocked_ids.add(row_id)
    key = schema.key_column
    values: dict[str, dict[str, Any]] = {}
    for row in rows:
        row_id = row.get(key)
        if row_id and row_id not in blocked_ids:
            values[row_id] = row
    return PreviousRun(values, blocked_ids)


class Changeset:
    """What this run would change, by row index of the :class:`Table` (and row ID for removals)."""

    __slots__ = ("changed", "digest", "new", "removed", "run_type", "unchanged")

    def __init__(
        self,
        run_type: str,
        new: list[int],
        changed: list[int],
        unchanged: int,
        removed: list[str],
        digest: str,
    ) -> None:
        self.run_type = run_type
        self.new = new
        self.changed = changed
        self.unchanged = unchanged
        self.removed = removed
        self.digest = digest

    @property
    def updates(self) -> int:
        return len(self.new) + len(self.changed)

    def output_indices(self) -> list[int]:
        return sorted(self.new + self.changed)

    def __repr__(self) -> str:
        return (
            f"Changeset({self.run_type}, new={len(self.new)}, changed={len(self.changed)}, "
            f"unchanged={self.unchanged}, removed={len(self.removed)}, {self.digest[:12]})"
        )


def _digest(
    data_type: str,
    run_type: str,
    table: Table,
    key: int | None,
    rows: list[int],
    removed: list[str],
) -> str:
    h = hashlib.sha256(f"{data_type}\x1f{run_type}\x1f{','.join(table.columns)}\x1e".encode())
    ordered = sorted(rows, key=lambda i: table.rows[i][key] or "") if key is not None else rows
    for i in ordered:
        h.update("\x1f".join(v if v is not None else "\x00" for v in table.rows[i]).encode())
        h.update(b"\x1e")
    h.update(b"\x1d")
    for row_id in sorted(removed):
        h.update(row_id.encode() + b"\x1e")
    return "sha256:" + h.hexdigest()[:32]


def compare(
    table: Table, blocked: dict[int, list[Reason]], schema: RunSchema, previous: PreviousRun | None
) -> Changeset:
    """Sort the valid rows; ``previous`` is None for a full run."""
    index = table.column_index()
    key = index.get(schema.key_column)
    valid = [i for i in range(len(table.rows)) if i not in blocked]
    if previous is None:
        return Changeset(
            "full", valid, [], 0, [], _digest(schema.data_type, "full", table, key, valid, [])
        )
    assert key is not None  # a partial run only gets here when the key column exists
    columns = (
        list(schema.change_columns)
        if schema.change_columns is not None
        else sorted(set(table.columns) | previous.columns)
    )
    positions = [index.get(c) for c in columns]
    new: list[int] = []
    changed: list[int] = []
    unchanged = 0
    old = previous.values
    for i in valid:
        row = table.rows[i]
        before = old.get(row[key])  # type: ignore[arg-type]
        if before is None:
            new.append(i)
            continue
        for col, pos in zip(columns, positions, strict=True):
            now = row[pos] if pos is not None else None
            if (now or "") != (before.get(col) or ""):
                changed.append(i)
                break
        else:
            unchanged += 1
    present = {row[key] for row in table.rows}
    removed = sorted(row_id for row_id in old if row_id not in present)
    digest = _digest(schema.data_type, "partial", table, key, new + changed, removed)
    return Changeset("partial", new, changed, unchanged, removed, digest)
