"""Shared helpers of the tests that run flows on a real Prefect server: the step names, the
parameters, and what the server holds about a flow run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conftest import ESM_USER, base_raw

STEPS = {
    "fetch-hr-file",
    "parse-hr-file",
    "validate-rows",
    "compare-with-archive",
    "guard-import",
    "publish-files",
    "keep-admin-task",
    "file-admin-task",
}


def raw(esm: Any, **extra: Any) -> dict[str, Any]:
    return base_raw(webapi_url=esm.url, webapi_user=ESM_USER, **extra)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def flow_run_named(name: str) -> Any:
    """The flow run whose name is ``name`` followed by its date (``<name> 2026-11-29 05:45``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name))
        )
    runs = [r for r in runs if r.name == name or r.name.startswith(name + " ")]
    return runs[0] if runs else None


def task_run_names(flow_run_id: Any) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {t.name.rsplit("-", 1)[0] for t in tasks if t.state and t.state.is_final()}


def artifacts_of(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def stored_text(flow_run_id: Any) -> str:
    """Everything the Prefect server holds about one flow run, as text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    parts = [run.model_dump_json()]
    parts += [t.model_dump_json() for t in tasks]
    parts += [a.model_dump_json() for a in artifacts]
    parts += [log.model_dump_json() for log in logs]
    return "\n".join(parts)
