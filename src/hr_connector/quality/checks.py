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
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from itertools import compress, count
from pathlib import Path
from typing import Any

from hr_connector.errors import RunInterrupted
from hr_connector.masking import mask_value
from hr_connector.quality import archives as archives_mod
from hr_connector.quality import (
    carry,
    cycles,
    freshness,
    helper,
    incremental,
    national_ids,
    overlaps,
    references,
)
from hr_connector.quality.findings import CheckRun, Finding
from hr_connector.quality.settings import QualitySettings, national_id_module
from hr_connector.records import Reason, Table, Value, paused_gc
from hr_connector.schemas import RunSchema
from hr_connector.validate import DateParser, key_values
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
    """The table's columns by canonical name, each extracted once.

    With ``prev`` (an incremental run, :mod:`.incremental`), the person and manager columns
    are built from the last run's kept columns and only the changed rows are decoded.
    """

    def __init__(
        self,
        table: Table,
        schema: RunSchema,
        prev: incremental.Previous | None = None,
        person: str = "",
        early: helper.Job | None = None,
    ) -> None:
        self.table = table
        #: the helper process's part of a full check (:func:`begin`), if it began one
        self.early = early
        self.schema = schema
        self.index = table.column_index()
        self.prev = prev
        self.kept_names = {person: "person", "manager_id": "manager"}
        self._values: dict[str, Sequence[Value]] = {}

    def name(self, canonical: str) -> str:
        return self.schema.columns.get(canonical, canonical)

    def has(self, canonical: str) -> bool:
        return self.name(canonical) in self.index

    def prefetch(self, canonicals: list[str]) -> None:
        """Extract these columns (those present) in one pass over the rows."""
        wanted = [
            c
            for c in dict.fromkeys(canonicals)
            if self.has(c) and c not in self._values and self.name(c) != self.schema.key_column
        ]
        positions = [self.index[self.name(c)] for c in wanted]
        for canonical, values in zip(wanted, self.table.columns_at(positions), strict=True):
            self._values[canonical] = values

    def values(self, canonical: str) -> Sequence[Value]:
        if canonical not in self._values:
            column = self.index[self.name(canonical)]
            kept = self.kept_names.get(canonical)
            if self.prev is not None and kept in self.prev.columns:
                self._values[canonical] = self.prev.column(self.table, str(kept), column)
            elif self.name(canonical) == self.schema.key_column:
                self._values[canonical] = key_values(self.table, column)
            else:
                self._values[canonical] = self.table.column(column)
        return self._values[canonical]

    def answer(self, part: str) -> helper.Answer | None:
        """The helper's answer, when it was asked for ``part`` (a :class:`helper.FileJob`
        field) and gave one; else None: the check does it here."""
        if self.early is None or not getattr(self.early.asked, part):
            return None
        return self.early.answer(self.table, helper_names(self.early, self.schema))

    def cell(self, canonical: str, row: int) -> Value:
        """One row's value (without extracting the whole column)."""
        values = self._values.get(canonical)
        if values is not None:
            return values[row]
        return self.table.rows[row][self.index[self.name(canonical)]]

    def kept(self) -> dict[str, Sequence[Value]]:
        """The columns the next run builds its own from (those this run extracted)."""
        return {kept: self._values[c] for c, kept in self.kept_names.items() if c in self._values}


def person_column(schema: RunSchema, unique_id: str) -> str:
    return schema.columns.get(unique_id, unique_id)


def check_rows(
    table: Table,
    schema: RunSchema,
    blocked: dict[int, list[Reason]],
    settings: QualitySettings,
    workdir: WorkDir,
    unique_id: str = "employee_number",
    early: helper.Job | None = None,
) -> QualityOutcome:
    """Every row-level check that is not off; findings on rows validation blocked are dropped.

    ``early``: the parts of the checks a helper process began after parsing (:func:`begin`).
    """
    with paused_gc():
        return _check_rows(table, schema, blocked, settings, workdir, unique_id, early)


