"""Run the data-quality checks of one import: the step between validation and comparison.

:func:`check_file` runs the file-level checks (same file again, file age) right after the file
is fetched; a ``block`` finding raises the check's :class:`~hr_connector.errors.RunInterrupted`
so the run stops like any other interruption. :func:`check_rows` runs the row-level checks on
the parsed table, always on every row and on both validation paths (the archive index never
lets a row skip them: a reference may have disappeared since the row was imported). A ``block``
finding adds its reason to the row's blocked reasons, so the row goes where every blocked row
goes (error archive, admin task); a ``warn`` finding is only listed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from hr_connector.errors import RunInterrupted
from hr_connector.masking import mask_value
from hr_connector.quality import archives as archives_mod
from hr_connector.quality import cycles, freshness, national_ids, overlaps, references
from hr_connector.quality.findings import CheckRun, Finding
from hr_connector.quality.settings import QualitySettings, national_id_module
from hr_connector.records import Reason, Table, Value
from hr_connector.rules import parse_date
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.quality")


@dataclass
class QualityOutcome:
    """The checks' findings and the reasons they add to blocked rows (``block`` severity)."""

    runs: list[CheckRun] = field(default_factory=list)
    blocked: dict[int, list[Reason]] = field(default_factory=dict)

    def __repr__(self) -> str:  # never values: they may hold national IDs
        return f"QualityOutcome({', '.join(f'{r.check}={len(r.findings)}' for r in self.runs)})"


def reference_folder(settings: QualitySettings, workdir: WorkDir) -> Path:
    """``reference_archives_dir`` (absolute, or relative to the working directory), else the
    working directory's ``data/archive/``."""
    if not settings.reference_archives_dir:
        return workdir.archive_dir
    folder = Path(settings.reference_archives_dir).expanduser()
    return folder if folder.is_absolute() else workdir.root / folder


# --- file-level checks ------------------------------------------------------------------------


def check_file(
    settings: QualitySettings, workdir: WorkDir, source: Path, now: float | None = None
) -> list[CheckRun]:
    """Same file again and file age; raises on a ``block`` finding."""
    runs: list[CheckRun] = []
    limit = settings.max_file_age_hours
    if limit is not None and settings.on("file_age"):
        run = CheckRun("file_age", settings.level("file_age"))
        age, modified = freshness.age_hours(source, now)
        if age > limit:
            _file_finding(run, freshness.FileTooOld(source.name, age, limit, modified))
        runs.append(run)
    if settings.on("same_file"):
        run = CheckRun("same_file", settings.level("same_file"))
        previous = archives_mod.read_state(workdir.archive_dir, workdir.data_type)
        digest = run.sha256 = freshness.file_sha256(source)
        if previous.get("sha256") == digest:
            previous_file = str(previous.get("file", ""))
            completed_at = str(previous.get("completed_at", ""))
            _file_finding(
                run, freshness.SameFileAgain(source.name, digest, previous_file, completed_at)
            )
        runs.append(run)
    return runs


def _file_finding(run: CheckRun, error: RunInterrupted) -> None:
    """``block``: stop the run with ``error``; ``warn``: list it (its figures fill the case)."""
    if run.severity == "block":
        raise error
    log.warning("Data quality: %s", error.message)
    figures = json.dumps(error.figures, sort_keys=True)
    run.findings.append(Finding(run.check, (), Reason(error.case), subject=figures))


def remember_file(
    workdir: WorkDir,
    source: Path,
    schema: RunSchema,
    person_column: str,
    sha256: str | None,
    national: dict[str, Any] | None = None,
    persons: Callable[[], Iterable[Value] | archives_mod.Fingerprints] | None = None,
    kept: dict[str, Any] | None = None,
    change: tuple[set[Value], set[Value]] | None = None,
) -> None:
    """After a completed run: keep the file's SHA-256 (when the same-file check computed it),
    the column names and the national-ID verdicts, for the next runs' checks."""
    from datetime import UTC, datetime

    state: dict[str, Any] = {
        "sha256": sha256,
        "file": source.name,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_column": schema.key_column,
        "person_column": person_column,
    }
    if national is not None:
        state["national_ids"] = national
    if kept is not None:
        state["incremental"] = kept
    if persons is not None:  # the imported persons (``persons()``), or what changed since
        folder = workdir.archive_dir
        if change is None or not archives_mod.Persons.update(folder, *change):
            archives_mod.Persons.write(folder, persons())
        state["persons_archives"] = archives_mod.archives_identity(
            workdir.archive_dir, workdir.data_type
        )
    archives_mod.write_state(workdir.archive_dir, workdir.data_type, state)


