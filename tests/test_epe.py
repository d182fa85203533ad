"""IGAConnector.py run as the engine runs it: a subprocess, parameters on stdin, a working dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import ESM_USER, WEBAPI_PASSWORD, place
from run_helpers import SCRIPT, engine_run, epe_day_one_then_next_file, epe_raw, script_env

FORMATS = ["csv", "json", "xml"]
VALID = {"costcenter": 8, "organization": 11, "title": 13, "workperiod": 34}


def assert_no_secret(workdir: Path, proc: subprocess.CompletedProcess[str]) -> None:
    assert WEBAPI_PASSWORD not in proc.stdout + proc.stderr
    for path in workdir.rglob("*"):
        if path.is_file():
            assert WEBAPI_PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data_type", list(VALID))
def test_each_type_and_format_completes(
    workdir: Path, samples: Path, esm: Any, data_type: str, fmt: str
) -> None:
    place(workdir, samples / data_type / f"{data_type}.{fmt}")
    proc = engine_run(workdir, epe_raw(esm, data_type=data_type, fmt=fmt))
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == str(workdir / "3_output.json")
    assert len(json.loads(Path(last).read_text(encoding="utf-8"))) == VALID[data_type]
    assert (workdir / "3_log.txt").exists()
    assert_no_secret(workdir, proc)


def test_second_partial_run_with_the_same_file_outputs_nothing(
    workdir: Path, samples: Path, esm: Any
) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    assert engine_run(workdir, epe_raw(esm)).returncode == 0
    proc = engine_run(workdir, epe_raw(esm, run_type="partial"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((workdir / "3_output.json").read_text(encoding="utf-8")) == []


def test_interrupted_run_exits_1_without_output(workdir: Path, samples: Path, esm: Any) -> None:
    epe_day_one_then_next_file(workdir, esm)
    proc = engine_run(workdir, epe_raw(esm, run_type="partial", update_limit=3))
    assert proc.returncode == 1
    assert not (workdir / "3_output.json").exists()
    assert "update_limit 3" in proc.stderr
    assert_no_secret(workdir, proc)


def test_missing_extra_arguments_exit_1_and_file_the_admin_task(workdir: Path, esm: Any) -> None:
    params = {
        "webapi_url": esm.url,
        "webapi_user": ESM_USER,
        "webapi_password": WEBAPI_PASSWORD,
        "report_template_code": "IGAWorkflowTaskInformation",
        "taskid": 5,
    }
    proc = engine_run(workdir, params)
    assert proc.returncode == 1
    task = json.loads((workdir / "5_admin_task.json").read_text(encoding="utf-8"))
    assert task["case"] == "parameters_invalid"
    assert "file_path" in task["description"] and "update_limit" in task["description"]
    assert_no_secret(workdir, proc)


@pytest.mark.parametrize(
    ("stdin", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"data_type": "title"}', "No task id"),
    ],
)
def test_unusable_invocation_exits_2(workdir: Path, stdin: str, why: str) -> None:
    proc = engine_run(workdir, stdin)
    assert proc.returncode == 2
    assert why in proc.stderr
    assert proc.stdout == ""


def test_task_id_from_mappings_flag_and_environment(workdir: Path, samples: Path, esm: Any) -> None:
    place(workdir, samples / "title" / "title.csv")
    params = epe_raw(esm, data_type="title")
    del params["taskid"]
    assert engine_run(workdir, params, mappings={"task_id": "m7"}).returncode == 0
    assert (workdir / "m7_output.json").exists()
    assert engine_run(workdir, params, args=["--task-id", "f8"]).returncode == 0
    assert (workdir / "f8_output.json").exists()
    assert engine_run(workdir, params, env=script_env(EPE_TASK_ID="e9")).returncode == 0
    assert (workdir / "e9_output.json").exists()


def test_params_file_and_workdir_flag(tmp_path: Path, samples: Path, esm: Any) -> None:
    work = tmp_path / "custom-provisioning-scripts"
    work.mkdir()
    place(work, samples / "title" / "title.xml")
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(epe_raw(esm, data_type="title", fmt="xml")), "utf-8")
    proc = subprocess.run(
        [str(SCRIPT), "--params", str(params_file), "--workdir", str(work)],
        cwd=tmp_path,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(work / "3_output.json")


def test_script_copied_alone_into_only_scheduled(tmp_path: Path, samples: Path, esm: Any) -> None:
    engine = tmp_path / "custom-provisioning-scripts"
    (engine / "only_scheduled").mkdir(parents=True)
    script = Path(shutil.copy(SCRIPT, engine / "only_scheduled" / "IGAConnector.py"))
    place(engine, samples / "organization" / "organization.json", "organization")
    params = epe_raw(esm, data_type="organization", file_path="./organization/*.json")
    proc = engine_run(engine, params, script=script)
    assert proc.returncode == 0, proc.stderr
    assert (engine / "data" / "archive" / "organization_archive.json").exists()


def test_dry_run_prints_the_decision_and_writes_nothing(
    workdir: Path, samples: Path, esm: Any
) -> None:
    place(workdir, samples / "workperiod" / "workperiod.csv")
    proc = engine_run(workdir, epe_raw(esm), args=["--dry-run"])
    assert proc.returncode == 0, proc.stderr
    assert "decision completed" in proc.stdout and "would import 34" in proc.stdout
    assert not (workdir / "3_output.json").exists()
    assert not (workdir / "data" / "archive" / "workperiod_archive.json").exists()


@pytest.mark.integration
def test_with_prefect_api_url_the_run_is_recorded(
    workdir: Path, samples: Path, esm: Any, prefect_server: str
) -> None:
    place(workdir, samples / "title" / "title.csv")
    env = script_env(PREFECT_API_URL=prefect_server, PREFECT_HOME=os.environ["PREFECT_HOME"])
    proc = engine_run(workdir, epe_raw(esm, data_type="title", taskid=77), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(workdir / "77_output.json")
    from prefect_helpers import flow_run_named

    run = flow_run_named("title-task-77")
    assert run is not None and run.state.is_completed()
    assert WEBAPI_PASSWORD not in json.dumps(run.parameters)
    assert_no_secret(workdir, proc)
