"""The example deployments of prefect.yaml, run with their own parameters and working directories.

Each deployment's ``params`` and ``workdir`` are read from prefect.yaml as they are (only the SFTP
keys are dropped: the samples are placed where the download would put them, and the ESM is the
local one), the working directories laid out under one ``HR_CONNECTOR_HOME`` as a worker does, in
the schedules' order: cost centers, organizations, titles, then work periods. The work periods'
reference checks then find the other types' last imports; the next day, an organization import
checks its managers against the work periods' persons.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from hr_connector.outcome import Decision
from hr_connector.params import parse_params
from hr_connector.runner import run_plain

from conftest import REPO, WEBAPI_PASSWORD

ORDER = ("costcenter", "organization", "title", "workperiod")


def deployments() -> dict[str, dict[str, Any]]:
    text = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    return {d["name"]: d["parameters"] for d in yaml.safe_load(text)["deployments"]}


def run_deployment_in_place(home: Path, name: str, esm: Any, samples: Path) -> dict[str, Any]:
    parameters = deployments()[name]
    params = {k: v for k, v in parameters["params"].items() if not k.startswith("sftp_")}
    params.update(webapi_url=esm.url, webapi_password=WEBAPI_PASSWORD, run_type="full")
    workdir = home / parameters["workdir"]
    data_type = params["data_type"]
    folder, pattern = params["file_path"].rsplit("/", 1)
    suffix = pattern.rsplit(".", 1)[1]
    (workdir / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(samples / data_type / f"{data_type}.{suffix}", workdir / folder)
    params.pop("minimum_row_count", None)  # the samples are small
    result = run_plain(parse_params(params), workdir, parameters["task_id"])
    assert result.decision is Decision.COMPLETED, result.interruption
    task_json = workdir / f"{parameters['task_id']}_admin_task.json"
    return json.loads(task_json.read_text(encoding="utf-8"))


def test_the_example_work_periods_are_checked_against_the_other_types_imports(
    tmp_path: Path, esm: Any, samples: Path
) -> None:
    tasks = {t: run_deployment_in_place(tmp_path, f"acme-{t}", esm, samples) for t in ORDER}
    workperiods = tasks["workperiod"]
    assert "not checked" not in workperiods["description"], workperiods["description"]
    references = next(
        c for c in workperiods["data_quality"]["checks"] if c["check"] == "references"
    )
    assert references.get("skipped") in (None, "")
    # the sample's deliberate unknown cost center is found: the reference data was read
    assert any("CC1700" in line["message"] for line in references["first"])
    # and the next day, organization managers are checked against the work periods' persons
    again = run_deployment_in_place(tmp_path, "acme-organization", esm, samples)
    assert "not checked" not in again["description"], again["description"]
