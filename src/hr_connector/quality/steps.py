"""The data-quality steps of the import's sequence (:func:`hr_connector.pipeline.hr_import`:
check file after fetch, check rows after validate); plain, typed functions that
``tasks/quality.py`` wraps as Prefect tasks."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from hr_connector.door import FileRefused
from hr_connector.params import ConnectorParams
from hr_connector.previous_run import PreviousRuns
from hr_connector.quality import checks, freshness, kept, references
from hr_connector.quality.findings import CheckRun
from hr_connector.quality.settings import CheckContext, QualitySettings
from hr_connector.records import Reason, Table
from hr_connector.schemas import RunSchema
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.quality")

#: Findings written to the log per check (all of them are counted).
MAX_LOGGED = 20


def check_file_quality(params: ConnectorParams, workdir: WorkDir, source: Path) -> list[CheckRun]:
    """The file-level checks; a ``block`` finding raises the run's interruption."""
    return freshness.check_file(QualitySettings.from_params(params), workdir, source)


def check_row_quality(
    table: Table,
    blocked: pl.DataFrame,
    schema: RunSchema,
    params: ConnectorParams,
    workdir: WorkDir,
    previous_runs: PreviousRuns,
) -> checks.QualityOutcome:
    """The row-level checks; the reasons of ``block`` findings come back to be merged.
    ``previous_runs``: the run's opened previous runs (compare reads the same)."""
    settings = QualitySettings.from_params(params)
    given = settings.reference_archives_dir

    def shown(path: Path) -> str:  # relative to the working directory (``../`` outside it)
        try:
            return workdir.door.relative(path)
        except FileRefused:
            return os.path.relpath(path, workdir.root)

    ctx = CheckContext(
        settings=settings,
        schema=schema,
        unique_id=params.unique_id,
        archive_dir=workdir.archive_dir,
        reference_dir=references.folder(given, workdir.root, workdir.archive_dir),
        imported=previous_runs.imported_column,
        shown=shown,
    )
    outcome = checks.check_rows(table, blocked, ctx)
    for run in outcome.runs:
        log.info("Data quality %s (%s): %d finding(s)", run.check, run.severity, run.count)
        for rows in run.listed(MAX_LOGGED):
            where = ", ".join(table.position(i) for i in rows["row"])
            first = rows.row(0, named=True)
            reason = Reason(first["code"], first["column"], first["detail"])
            log.info(
                "Data quality %s: %s (%s): %s", run.check, where, first["row_id"], reason.english()
            )
    return outcome


def remember_file(
    params: ConnectorParams,
    workdir: WorkDir,
    source: Path,
    schema: RunSchema,
    runs: list[CheckRun],
) -> None:
    """After a completed run (not a dry run): what the next runs' checks compare against."""
    state = {
        "sha256": next((r.sha256 for r in runs if r.sha256), None),
        "file": source.name,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_column": schema.key_column,
        "person_column": schema.columns.get(params.unique_id, params.unique_id),
    }
    try:
        kept.write(workdir.door, workdir.archive_dir, workdir.data_type, state)
    except OSError as exc:  # the run's decision stands; the next run only compares less
        log.warning("Could not keep the file's fingerprint for the next run: %s", exc)