def _check_rows(
    table: Table,
    schema: RunSchema,
    blocked: dict[int, list[Reason]],
    settings: QualitySettings,
    workdir: WorkDir,
    unique_id: str,
    early: helper.Job | None,
) -> QualityOutcome:
    prev = _previous(table, schema, workdir, unique_id)
    cols = _Columns(table, schema, prev, unique_id, early if prev is None else None)
    folder = reference_folder(settings, workdir)
    outcome = QualityOutcome()
    if prev is None:
        cols.prefetch(_wanted(schema, settings, unique_id, cols.early))
    if settings.on("references"):
        outcome.runs.append(_references(cols, settings, workdir, folder, unique_id))
    if settings.on("cycles") and schema.data_type in ("workperiod", "organization"):
        outcome.runs.append(_cycles(cols, settings, unique_id))
    if settings.on("overlaps") and schema.data_type == "workperiod":
        outcome.runs.append(_overlaps(cols, settings, unique_id))
    national = settings.on("national_ids") and settings.national_id_country
    if national and schema.data_type == "workperiod" and cols.has("national_id"):
        outcome.runs.append(_national_ids(cols, settings, workdir))
    if schema.data_type == incremental.DATA_TYPE:
        _keep_columns(outcome.runs, cols)
    for run in outcome.runs:
        run.findings = [f for f in run.findings if any(i not in blocked for i in f.rows)]
        if run.severity == "block":
            for finding in run.findings:
                for i in finding.rows:
                    outcome.blocked.setdefault(i, []).append(finding.reason)
    return outcome


def _keep_columns(runs: list[CheckRun], cols: _Columns) -> None:
    """What the next run builds on: the columns, packed (the lists are freed with the checks'
    other temporaries, see ``incremental.Packed``), and the last run's kept findings."""
    packed = incremental.pack(cols.kept())
    for run in runs:
        run.columns, run.previous = packed, cols.prev
        if run.persons is not None:
            run.persons = packed["person"]


def _wanted(
    schema: RunSchema, settings: QualitySettings, unique_id: str, early: helper.Job | None = None
) -> list[str]:
    """The columns a full check reads (extracted together, in one pass); not those only the
    helper's parts read (``early``): a failed helper's check extracts them on its own."""
    wanted: list[str] = []
    if early is not None:
        asked = early.asked
        settings = settings.without(
            ("overlaps",) * bool(asked.overlaps) + ("national_ids",) * bool(asked.national_ids)
        )
    if settings.on("references"):
        wanted += [*references.TARGETS[schema.data_type], unique_id]
    if settings.on("cycles"):
        wanted += [unique_id, "manager_id", "parent_org_unit_id"]
    if settings.on("overlaps") and schema.data_type == "workperiod":
        wanted += [unique_id, "employment_start_date", "employment_end_date"]
    if settings.on("national_ids") and settings.national_id_country:
        wanted.append("national_id")  # read in the same pass (unless its verdicts carry over)
    return wanted


def incremental_settings(table: Table, schema: RunSchema, unique_id: str) -> dict[str, Any]:
    person = person_column(schema, unique_id)
    return incremental.settings(table, person, schema.date_formats, schema.columns)


def _previous(
    table: Table, schema: RunSchema, workdir: WorkDir, unique_id: str
) -> incremental.Previous | None:
    """The last run's kept findings, when this run may be checked incrementally."""
    if schema.data_type != incremental.DATA_TYPE or not incremental.enabled():
        return None
    state = archives_mod.read_state(workdir.archive_dir, workdir.data_type)
    expected = incremental_settings(table, schema, unique_id)
    return incremental.previous(table, state, workdir.archive_dir, expected)


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
    kept: dict[str, Any] = {}
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
            digest = incremental.id_set_digest(imported)
            rows = _dangling_rows(cols, canonical, imported, digest)
            kept[column] = {"ids": digest, "rows": rows}
            found += references.reasons(rows, partial(cols.cell, canonical), column, target)
    found.sort(key=lambda item: item[0])
    run.findings = _row_findings("references", found)
    run.kept = {"references": kept}
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
        run.persons = incremental.Packed(b"")  # packed with the kept columns (check_rows)
        if cols.early is not None and cols.early.asked.fingerprints:
            run.fingerprints = cols.early  # every person's, for the next runs
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


def _dangling_rows(cols: _Columns, canonical: str, known: set[str], digest: str) -> list[int]:
    """The rows whose ``canonical`` value is not in ``known`` (an imported ID set).

    Incrementally: a row equal to one of the last run's rows dangles exactly when that row
    did, while the IDs are the same set (``digest``); only the other rows are looked at.
    """
    prev = cols.prev
    kept = prev.kept.get("references", {}).get(cols.name(canonical)) if prev else None
    if prev is None or not isinstance(kept, dict) or kept.get("ids") != digest:
        values = cols.values(canonical)
        missing = references.unknown_values(values, known)
        return list(compress(count(), map(missing.__contains__, values))) if missing else []
    rows = set(prev.now(kept["rows"]).values())
    position = cols.index[cols.name(canonical)]
    for i, row in zip(prev.misses, prev.miss_rows(cols.table), strict=True):
        value = row[position]
        if value and not value.isspace() and value not in known:
            rows.add(i)
    return sorted(rows)


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
    pairs = _overlapping_pairs(cols, unique_id, DateParser(cols.schema.date_formats))
    run.kept = {"overlaps": [list(pair) for pair in pairs]}
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


