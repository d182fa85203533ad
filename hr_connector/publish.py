"""Publish: the output file and the archives, all or nothing (PLATFORM.md §2, §6).

A completed run stages ``<taskid>_output.json``, the archive and the error archive as temporary
files, then renames them in through the commit journal (:func:`hr_connector.workdir.commit`):
a crash leaves either the old or the new complete set. An interrupted run changes no archive and
removes any earlier output, so the platform can never import stale rows twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO

import orjson

from hr_connector.compare import Changeset
from hr_connector.records import Reason, Table
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir, commit, remove, write_staged


def _write_array(fh: IO[bytes], items: Iterable[object]) -> None:
    fh.write(b"[")
    first = True
    dumps = orjson.dumps
    for item in items:
        fh.write(b"\n" if first else b",\n")
        fh.write(dumps(item))
        first = False
    fh.write(b"\n]\n" if not first else b"]\n")


def output_rows(table: Table, indices: list[int], key_column: str, guid_field: str):
    """The rows to import: the file's own columns plus the row ID under ``guid_field``."""
    columns = table.columns
    key = columns.index(key_column)
    for i in indices:
        row = table.rows[i]
        item = {c: v for c, v in zip(columns, row, strict=True) if v is not None}
        item[guid_field] = row[key]
        yield item


def error_entries(table: Table, blocked: dict[int, list[Reason]], key_column: str):
    key = table.columns.index(key_column) if key_column in table.columns else None
    for i in sorted(blocked):
        row_id = (table.rows[i][key] if key is not None and i < len(table.rows) else None) or ""
        yield {
            "row_id": row_id,
            "position": table.position(i),
            "reasons": [
                {"code": r.code, "column": r.column, "detail": r.detail, "message": r.english()}
                for r in blocked[i]
            ],
            "row": table.as_dict(i),
        }


def publish_completed(
    workdir: WorkDir,
    table: Table,
    blocked: dict[int, list[Reason]],
    changeset: Changeset,
    schema: RunSchema,
    guid_field: str,
) -> None:
    indices = changeset.output_indices()
    writers = [
        (
            workdir.output,
            lambda fh: _write_array(fh, output_rows(table, indices, schema.key_column, guid_field)),
        ),
        (
            workdir.error_archive,
            lambda fh: _write_array(fh, error_entries(table, blocked, schema.key_column)),
        ),
        (workdir.archive, lambda fh: _write_array(fh, table.iter_dicts(range(len(table.rows))))),
    ]
    staged: list[tuple[Path, Path]] = []
    try:
        for final, write in writers:
            staged.append((write_staged(final, write), final))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    commit(workdir, staged)


def publish_interrupted(workdir: WorkDir) -> bool:
    """Remove a stale output; True when there was one."""
    return remove(workdir.output)
