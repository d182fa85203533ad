"""Shared helpers of the tests that run flows on a real Prefect server: the step names, the
parameters, what the server holds about a flow run, and the Prefect CLI, a process worker and
deployment runs (prefect.yaml for real)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conftest import ESM_USER, REPO, base_raw

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


PREFECT = str(Path(sys.executable).parent / "prefect")


def cli_env(api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


def prefect_cli(api_url: str, *args: str) -> str:
    proc = subprocess.run(
        [PREFECT, "--no-prompt", *args],
        cwd=REPO,
        env=cli_env(api_url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@contextlib.contextmanager
def process_worker(
    api_url: str, limit: int = 2, output: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    """A process worker; ``output`` keeps its stdout and stderr (the flow runs' too)."""
    sink = output.open("w", encoding="utf-8") if output else subprocess.DEVNULL
    worker = subprocess.Popen(
        [
            PREFECT,
            "worker",
            "start",
            "--pool",
            "hr-connector",
            "--type",
            "process",
            "--limit",
            str(limit),
        ],
        cwd=REPO,
        env={**cli_env(api_url), "PREFECT_LOGGING_LEVEL": "INFO"} if output else cli_env(api_url),
        stdout=sink,
        stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        stop_group(worker, grace=20)
        if output:
            sink.close()  # type: ignore[union-attr]


def run_params(esm: Any, data_type: str, fmt: str = "csv", **extra: Any) -> dict[str, Any]:
    return {
        "data_type": data_type,
        "file_path": f"./{data_type}/*.{fmt}",
        "run_type": "full",
        "update_limit": 100,
        "webapi_url": esm.url,
        "webapi_user": ESM_USER,
        "webapi_password": "prefect-secret:acme-webapi-password",
        "report_template_code": "IGAWorkflowTaskInformation",
        **extra,
    }


def trigger(
    name: str, workdir: Path, task_id: str, params: dict[str, Any], **overrides: Any
) -> Any:
    from prefect.deployments import run_deployment

    return run_deployment(
        name,
        parameters={"workdir": str(workdir), "task_id": task_id, "params": params, **overrides},
        timeout=0,
    )


def wait_final(flow_run_ids: list[Any], timeout: float = 180) -> list[Any]:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = [client.read_flow_run(i) for i in flow_run_ids]
            if all(r.state and r.state.is_final() for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(f"runs not final: {[r.state for r in runs]}")
            time.sleep(1)


def stop_group(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM to the process group ``proc`` leads; SIGKILL if still there after ``grace`` s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
