"""The import's run: the sequence of its steps, written once in :func:`hr_import` (read it first).

- the steps themselves, plain or as Prefect tasks, are :mod:`hr_connector.steps`;
- :class:`ImportRun`: one step method per call of the sequence (it calls the injected step and
  keeps what the admin task needs), the run lock, the decision and the admin task;
- :func:`started`: the run around the sequence (retry record, lock, a dry run's download).

Data flows one way; no step reaches back into an earlier one. Any :class:`ConnectorError` a step
raises before the decision becomes the run's interruption (:meth:`ImportRun.deciding`): the stale
output is removed, the archives stay as they were, and the admin task says why. A run refused by
the lock (:class:`RunLocked`) is marked once (``ImportRun.refused``) and touches none of the
files.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hr_connector import attachments as attachments_mod
from hr_connector import changes as changes_mod
from hr_connector import (
    delivery,
    ending,
    filing,
    guards,
    header,
    publish,
    report,
    runrecord,
)
from hr_connector import fetch as fetch_mod
from hr_connector.compare import Changeset
from hr_connector.door import FileRefused
from hr_connector.errors import ConnectorError, RunLocked
from hr_connector.outcome import (
    AdminTask,
    Attachment,
    Decision,
    GuardVerdict,
    ImportResult,
    Interruption,
    RunCounts,
)
from hr_connector.params import ConnectorParams
from hr_connector.previous_run import PreviousRuns
from hr_connector.quality import report as quality_report
from hr_connector.quality import steps as quality
from hr_connector.quality.findings import CheckRun
from hr_connector.records import Table, blocked_count, concat_reasons, no_reasons, reason_texts
from hr_connector.schemas import RunSchema, run_schema
from hr_connector.steps import PLAIN_STEPS, Blocked, Steps, prepare_attachments
from hr_connector.texts import TranslationMissing, Translations
from hr_connector.workdir import WorkDir, check_archive_dir, recover, run_lock

log = logging.getLogger("hr_connector.pipeline")


def hr_import(run: ImportRun) -> None:
    """One import, step by step; each call is a step (a Prefect task run in a flow)."""
    if run.pending is not None:  # a retry of a run that published its files: file its task only
        run.refile_admin_task()
        return
    with run.deciding():  # a stop ends this block: the run is interrupted, nothing is imported
        run.lock()  # another run of this task refuses this one: it touches no file
        source = run.fetch()
        run.check_file_quality(source)
        base = run.comparison_base()  # the kept base when an earlier output is undelivered
        table = run.parse(source)
        blocked = run.validate(table)
        blocked = run.check_data_quality(table, blocked)
        changeset = run.compare(table, blocked, base)
        run.guard(table, changeset)  # too many changes, too few rows: the import is refused
        run.list_changes(table, changeset)  # a partial run's changes, for the admin
    run.decide()  # completed when nothing stopped it
    run.publish()  # the decided files; an interrupted run only clears the stale output
    run.keep_and_file_admin_task()  # what the run decided and why
    run.archive_remote_file()  # a completed run moves the SFTP file to its archive folder
    run.end()  # recorded for a retry; the output is handed over to the platform


@contextlib.contextmanager
def started(
    params: ConnectorParams,
    workdir: WorkDir,
    sink: report.ReportSink,
    steps: Steps = PLAIN_STEPS,
    translations: Translations | None = None,
    run_key: str | None = None,
    refused: ConnectorError | None = None,
) -> Iterator[ImportRun]:
    """The run the block's :func:`hr_import` runs: its retry record read, its lock held to the
    end (in the EPE wrapper to the process exit, :func:`delivery.hold_until_exit`), a dry run's
    download discarded after it.

    ``refused``: a stop found before the run (its log file cannot be opened), raised under the
    lock like any other. ``run_key`` names this run across retries (Prefect's flow-run id): a
    retry of a run that published its files but could not file the admin task only re-files it.
    """
    with contextlib.ExitStack() as whole_run:
        try:
            pending = runrecord.pending_report(workdir, run_key)
        except ConnectorError as error:  # the record is not a file of ours: a refusal
            pending, refused = None, refused or error
        translations = translations or Translations.load(workdir.translation_override)
        language = params.webapi.language
        try:  # the run's texts: English when its language lacks some
            translations.require(language, report.REPORT_CASES)
        except TranslationMissing as error:
            refused, language = refused or error, "en"
            translations.require(language, report.REPORT_CASES)
        result = ImportResult(
            task_id=workdir.task_id,
            data_type=params.data_type,
            run_type=params.run_type,
            decision=Decision.INTERRUPTED,
            dry_run=params.dry_run,
            log_path=str(workdir.log),
        )
        run = ImportRun(
            params, workdir, sink, steps, run_key, whole_run, translations, language, result
        )
        run.early, run.pending = refused, pending
        try:
            yield run
        finally:
            if params.dry_run:  # its SFTP download went to a scratch folder
                fetch_mod.discard_dry_run_copy(run.source)
        delivery.hold_until_exit(whole_run)


@dataclass
class ImportRun:
    """One run: the steps the flow's body calls, in its order, and the state they fill in.

    Each step method calls the injected step (:class:`Steps`: the plain function or its Prefect
    task) and keeps what the admin task needs. The steps up to the decision run inside
    :meth:`deciding`, where a stop becomes the run's interruption; the steps after it read what
    the run got that far (nothing, when the file was missing).
    """

    params: ConnectorParams
    workdir: WorkDir
    sink: report.ReportSink
    steps: Steps
    run_key: str | None
    #: holds the run lock to the run's end (and in the EPE wrapper, to the process exit)
    whole_run: contextlib.ExitStack
    translations: Translations
    language: str
    result: ImportResult
    #: raised under the lock, before the first step (a translation the run's language lacks)
    early: ConnectorError | None = None
    schema: RunSchema | None = None
    source: Path | None = None
    table: Table | None = None
    blocked: Blocked = field(default_factory=no_reasons)
    quality_runs: list[CheckRun] = field(default_factory=list)
    changeset: Changeset | None = None
    verdict: GuardVerdict | None = None
    run_changes: changes_mod.RunChanges | None = None
    attachments: list[Attachment] = field(default_factory=list)
    #: the previous runs this run reads, each opened (its archive hashed) once
    previous_runs: PreviousRuns = field(default_factory=PreviousRuns)
    #: the retry of a run whose files are published: only its kept admin task is filed
    pending: runrecord.RunRecord | None = None
    #: another run holds the lock (:class:`RunLocked`): this run touches none of the files
    refused: bool = False

    #: nothing stopped the run: it publishes (set by :meth:`decide`; a failed publish clears it)
    completed: bool = False
    #: when the run began (what it recorded since then is told in its admin task)
    started: float = field(default_factory=time.time)

    # --- up to the decision ----------------------------------------------------------------

    @contextlib.contextmanager
    def deciding(self) -> Iterator[None]:
        """The steps up to the decision: a stop ends the block and becomes the interruption."""
        try:
            yield
        except RunLocked as error:  # the other run owns the files: touch nothing
            log.error("Run refused: %s", error)
            self.result.interruption = Interruption.from_error(error)
            self.refused = True
        except ConnectorError as error:
            log.error("Run interrupted: %s", error)
            self.result.interruption = Interruption.from_error(error)
        except Exception as error:  # a bug or an environment failure: still a clean interruption
            log.exception("Run interrupted by an unexpected error")
            self.result.interruption = unexpected(error, "The run failed unexpectedly")

    def lock(self) -> None:
        """Take the task's run lock (a dry run writes nothing: no lock) and finish an earlier
        run's interrupted commit."""
        try:
            check_archive_dir(self.workdir)
            if not self.params.dry_run:
                self.whole_run.enter_context(run_lock(self.workdir))
                if recover(self.workdir):
                    log.warning("Finished the commit of an earlier run that was interrupted")
        except FileRefused:  # the lock or the archives are not files of ours: touch nothing
            self.refused = True
            raise
        if self.early is not None:  # under the lock: the stale output it removes is ours
            raise self.early

    def fetch(self) -> Path:
        self.schema = run_schema(self.params)
        self.source = source = self.steps.fetch(self.params, self.workdir)
        self.result.source_file = str(source)
        return source

    def check_file_quality(self, source: Path) -> None:
        self.quality_runs = self.steps.check_file(self.params, self.workdir, source)

    def comparison_base(self) -> WorkDir:
        """The archives a partial run compares with (:func:`delivery.comparison_base`)."""
        return delivery.comparison_base(self.workdir, dry_run=self.params.dry_run)

    def parse(self, source: Path) -> Table:
        assert self.schema is not None
        self.table = table = self.steps.parse(source, self.params, self.schema, self.workdir)
        self.schema = header.matched_schema(self.schema, table.columns)  # the file's own spelling
        return table

    def validate(self, table: Table) -> Blocked:
        assert self.schema is not None
        return self.steps.validate(self.steps.quote(table), self.schema)

    def check_data_quality(self, table: Table, blocked: Blocked) -> Blocked:
        """The data-quality rules; the rows they block join the blocked rows."""
        assert self.schema is not None
        q = self.steps.quote
        found = self.steps.check_rows(
            q(table), q(blocked), self.schema, self.params, self.workdir, q(self.previous_runs)
        )
        self.quality_runs = [*self.quality_runs, *found.runs]
        self.blocked = concat_reasons([blocked, found.blocked])  # the checks' after validation's
        guards.check_blocked_share(self.params, len(table), self.blocked)
        return self.blocked

    def compare(self, table: Table, blocked: Blocked, base: WorkDir) -> Changeset:
        assert self.schema is not None
        q, params = self.steps.quote, self.params
        self.changeset = self.steps.compare(
            q(table), q(blocked), self.schema, params, base, q(self.previous_runs)
        )
        return self.changeset

    def guard(self, table: Table, changeset: Changeset) -> GuardVerdict:
        """The limits; a refusing verdict is the interruption (the changes are still listed)."""
        self.verdict = verdict = self.steps.guard(
            self.params, len(table), self.steps.quote(changeset)
        )
        if verdict.interruption:
            self.result.interruption = verdict.interruption
        return verdict

    def list_changes(self, table: Table, changeset: Changeset) -> None:
        """A partial run's changes, for the admin task (a full run has none)."""
        if changeset.run_type != "partial":
            return
        assert self.schema is not None
        q = self.steps.quote
        self.run_changes = self.steps.changes(q(table), q(changeset), self.schema, self.params)

    def refile_admin_task(self) -> None:
        """The retry of a run whose files are published: file the kept admin task, nothing else."""
        record, workdir = self.pending, self.workdir
        assert record is not None
        log.warning(
            "Retry of run %s: its files were already published; only filing the kept admin task %s",
            record.run_key,
            workdir.admin_task_json.name,
        )
        task = AdminTask.model_validate_json(workdir.door.read_bytes(workdir.admin_task_json))
        self.result = result = record.result.model_copy(update={"report_error": None})
        file_report(result, task, self.sink, self.steps, workdir)
        filed = result.admin_task_id is not None
        runrecord.save(
            workdir, runrecord.RunRecord(run_key=record.run_key, result=result, report_filed=filed)
        )

    # --- after the decision --------------------------------------------------------------------

    def decide(self) -> None:
        """Take the decision: the run writes its files only when nothing stopped it."""
        result = self.result
        completed = result.interruption is None
        self.completed = completed

    def publish(self) -> None:
        """Publish the decided files (or clear a stale output); a refused run touches none."""
        result, params = self.result, self.params
        result.counts = _counts(self.table, self.blocked, self.changeset)
        if not self.completed:
            result.counts.output = 0  # nothing is written for the platform to import
        if self.changeset is not None:
            result.changeset = self.changeset.digest
        if not self.refused:
            self._write_files()
        if not self.completed:
            return
        result.decision = Decision.COMPLETED
        if not params.dry_run:
            result.output_path = str(self.workdir.output)
            if self.source is not None and self.schema is not None:
                quality.remember_file(
                    params, self.workdir, self.source, self.schema, self.quality_runs
                )

    def _write_files(self) -> None:
        q, workdir = self.steps.quote, self.workdir
        try:
            if self.completed and not self.params.dry_run:
                ending.commit_begins()  # SIGTERM no longer interrupts: the files are ended first
                delivery.before_commit(workdir)
            self.attachments = self.steps.publish(
                workdir,
                q(self.table),
                q(self.blocked),
                q(self.changeset),
                self.schema,
                self.params,
                self.completed,
            )
        except Exception as error:  # the disk is full, a folder at a file's path: no commit
            if isinstance(error, ConnectorError):  # refused by the door: a decision
                log.error("Could not write the run's files: %s", error)
                stop = Interruption.from_error(error)
            else:
                log.exception("Could not write the run's files")
                stop = unexpected(error, "The run's files could not be written")
            if self.result.interruption is None:  # a stopped run keeps its own reason
                self.result.interruption = stop
            self.completed = False
            self.result.counts.output = 0
            with contextlib.suppress(Exception):
                publish.publish_interrupted(workdir)

    def keep_and_file_admin_task(self) -> None:
        """The admin task that says what the run decided and why: kept as files, then filed
        (a dry run only logs it)."""
        own = self._admin_task()
        result, workdir = self.result, self.workdir
        if self.params.dry_run:
            log.info("Dry run: admin task not filed. It would read:")
            for line in own.description.splitlines():
                log.info("  %s", line)
            return
        if self.params.sftp is not None:
            from hr_connector.clients import sftp

            own = sftp.with_first_use(own, workdir, self.translations, self.started)
        task = filing.with_unfiled(own, workdir, self.translations)
        holder = result.interruption.figures.get("holder", "") if result.interruption else ""
        if not (self.refused and str(holder).endswith(f"task {workdir.task_id}")):
            # a run refused by a run of the same task must not replace that run's kept admin task
            try:
                result.admin_task_path = str(self.steps.keep_report(task, workdir))
            except Exception as error:  # e.g. a folder at its path: it is still filed
                log.error("Could not keep the admin task: %s", error)
        kept = own if result.admin_task_path else None
        file_report(result, task, self.sink, self.steps, workdir, own=kept)

    def _admin_task(self) -> AdminTask:
        params, result, translations, language = (
            self.params,
            self.result,
            self.translations,
            self.language,
        )
        key_column = self.schema.key_column if self.schema else ""
        blocked_list = report.blocked_rows(
            self.table, self.blocked, key_column, translations, language
        )
        listed = None
        if self.run_changes is not None:
            listed = self.run_changes.listed(params.report_max_rows)
            result.changes = listed
        attachments = self.attachments
        if not params.dry_run and not self.refused:
            attachments = attachments + self._changes_attachment(key_column)
        attachments, left_out = prepare_attachments(params, self.workdir, attachments)
        if not params.dry_run and not self.refused:
            attachments = [*attachments, report.data_attachment(self.workdir.admin_task_json)]
        data_quality = quality_report.build_report(
            self.quality_runs, self.table, translations, language
        )
        result.data_quality = data_quality.counts()
        changeset = self.changeset
        task = report.build_admin_task(
            translations=translations,
            language=language,
            task_id=self.workdir.task_id,
            data_type=params.data_type,
            run_type=params.run_type,
            file=self.source.name if self.source else params.file_path,
            counts=result.counts,
            interruption=result.interruption,
            verdict=self.verdict,
            changeset=result.changeset,
            removed=changeset.removed.to_list() if changeset and self.run_changes is None else None,
            approved_by=params.approved_by,
            blocked=blocked_list,
            attachments=attachments,
            dry_run=params.dry_run,
            changes=listed,
            data_quality=data_quality,
            notes=self.table.notes if self.table is not None else None,
        )
        return attachments_mod.with_not_attached(task, left_out, translations)

    def _changes_attachment(self, key_column: str) -> list[Attachment]:
        """``<taskid>_changes.csv`` for a partial run that got as far as its changes (stopped runs
        too: that is when the admin needs it), its blocked rows' lines in the admin task's
        language; otherwise an older list under this task ID goes."""
        try:
            if self.run_changes is None or self.table is None:
                changes_mod.remove_stale_csv(self.workdir)
                return []
            templates = {}
            for code in self.blocked.get_column("code").unique().to_list():
                texts = self.translations.cases.get(f"reason_{code}", {})
                templates[code] = texts.get(self.language, texts.get("en", code))
            blocked = changes_mod.blocked_lines(
                self.table, self.blocked, key_column, reason_texts(self.blocked, templates)
            )
            path = changes_mod.write_changes_csv(self.workdir, self.run_changes, blocked)
        except Exception:  # the list is for review; the run's decision stands without it
            log.exception("Could not write the changes attachment")
            return []
        return [Attachment(name=path.name, path=str(path))]

    def archive_remote_file(self) -> None:
        """A completed run moves the remote file to the SFTP archive folder (not a dry run)."""
        if self.params.dry_run or not self.completed or self.source is None:
            return
        result = self.result
        try:
            moved = self.steps.archive_remote(self.params, self.source)
            if moved:
                log.info("Moved the remote file to %s", moved)
        except Exception as exc:
            log.error("Could not move the remote file to the archive folder: %s", exc)
            result.report_error = result.report_error or f"SFTP archive move failed: {exc}"

    def end(self) -> None:
        """Record the run for a retry, and hand the output over: from here on it is the
        platform's (a dry run has nothing to record or hand over)."""
        if self.params.dry_run:
            return
        result, completed = self.result, self.completed
        if self.run_key and completed:
            runrecord.save(
                self.workdir,
                runrecord.RunRecord(
                    run_key=self.run_key,
                    result=result,
                    report_filed=result.admin_task_id is not None,
                ),
            )
        if completed:
            delivery.delivered(self.workdir)


def file_report(
    result: ImportResult,
    task: AdminTask,
    sink: report.ReportSink,
    steps: Steps,
    workdir: WorkDir,
    *,
    own: AdminTask | None = None,
) -> None:
    """File the admin task; a failure is the result's ``report_error`` (the decision stands).

    Filed, it also filed the earlier unfiled tasks it repeats (:mod:`hr_connector.filing`);
    not filed, ``own`` (the run's task without those repeats) is remembered for the next run.
    """
    try:
        result.admin_task_id = steps.file_report(task, sink)
    except Exception as exc:  # the task is kept to be re-sent
        result.report_error = f"{type(exc).__name__}: {exc}"
        log.error("%s", filing.outcome_line(result))
        if own is not None:
            filing.remember(workdir, own, result.report_error)
        return
    result.attachments_refused = list(sink.refused)
    log.info("%s", filing.outcome_line(result))
    filing.forget(workdir)


def unexpected(error: BaseException, what: str) -> Interruption:
    """An interruption for an error nobody planned for; the log has the traceback."""
    message = f"{what}: {type(error).__name__}: {error}"
    return Interruption(
        case="run_failed",
        message=message + ".",
        hint="See the run's log for details; fix the cause and rerun the task.",
        figures={"message": message},
    )


def _counts(table: Table | None, blocked: Blocked, changeset: Changeset | None) -> RunCounts:
    if table is None:
        return RunCounts()
    rows, stopped = len(table), blocked_count(blocked)
    counts = RunCounts(rows_read=rows, valid=rows - stopped, blocked=stopped)
    if changeset is not None and changeset.run_type == "full":
        counts.output = changeset.updates
    elif changeset is not None:
        counts.new = len(changeset.new)
        counts.changed = len(changeset.changed)
        counts.unchanged = changeset.unchanged
        counts.removed = len(changeset.removed)
        counts.output = changeset.updates
    return counts
