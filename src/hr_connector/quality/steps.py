"""The data-quality steps of the import's sequence (:func:`hr_connector.flows.hr_import.hr_import`:
check file after fetch, check rows after validate); plain, typed functions that
``tasks/quality.py`` wraps as Prefect tasks."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from hr_connector.params import ConnectorParams
from hr_connector.quality import checks
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import QualitySettings
from hr_connector.records import (
    REASONS_SCHEMA,
    Table,
    blocked_rows,
    concat_reasons,
    valid_mask,
)
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
    blocked: pl.DataFrame,
    schema: RunSchema,
    params: ConnectorParams,
    workdir: WorkDir,
) -> checks.QualityOutcome:
    """The row-level checks; the reasons of ``block`` findings come back as a reasons frame."""
    settings = QualitySettings.from_params(params)
    already = set(blocked_rows(blocked).to_list())
    outcome = checks.check_rows(table, schema, already, settings, workdir, params.unique_id)
    for run in outcome.runs:
        if run.skipped:
            continue
        log.info("Data quality %s (%s): %d finding(s)", run.check, run.severity, len(run.findings))
        for finding in run.findings[:MAX_LOGGED]:
            where = ", ".join(table.position(i) for i in finding.rows)
            log.info("Data quality %s: %s: %s", run.check, where, finding.reason.english())
    found = outcome.blocked
    outcome.blocked = concat_reasons(  # type: ignore[assignment]
        [
            pl.DataFrame(
                [(i, r.code, r.column, r.detail) for i in sorted(found) for r in found[i]],
                schema=REASONS_SCHEMA,
                orient="row",
            )
        ]
    )
    return outcome


def merged(blocked: pl.DataFrame, more: pl.DataFrame) -> pl.DataFrame:
    """Validation's blocked rows with the quality checks' ``block`` reasons added after theirs."""
    return concat_reasons([blocked, more])


def remember_file(
    params: ConnectorParams,
    workdir: WorkDir,
    source: Path,
    schema: RunSchema,
    runs: list[CheckRun],
    table: Table | None,
    blocked: pl.DataFrame,
) -> None:
    """After a completed run (not a dry run): what the next runs' checks compare against."""
    sha256 = next((r.sha256 for r in runs if r.sha256), None)
    persons = None
    person = checks.person_column(schema, params.unique_id)
    settings = QualitySettings.from_params(params)
    wanted = schema.data_type == "workperiod" and settings.on("references")
    if wanted and table is not None and person in table.columns:
        imported = table.frame.filter(valid_mask(blocked, len(table)))
        persons = imported.get_column(person).to_list
    try:
        checks.remember_file(workdir, source, schema, person, sha256, None, persons)
    except OSError as exc:  # the run's decision stands; the next run only checks less
        log.warning("Could not keep the file's fingerprint for the next run: %s", exc)
