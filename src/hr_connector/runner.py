"""One run of the connector, with its log file and secret redaction, with or without Prefect.

:func:`opened_run` is what every run needs around the sequence
(:func:`hr_connector.pipeline.hr_import`): the run's log file, its lock, its artifacts. The Prefect
flows open it with the task wrappers; :func:`run_plain` with the plain step functions, for callers
that have no Prefect API to record the run on (see ``hr_connector.epe``). Neither this module nor
the sequence imports Prefect.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hr_connector import artifacts, filing, progress, report
from hr_connector.door import FileRefused
from hr_connector.errors import ParametersInvalid, RunLocked
from hr_connector.failsafe import logged
from hr_connector.outcome import AdminTask, Decision, ImportResult, Interruption, RunCounts
from hr_connector.params import (
    ConnectorParams,
    WebApiSettings,
    is_secret_key,
    secret_values,
    webapi_settings_from_raw,
)
from hr_connector.pipeline import ImportRun, file_report, hr_import, started
from hr_connector.runlog import register_secrets, run_log_file, run_log_to
from hr_connector.schemas import SCHEMAS
from hr_connector.sinks import make_sink
from hr_connector.steps import PLAIN_STEPS, Steps, write_admin_task
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir, remove, run_lock

log = logging.getLogger("hr_connector.run")


@contextlib.contextmanager
def opened_run(
    params: ConnectorParams,
    workdir: Path,
    task_id: str,
    steps: Steps = PLAIN_STEPS,
    run_key: str | None = None,
) -> Iterator[ImportRun]:
    """What every run needs around its sequence: the log file (stderr for a dry run), the
    progress of long steps, the run (:func:`hr_connector.pipeline.started`: retry record, lock),
    and after it the artifacts and the run's last line."""
    register_secrets(secret_values(params))
    wd = WorkDir(workdir, task_id, params.data_type)
    with contextlib.ExitStack() as logging_to:
        refused = None
        try:
            logging_to.enter_context(
                run_log_to(logging.StreamHandler(sys.stderr), debug=params.debug)
                if params.dry_run  # a dry run writes nothing, not even its log: stderr instead
                else run_log_file(wd.log, debug=params.debug)
            )
        except FileRefused as error:  # the run stops under its lock, as for any other stop
            refused = error
            logging_to.enter_context(run_log_to(logging.NullHandler(), debug=params.debug))
        log.info(
            "HR import %s, task %s, %s run%s, working directory %s",
            params.data_type,
            task_id,
            params.run_type,
            " (dry run)" if params.dry_run else "",
            wd.root,
        )
        log.debug("Parameters: %s", params.safe_dump())
        translations = Translations.load(wd.translation_override)
        had_output = _has_output(wd)  # a stopped run removes it: the summary says so
        sink = make_sink(params, translations)
        with (
            progress.watching(steps) as watched,
            started(params, wd, sink, watched, translations, run_key, refused) as run,
        ):
            yield run
        if params.dry_run or refused:
            run.result.log_path = None  # a dry run writes nothing, not even its log
        artifacts.publish_run_artifacts(run.result, wd, had_output)
        log.info("%s", state_message(run.result))


def _has_output(wd: WorkDir) -> bool:
    try:
        return wd.door.exists(wd.output)
    except FileRefused:  # not the connector's file: the run says so when it reaches it
        return False


def run_plain(
    params: ConnectorParams, workdir: Path, task_id: str, steps: Steps = PLAIN_STEPS
) -> ImportResult:
    """The sequence in its run, without Prefect (the EPE script's plain mode)."""
    with opened_run(params, workdir, task_id, steps) as run:
        hr_import(run)
    return run.result


def decision_message(result: ImportResult) -> str:
    """What the run decided, with its figures, in one sentence."""
    c = result.counts
    if result.decision is Decision.INTERRUPTED:
        assert result.interruption is not None
        return f"Interrupted, nothing imported: {result.interruption}"
    text = (
        f"Completed{' (dry run)' if result.dry_run else ''}: {c.rows_read} rows read, "
        f"{c.blocked} blocked, {c.output} to import"
    )
    if result.run_type != "full":  # a full run has no new, changed or removed rows
        text += f" ({c.new} new, {c.changed} changed, {c.removed} removed)"
    return text


