"""The options every step's task shares, defined once.

No task caches or persists its result (results hold personal data); only the steps that touch the
network retry, and only on transient errors (:mod:`._retry`); a step that can stop the run ends
its task run Failed with the reason (:func:`._stops.stops_as_failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

from hr_connector.tasks._retry import NETWORK_RETRY_DELAYS, retry_transient
from hr_connector.tasks._stops import stops_as_failed


def step_task(
    fn: Callable[..., Any],
    name: str,
    *,
    network: bool = False,
    stops: bool = True,
    **options: Any,
) -> Task[..., Any]:
    """The Prefect task of a plain step function.

    ``network``: the step talks to SFTP or the ESM and retries transient errors. ``stops``: a
    :class:`~hr_connector.errors.ConnectorError` (or a refusing guard verdict) ends the task run
    Failed with the reason rather than as a crash. ``options``: more ``task()`` options (a run
    name).
    """
    if network:
        options.update(
            retries=len(NETWORK_RETRY_DELAYS),
            retry_delay_seconds=NETWORK_RETRY_DELAYS,
            retry_condition_fn=retry_transient,
        )
    return task(name=name, cache_policy=NO_CACHE, persist_result=False, **options)(
        stops_as_failed(fn) if stops else fn
    )
