"""Prefect tasks: the plain steps (:data:`hr_connector.steps.PLAIN_STEPS`), each a named task.

:func:`prefect_steps` makes one run's set, with the options they share defined once: no task
caches or persists its result (results hold personal data); only the steps that touch the network
(fetch, filing the admin task, the remote archive move) retry, after the run's
``retry_delays``, and only on transient errors; a step that can stop the run ends its task run
Failed with the reason (:mod:`._stops`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from hr_connector.errors import TransientError
from hr_connector.steps import PLAIN_STEPS, Steps
from hr_connector.tasks._stops import StepCall, publish_run_name, stops_as_failed


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry refused/reset/timed-out connections and 5xx answers; never auth or bad input."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def _task(fn: Callable[..., Any], name: str, *, stops: bool = True, **options: Any) -> Any:
    """The Prefect task of a plain step. ``stops``: a
    :class:`~hr_connector.errors.ConnectorError` (or a refusing guard verdict) ends the task run
    Failed with the reason rather than as a crash."""
    return task(name=name, cache_policy=NO_CACHE, persist_result=False, **options)(
        stops_as_failed(fn) if stops else fn
    )


def prefect_steps(retry_delays: Sequence[float]) -> Steps:
    """The import's steps as Prefect tasks, in the order the sequence calls them
    (:func:`hr_connector.pipeline.hr_import`); the network steps retry after ``retry_delays``."""
    plain = PLAIN_STEPS
    network: dict[str, Any] = {
        "retries": len(retry_delays),
        "retry_delay_seconds": list(retry_delays),
        "retry_condition_fn": retry_transient,
    }
    after = {"stops_run": False}  # the steps after the decision: their failure is no stop
    return Steps(
        fetch=StepCall(_task(plain.fetch, "fetch-hr-file", **network)),
        check_file=StepCall(_task(plain.check_file, "check-file-quality")),
        parse=StepCall(_task(plain.parse, "parse-hr-file")),
        validate=StepCall(_task(plain.validate, "validate-rows")),
        check_rows=StepCall(_task(plain.check_rows, "check-data-quality")),
        compare=StepCall(_task(plain.compare, "compare-with-archive")),
        guard=StepCall(_task(plain.guard, "guard-import")),
        changes=StepCall(_task(plain.changes, "list-changes", stops=False), **after),
        publish=StepCall(
            _task(plain.publish, "publish-files", task_run_name=publish_run_name), **after
        ),
        keep_report=StepCall(_task(plain.keep_report, "keep-admin-task"), **after),
        file_report=StepCall(_task(plain.file_report, "file-admin-task", **network), **after),
        archive_remote=StepCall(
            _task(plain.archive_remote, "archive-remote-file", **network), **after
        ),
        quote=quote,
    )


__all__ = ["prefect_steps"]
