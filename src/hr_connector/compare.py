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
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import filterfalse, islice
from typing import Any

import orjson

from hr_connector import archive_shape
from hr_connector.errors import ArchiveMissing
from hr_connector.fastpath import archive_index
from hr_connector.fastpath.archive_index import ArchiveIndex
from hr_connector.records import Reason, Row, Table, Value, paused_gc
from hr_connector.schemas import RunSchema
from hr_connector.validate import key_values
from hr_connector.workdir import WorkDir

log = logging.getLogger(__name__)


class PreviousRun:
    """The last completed run, reduced to what the comparison needs.

    Either every imported row as a dict (``values``, the reference), or (fast path) the archive
    index, with ``values`` parsed from the archive only if the slow comparison asks for it.
    """

    __slots__ = ("_columns", "_load", "_values", "blocked_ids", "index", "workdir")

    def __init__(self, values: dict[str, dict[str, Any]], blocked_ids: set[str]) -> None:
        #: row ID -> the row as archived (only rows that were imported)
        self._values: dict[str, dict[str, Any]] | None = values
        self.blocked_ids = blocked_ids
        self._columns: set[str] | None = None
        self._load: Callable[[], PreviousRun] | None = None
        self.index: ArchiveIndex | None = None
        self.workdir: WorkDir | None = None

    @classmethod
    def indexed(
        cls, index: ArchiveIndex, workdir: WorkDir, load: Callable[[], PreviousRun]
    ) -> PreviousRun:
        previous = cls({}, set())
        previous._values = None
        previous._load = load
        previous.index = index
        previous.workdir = workdir
        return previous

    def _loaded(self) -> None:
        if self._values is None:
            assert self._load is not None
            full = self._load()
            self._values, self.blocked_ids = full.values, full.blocked_ids

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        self._loaded()
        assert self._values is not None
        return self._values

    @property
    def columns(self) -> set[str]:
        """Every column an imported row has."""
        if self._columns is None:
            if self._values is None and self.index is not None:
                self._columns = set(self.index.meta["columns_used"])
            else:
                self._columns = set()
                for row in self.values.values():
                    self._columns.update(row)
        return self._columns


def load_previous(
    workdir: WorkDir, schema: RunSchema, index: ArchiveIndex | None = None
) -> PreviousRun:
    """The last completed run in ``workdir``; ``index``: its archive index as the run loaded it
    (fast path; None: the archives are parsed, the reference)."""
    if not workdir.archive.exists():
        if getattr(workdir, "empty_if_missing", False):  # a lost base: output every row again
            log.warning("The kept base of the undelivered run is missing: every row is output")
            return PreviousRun({}, set())
        raise ArchiveMissing(str(workdir.archive.relative_to(workdir.root)))
    if index is not None and index.meta.get("key_column") == schema.key_column:
        return PreviousRun.indexed(index, workdir, lambda: _load_archives(workdir, schema))
    return _load_archives(workdir, schema)


def _load_archives(workdir: WorkDir, schema: RunSchema) -> PreviousRun:
    """The reference: parse the archive and the error archive."""
    key = schema.key_column
    rows = archive_shape.archived_rows(workdir.archive, workdir.root, key, schema.data_type)
    blocked_ids: set[str] = set()
    if workdir.error_archive.exists():
        blocked_ids = archive_shape.blocked_row_ids(workdir.error_archive, workdir.root, key)
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
    """SHA-256 of the changes: the rows to import (ordered by row ID) and the removed IDs.

    Injective (issue 17: a value holding the field separator U+001F made two changesets
    collide): every part is length-prefixed or canonical JSON, see :func:`_hash_rows`.
    """
    h = hashlib.sha256(b"changeset-v2")
    _framed(h, b"H", orjson.dumps([data_type, run_type, table.columns, len(rows), len(removed)]))
    ordered = rows
    if key is not None:
        keys = key_values(table, key)
        sort_keys = [keys[i] or "" for i in rows]
        ordered = [rows[k] for k in sorted(range(len(rows)), key=sort_keys.__getitem__)]
    _hash_rows(h, table, ordered)
    _framed(h, b"R", orjson.dumps(sorted(removed)))
    return "sha256:" + h.hexdigest()[:32]


def _framed(h: Any, tag: bytes, data: bytes) -> None:
    h.update(tag + len(data).to_bytes(8, "big") + data)