def state_message(result: ImportResult) -> str:
    """The decision, and what became of the admin task when that needs a look: the Prefect
    state's message and the run log's last line."""
    parts = [decision_message(result).rstrip(".")]
    if result.admin_task_id is not None and result.report_error:
        parts.append(result.report_error)  # a step after the filing (the SFTP archive move)
    elif result.report_error or result.attachments_refused:
        parts.append(filing.outcome_line(result) or "")
    return ". ".join(parts)


def report_unusable_parameters(
    raw: Mapping[str, Any], error: ParametersInvalid, workdir: Path, task_id: str
) -> ImportResult:
    """Extra arguments missing: interrupted; the admin task is filed if the Web API keys work."""
    data_type = str(raw.get("data_type") or "unknown")
    wd = WorkDir(workdir, task_id, data_type if data_type.isidentifier() else "unknown")
    result = ImportResult(
        task_id=task_id,
        data_type=data_type,
        run_type=str(raw.get("run_type") or "partial"),
        decision=Decision.INTERRUPTED,
        interruption=Interruption.from_error(error),
        log_path=str(wd.log),
    )
    with contextlib.ExitStack() as held:
        try:  # the output is the task's, whatever data type holds it: lock them all first
            for each in SCHEMAS:
                held.enter_context(run_lock(WorkDir(workdir, task_id, each)))
        except (RunLocked, FileRefused) as refusal:  # not ours to touch now: touch none
            result.interruption = Interruption(
                case=refusal.case,
                message=f"{error.message} {refusal.message}",
                hint=refusal.hint,
                figures=Interruption.from_error(refusal).figures,
            )
            log.error("Run refused, no file touched: %s %s", error, refusal)
            return result
        kept = _report_unusable(raw, error, wd, result)
    if kept is not None:  # filed after the locks are released: the ESM may be slow
        tasks, settings = kept
        with logged(wd, debug=False):
            from hr_connector.clients import esm

            file_report(result, tasks[1], esm.sink_for(settings), PLAIN_STEPS, wd, own=tasks[0])
    return result


def _report_unusable(
    raw: Mapping[str, Any], error: ParametersInvalid, wd: WorkDir, result: ImportResult
) -> tuple[tuple[AdminTask, AdminTask], WebApiSettings] | None:
    """Under the run locks: log, remove the stale output, keep the admin task to file."""
    with logged(wd, debug=bool(raw.get("debug") in (True, "true", "True"))):
        log.error("Run interrupted: %s", error)
        if remove(wd.output):
            log.info("Removed the stale output %s", wd.output.name)
        settings = webapi_settings_from_raw(raw)
        web_keys = sorted(k for k in (*error.missing, *error.invalid) if k.startswith("webapi_"))
        if settings is None or web_keys:
            # never send an unresolved reference as a password: the ESM's answer would hide
            # the parameter problem behind a login error
            log.error(
                "The Web API parameters are not usable either%s: no admin task is filed",
                f" ({', '.join(web_keys)})" if web_keys else "",
            )
            return None
        register_secrets([settings.webapi_password.get_secret_value()])
        file = str(raw.get("file_path") or "-")
        tasks = keep_interruption_task(result, wd, settings.language, file)
    return tasks, settings


def keep_interruption_task(
    result: ImportResult, wd: WorkDir, language: str, file: str
) -> tuple[AdminTask, AdminTask]:
    """The admin task of a run that ended before reading a file, kept as the run's files:
    (the run's own task, the task kept and filed, which repeats earlier unfiled ones)."""
    assert result.interruption is not None
    translations = Translations.load(wd.translation_override)
    language = language if language in translations.languages() else "en"
    own = report.build_admin_task(
        translations=translations,
        language=language,
        task_id=result.task_id,
        data_type=result.data_type,
        run_type=result.run_type,
        file=file,
        counts=RunCounts(),
        interruption=result.interruption,
        attachments=[report.data_attachment(wd.admin_task_json)],
    )
    task = filing.with_unfiled(own, wd, translations)
    result.admin_task_path = str(write_admin_task(task, wd))
    return own, task


def file_interruption_task(
    result: ImportResult, wd: WorkDir, language: str, file: str, sink: report.ReportSink
) -> None:
    """The admin task of a run that ended before reading a file: keep it, then file it."""
    own, task = keep_interruption_task(result, wd, language, file)
    file_report(result, task, sink, PLAIN_STEPS, wd, own=own)


def secret_strings(raw: Mapping[str, Any]) -> list[str | None]:
    return [str(v) for k, v in raw.items() if v is not None and is_secret_key(k)]
