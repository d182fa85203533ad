"""The import, step by step: fetch → parse → validate → compare → guard → publish → report.

:func:`run_import` is written once and orchestrates :class:`Steps`: plain functions
(:data:`PLAIN_STEPS`, for tests, the EPE script and the bench baseline) or their Prefect task
wrappers (``hr_connector.tasks.PREFECT_STEPS``, used by the flows); each step's type is a
Protocol both satisfy. Read the run in order in :func:`_run_import`: the steps up to the decision
(:func:`_steps_to_decision`: fetch, file checks, parse, validate, row checks, compare, guard,
changes), then the files (:func:`_write_files`), the admin task (:func:`_admin_task`, filed by
:func:`_keep_and_file_report`) and the run's end (:func:`_end`). Data flows one way; no step
reaches back into an earlier one. Any :class:`ConnectorError` a step raises becomes the run's
interruption: the stale output is removed, the archives stay as they were, and the admin task
says why. A run refused by the lock (:class:`RunLocked`) is marked once (``_Run.refused``) and
touches none of the files.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hr_connector import attachments as attachments_mod
from hr_connector import changes as changes_mod
from hr_connector import (
    checkpoints,
    delivery,
    fastpath,
    guards,
    header,
    publish,
    readers,
    report,
    runrecord,
    validate,
)
from hr_connector import compare as compare_mod
from hr_connector import fetch as fetch_mod
from hr_connector.compare import Changeset, PreviousRun
from hr_connector.errors import ConnectorError, FileEmpty, KeyFieldMissing, RunLocked
from hr_connector.fastpath import FastPath
from hr_connector.outcome import (
    AdminTask,
    Attachment,
    Decision,
    GuardVerdict,
    ImportResult,
    Interruption,
    NotAttached,
    RunCounts,
)
from hr_connector.params import ConnectorParams
from hr_connector.quality import report as quality_report
from hr_connector.quality import steps as quality
from hr_connector.quality.checks import QualityOutcome
from hr_connector.quality.findings import CheckRun
from hr_connector.records import Reason, Table
from hr_connector.schemas import RunSchema, run_schema
from hr_connector.texts import TranslationMissing, Translations
from hr_connector.workdir import WorkDir, check_archive_dir, recover, run_lock, write_text_atomic

log = logging.getLogger("hr_connector.pipeline")


# --- the step functions (plain, typed; the Prefect tasks wrap exactly these) -----------------


def fetch_file(params: ConnectorParams, workdir: WorkDir) -> Path:
    """Download from SFTP when configured, then find the one local file ``file_path`` names."""
    if params.uses_sftp:
        from hr_connector.clients import sftp

        sftp.download_hr_file(params.sftp_settings(), workdir, params.file_path)
    return fetch_mod.locate_local_file(workdir, params.file_path)


def parse_file(
    path: Path, params: ConnectorParams, schema: RunSchema, fast: FastPath = fastpath.ON
) -> Table:
    table = readers.read_table(path, delimiter=params.csv_delimiter, fast=fast)
    if not table.rows:
        raise FileEmpty(path.name)
    if readers.missing_column_interrupts(path):
        schema = header.check_header(path.name, schema, table.columns)
    else:
        schema = header.matched_schema(schema, table.columns)
    header.check_guid_field(path.name, schema, table)
    if schema.key_column not in table.columns:
        # not one record can be identified: a broken export, not a file of bad rows
        raise KeyFieldMissing(path.name, schema.key_column)
    log.info(
        "Read %d data rows (%d columns) from %s", len(table.rows), len(table.columns), path.name
    )
    return table


def validate_rows(
    table: Table, schema: RunSchema, fast: FastPath = fastpath.ON
) -> dict[int, list[Reason]]:
    blocked = validate.validate_table(table, schema, fast.index)
    log.info(
        "Validated %d rows: %d valid, %d blocked",
        len(table.rows),
        len(table.rows) - len(blocked),
        len(blocked),
    )
    for i in sorted(blocked)[:50]:
        log.info("Blocked %s: %s", table.position(i), "; ".join(r.english() for r in blocked[i]))
    return blocked


def compare_rows(
    table: Table,
    blocked: dict[int, list[Reason]],
    schema: RunSchema,
    params: ConnectorParams,
    workdir: WorkDir,
    fast: FastPath = fastpath.ON,
) -> Changeset:
    previous: PreviousRun | None = None
    if params.run_type == "partial":
        previous = compare_mod.load_previous(workdir, schema, fast.index)
    changeset = compare_mod.compare(table, blocked, schema, previous)
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
        exceeded = [f"{c.name} {c.shown} ({c.count})" for c in verdict.limits if c.exceeded]
        log.warning(
            "Limits exceeded: %s; import allowed by %s",
            ", ".join(exceeded) or f"update_limit {verdict.update_limit} ({verdict.updates})",
            verdict.override,
        )
    return verdict


def list_changes(
    table: Table,
    changeset: Changeset,
    schema: RunSchema,
    params: ConnectorParams,
    base: WorkDir,
    fast: FastPath = fastpath.ON,
) -> changes_mod.RunChanges:
    """A partial run's new, changed and removed rows, each changed column's old and new value."""
    changes = changes_mod.list_changes(table, changeset, schema, base, params.unique_id, fast.index)
    changes_mod.log_changes(changes, params.report_max_rows)
    return changes


def publish_files(
    workdir: WorkDir,
    table: Table | None,
    blocked: dict[int, list[Reason]],
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
    publish.publish_completed(workdir, table, blocked, changeset, schema, guid_field)
    log.info(
        "Wrote %s (%d rows), %s and %s",
        workdir.output.name,
        changeset.updates,
        workdir.archive.relative_to(workdir.root),
        workdir.error_archive.relative_to(workdir.root),
    )
    return [
        Attachment(
            name=f"{params.data_type}_archive.json",
            path=str(workdir.archive),
            rows=len(table.rows),
        ),
        Attachment(
            name=f"{workdir.task_id}_output.json",
            path=str(workdir.output),
            rows=changeset.updates,
        ),
        Attachment(
            name=f"error_{params.data_type}_archive.json",
            path=str(workdir.error_archive),
            rows=len(blocked),
        ),
    ]


def prepare_attachments(
    params: ConnectorParams, workdir: WorkDir, attachments: list[Attachment]
) -> tuple[list[Attachment], list[NotAttached]]:
    """Zip and cap the report's attachments (:mod:`hr_connector.attachments`).

    A failure here (e.g. a full disk while zipping) must not cost the admin task: the files are
    then offered as they are, and the sink streams them.
    """
    if not attachments or params.webapi_kind == "xml":  # XmlSink lists the files itself
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
    write_text_atomic(workdir.admin_task_markdown, report.render_markdown(task))
    return workdir.admin_task_json


def file_admin_task(task: AdminTask, sink: report.ReportSink) -> str:
    return sink.file(task)


def archive_remote_file(params: ConnectorParams, source: Path) -> str | None:
    if not params.uses_sftp or params.dry_run:
        return None
    from hr_connector.clients import sftp

    return sftp.archive_remote_file(params.sftp_settings(), source.name)


def _unchanged(value: Any) -> Any:
    return value


# --- each step's type: what the plain function and its task wrapper both take and give ---------
# (``Any`` where a value may come wrapped by :attr:`Steps.quote` for Prefect)


class FetchStep(Protocol):
    def __call__(self, params: ConnectorParams, workdir: WorkDir, /) -> Path: ...


class CheckFileStep(Protocol):
    def __call__(
        self, params: ConnectorParams, workdir: WorkDir, source: Path, /
    ) -> list[CheckRun]: ...


class ParseStep(Protocol):
    def __call__(
        self, path: Path, params: ConnectorParams, schema: RunSchema, fast: Any, /
    ) -> Table: ...


class ValidateStep(Protocol):
    def __call__(self, table: Any, schema: RunSchema, fast: Any, /) -> dict[int, list[Reason]]: ...


class CheckRowsStep(Protocol):
    def __call__(
        self,
        table: Any,
        blocked: Any,
        schema: RunSchema,
        params: ConnectorParams,
        workdir: WorkDir,
        /,
    ) -> QualityOutcome: ...


class CompareStep(Protocol):
    def __call__(
        self,
        table: Any,
        blocked: Any,
        schema: RunSchema,
        params: ConnectorParams,
        base: WorkDir,
        fast: Any,
        /,
    ) -> Changeset: ...


class GuardStep(Protocol):
    def __call__(
        self, params: ConnectorParams, rows_read: int, changeset: Any, /
    ) -> GuardVerdict: ...


class ChangesStep(Protocol):
    def __call__(
        self,
        table: Any,
        changeset: Any,
        schema: RunSchema,
        params: ConnectorParams,
        base: WorkDir,
        fast: Any,
        /,
    ) -> changes_mod.RunChanges: ...


class PublishStep(Protocol):
    def __call__(
        self,
        workdir: WorkDir,
        table: Any,
        blocked: Any,
        changeset: Any,
        schema: RunSchema | None,
        params: ConnectorParams,
        completed: bool,
        /,
    ) -> list[Attachment]: ...


class KeepReportStep(Protocol):
    def __call__(self, task: AdminTask, workdir: WorkDir, /) -> Path: ...


class FileReportStep(Protocol):
    def __call__(self, task: AdminTask, sink: report.ReportSink, /) -> str: ...


class ArchiveRemoteStep(Protocol):
    def __call__(self, params: ConnectorParams, source: Path, /) -> str | None: ...


class Quote(Protocol):
    def __call__(self, value: Any, /) -> Any: ...


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
    quote: Quote = _unchanged


PLAIN_STEPS = Steps()


def run_import(
    params: ConnectorParams,
    workdir: WorkDir,
    sink: report.ReportSink,
    steps: Steps = PLAIN_STEPS,
    translations: Translations | None = None,
    run_key: str | None = None,
) -> ImportResult:
    """Run one import; never raises a ConnectorError: it becomes the result's interruption.

    ``run_key`` names this run across retries (Prefect's flow-run id): a retry of a run that
    published its files but could not file the admin task only re-files it (see runrecord).
    The run lock is held to the run's end (the admin task included), and in the EPE wrapper
    until the process exits (:func:`delivery.hold_until_exit`).
    """
    with contextlib.ExitStack() as whole_run:
        result = _run_import(params, workdir, sink, steps, translations, run_key, whole_run)
        delivery.hold_until_exit(whole_run)
        return result


@dataclass
class _Run:
    """One run's state as the steps fill it in; the report reads it at the end."""

    params: ConnectorParams
    workdir: WorkDir
    translations: Translations
    language: str
    result: ImportResult
    #: raised under the lock, before the first step (a translation the run's language lacks)
    early: ConnectorError | None = None
    schema: RunSchema | None = None
    source: Path | None = None
    table: Table | None = None
    blocked: dict[int, list[Reason]] = field(default_factory=dict)
    quality_runs: list[CheckRun] = field(default_factory=list)
    changeset: Changeset | None = None
    verdict: GuardVerdict | None = None
    run_changes: changes_mod.RunChanges | None = None
    attachments: list[Attachment] = field(default_factory=list)
    #: another run holds the lock (:class:`RunLocked`): this run touches none of the files
    refused: bool = False

    #: nothing stopped the run: it publishes (set by :meth:`decide`; a failed publish clears it)
    completed: bool = False

    def decide(self) -> None:
        """Take the decision: the run writes its files only when nothing stopped it."""
        result = self.result
        completed = result.interruption is None
        self.completed = completed


def _start(params: ConnectorParams, workdir: WorkDir, translations: Translations | None) -> _Run:
    """The run before its first step: its texts (English when the language lacks some)."""
    translations = translations or Translations.load(workdir.translation_override)
    language = params.language
    early: ConnectorError | None = None
    try:
        translations.require(language, report.REPORT_CASES)
    except TranslationMissing as error:
        early, language = error, "en"
        translations.require(language, report.REPORT_CASES)
    result = ImportResult(
        task_id=workdir.task_id,
        data_type=params.data_type,
        run_type=params.run_type,
        decision=Decision.INTERRUPTED,
        dry_run=params.dry_run,
        log_path=str(workdir.log),
    )
    return _Run(params, workdir, translations, language, result, early)


def _run_import(
    params: ConnectorParams,
    workdir: WorkDir,
    sink: report.ReportSink,
    steps: Steps,
    translations: Translations | None,
    run_key: str | None,
    whole_run: contextlib.ExitStack,
) -> ImportResult:
    pending = runrecord.pending_report(workdir, run_key)
    if pending is not None:
        return refile_admin_task(pending, workdir, sink, steps)
    run = _start(params, workdir, translations)
    _decide(run, steps, whole_run)
    _write_files(run, steps)
    task = _admin_task(run)
    if params.dry_run:
        log.info("Dry run: admin task not filed. It would read:\n%s", task.description)
        return run.result
    _keep_and_file_report(run, steps, task, sink)
    _end(run, steps, run_key)
    return run.result


def _decide(run: _Run, steps: Steps, whole_run: contextlib.ExitStack) -> None:
    """Lock, then run the steps up to the decision; a stop becomes the result's interruption."""
    try:
        _lock(run, whole_run)
        _steps_to_decision(run, steps)
    except RunLocked as error:  # the other run owns the files: touch nothing
        log.error("Run refused: %s", error)
        run.result.interruption = Interruption.from_error(error)
        run.refused = True
    except ConnectorError as error:
        log.error("Run interrupted: %s", error)
        run.result.interruption = Interruption.from_error(error)
    except Exception as error:  # a bug or an environment failure: still a clean interruption
        log.exception("Run interrupted by an unexpected error")
        run.result.interruption = unexpected(error, "The run failed unexpectedly")


def _lock(run: _Run, whole_run: contextlib.ExitStack) -> None:
    check_archive_dir(run.workdir)
    if not run.params.dry_run:  # a dry run writes nothing: no lock file, no recovery
        whole_run.enter_context(run_lock(run.workdir))
        if recover(run.workdir):
            log.warning("Finished the commit of an earlier run that was interrupted")
    if run.early is not None:  # under the lock: the stale output it removes is ours
        raise run.early
    checkpoints.reached("locked")


def _steps_to_decision(run: _Run, steps: Steps) -> None:
    """fetch → file checks → parse → validate → row checks → compare → guard → changes."""
    params, workdir, q = run.params, run.workdir, steps.quote
    run.schema = schema = run_schema(params)
    run.source = source = steps.fetch(params, workdir)
    run.result.source_file = str(source)
    run.quality_runs = steps.check_file(params, workdir, source)
    base = delivery.comparison_base(workdir, dry_run=params.dry_run)
    # the fast-path switch, read once, and the index of the archives compared with, loaded once
    fast = fastpath.for_run(base)
    run.table = table = steps.parse(source, params, schema, q(fast))
    run.schema = schema = header.matched_schema(schema, table.columns)  # the file's own spelling
    blocked = steps.validate(q(table), schema, q(fast))
    found = steps.check_rows(q(table), q(blocked), schema, params, workdir)
    run.quality_runs = [*run.quality_runs, *found.runs]
    run.blocked = blocked = quality.merged(blocked, found.blocked)
    run.changeset = changeset = steps.compare(q(table), q(blocked), schema, params, base, q(fast))
    checkpoints.reached("compared")
    run.verdict = verdict = steps.guard(params, len(table.rows), q(changeset))
    if verdict.interruption:
        run.result.interruption = verdict.interruption
    if changeset.run_type == "partial":
        run.run_changes = steps.changes(q(table), q(changeset), schema, params, base, q(fast))


def _write_files(run: _Run, steps: Steps) -> None:
    """Publish the decided files (or clear a stale output); a refused run touches none."""
    run.decide()
    result, params = run.result, run.params
    result.counts = _counts(run.table, run.blocked, run.changeset)
    if not run.completed:
        result.counts.output = 0  # nothing is written for the platform to import
    if run.changeset is not None:
        result.changeset = run.changeset.digest
    if not run.refused:
        _publish(run, steps)
    if run.completed:
        result.decision = Decision.COMPLETED
        if not params.dry_run:
            result.output_path = str(run.workdir.output)
            if run.source is not None and run.schema is not None:
                quality.remember_file(
                    params,
                    run.workdir,
                    run.source,
                    run.schema,
                    run.quality_runs,
                    run.table,
                    run.blocked,
                )


def _publish(run: _Run, steps: Steps) -> None:
    q, workdir = steps.quote, run.workdir
    try:
        if run.completed and not run.params.dry_run:
            checkpoints.reached("before-commit")
            delivery.before_commit(workdir)
            checkpoints.reached("marked")
        run.attachments = steps.publish(
            workdir,
            q(run.table),
            q(run.blocked),
            q(run.changeset),
            run.schema,
            run.params,
            run.completed,
        )
        checkpoints.reached("committed")
    except Exception as error:  # e.g. the disk is full: nothing was committed
        log.exception("Could not write the run's files")
        run.result.interruption = unexpected(error, "The run's files could not be written")
        run.completed = False
        run.result.counts.output = 0
        with contextlib.suppress(Exception):
            publish.publish_interrupted(workdir)


def _admin_task(run: _Run) -> AdminTask:
    """The admin task that says what the run decided and why."""
    params, result, translations, language = run.params, run.result, run.translations, run.language
    key_column = run.schema.key_column if run.schema else ""
    blocked_list = report.blocked_rows(run.table, run.blocked, key_column, translations, language)
    listed = None
    if run.run_changes is not None:
        listed = run.run_changes.listed(params.report_max_rows)
        result.changes = listed
    attachments = run.attachments
    if not params.dry_run and not run.refused:
        attachments = attachments + _changes_attachment(run.workdir, run.run_changes, blocked_list)
    attachments, left_out = prepare_attachments(params, run.workdir, attachments)
    data_quality = quality_report.build_report(
        run.quality_runs, run.table, key_column, translations, language
    )
    result.data_quality = data_quality.counts()
    changeset = run.changeset
    task = report.build_admin_task(
        translations=translations,
        language=language,
        task_id=run.workdir.task_id,
        data_type=params.data_type,
        run_type=params.run_type,
        file=run.source.name if run.source else params.file_path,
        counts=result.counts,
        interruption=result.interruption,
        verdict=run.verdict,
        changeset=result.changeset,
        removed=changeset.removed if changeset and run.run_changes is None else None,
        approved_by=params.approved_by,
        blocked=blocked_list,
        attachments=attachments,
        dry_run=params.dry_run,
        changes=listed,
        data_quality=data_quality,
    )
    return attachments_mod.with_not_attached(task, left_out, translations)


def _keep_and_file_report(
    run: _Run, steps: Steps, task: AdminTask, sink: report.ReportSink
) -> None:
    result, workdir = run.result, run.workdir
    holder = result.interruption.figures.get("holder", "") if result.interruption else ""
    if not (run.refused and str(holder).endswith(f"task {workdir.task_id}")):
        # a run refused by a run of the same task must not replace that run's kept admin task
        result.admin_task_path = str(steps.keep_report(task, workdir))
        checkpoints.reached("admin-task-kept")
    if _file_report(result, task, sink, steps, workdir):
        checkpoints.reached("admin-task-filed")


def _file_report(
    result: ImportResult, task: AdminTask, sink: report.ReportSink, steps: Steps, workdir: WorkDir
) -> bool:
    """File the admin task; a failure is the result's ``report_error`` (the decision stands)."""
    try:
        result.admin_task_id = steps.file_report(task, sink)
    except Exception as exc:  # the task is kept to be re-sent
        result.report_error = f"{type(exc).__name__}: {exc}"
        log.error(
            "Could not file the admin task (kept in %s): %s",
            workdir.admin_task_json.name,
            result.report_error,
        )
        return False
    log.info("Filed the admin task %s", result.admin_task_id)
    return True


def _end(run: _Run, steps: Steps, run_key: str | None) -> None:
    """After the report: move the remote file, record the run for a retry, hand over the output."""
    result, completed = run.result, run.completed
    if completed and run.source is not None:
        try:
            moved = steps.archive_remote(run.params, run.source)
            if moved:
                log.info("Moved the remote file to %s", moved)
        except Exception as exc:
            log.error("Could not move the remote file to the archive folder: %s", exc)
            result.report_error = result.report_error or f"SFTP archive move failed: {exc}"
    if run_key and completed:
        runrecord.save(
            run.workdir,
            runrecord.RunRecord(
                run_key=run_key, result=result, report_filed=result.admin_task_id is not None
            ),
        )
    if completed and not run.params.dry_run:
        delivery.delivered(run.workdir)  # the last step: from here on the output is the platform's
    checkpoints.reached("run-ended")


def _changes_attachment(
    workdir: WorkDir, run_changes: changes_mod.RunChanges | None, blocked: list[Any]
) -> list[Attachment]:
    """``<taskid>_changes.csv`` for a partial run that got as far as its changes (stopped runs
    too: that is when the admin needs it); otherwise an older list under this task ID goes."""
    try:
        if run_changes is None:
            changes_mod.remove_stale_csv(workdir)
            return []
        path = changes_mod.write_changes_csv(workdir, run_changes, blocked)
    except Exception:  # the list is for review; the run's decision stands without it
        log.exception("Could not write the changes attachment")
        return []
    return [Attachment(name=path.name, path=str(path))]


def refile_admin_task(
    record: runrecord.RunRecord,
    workdir: WorkDir,
    sink: report.ReportSink,
    steps: Steps = PLAIN_STEPS,
) -> ImportResult:
    """The retry of a run whose files are published: file the kept admin task, nothing else."""
    log.warning(
        "Retry of run %s: its files were already published; only filing the kept admin task %s",
        record.run_key,
        workdir.admin_task_json.name,
    )
    task = AdminTask.model_validate_json(workdir.admin_task_json.read_text(encoding="utf-8"))
    result = record.result.model_copy(update={"report_error": None})
    _file_report(result, task, sink, steps, workdir)
    runrecord.save(
        workdir,
        runrecord.RunRecord(
            run_key=record.run_key, result=result, report_filed=result.admin_task_id is not None
        ),
    )
    return result


def unexpected(error: BaseException, what: str) -> Interruption:
    """An interruption for an error nobody planned for; the log has the traceback."""
    message = f"{what}: {type(error).__name__}: {error}"
    return Interruption(
        case="run_failed",
        message=message + ".",
        hint="See the run's log for details; fix the cause and rerun the task.",
        figures={"message": message},
    )


def _counts(
    table: Table | None, blocked: dict[int, list[Reason]], changeset: Changeset | None
) -> RunCounts:
    if table is None:
        return RunCounts()
    rows = len(table.rows)
    counts = RunCounts(rows_read=rows, valid=rows - len(blocked), blocked=len(blocked))
    if changeset is not None and changeset.run_type == "full":
        counts.output = changeset.updates
    elif changeset is not None:
        counts.new = len(changeset.new)
        counts.changed = len(changeset.changed)
        counts.unchanged = changeset.unchanged
        counts.removed = len(changeset.removed)
        counts.output = changeset.updates
    return counts
