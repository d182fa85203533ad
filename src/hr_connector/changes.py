"""The changes of a partial run, row by row: what the admin reviews before approving a stop.

:func:`list_changes` turns a :class:`~hr_connector.compare.Changeset` into the complete lists of
new rows (row ID + identifying columns), changed rows (row ID + every changed column's old and new
value) and removed rows (row ID + identifying columns from the archive), all in row-ID order.
:func:`write_changes_csv` writes them, with the blocked rows, to ``<taskid>_changes.csv``
(UTF-8 with BOM, ``;``, a header, one line per changed column: opens in a spreadsheet);
:meth:`RunChanges.listed` keeps the first ``report_max_rows`` of each kind for the admin task.

The archived values come from the archive the run was compared with: through the archive index
when it is current (only the lines of the changed and removed rows are read), else by parsing the
archive. National IDs are masked (all but the last two characters) everywhere they appear.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hr_connector import compare as compare_mod
from hr_connector.compare import Changeset
from hr_connector.fastpath.archive_index import ArchiveIndex
from hr_connector.outcome import BlockedRow, ChangeList, ColumnChange, RowChange
from hr_connector.records import Table
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir, remove, write_atomic

log = logging.getLogger("hr_connector.changes")

#: Canonical columns that say who or what a row is, per data type (the person ID is added).
IDENTITY: dict[str, tuple[str, ...]] = {
    "workperiod": ("first_name", "last_name", "employment_start_date"),
    "organization": ("org_unit_name", "start_date"),
    "title": ("title_name",),
    "costcenter": ("cost_center_name",),
}
#: The columns of ``<taskid>_changes.csv``, in order (README: "The changes attachment").
CSV_COLUMNS = (
    "change",
    "row_id",
    "position",
    "identity",
    "column",
    "old_value",
    "new_value",
    "reason",
)
KINDS = ("new", "changed", "removed")


def mask(value: str) -> str:
    """A national ID as the admin task shows it: all but the last two characters hidden."""
    return "*" * max(len(value) - 2, 0) + value[-2:]


@dataclass
class RunChanges:
    """The complete lists of one partial run's changes."""

    new: list[RowChange] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)
    removed: list[RowChange] = field(default_factory=list)

    def listed(self, max_rows: int) -> ChangeList:
        return ChangeList(
            new=self.new[:max_rows],
            changed=self.changed[:max_rows],
            removed=self.removed[:max_rows],
            new_total=len(self.new),
            changed_total=len(self.changed),
            removed_total=len(self.removed),
        )


def changes_csv_path(workdir: WorkDir) -> Path:
    return workdir.changes_csv


def identity_columns(schema: RunSchema, unique_id: str) -> list[str]:
    """The file columns that identify a row of this data type, the person ID first."""
    canonical = list(IDENTITY.get(schema.data_type, ()))
    if schema.data_type == "workperiod":
        canonical.insert(0, unique_id)
    return [schema.columns[c] for c in canonical if c in schema.columns]


def masked_columns(schema: RunSchema) -> set[str]:
    return {schema.columns["national_id"]} if "national_id" in schema.columns else set()


def archived_rows(
    base: WorkDir, schema: RunSchema, ids: set[str], index: ArchiveIndex | None = None
) -> dict[str, dict[str, Any]]:
    """The archived (imported) rows with these row IDs; ``index``: the archive index of
    ``base`` as the run loaded it (None: the archive is parsed)."""
    if not ids:
        return {}
    if index is not None and index.meta.get("key_column") == schema.key_column:
        all_ids, imported = index.ids(), index.imported
        lines = [j for j, k in enumerate(all_ids) if imported[j] and k in ids]
        found = index.read_rows(base.archive, lines)
        return {all_ids[j]: found[j] for j in lines}  # type: ignore[misc]
    values = compare_mod.load_previous(base, schema).values
    return {k: values[k] for k in ids if k in values}


