"""The flows on a real Prefect server: task runs, states, messages, artifacts, stored parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision

from conftest import WEBAPI_PASSWORD, place
from prefect_helpers import (
    STEPS,
    artifacts_of,
    eventually,
    flow_run_named,
    raw,
    task_run_names,
)

pytestmark = pytest.mark.integration


def test_completed_flow_run_with_every_step_as_a_task(
    prefect_server: str, workdir: Path, samples: Path, esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    place(workdir, samples / "workperiod" / "workperiod.xml")
    result = run_flow(raw(esm, fmt="xml"), workdir, "11")
    assert result.decision is Decision.COMPLETED
    assert result.admin_task_id and not result.report_error
    run = flow_run_named("workperiod-task-11")
    assert run is not None and run.state.is_completed()
    assert run.flow_id is not None
    assert eventually(lambda: task_run_names(run.id) >= STEPS), task_run_names(run.id)
    arts = eventually(lambda: artifacts_of(run.id))
    assert {"hr-workperiod-summary", "hr-workperiod-admin-task"} <= set(arts)
    # secrets never reach Prefect's database
    stored = json.dumps(run.parameters)
    assert WEBAPI_PASSWORD not in stored and "memory:" in stored
    for art in arts.values():
        assert WEBAPI_PASSWORD not in json.dumps(art.data, default=str)


def test_interrupted_flow_run_is_failed_and_says_what_to_fix(
    prefect_server: str, workdir: Path, esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    result = run_flow(raw(esm, data_type="title"), workdir, "12")
    assert result.decision is Decision.INTERRUPTED
    run = flow_run_named("title-task-12")
    assert run.state.is_failed()
    assert "No HR file matches" in run.state.message
    assert "deliver it and rerun" in run.state.message
    # the admin task was filed all the same
    assert result.admin_task_id and (workdir / "12_admin_task.json").exists()


def test_rerun_after_the_file_is_fixed_completes(
    prefect_server: str, workdir: Path, samples: Path, esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    (workdir / "in").mkdir()
    (workdir / "in" / "costcenter.csv").write_bytes(b"")
    first = run_flow(raw(esm, data_type="costcenter"), workdir, "13")
    assert first.interruption and first.interruption.case == "file_empty"
    place(workdir, samples / "costcenter" / "costcenter.csv")
    second = run_flow(raw(esm, data_type="costcenter"), workdir, "13")
    assert second.decision is Decision.COMPLETED and second.counts.output == 8


def test_secret_references_are_resolved_inside_the_run(
    prefect_server: str, workdir: Path, samples: Path, esm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_connector.flows.hr_import import hr_import_title

    monkeypatch.setenv("HR_TEST_ESM_PASSWORD", WEBAPI_PASSWORD)
    place(workdir, samples / "title" / "title.csv")
    params = raw(esm, data_type="title", webapi_password="env:HR_TEST_ESM_PASSWORD")
    state = hr_import_title(params=params, workdir=str(workdir), task_id="14", return_state=True)
    assert state.is_completed(), state.message
    missing = {**params, "webapi_password": "env:HR_TEST_NOT_SET"}
    state = hr_import_title(params=missing, workdir=str(workdir), task_id="15", return_state=True)
    assert state.is_failed() and "HR_TEST_NOT_SET" in state.message


def task_runs_named(flow_run_id: Any, prefix: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return [t for t in tasks if t.name.startswith(prefix)]


def test_retry_after_a_failed_report_files_it_without_redoing_the_data_steps(
    prefect_server: str, workdir: Path, samples: Path, esm: Any
) -> None:
    from hr_connector.flows.hr_import import hr_import_title

    place(workdir, samples / "title" / "title.csv")
    esm.fail_next(503, count=4, match="/dc/")  # the first attempt and its 3 task retries
    flow = hr_import_title.with_options(retries=1, retry_delay_seconds=0)
    state = flow(
        params=raw(esm, data_type="title"), workdir=str(workdir), task_id="16", return_state=True
    )
    esm.clear_faults()
    assert state.is_completed(), state.message
    run = flow_run_named("title-task-16")
    assert run.run_count == 2
    assert eventually(lambda: len(task_runs_named(run.id, "file-admin-task")) == 2)
    assert len(task_runs_named(run.id, "parse-hr-file")) == 1
    assert len(task_runs_named(run.id, "publish-files")) == 1
    # the output of the first attempt is still there for the platform to import
    assert len(json.loads((workdir / "16_output.json").read_text(encoding="utf-8"))) == 13
