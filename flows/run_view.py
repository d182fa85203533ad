"""How a flow run tells its own story in the Prefect UI.

- :func:`run_name`: a name an operator can tell apart (deployment or data type and task, date).
- :func:`origin`: whether the run came from a deployment, so hints speak Prefect (see
  :mod:`hr_connector.advice`).
- :func:`logs_in_prefect`: the connector's own log lines (rows read, blocked rows, the guard's
  decision, filing the admin task…) go to the run's Logs tab too, with their levels; they are the
  same records as in ``<taskid>_log.txt`` (redacted once, at creation, by ``runlog``).
- :func:`quiet_expected_stops`: a run that stops on purpose ends Failed with its message; Prefect's
  "Engine execution exited with unexpected exception" and its traceback are not logged for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler
from prefect.runtime import deployment, flow_run

from hr_connector.advice import EPE, RunOrigin


class ExpectedStop(Exception):
    """Base of the exceptions that carry a run's Failed-by-decision outcome."""


def run_name(data_type: str) -> str:
    """``acme-workperiod 2026-11-29 05:45`` (deployment) or ``workperiod-task-42 2026-11-29 05:45``.

    A one-off approval or full load says so: ``… (approval)``, ``… (full load)``.
    """
    parameters: dict[str, Any] = flow_run.parameters or {}
    started = flow_run.scheduled_start_time
    when = (started if isinstance(started, datetime) else datetime.now()).astimezone()
    deployment_name = deployment.name
    if deployment_name:
        head = deployment_name if data_type in deployment_name else f"{deployment_name}-{data_type}"
    else:
        head = f"{data_type}-task-{parameters.get('task_id')}"
    name = f"{head} {when:%Y-%m-%d %H:%M}"
    if parameters.get("approved_changeset") or parameters.get("override_update_limit"):
        name += " (approval)"
    if parameters.get("run_type") == "full":
        name += " (full load)"
    return name


def origin() -> RunOrigin:
    """The run's origin: the deployment that started it, else the EPE wrapper's terms."""
    if not deployment.id or not deployment.name:
        return EPE
    return RunOrigin(deployment=f"{flow_run.flow_name}/{deployment.name}")


def deployment_workdir(workdir: str, run_origin: RunOrigin) -> tuple[str, str | None]:
    """The working directory of a run, or why it is refused (nothing is then read or written).

    A deployment's relative ``workdir`` (the example deployments' ``acme/title``) lives under
    ``HR_CONNECTOR_HOME``, set on the worker: the operator chooses where files go. Without it the
    run is refused rather than writing under the worker's temporary folder or the root.
    """
    if "{{" in workdir:
        return workdir, (
            f"The working directory '{workdir}' holds an unresolved template. Give a real path "
            "in the deployment's workdir (or -p workdir=... for one run). Nothing was read or "
            "written."
        )
    if not run_origin.is_deployment or Path(workdir).is_absolute():
        return workdir, None
    home = os.environ.get("HR_CONNECTOR_HOME", "").strip()
    if not home or not Path(home).is_absolute():
        return workdir, (
            f"The working directory '{workdir}' is relative and the worker has no "
            "HR_CONNECTOR_HOME (an absolute folder under which deployments keep their files): "
            "start the worker with HR_CONNECTOR_HOME=/srv/hr-connector (say), or give an "
            "absolute workdir. Nothing was read or written."
        )
    return str(Path(home) / workdir), None


class _RunContextFilter(logging.Filter):
    """Give each record the flow run (and task run) it belongs to, for the API handler."""

    def __init__(self, flow_run_id: Any) -> None:
        super().__init__()
        self.flow_run_id = flow_run_id

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "flow_run_id", None) is None:
            record.flow_run_id = self.flow_run_id
            task_run = TaskRunContext.get()
            if task_run is not None and task_run.task_run.flow_run_id == self.flow_run_id:
                record.task_run_id = task_run.task_run.id
        return True


@contextlib.contextmanager
def logs_in_prefect(logger_name: str = "hr_connector") -> Iterator[None]:
    """Send ``logger_name``'s records to this flow run's Logs tab while the block runs."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        yield
        return
    handler = APILogHandler()
    handler.addFilter(_RunContextFilter(context.flow_run.id))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.flush()


class _ExpectedStopFilter(logging.Filter):
    """Drop Prefect's "unexpected exception" record when the exception is an expected stop, and
    its "Task run failed with state" (logged with an empty traceback): only a step's expected stop
    returns a Failed state here, and "Finished in state Failed(…)" says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Task run failed with state: "):
            return False
        if "unexpected exception" not in str(record.msg):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ExpectedStop):
            return False
        # runlog's record factory renders (and redacts) tracebacks into exc_text at creation
        text = record.exc_text or ""
        return not any(f".{cls.__name__}: " in text for cls in _subclasses(ExpectedStop))


def _subclasses(cls: type[Exception]) -> list[type[Exception]]:
    return [found for sub in cls.__subclasses__() for found in (sub, *_subclasses(sub))]


_QUIET = _ExpectedStopFilter()


def quiet_expected_stops() -> None:
    """Install the filter on the loggers the flow engine reports with (idempotent)."""
    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.engine"):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