def list_changes(
    table: Table,
    changeset: Changeset,
    schema: RunSchema,
    base: WorkDir,
    unique_id: str = "employee_number",
    previous: ArchiveIndex | None = None,
) -> RunChanges:
    """Every new, changed and removed row of a partial run, in row-ID order (``previous``: the
    archive index of ``base`` as the run loaded it, see :func:`archived_rows`)."""
    if changeset.run_type != "partial":
        return RunChanges()
    index = table.column_index()
    key = index[schema.key_column]
    ident = identity_columns(schema, unique_id)
    secret = masked_columns(schema)

    def shown(column: str, value: Any) -> str:
        text = "" if value is None else str(value)
        return mask(text) if column in secret and text else text

    def identity_of(values: dict[str, Any]) -> dict[str, str]:
        return {c: shown(c, values.get(c)) for c in ident if values.get(c) not in (None, "")}

    rows = table.rows
    changed_ids = {rows[i][key] for i in changeset.changed}
    wanted: set[str] = {*changed_ids, *changeset.removed}  # type: ignore[arg-type]
    before = archived_rows(base, schema, wanted, previous)
    result = RunChanges()
    for i in changeset.new:
        values = dict(zip(table.columns, rows[i], strict=False))
        result.new.append(
            RowChange(
                row_id=rows[i][key] or "", position=table.position(i), identity=identity_of(values)
            )
        )
    for i in changeset.changed:
        row = rows[i]
        values = dict(zip(table.columns, row, strict=False))
        old = before.get(row[key] or "", {})
        if schema.change_columns is not None:
            columns = list(schema.change_columns)
        else:
            columns = list(table.columns) + sorted(set(old) - set(table.columns))
        diffs = [
            ColumnChange(column=c, old=shown(c, old.get(c)), new=shown(c, values.get(c)))
            for c in columns
            if (values.get(c) or "") != (old.get(c) or "")
        ]
        result.changed.append(
            RowChange(
                row_id=row[key] or "",
                position=table.position(i),
                identity=identity_of({**old, **{k: v for k, v in values.items() if v}}),
                columns=diffs,
            )
        )
    for row_id in changeset.removed:
        result.removed.append(
            RowChange(row_id=row_id, identity=identity_of(before.get(row_id, {})))
        )
    for rows_of_kind in (result.new, result.changed, result.removed):
        rows_of_kind.sort(key=lambda r: r.row_id)
    return result


def describe(row: RowChange) -> str:
    """What the admin task (and the log) says about a row: each changed column as
    ``column: old → new`` (``–`` for empty), else the identifying columns."""
    if row.columns:
        return "; ".join(f"{c.column}: {c.old or '–'} → {c.new or '–'}" for c in row.columns)
    return ", ".join(f"{c} {v}" for c, v in row.identity.items()) or "–"


def _identity_text(identity: dict[str, str]) -> str:
    return ", ".join(f"{c}={v}" for c, v in identity.items())


def csv_lines(changes: RunChanges, blocked: Iterable[BlockedRow]) -> Iterable[list[str]]:
    """The attachment's data lines: new, changed (one per column), removed, blocked (one per
    reason)."""
    for row in changes.new:
        yield ["new", row.row_id, row.position, _identity_text(row.identity), "", "", "", ""]
    for row in changes.changed:
        for col in row.columns or [ColumnChange(column="")]:
            yield [
                "changed",
                row.row_id,
                row.position,
                _identity_text(row.identity),
                col.column,
                col.old,
                col.new,
                "",
            ]
    for row in changes.removed:
        yield ["removed", row.row_id, "", _identity_text(row.identity), "", "", "", ""]
    for b in sorted(blocked, key=lambda r: r.row_id):
        for reason in b.reasons or []:
            yield ["blocked", b.row_id, b.position, "", reason.column, "", "", reason.message]


def write_changes_csv(workdir: WorkDir, changes: RunChanges, blocked: Iterable[BlockedRow]) -> Path:
    """Write ``<taskid>_changes.csv`` atomically: UTF-8 with BOM, ``;``, header, CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_lines(changes, blocked))
    data = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    path = changes_csv_path(workdir)
    write_atomic(path, lambda fh: fh.write(data))
    return path


def remove_stale_csv(workdir: WorkDir) -> None:
    """A run that lists no changes leaves no older run's list behind under its task ID."""
    if remove(changes_csv_path(workdir)):
        log.info("Removed the stale %s", changes_csv_path(workdir).name)


def log_changes(changes: RunChanges, max_rows: int) -> None:
    """The same lists in the run's log, in the words the English admin task uses."""
    for kind, rows in (
        ("New", changes.new),
        ("Changed", changes.changed),
        ("Removed", changes.removed),
    ):
        for row in rows[:max_rows]:
            where = f" ({row.position})" if row.position else ""
            log.info("%s row ID %s%s: %s", kind, row.row_id, where, describe(row))
        if len(rows) > max_rows:
            log.info(
                "… and %d more %s rows (see the changes attachment)",
                len(rows) - max_rows,
                kind.lower(),
            )