def _overlapping_pairs(cols: _Columns, unique_id: str, parse: DateParser) -> list[tuple[int, int]]:
    """Every pair of one person's overlapping rows; incrementally when the last run's kept.

    A person none of whose rows is new, changed or gone has the very rows (and so the pairs)
    they had last time; only the persons a changed row touches are checked again.
    """
    persons = cols.values(unique_id)
    has_end = cols.has("employment_end_date")
    prev = cols.prev
    kept = prev.kept.get("overlaps") if prev is not None else None
    if prev is None or kept is None or "person" not in prev.columns:
        answer = cols.answer("overlaps")
        if answer is not None and answer.pairs is not None:
            return answer.pairs
        starts = cols.values("employment_start_date")
        ends = cols.values("employment_end_date") if has_end else None
        return overlaps.overlapping(persons, starts, ends, parse)
    last = prev.columns["person"]
    touched = {persons[i] for i in prev.misses}
    touched.update(map(last.__getitem__, prev.gone()))
    now = prev.now(j for pair in kept for j in pair)
    pairs = {(min(now[a], now[b]), max(now[a], now[b])) for a, b in kept if last[a] not in touched}
    rows = list(compress(count(), map(touched.__contains__, persons)))
    decoded = list(map(cols.table.rows.__getitem__, rows))  # each row decoded once

    def sub(canonical: str) -> list[Value]:
        position = cols.index[cols.name(canonical)]
        return [row[position] for row in decoded]

    ends = sub("employment_end_date") if has_end else None
    who = [persons[i] for i in rows]
    found = overlaps.overlapping(who, sub("employment_start_date"), ends, parse)
    pairs.update((rows[a], rows[b]) for a, b in found)
    return sorted(pairs)


def _national_ids(cols: _Columns, settings: QualitySettings, workdir: WorkDir) -> CheckRun:
    run = CheckRun("national_ids", settings.level("national_ids"))
    country = settings.national_id_country or ""
    module = national_id_module(country)
    column = cols.name("national_id")
    state = archives_mod.read_state(workdir.archive_dir, workdir.data_type)
    rows = carry.rows_to_check(cols.table, state, country, column)
    if rows is None:
        answer = cols.answer("national_ids")
        codes = None if answer is None else answer.codes
        found = national_ids.invalid_national_ids(
            cols.values("national_id"), module, column, codes=codes
        )
    else:  # unchanged rows keep the last run's verdict
        position = cols.index[column]
        table_rows = cols.table.rows
        values = [table_rows[i][position] for i in rows]
        found = [
            (rows[k], reason)
            for k, reason in national_ids.invalid_national_ids(values, module, column)
        ]
    run.findings = _row_findings("national_ids", found)
    return run


def helper_names(job: helper.Job, schema: RunSchema) -> dict[str, str]:
    """Each column name the helper was asked -> the run's column (the file's spelling)."""
    return {asked: schema.columns.get(c, c) for asked, c in job.canonical.items()}


def begin(
    source: Path,
    schema: RunSchema,
    settings: QualitySettings,
    unique_id: str,
    delimiter: str,
    workdir: WorkDir,
) -> helper.Job | None:
    """Start the costliest parts of a full work-period check in a helper process (see
    :mod:`.helper`), as the file is parsed; None: the checks do everything themselves.

    Not when the last run kept what an incremental check needs: this run is most likely
    checked incrementally (if not, the checks do the full check themselves).
    """
    if schema.data_type != incremental.DATA_TYPE:
        return None
    state = archives_mod.read_state(workdir.archive_dir, workdir.data_type)
    if incremental.enabled() and state.get("incremental"):
        return None
    canonical: dict[str, str] = {}

    def name(column: str) -> str:
        spelled = schema.columns.get(column, column)
        canonical[spelled] = column
        return spelled

    job = helper.FileJob(str(source), delimiter)
    if settings.on("national_ids") and settings.national_id_country:
        module = national_id_module(settings.national_id_country).__name__
        today = date.today().isoformat()
        asked = {"column": name("national_id"), "module": module, "today": today}
        job = replace(job, national_ids=asked)
    if settings.on("overlaps"):
        formats = list(schema.date_formats)
        person, start = name(unique_id), name("employment_start_date")
        end = name("employment_end_date")
        asked = {"person": person, "start": start, "end": end, "date_formats": formats}
        job = replace(job, overlaps=asked)
    if settings.on("references"):
        job = replace(job, fingerprints=name(unique_id))
    if not (job.national_ids or job.overlaps or job.fingerprints):
        return None
    return helper.start(job, canonical)