def _hash_rows(h: Any, table: Table, indices: list[int], batch: int = 20_000) -> None:
    """The rows a batch at a time, each batch framed (tag and length).

    A batch whose values hold neither U+001F nor a newline is the rows' joined text (values
    joined by U+001F, a missing value as NUL, rows by newlines): it splits back into exactly
    those values, and a CSV store gives it without decoding a line. Any other batch is the
    canonical JSON of its rows. Both depend on the values only, so every reader path of one
    file gives the same digest.
    """
    width = len(table.columns)
    pieces = iter(table.joined_utf8(indices))
    for start in range(0, len(indices), batch):
        chunk = list(islice(pieces, batch))
        blob = b"\n".join(chunk)
        if blob.count(b"\x1f") == len(chunk) * (width - 1) and blob.count(b"\n") == len(chunk) - 1:
            _framed(h, b"T", blob)
        else:
            rows = table.rows
            _framed(h, b"J", orjson.dumps([rows[i] for i in indices[start : start + batch]]))


def compare(
    table: Table, blocked: dict[int, list[Reason]], schema: RunSchema, previous: PreviousRun | None
) -> Changeset:
    """Sort the valid rows; ``previous`` is None for a full run."""
    with paused_gc():
        index = table.column_index()
        key = index.get(schema.key_column)
        if previous is None:
            valid = _valid_rows(table, blocked)
            digest = _digest(schema.data_type, "full", table, key, valid, [])
            return Changeset("full", valid, [], 0, [], digest)
        assert key is not None  # a partial run only gets here when the key column exists
        match = archive_index.match_previous(table, previous.index)  # None: the reference
        keyed = None if match is None else match.keyed(table, key)
        job = _Partial(table, blocked, schema, previous, key)
        return _compare_reference(job) if keyed is None else _compare_matched(job, keyed)


def _valid_rows(table: Table, blocked: dict[int, list[Reason]]) -> list[int]:
    return list(filterfalse(blocked.__contains__, range(len(table.rows))))


def _compare_columns(table: Table, schema: RunSchema, previous: PreviousRun) -> list[str]:
    if schema.change_columns is not None:
        return list(schema.change_columns)
    # the row ID the connector adds under objectGUID_field_name (an archive the vendor's script
    # left has it) is not data: it must not make every row "changed"
    added = {schema.guid_field} - set(table.columns)
    return sorted((set(table.columns) | previous.columns) - added)


def _changed(
    row: tuple[Value, ...], before: dict[str, Any], columns: list[str], positions: list[int | None]
) -> bool:
    for col, pos in zip(columns, positions, strict=True):
        now = row[pos] if pos is not None else None
        if (now or "") != (before.get(col) or ""):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Partial:
    """What the comparison of a partial run works on (either way)."""

    table: Table
    blocked: dict[int, list[Reason]]
    schema: RunSchema
    previous: PreviousRun
    key: int

    def changeset(
        self,
        rows: Iterable[int],
        before_of: Callable[[int, Row], dict[str, Any] | None],
        unchanged: int,
        removed: list[str],
    ) -> Changeset:
        """Sort ``rows``: new where ``before_of`` finds no archived row, else changed or
        unchanged; then the changeset with its digest."""
        table = self.table
        columns = _compare_columns(table, self.schema, self.previous)
        index = table.column_index()
        positions = [index.get(c) for c in columns]
        new: list[int] = []
        changed: list[int] = []
        for i in rows:
            row = table.rows[i]
            before = before_of(i, row)
            if before is None:
                new.append(i)
            elif _changed(row, before, columns, positions):
                changed.append(i)
            else:
                unchanged += 1
        digest = _digest(self.schema.data_type, "partial", table, self.key, new + changed, removed)
        return Changeset("partial", new, changed, unchanged, removed, digest)


def _compare_reference(job: _Partial) -> Changeset:
    table, key, old = job.table, job.key, job.previous.values
    valid = [i for i in range(len(table.rows)) if i not in job.blocked]
    present = {row[key] for row in table.rows}
    removed = sorted(row_id for row_id in old if row_id not in present)
    return job.changeset(valid, lambda _, row: old.get(row[key]), 0, removed)  # type: ignore[arg-type]


def _compare_matched(job: _Partial, keyed: archive_index.KeyedMatch) -> Changeset:
    """The reference logic for the rows that match no imported row; the matching ones are
    unchanged (byte-identical), and the archive is read only for the rows still in question."""
    in_question = [i for i in keyed.misses if i not in job.blocked]
    unchanged = len(job.table.rows) - len(job.blocked) - len(in_question)
    keys = keyed.keys
    archived_row = keyed.archived_row
    assert job.previous.workdir is not None
    wanted = [archived_row[k] for k in (keys[i] for i in in_question) if k in archived_row]
    before_rows = keyed.index.read_rows(job.previous.workdir.archive, wanted)

    def before_of(i: int, _: Row) -> dict[str, Any] | None:
        line = archived_row.get(keys[i])
        return None if line is None else before_rows[line]  # type: ignore[no-any-return]

    removed = sorted(keyed.gone_ids())  # type: ignore[type-var]
    return job.changeset(in_question, before_of, unchanged, removed)
