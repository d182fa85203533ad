"""The data-quality steps of :func:`hr_connector.pipeline.run_import` (plain, typed functions;
``tasks/quality.py`` wraps them as Prefect tasks)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import compress
from pathlib import Path

from hr_connector.params import ConnectorParams
from hr_connector.quality import carry, checks
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import QualitySettings
from hr_connector.records import Reason, Table, Value
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.quality")

#: Findings written to the log per check (all of them are counted).
MAX_LOGGED = 20


def check_file_quality(params: ConnectorParams, workdir: WorkDir, source: Path) -> list[CheckRun]:
    """The file-level checks; a ``block`` finding raises the run's interruption."""
    return checks.check_file(QualitySettings.from_params(params), workdir, source)


def check_row_quality(
    table: Table,
    blocked: dict[int, list[Reason]],
    schema: RunSchema,
    params: ConnectorParams,
    workdir: WorkDir,
) -> checks.QualityOutcome:
    """The row-level checks; the reasons of ``block`` findings come back to be merged."""
    outcome = checks.check_rows(
        table, schema, blocked, QualitySettings.from_params(params), workdir, params.unique_id
    )
    for run in outcome.runs:
        if run.skipped:
            continue
        log.info("Data quality %s (%s): %d finding(s)", run.check, run.severity, len(run.findings))
        for finding in run.findings[:MAX_LOGGED]:
            where = ", ".join(table.position(i) for i in finding.rows)
            log.info("Data quality %s: %s: %s", run.check, where, finding.reason.english())
    return outcome


def merged(
    blocked: dict[int, list[Reason]], more: dict[int, list[Reason]]
) -> dict[int, list[Reason]]:
    """Validation's blocked rows with the quality checks' ``block`` reasons added after theirs."""
    if not more:
        return blocked
    out = {i: list(r) for i, r in blocked.items()}
    for i, reasons in more.items():
        out.setdefault(i, []).extend(reasons)
    return out


def remember_file(
    params: ConnectorParams,
    workdir: WorkDir,
    source: Path,
    schema: RunSchema,
    runs: list[CheckRun],
    table: Table | None,
    blocked: dict[int, list[Reason]],
) -> None:
    """After a completed run (not a dry run): what the next runs' checks compare against."""
    sha256 = next((r.sha256 for r in runs if r.sha256), None)
    national = None
    ran = next((r for r in runs if r.check == "national_ids"), None)
    if ran is not None and table is not None and params.quality.national_id_country:
        key = table.columns.index(schema.key_column)
        flagged = [table.rows[i][key] or "" for f in ran.findings for i in f.rows]
        column = schema.columns.get("national_id", "national_id")
        national = carry.verdicts(workdir, params.quality.national_id_country, column, flagged)
    persons = None
    person = checks.person_column(schema, params.unique_id)
    settings = QualitySettings.from_params(params)
    wanted = schema.data_type == "workperiod" and settings.on("references")
    if wanted and table is not None and person in table.columns:
        read = next((r.persons for r in runs if r.persons is not None), None)
        persons = _imported(table, table.columns.index(person), blocked, read)
    try:
        checks.remember_file(workdir, source, schema, person, sha256, national, persons)
    except OSError as exc:  # the run's decision stands; the next run only checks less
        log.warning("Could not keep the file's fingerprint for the next run: %s", exc)


def _imported(
    table: Table,
    column: int,
    blocked: dict[int, list[Reason]],
    values: Sequence[Value] | None = None,
) -> Sequence[Value]:
    """The column's values (``values``, if already read) in the rows that were imported."""
    if values is None:
        values = table.column(column)
    if not blocked:
        return values
    keep = bytearray(b"\x01") * len(values)
    for i in blocked:
        keep[i] = 0
    return list(compress(values, keep))
