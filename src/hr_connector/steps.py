"""The import's steps, plain and typed: fetch → check file → parse → validate → check rows →
compare → guard → changes → publish → keep and file the admin task → archive the remote file.

Each step is a function (for the EPE script's plain mode, tests and the bench baseline) and its
type a Callable that the function and its Prefect task (:func:`hr_connector.tasks.prefect_steps`)
both satisfy; :class:`Steps` injects one set or the other (:data:`PLAIN_STEPS`). The order they
run in is :func:`hr_connector.pipeline.hr_import`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hr_connector import attachments as attachments_mod
from hr_connector import changes as changes_mod
from hr_connector import compare as compare_mod
from hr_connector import fetch as fetch_mod
from hr_connector import (
    guards,
    header,
    publish,
    readers,
    report,
    validate,
)
from hr_connector.compare import Changeset
from hr_connector.errors import FileEmpty, KeyFieldMissing
from hr_connector.outcome import (
    AdminTask,
    Attachment,
    GuardVerdict,
    NotAttached,
)
from hr_connector.params import ConnectorParams
from hr_connector.previous_run import PreviousRuns
from hr_connector.quality import steps as quality
from hr_connector.quality.checks import QualityOutcome
from hr_connector.quality.findings import CheckRun
from hr_connector.readers import csv_reader
from hr_connector.records import Table, blocked_count, first_blocked
from hr_connector.schemas import RunSchema
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir, write_text_atomic

log = logging.getLogger("hr_connector.pipeline")

#: the blocked rows: the reasons frame (validation, then the data-quality rules)
Blocked = pl.DataFrame
#: Blocked rows named one by one in the log (all of them are in the error archive).
MAX_LOGGED_BLOCKED = 50


# --- the step functions (plain, typed; the Prefect tasks wrap exactly these) -----------------


def fetch_file(params: ConnectorParams, workdir: WorkDir) -> Path:
    """Download from SFTP when configured, then find the one local file ``file_path`` names."""
    if params.sftp is not None:
        from hr_connector.clients import sftp

        if params.dry_run:  # writes nothing here: the download goes to a scratch folder
            return sftp.download_for_dry_run(params.sftp, workdir, params.file_path)
        sftp.download_hr_file(params.sftp, workdir, params.file_path)
    return fetch_mod.locate_local_file(workdir, params.file_path)


def parse_file(path: Path, params: ConnectorParams, schema: RunSchema, workdir: WorkDir) -> Table:
    """The HR file as a table, opened through the working directory's door (a dry run's
    download is in a scratch folder of its own, outside it)."""
    door = workdir.door if workdir.root in path.absolute().parents else None
    table = readers.read_table(path, delimiter=params.csv_delimiter, door=door)
    if not len(table):
        raise FileEmpty(path.name)
    if readers.missing_column_interrupts(path, door=door):
        csv_reader.check_delimiter(
            path.name, table.columns, schema.mapped_columns, params.csv_delimiter
        )
        schema = header.check_header(path.name, schema, table.columns)
    else:
        schema = header.matched_schema(schema, table.columns, path.name)
    header.check_guid_field(path.name, schema, table)
    if schema.key_column not in table.columns:
        # not one record can be identified: a broken export, not a file of bad rows
        raise KeyFieldMissing(path.name, schema.key_column)
    log.info("Read %d data rows (%d columns) from %s", len(table), len(table.columns), path.name)
    return table


def validate_rows(table: Table, schema: RunSchema) -> Blocked:
    blocked = validate.validate_table(table, schema)
    count = blocked_count(blocked)
    log.info("Validated %d rows: %d valid, %d blocked", len(table), len(table) - count, count)
    log_blocked(table, blocked, schema.key_column)
    return blocked


def log_blocked(table: Table, blocked: Blocked, key_column: str) -> None:
    """The first blocked rows, each named by its row ID and position, with every reason."""
    rows = first_blocked(blocked, MAX_LOGGED_BLOCKED)
    keys = table.frame.get_column(key_column) if key_column in table.columns else None
    for i, reasons in rows.items():
        row_id = keys[i] if keys is not None else None
        texts = "; ".join(r.english() for r in reasons)
        log.info("Blocked row ID %s (%s): %s", row_id or "–", table.position(i), texts)
    more = blocked_count(blocked) - len(rows)
    if more > 0:
        log.info("… and %d more blocked rows (see the error archive)", more)


def compare_rows(
    table: Table,
    blocked: Blocked,
    schema: RunSchema,
    params: ConnectorParams,
    base: WorkDir,
    previous_runs: PreviousRuns,
) -> Changeset:
    """``previous_runs``: the run's opened previous runs (the references check may have opened
    the same archive)."""
    previous = None
    if params.run_type == "partial":
        previous = previous_runs.load(base, schema.key_column)
    changeset = compare_mod.compare(table, blocked, schema, previous)
    changeset.previous = previous
    log.info(
        "Compared (%s run): %d new, %d changed, %d unchanged, %d removed; changeset %s",
        changeset.run_type,
        len(changeset.new),
        len(changeset.changed),
        changeset.unchanged,
        len(changeset.removed),
        changeset.digest,
    )
    return changeset


def guard_import(params: ConnectorParams, rows_read: int, changeset: Changeset) -> GuardVerdict:
    verdict = guards.check_guards(params, rows_read, changeset)
    if verdict.interruption:
        log.warning("Guard stopped the import: %s", verdict.interruption.message)
    elif verdict.override:
        exceeded = [c.figures for c in verdict.limits if c.exceeded]
        log.warning(
            "Limits exceeded: %s; import allowed by %s",
            "; ".join(exceeded) or f"update_limit {verdict.update_limit} ({verdict.updates})",
            verdict.override,
        )
    return verdict


def list_changes(
    table: Table, changeset: Changeset, schema: RunSchema, params: ConnectorParams
) -> changes_mod.RunChanges:
    """A partial run's new, changed and removed rows, each changed column's old and new value."""
    assert changeset.previous is not None  # a partial run compared with its previous run
    changes = changes_mod.list_changes(
        table, changeset, schema, changeset.previous, params.unique_id
    )
    changes_mod.log_changes(changes, params.report_max_rows)
    return changes


def publish_files(
    workdir: WorkDir,
    table: Table | None,
    blocked: Blocked,
    changeset: Changeset | None,
    schema: RunSchema | None,
    params: ConnectorParams,
    completed: bool,
) -> list[Attachment]:
    """Write (or, for an interrupted run, clear) the files; return the report's attachments."""
    if params.dry_run:
        log.info("Dry run: no output written, archives kept")
        return []
    if not completed or table is None or changeset is None or schema is None:
        if publish.publish_interrupted(workdir):
            log.info("Removed the stale output %s", workdir.output.name)
        return []
    guid_field = header.output_guid_field(schema, table.columns)
    hashes = publish.publish_completed(workdir, table, blocked, changeset, schema, guid_field)
    log.info(
        "Wrote %s (%d rows), %s and %s",
        workdir.output.name,
        changeset.updates,
        workdir.archive.relative_to(workdir.root),
        workdir.error_archive.relative_to(workdir.root),
    )
    written = (  # name, path, rows, the hash's key
        (f"{params.data_type}_archive.json", workdir.archive, len(table), "archive"),
        (f"{workdir.task_id}_output.json", workdir.output, changeset.updates, "output"),
        (
            f"error_{params.data_type}_archive.json",
            workdir.error_archive,
            blocked_count(blocked),
            "errors",
        ),
    )
    return [Attachment(name=n, path=str(p), rows=r, sha256=hashes[k]) for n, p, r, k in written]


