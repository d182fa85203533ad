"""The HR import flows, one per data type, so the Prefect UI shows which one ran.

Each flow runs :func:`hr_connector.pipeline.run_import` with the Prefect task wrappers, logs to
``<taskid>_log.txt`` with secrets redacted, publishes a summary artifact, and ends **Failed** when
the run was interrupted (missing file, update limit, …) with a message that says what to fix, so
an operator can fix the file and rerun. The typed :class:`ImportResult` is returned on success
and carried in the Failed state's data otherwise (see :func:`run_flow`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hr_connector.tasks import PREFECT_STEPS
from prefect import Flow, flow
from prefect.states import Completed, Failed, State

from hr_connector import artifacts
from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import SECRET_KEYS, ConnectorParams, DataType
from hr_connector.pipeline import run_import
from hr_connector.runlog import register_secrets, run_log_file
from hr_connector.sinks import make_sink
from hr_connector.workdir import WorkDir

log = logging.getLogger("hr_connector.flow")


def _secrets(params: ConnectorParams) -> list[str | None]:
    values: list[str | None] = []
    for key in SECRET_KEYS:
        secret = getattr(params, key, None)
        values.append(secret.get_secret_value() if secret is not None else None)
    return values


def import_body(
    data_type: DataType, params: ConnectorParams, workdir: str, task_id: str
) -> State[Any]:
    if params.data_type != data_type:
        raise ValueError(f"this flow imports {data_type}, the parameters say {params.data_type}")
    register_secrets(_secrets(params))
    wd = WorkDir(Path(workdir), task_id, data_type)
    with run_log_file(wd.log, debug=params.debug):
        log.info(
            "HR import %s, task %s, %s run%s, working directory %s",
            data_type,
            task_id,
            params.run_type,
            " (dry run)" if params.dry_run else "",
            wd.root,
        )
        result = run_import(params, wd, make_sink(params), PREFECT_STEPS)
        artifacts.publish_run_artifacts(result, wd)
        message = state_message(result)
        log.info("%s", message)
    if result.decision is Decision.INTERRUPTED or result.report_error:
        return Failed(message=message, data=result)
    return Completed(message=message, data=result)


def state_message(result: ImportResult) -> str:
    c = result.counts
    if result.decision is Decision.INTERRUPTED:
        assert result.interruption is not None
        return f"Interrupted, nothing imported: {result.interruption}"
    text = (
        f"Completed: {c.rows_read} rows read, {c.blocked} blocked, {c.output} to import "
        f"({c.new} new, {c.changed} changed, {c.removed} removed)"
    )
    if result.report_error:
        text += (
            f". The admin task could NOT be filed ({result.report_error}); it is kept in "
            f"{result.admin_task_path}: re-send it with 'hr-connector resend-report'"
        )
    return text


def _make(data_type: DataType) -> Flow[..., Any]:
    def hr_import(params: ConnectorParams, workdir: str, task_id: str) -> State[Any]:
        return import_body(data_type, params, workdir, task_id)

    hr_import.__doc__ = f"Import {data_type} rows from the HR file into the IGA solution."
    return flow(
        hr_import,
        name=f"hr-import-{data_type}",
        flow_run_name=f"{data_type}-task-{{task_id}}",
        persist_result=False,
        log_prints=False,
    )


hr_import_costcenter = _make("costcenter")
hr_import_organization = _make("organization")
hr_import_title = _make("title")
hr_import_workperiod = _make("workperiod")

FLOWS: dict[str, Flow[..., Any]] = {
    "costcenter": hr_import_costcenter,
    "organization": hr_import_organization,
    "title": hr_import_title,
    "workperiod": hr_import_workperiod,
}


def run_flow(params: ConnectorParams, workdir: Path, task_id: str) -> ImportResult:
    """Run the data type's flow in this process and return its result, Completed or Failed."""
    state = FLOWS[params.data_type](
        params=params, workdir=str(workdir), task_id=task_id, return_state=True
    )
    data = state.data
    if isinstance(data, ImportResult):
        return data
    # The flow crashed before it had a result (a bug, or Prefect itself failed): re-raise it.
    state.result()
    raise RuntimeError(f"The flow ended {state.type.value} without a result: {state.message}")
