"""The operator's view: a run tells its own story in Prefect, checked through the API.

Deployments from prefect.yaml run on a real process worker against the session's Prefect server:
an update-limit stop and a missing file. The step that stopped the run is the Failed task run with
the reason; the steps after it are named for what they do; the connector's own log lines (rows
read, blocked rows, the guard's decision, filing the admin task) are in the flow run's logs with
their levels and in ``<taskid>_log.txt``; no log, nor the worker's output, has "unexpected
exception" or a traceback; run names and artifact keys tell deployments apart; hints speak Prefect.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, WEBAPI_PASSWORD, base_raw, place
from prefect_helpers import (
    artifacts_of,
    eventually,
    prefect_cli,
    process_worker,
    run_params,
    trigger,
    wait_final,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WP = "hr-import-workperiod/acme-workperiod"
TITLE = "hr-import-title/acme-title"


def task_runs(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def task_run(flow_run_id: Any, prefix: str) -> Any:
    found = [t for t in task_runs(flow_run_id) if t.name.startswith(prefix + "-")]
    assert len(found) == 1, [t.name for t in task_runs(flow_run_id)]
    return found[0]


def logs_of(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200
        )


def log_lines(flow_run_id: Any) -> list[tuple[int, str]]:
    return [(entry.level, entry.message) for entry in logs_of(flow_run_id)]


def has_line(lines: list[tuple[int, str]], level: int, start: str) -> bool:
    return any(lv == level and msg.startswith(start) for lv, msg in lines)


def logs_once_filed(flow_run_id: Any) -> list[tuple[int, str]]:
    """The run's log lines, once the last of the connector's lines has reached the API."""
    return eventually(
        lambda: (
            (found := log_lines(flow_run_id))
            and has_line(found, 20, "Admin task filed in the ESM")
            and found
        )
    )


def no_crash_story(lines: list[tuple[int, str]]) -> None:
    for _, message in lines:
        assert "unexpected exception" not in message, message
        assert "Traceback" not in message, message
        assert "NoneType: None" not in message, message


def test_a_stopped_deployment_run_tells_its_story(
    prefect_server: str, esm: Any, tmp_path: Path, samples: Path
) -> None:
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api_url = prefect_server
    with temporary_settings({PREFECT_API_URL: api_url}):
        with contextlib.suppress(AssertionError):
            prefect_cli(api_url, "work-pool", "create", "hr-connector", "--type", "process")
        prefect_cli(api_url, "deploy", "--all")
        Secret(value=WEBAPI_PASSWORD).save("acme-webapi-password", overwrite=True)

        wps, titles = tmp_path / "workperiod", tmp_path / "title"
        titles.mkdir()
        place(wps, samples / "workperiod" / "workperiod.json", "workperiod")
        full = run_params(
            esm,
            "workperiod",
            "json",
            run_type="partial",
            update_limit=3,
            wait_for_approval=False,  # Failed at once (test_approval.py: the suspended route)
        )
        with process_worker(api_url, output=tmp_path / "worker.log"):
            # the first load of a partial deployment: the documented one-off run_type override
            first = wait_final([trigger(WP, wps, "w1", full, run_type="full").id])[0]
            assert first.state.is_completed(), first.state.message
            place(wps, samples / "workperiod" / "next_day" / "workperiod.json", "workperiod")
            runs = [
                trigger(WP, wps, "w1", full),
                trigger(TITLE, titles, "t1", run_params(esm, "title")),
                # the example's own (relative) working directory: the worker has no
                # HR_CONNECTOR_HOME, so the run is refused and writes nothing
                run_deployment(TITLE, parameters={}, timeout=0),
            ]
            stopped, missing, unchosen = wait_final([r.id for r in runs])

        # 6. the example deployments never run on their own, and write only where chosen
        with get_client(sync_client=True) as client:
            for name in ("costcenter", "organization", "title", "workperiod"):
                deployment = client.read_deployment_by_name(f"hr-import-{name}/acme-{name}")
                assert deployment.schedules and not any(s.active for s in deployment.schedules)
        assert unchosen.state.is_failed()
        assert "HR_CONNECTOR_HOME" in unchosen.state.message
        assert not (REPO / "acme").exists()

        # 1. the stopping step is the Failed task run, with the reason as its message
        assert stopped.state.is_failed() and missing.state.is_failed()
        guard = task_run(stopped.id, "guard-import")
        assert guard.state.is_failed()
        assert "more than update_limit 3" in guard.state.message
        fetch = task_run(missing.id, "fetch-hr-file")
        assert fetch.state.is_failed() and "No HR file matches" in fetch.state.message
        # the steps after the stop show as what they are
        for run in (stopped, missing):
            names = {t.name.rsplit("-", 1)[0]: t for t in task_runs(run.id)}
            assert "remove-stale-output" in names and "publish-files" not in names
            assert names["remove-stale-output"].state.is_completed()
            assert names["file-admin-task"].state.is_completed()
        assert not any(t.name.startswith("parse-hr-file") for t in task_runs(missing.id))

        # 2. + 3. the connector's lines in the Logs tab with their levels; no crash story
        info, warning, error = 20, 30, 40
        lines = logs_once_filed(stopped.id)
        assert has_line(lines, info, "Read 41 data rows")
        assert has_line(lines, info, "Blocked ")
        assert has_line(lines, info, "Compared (partial run)")
        assert has_line(lines, warning, "Guard stopped the import: The run would import")
        no_crash_story(lines)
        missing_lines = logs_once_filed(missing.id)
        assert has_line(missing_lines, error, "Run interrupted: No HR file matches")
        no_crash_story(missing_lines)
        # the same lines, redacted alike, in the task's log file
        log_file = (wps / "w1_log.txt").read_text(encoding="utf-8")
        for _, message in lines:
            if message.startswith(("Blocked ", "Guard stopped", "Admin task filed in the ESM")):
                assert message in log_file
        worker_output = (tmp_path / "worker.log").read_text(encoding="utf-8", errors="replace")
        assert "Guard stopped the import" in worker_output  # the flow runs' output is in it
        assert "unexpected exception" not in worker_output
        assert "Traceback" not in worker_output and "NoneType: None" not in worker_output
        assert WEBAPI_PASSWORD not in worker_output + log_file

        # 4. names an operator can tell apart; artifacts per deployment naming the stop
        assert stopped.name.startswith("acme-workperiod 20")
        assert missing.name.startswith("acme-title 20")
        assert first.name.endswith("(full load)")
        arts = eventually(lambda: artifacts_of(stopped.id))
        assert {"hr-acme-workperiod-summary", "hr-acme-workperiod-admin-task"} <= set(arts)
        table = json.loads(arts["hr-acme-workperiod-summary"].data)
        summary = {row["figure"]: row["value"] for row in table}
        assert summary["stopped at"] == "guard-import"
        assert str(summary["update limit"]) == "3"
        # 5. the fix in Prefect terms
        how = summary["how to approve or fix"]
        assert "prefect deployment run hr-import-workperiod/acme-workperiod" in how
        assert "-p approved_changeset=" in how and "Custom run" in how
        assert "extra arguments" not in stopped.state.message
        assert "prefect deployment run" in stopped.state.message
        assert "run the deployment hr-import-title/acme-title again" in missing.state.message
        assert "hr-acme-title-summary" in eventually(lambda: artifacts_of(missing.id))


def test_an_in_process_stop_is_failed_without_a_crash_story(
    prefect_server: str, workdir: Path, esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import flow_run_named

    raw = base_raw(data_type="title", webapi_url=esm.url, webapi_user="iga.webapi")
    result = run_flow(raw, workdir, "81")
    assert result.interruption is not None
    run = flow_run_named("title-task-81")
    assert run.state.is_failed()
    fetch = task_run(run.id, "fetch-hr-file")
    assert fetch.state.is_failed() and "No HR file matches" in fetch.state.message
    no_crash_story(logs_once_filed(run.id))
    # under EPE the hint speaks the scheduled task's terms
    assert "deliver it and rerun the task" in run.state.message


def test_hints_follow_the_origin() -> None:
    from hr_connector import advice
    from hr_connector.errors import (
        ArchiveMissing,
        FileNotReceived,
        ParametersInvalid,
        UpdateLimitExceeded,
    )

    epe = UpdateLimitExceeded(9, 3, 5, 4, "sha256:ab")
    assert '"approved_changeset": "sha256:ab"' in epe.hint and "prefect" not in epe.hint
    assert "extra arguments" in epe.hint
    deployment = advice.RunOrigin(deployment="hr-import-workperiod/acme-workperiod")
    with advice.running_under(deployment):
        ours = UpdateLimitExceeded(9, 3, 5, 4, "sha256:ab")
        assert "-p approved_changeset=sha256:ab" in ours.hint
        block = ParametersInvalid(
            [],
            {
                "webapi_password": "the Prefect Secret block 'acme-webapi-password' cannot be "
                "loaded (ValueError)"
            },
        )
        assert "Create the Prefect Secret block(s) 'acme-webapi-password'" in block.hint
        assert "extra arguments" not in block.hint
        assert "-p run_type=full" in ArchiveMissing("data/archive/x.json").hint
        missing = FileNotReceived("in/*.csv", "in")
        assert "run the deployment hr-import-workperiod/acme-workperiod again" in missing.hint
    assert "extra arguments" in ParametersInvalid(["file_path"], {}).hint


def test_in_process_a_malformed_file_fails_the_parse_step_and_a_parameter_is_no_esm_answer(
    prefect_server: str, workdir: Path, esm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import flow_run_named

    (workdir / "in").mkdir()
    (workdir / "in" / "title.csv").write_bytes(b"row_id;title\r\nT1;Caf\xe9\r\n")  # not UTF-8
    raw = base_raw(data_type="title", webapi_url=esm.url, webapi_user="iga.webapi")
    assert run_flow(raw, workdir, "82").interruption is not None
    run = flow_run_named("title-task-82")
    parse = task_run(run.id, "parse-hr-file")
    assert parse.state.is_failed() and "cannot be read at" in parse.state.message
    assert not any(t.name.startswith("validate-rows") for t in task_runs(run.id))
    no_crash_story(logs_once_filed(run.id))

    # an unresolved password reference is a parameter problem: the ESM is not even asked
    logins = esm.login_count
    unusable = {**raw, "webapi_password": "env:HR_TEST_UNSET_PASSWORD"}
    monkeypatch.delenv("HR_TEST_UNSET_PASSWORD", raising=False)
    result = run_flow(unusable, workdir, "83")
    assert result.interruption is not None and result.interruption.case == "parameters_invalid"
    assert result.report_error is None and esm.login_count == logins
    message = flow_run_named("title-task-83").state.message
    assert "HR_TEST_UNSET_PASSWORD" in message and "ESM" not in message
    log_text = (workdir / "83_log.txt").read_text(encoding="utf-8")
    assert "The Web API parameters are not usable either (webapi_password)" in log_text