# --- row-level checks -------------------------------------------------------------------------


class _Columns:
    """The table's columns by canonical name, each extracted once (as Python values)."""

    def __init__(self, table: Table, schema: RunSchema) -> None:
        self.table = table
        self.schema = schema
        self.index = {c: i for i, c in enumerate(table.columns)}
        self._values: dict[str, Sequence[Value]] = {}

    def name(self, canonical: str) -> str:
        return self.schema.columns.get(canonical, canonical)

    def has(self, canonical: str) -> bool:
        return self.name(canonical) in self.index

    def values(self, canonical: str) -> Sequence[Value]:
        if canonical not in self._values:
            self._values[canonical] = self.table.frame.get_column(self.name(canonical)).to_list()
        return self._values[canonical]

    def cell(self, canonical: str, row: int) -> Value:
        return self.values(canonical)[row]


def person_column(schema: RunSchema, unique_id: str) -> str:
    return schema.columns.get(unique_id, unique_id)


def check_rows(
    table: Table,
    schema: RunSchema,
    blocked: Collection[int],
    settings: QualitySettings,
    workdir: WorkDir,
    unique_id: str = "employee_number",
) -> QualityOutcome:
    """Every row-level check that is not off; findings on rows validation blocked are dropped."""
    cols = _Columns(table, schema)
    folder = reference_folder(settings, workdir)
    outcome = QualityOutcome()
    if settings.on("references"):
        outcome.runs.append(_references(cols, settings, workdir, folder, unique_id))
    if settings.on("cycles") and schema.data_type in ("workperiod", "organization"):
        outcome.runs.append(_cycles(cols, settings, unique_id))
    if settings.on("overlaps") and schema.data_type == "workperiod":
        outcome.runs.append(_overlaps(cols, settings, unique_id))
    national = settings.on("national_ids") and settings.national_id_country
    if national and schema.data_type == "workperiod" and cols.has("national_id"):
        outcome.runs.append(_national_ids(cols, settings))
    for run in outcome.runs:
        run.findings = [f for f in run.findings if any(i not in blocked for i in f.rows)]
        if run.severity == "block":
            for finding in run.findings:
                for i in finding.rows:
                    outcome.blocked.setdefault(i, []).append(finding.reason)
    return outcome


def _row_findings(check: str, pairs: Iterable[tuple[int, Reason]]) -> list[Finding]:
    return [Finding(check, (i,), reason) for i, reason in pairs]


def _references(
    cols: _Columns,
    settings: QualitySettings,
    workdir: WorkDir,
    folder: Path,
    unique_id: str,
) -> CheckRun:
    run = CheckRun("references", settings.level("references"))
    data_type = cols.schema.data_type
    reference_archives = archives_mod.ReferenceArchives(folder, default_person_column=unique_id)
    own_archives = archives_mod.ReferenceArchives(
        workdir.archive_dir, default_person_column=unique_id
    )
    found: list[tuple[int, Reason]] = []
    for canonical, target in references.TARGETS[data_type].items():
        if not cols.has(canonical):
            continue
        column = cols.name(canonical)
        if target == "same_file":
            values = cols.values(canonical)
            known = set(cols.values(_key(data_type)))
            found += references.dangling(values, known, column, target)
        elif target == "person":
            source = own_archives if data_type == "workperiod" else reference_archives
            found += _unknown_persons(run, cols, canonical, unique_id, source)
        else:
            imported = reference_archives.ids(target)
            if imported is None:
                _skip(run, column, target, folder)
                continue
            found += references.dangling(cols.values(canonical), imported, column, target)
    found.sort(key=lambda item: item[0])
    run.findings = _row_findings("references", found)
    return run