def prepare_attachments(
    params: ConnectorParams, workdir: WorkDir, attachments: list[Attachment]
) -> tuple[list[Attachment], list[NotAttached]]:
    """Zip and cap the report's attachments (:mod:`hr_connector.attachments`).

    A failure here (e.g. a full disk while zipping) must not cost the admin task: the files are
    then offered as they are, and the sink streams them.
    """
    if not attachments or params.webapi.webapi_kind == "xml":  # XmlSink lists the files itself
        return attachments, []
    try:
        return attachments_mod.prepare_attachments(
            attachments,
            workdir.attachments_dir,
            workdir.task_id,
            params.report_attachment_max_mb,
        )
    except Exception:
        log.exception("Could not prepare the attachments; offering the files as they are")
        return attachments, []


def write_admin_task(task: AdminTask, workdir: WorkDir) -> Path:
    """Keep the admin task as local files (JSON to re-send, Markdown to read)."""
    write_text_atomic(workdir.admin_task_json, task.model_dump_json(indent=2) + "\n")
    markdown = report.render_markdown(task, Translations.load(workdir.translation_override))
    write_text_atomic(workdir.admin_task_markdown, markdown)
    return workdir.admin_task_json


def file_admin_task(task: AdminTask, sink: report.ReportSink) -> str:
    return sink.file(task)


def archive_remote_file(params: ConnectorParams, source: Path) -> str | None:
    if params.sftp is None or params.dry_run:
        return None
    from hr_connector.clients import sftp

    return sftp.archive_remote_file(params.sftp, source.name)


def _unchanged(value: Any) -> Any:
    return value


# --- each step's type: what the plain function and its task wrapper both take and give ---------
# (a value wrapped by :attr:`Steps.quote` for Prefect is passed as ``Any``)

FetchStep = Callable[[ConnectorParams, WorkDir], Path]
CheckFileStep = Callable[[ConnectorParams, WorkDir, Path], list[CheckRun]]
ParseStep = Callable[[Path, ConnectorParams, RunSchema, WorkDir], Table]
ValidateStep = Callable[[Table, RunSchema], Blocked]
CheckRowsStep = Callable[
    [Table, Blocked, RunSchema, ConnectorParams, WorkDir, PreviousRuns], QualityOutcome
]
CompareStep = Callable[
    [Table, Blocked, RunSchema, ConnectorParams, WorkDir, PreviousRuns], Changeset
]
GuardStep = Callable[[ConnectorParams, int, Changeset], GuardVerdict]
ChangesStep = Callable[[Table, Changeset, RunSchema, ConnectorParams], changes_mod.RunChanges]
PublishStep = Callable[
    [WorkDir, Table, Blocked, Changeset, RunSchema | None, ConnectorParams, bool], list[Attachment]
]
KeepReportStep = Callable[[AdminTask, WorkDir], Path]
FileReportStep = Callable[[AdminTask, report.ReportSink], str]
ArchiveRemoteStep = Callable[[ConnectorParams, Path], str | None]


@dataclass(frozen=True)
class Steps:
    """The steps a run uses, in the order it calls them: plain functions or their Prefect tasks,
    with the same signatures."""

    fetch: FetchStep = fetch_file
    check_file: CheckFileStep = quality.check_file_quality
    parse: ParseStep = parse_file
    validate: ValidateStep = validate_rows
    check_rows: CheckRowsStep = quality.check_row_quality
    compare: CompareStep = compare_rows
    guard: GuardStep = guard_import
    changes: ChangesStep = list_changes
    publish: PublishStep = publish_files
    keep_report: KeepReportStep = write_admin_task
    file_report: FileReportStep = file_admin_task
    archive_remote: ArchiveRemoteStep = archive_remote_file
    #: wraps values passed between Prefect tasks so Prefect does not walk them
    quote: Callable[[Any], Any] = _unchanged


PLAIN_STEPS = Steps()
