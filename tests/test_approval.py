"""A stop approved (or rejected) from the Prefect UI in one step.

Against a real Prefect server with a process worker, through the deployments of prefect.yaml: a
partial run stopped by the update limit suspends itself, its state message says what to do, and
it waits for a decision whose form has the digest filled in and the decision left to choose; the
texts a Prefect operator reads give that one route. While it waits, the deployment runs again at
once (the suspended run holds no concurrency or worker slot); resuming it with "approve" imports
exactly that changeset; a file that changed meanwhile voids the approval, says why and suspends
again with the new changeset; "reject" says who decided and why, in the admin task too.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import WEBAPI_PASSWORD, place
from prefect_helpers import prefect_cli, process_worker, run_params, trigger, wait_final

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEPLOYMENT = "hr-import-workperiod/acme-workperiod"


def wait_suspended(flow_run_id: Any, timeout: float = 180) -> Any:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_paused():
                return run
            if run.state and run.state.is_final():
                raise AssertionError(f"ended {run.state.type}: {run.state.message}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not suspended: {run.state}")
            time.sleep(1)


def run_input(flow_run_id: Any, key: str) -> Any:
    from prefect.input.actions import read_flow_run_input

    return read_flow_run_input(key, flow_run_id=flow_run_id)


def resume(flow_run_id: Any, key: str = "hr-approval", **decision: Any) -> Any:
    """What the UI's Resume button does: the filled-in form goes to the resume endpoint."""
    from prefect.flow_runs import resume_flow_run

    schema = run_input(flow_run_id, f"suspended-{key}-schema")
    form = {
        name: field["default"] for name, field in schema["properties"].items() if "default" in field
    }
    resume_flow_run(flow_run_id, run_input={**form, **decision})
    return wait_final([flow_run_id])[0]


def resume_and_wait_suspended(flow_run_id: Any, **decision: Any) -> Any:
    from prefect.flow_runs import resume_flow_run

    schema = run_input(flow_run_id, "suspended-hr-approval-schema")
    form = {
        name: field["default"] for name, field in schema["properties"].items() if "default" in field
    }
    resume_flow_run(flow_run_id, run_input={**form, **decision})
    time.sleep(3)  # leaves Suspended, runs again from the top, then suspends anew
    return wait_suspended(flow_run_id)


def admin_task(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / "w1_admin_task.json").read_text("utf-8"))


