"""One run of the connector, with its log file and secret redaction, with or without Prefect.

:func:`execute` is the body of every flow; :func:`run_plain` calls it with the plain step
functions, for callers that have no Prefect API to record the run on (see ``hr_connector.epe``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hr_connector import artifacts
from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import SECRET_KEYS, ConnectorParams
from hr_connector.pipeline import PLAIN_STEPS, Steps, run_import
from hr_connector.runlog import register_secrets, run_log_file
from hr_connector.sinks import make_sink
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.run")


def secret_values(params: ConnectorParams) -> list[str | None]:
    values: list[str | None] = []
    for key in SECRET_KEYS:
        secret = getattr(params, key, None)
        values.append(secret.get_secret_value() if secret is not None else None)
    return values


def execute(params: ConnectorParams, workdir: Path, task_id: str, steps: Steps) -> ImportResult:
    register_secrets(secret_values(params))
    wd = WorkDir(workdir, task_id, params.data_type)
    with run_log_file(wd.log, debug=params.debug):
        log.info(
            "HR import %s, task %s, %s run%s, working directory %s",
            params.data_type,
            task_id,
            params.run_type,
            " (dry run)" if params.dry_run else "",
            wd.root,
        )
        log.debug("Parameters: %s", params.safe_dump())
        result = run_import(params, wd, make_sink(params), steps)
        artifacts.publish_run_artifacts(result, wd)
        log.info("%s", state_message(result))
    return result


def run_plain(params: ConnectorParams, workdir: Path, task_id: str) -> ImportResult:
    return execute(params, workdir, task_id, PLAIN_STEPS)


def state_message(result: ImportResult) -> str:
    c = result.counts
    if result.decision is Decision.INTERRUPTED:
        assert result.interruption is not None
        return f"Interrupted, nothing imported: {result.interruption}"
    text = (
        f"Completed{' (dry run)' if result.dry_run else ''}: {c.rows_read} rows read, "
        f"{c.blocked} blocked, {c.output} to import ({c.new} new, {c.changed} changed, "
        f"{c.removed} removed)"
    )
    if result.report_error:
        text += (
            f". The admin task could NOT be filed ({result.report_error}); it is kept in "
            f"{result.admin_task_path}: re-send it with 'hr-connector resend-report'"
        )
    return text
