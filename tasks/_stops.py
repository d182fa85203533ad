"""An expected stop as the Failed state of the step that took it.

:func:`stops_as_failed` wraps a step function before it becomes a task: a
:class:`~hr_connector.errors.ConnectorError` (missing file, unreadable file, …) and a guard verdict
that refuses the import end the task run **Failed**, with the reason as its state message and
without a traceback (a raised exception would be logged as one). Transient errors still retry: the
task's ``retry_condition_fn`` sees the same exception in the Failed state.

:class:`StepCall` is what the pipeline calls: it turns the Failed state back into what the plain
step gives (the exception raised, or the guard's verdict returned) and records the stopping step
for the run's summary.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.runtime import task_run
from prefect.states import Failed, State

from hr_connector import advice
from hr_connector.errors import ConnectorError
from hr_connector.outcome import GuardVerdict


class GuardStopped(Exception):
    """The guard refused the import; carries its verdict through the Failed state."""

    def __init__(self, verdict: GuardVerdict) -> None:
        super().__init__(str(verdict.interruption))
        self.verdict = verdict


def stops_as_failed(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def step(*args: Any, **kwargs: Any) -> Any:
        try:
            value = fn(*args, **kwargs)
        except ConnectorError as error:
            return Failed(message=str(error), data=error)
        if isinstance(value, GuardVerdict) and value.interruption is not None:
            return Failed(message=str(value.interruption), data=GuardStopped(value))
        return value

    return step


class StepCall:
    """Call a step's task the way the pipeline calls the plain step."""

    def __init__(self, task: Task[..., Any], *, stops_run: bool = True) -> None:
        self.task = task
        self.name = task.name
        #: False for the steps that run after the decision (their failure is not the run's stop)
        self.stops_run = stops_run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outcome = self.task(*args, **kwargs)
        if not isinstance(outcome, State):  # completed: the step's value
            return outcome
        # the step's own Failed state (a raised bug is re-raised by the task call itself)
        error = outcome.result(raise_on_failure=False)
        if isinstance(error, GuardStopped):
            advice.note_stop(self.name)
            return error.verdict
        if isinstance(error, ConnectorError) and self.stops_run:
            advice.note_stop(self.name)
        if isinstance(error, BaseException):
            raise error
        raise RuntimeError(f"{self.name} ended {outcome.type.value}: {outcome.message}")


def publish_run_name() -> str:
    """``publish-files`` when a run writes its files; else what the step really does."""
    parameters = task_run.parameters or {}
    params = parameters.get("params")
    if getattr(params, "dry_run", False):
        name = "dry-run-writes-nothing"
    elif parameters.get("completed"):
        name = "publish-files"
    else:
        name = "remove-stale-output"
    return f"{name}-{secrets.token_hex(2)}"