def edit_titles(path: Path, row_ids: list[str], title: str) -> None:
    data = json.loads(path.read_text("utf-8"))
    for entry in data["Report_Entry"]:
        if entry["row_id"] in row_ids:
            entry["title_name"] = title
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def test_a_stop_is_approved_or_rejected_in_prefect_in_one_step(
    prefect_server: str, esm: Any, tmp_path: Path, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_WORKER_QUERY_SECONDS", "2")
    api = prefect_server
    with temporary_settings({PREFECT_API_URL: api}):
        with contextlib.suppress(AssertionError):  # created by an earlier test of the session
            prefect_cli(api, "work-pool", "create", "hr-connector", "--type", "process")
        prefect_cli(api, "deploy", "--all")
        Secret(value=WEBAPI_PASSWORD).save("acme-webapi-password", overwrite=True)
        wps, other = tmp_path / "workperiod", tmp_path / "other"
        place(wps, samples / "workperiod" / "workperiod.json", "workperiod")
        place(other, samples / "workperiod" / "workperiod.json", "workperiod")
        full = run_params(esm, "workperiod", "json")
        partial = run_params(esm, "workperiod", "json", run_type="partial", update_limit=3)
        with process_worker(api):
            first = wait_final([trigger(DEPLOYMENT, wps, "w1", full).id])[0]
            assert first.state.is_completed(), first.state.message

            # 1. stop: the run files the stopped admin task, then waits, suspended
            place(wps, samples / "workperiod" / "next_day" / "workperiod.json", "workperiod")
            stopped = wait_suspended(trigger(DEPLOYMENT, wps, "w1", partial).id)
            assert stopped.state.name == "Suspended"
            task = admin_task(wps)
            digest = task["changeset"]
            assert task["case"] == "update_limit_exceeded" and digest.startswith("sha256:")
            assert f"the flow run {stopped.name} waits for you" in task["description"]
            assert "row ID WP-0014" in task["description"]
            # one route in what a Prefect operator reads: the Resume form
            for route in ("extra arguments", "Custom run"):
                assert route not in task["description"] and route not in stopped.state.message
            assert "press Resume and choose approve" in stopped.state.message
            assert digest in stopped.state.message
            schema = run_input(stopped.id, "suspended-hr-approval-schema")
            assert schema["properties"]["changeset"]["default"] == digest  # filled in
            assert "default" not in schema["properties"]["decision"]  # chosen on purpose
            assert "decision" in schema.get("required", [])
            described = run_input(stopped.id, "suspended-hr-approval-description")
            assert digest in described and "WP-0014" in described
            # the Custom run form's approved_changeset is a plain text field
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                deployment = client.read_deployment_by_name(DEPLOYMENT)
            field = deployment.parameter_openapi_schema["properties"]["approved_changeset"]
            assert field["type"] == "string" and "anyOf" not in field

            # 2. the suspended run does not hold up the deployment's next run (limit 1)
            other_run = wait_final([trigger(DEPLOYMENT, other, "o1", full).id], timeout=120)[0]
            assert other_run.state.is_completed(), other_run.state.message

            # 3. approve in one step: completed, exactly the approved changeset
            approved = resume(
                stopped.id, decision="approve", decided_by="Anna Admin", comment="reorganisation"
            )
            assert approved.id == stopped.id
            assert approved.state.is_completed(), approved.state.message
            done = admin_task(wps)
            assert done["decision"] == "completed" and done["changeset"] == digest
            assert "were approved by Anna Admin (reorganisation)" in done["description"]
            assert len(json.loads((wps / "w1_output.json").read_text("utf-8"))) == 4
            card = next(
                c
                for c in esm.datacards()
                if "approved by Anna Admin" in json.dumps(c, ensure_ascii=False)
            )
            assert "w1_changes.csv" in card["files"]["attachments"]

            # 4. the file changes while the stop waits: the approval is voided, the run says why
            # and waits again with the new changeset
            day3 = wps / "workperiod" / "workperiod.json"
            edit_titles(day3, ["WP-0001", "WP-0002", "WP-0003", "WP-0004"], "Day three title")
            waiting = wait_suspended(trigger(DEPLOYMENT, wps, "w1", partial).id)
            archive = (wps / "data" / "archive" / "workperiod_archive.json").read_bytes()
            first_digest = admin_task(wps)["changeset"]
            edit_titles(day3, ["WP-0005"], "Changed after the stop")
            again = resume_and_wait_suspended(
                waiting.id, decision="approve", decided_by="Anna Admin"
            )
            assert f"The approval of changeset {first_digest} by Anna Admin was voided" in (
                again.state.message
            )
            task = admin_task(wps)
            new_digest = task["changeset"]
            assert new_digest != first_digest and new_digest in again.state.message
            assert f"The approval of changeset {first_digest} does not apply" in task["description"]
            schema = run_input(waiting.id, "suspended-hr-approval-2-schema")
            assert schema["properties"]["changeset"]["default"] == new_digest
            assert (wps / "data" / "archive" / "workperiod_archive.json").read_bytes() == archive
            assert not (wps / "w1_output.json").exists()

            # 5. reject: nothing imported, and the task says who decided and why
            rejected = resume(
                waiting.id,
                key="hr-approval-2",
                decision="reject",
                decided_by="Bob Boss",
                comment="not expected",
            )
            assert rejected.state.is_failed()
            assert "rejected by Bob Boss (not expected)" in rejected.state.message
            task = admin_task(wps)
            assert task["case"] == "changes_rejected"
            assert "rejected by Bob Boss (not expected)" in task["description"]
            assert (wps / "data" / "archive" / "workperiod_archive.json").read_bytes() == archive