def _unknown_persons(
    run: CheckRun,
    cols: _Columns,
    canonical: str,
    unique_id: str,
    source: archives_mod.ReferenceArchives,
) -> list[tuple[int, Reason]]:
    """Rows whose ``canonical`` value is the unique ID of no person of this file, nor of the
    last work-period import (``source``)."""
    data_type = cols.schema.data_type
    column = cols.name(canonical)
    values = cols.values(canonical)
    known: Collection[Value] = ()
    if data_type == "workperiod" and cols.has(unique_id):
        known = cols.values(unique_id)  # a list: set.difference walks it, builds no set of it
        run.persons = known
    missing = references.unknown_values(values, known)
    if missing:
        persons = source.persons()
        if persons is None and data_type != "workperiod":
            _skip(run, column, "workperiod", source.folder)
            return []
        if persons is not None:
            missing = {v for v in missing if v not in persons}
    masked = unique_id == "national_id"  # the persons are named by national ID
    return references.rows_with(values, missing, column, "person", masked)


def _key(data_type: str) -> str:
    from hr_connector.schemas import SCHEMAS

    return SCHEMAS[data_type].key


def _skip(run: CheckRun, column: str, target: str, folder: Path) -> None:
    """A reference type never imported: the column is not checked, and the report says so."""
    log.warning("Data quality: '%s' not checked: no %s import in %s yet", column, target, folder)
    if run.skipped is None:
        run.skipped = "quality_not_imported"
        run.skipped_figures = {"columns": column, "data_types": target, "folder": str(folder)}
    else:
        run.skipped_figures["columns"] += f", {column}"
        run.skipped_figures["data_types"] += f", {target}"


def _cycles(cols: _Columns, settings: QualitySettings, unique_id: str) -> CheckRun:
    run = CheckRun("cycles", settings.level("cycles"))
    data_type = cols.schema.data_type
    if data_type == "workperiod":
        source, target, code = unique_id, "manager_id", "manager_cycle"
    else:
        source, target, code = "org_unit_id", "parent_org_unit_id", "org_cycle"
    if not (cols.has(source) and cols.has(target)):
        return run
    masked = source == "national_id"
    for text, rows in cycles.find_cycles(cols.values(source), cols.values(target)):
        if masked:
            text = cycles.ARROW.join(mask_value(p) for p in text.split(cycles.ARROW))
        reason = Reason(code, column=cols.name(target), detail=text)
        run.findings.append(Finding("cycles", tuple(rows), reason, subject=text))
    return run


def _overlaps(cols: _Columns, settings: QualitySettings, unique_id: str) -> CheckRun:
    run = CheckRun("overlaps", settings.level("overlaps"))
    if not (cols.has(unique_id) and cols.has("employment_start_date")):
        return run
    formats = cols.schema.date_formats
    pairs = _overlapping_pairs(cols, unique_id, cache(lambda text: parse_date(text, formats)))
    has_end = cols.has("employment_end_date")
    key = _key("workperiod")
    column = cols.name("employment_start_date")

    def span(k: int) -> str:
        end = (cols.cell("employment_end_date", k) if has_end else None) or "…"
        return f"{cols.cell(key, k) or '-'} {cols.cell('employment_start_date', k)} – {end}"

    for i, j in pairs:
        person = cols.cell(unique_id, i) or ""
        subject = mask_value(person) if unique_id == "national_id" else person
        reason = Reason("overlapping_period", column=column, detail=f"{span(i)} / {span(j)}")
        run.findings.append(Finding("overlaps", (i, j), reason, subject=subject))
    return run


def _overlapping_pairs(
    cols: _Columns, unique_id: str, parse: Callable[[str], date | None]
) -> list[tuple[int, int]]:
    """Every pair of one person's overlapping rows."""
    persons = cols.values(unique_id)
    starts = cols.values("employment_start_date")
    ends = cols.values("employment_end_date") if cols.has("employment_end_date") else None
    return overlaps.overlapping(persons, starts, ends, parse)


def _national_ids(cols: _Columns, settings: QualitySettings) -> CheckRun:
    run = CheckRun("national_ids", settings.level("national_ids"))
    country = settings.national_id_country or ""
    module = national_id_module(country)
    column = cols.name("national_id")
    found = national_ids.invalid_national_ids(cols.values("national_id"), module, column)
    run.findings = _row_findings("national_ids", found)
    return run
