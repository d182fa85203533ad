"""The HR import flows, one per data type, so the Prefect UI shows which one ran.

Each flow runs :func:`hr_connector.runner.execute` with the Prefect task wrappers: every step is
a task run in the UI, the run logs to ``<taskid>_log.txt`` with secrets redacted, and artifacts
summarise it. An interrupted run (missing file, update limit, …) ends **Failed** with a message
that says what to fix, so an operator can fix the file and rerun. The typed
:class:`ImportResult` is the Completed state's result, and rides on the Failed state's exception
(:class:`RunNotCompleted`) otherwise; :func:`run_flow` returns it in both cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Flow, flow
from prefect.states import Completed, Failed, State

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import ConnectorParams, DataType
from hr_connector.runner import execute, state_message
from hr_connector.tasks import PREFECT_STEPS


class RunNotCompleted(Exception):
    """The Failed state's exception: carries the run's result for in-process callers."""

    def __init__(self, message: str, result: ImportResult) -> None:
        super().__init__(message)
        self.result = result


def import_body(
    data_type: DataType, params: ConnectorParams, workdir: str, task_id: str
) -> State[Any]:
    if params.data_type != data_type:
        raise ValueError(f"this flow imports {data_type}, the parameters say {params.data_type}")
    result = execute(params, Path(workdir), task_id, PREFECT_STEPS)
    message = state_message(result)
    if result.decision is Decision.INTERRUPTED or result.report_error:
        return Failed(message=message, data=RunNotCompleted(message, result))
    return Completed(message=message, data=result)


def _make(data_type: DataType) -> Flow[..., Any]:
    def hr_import(params: ConnectorParams, workdir: str, task_id: str) -> State[Any]:
        return import_body(data_type, params, workdir, task_id)

    hr_import.__doc__ = f"Import {data_type} rows from the HR file into the IGA solution."
    hr_import.__name__ = f"hr_import_{data_type}"
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
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, ImportResult):
        return outcome
    if isinstance(outcome, RunNotCompleted):
        return outcome.result
    # The flow crashed before it had a result (a bug, or Prefect itself failed): re-raise it.
    if isinstance(outcome, BaseException):
        raise outcome
    raise RuntimeError(f"The flow ended {state.type.value} without a result: {state.message}")
