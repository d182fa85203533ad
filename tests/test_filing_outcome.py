"""What became of the admin task is never silent: stated once, the same on stderr and in the ESM.

Through ``deployments/epe/IGAConnector.py`` with the vendor's example parameters: ``webapi_url``
given as a Web API's address, an ESM that takes the datacard but refuses its uploads, an ESM that
cannot be reached (the next run's task repeats the one that was not filed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import ESM_USER, SAMPLES, WEBAPI_PASSWORD
from vendor_helpers import MAPPINGS, engine, local_params, plain_params


def _title_workdir(workdir: Path) -> None:
    (workdir / "data").mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "title" / "title.csv", workdir / "data")


def _description(esm: Any, card_id: str) -> str:
    card = esm.datacard(card_id)
    assert card is not None
    return str(card["data"]["description"]["values"][0]["value"])


def _card_id(last_line: str) -> str:
    assert last_line.startswith("hr-connector: Admin task filed in the ESM (datacard "), last_line
    return last_line.split("(datacard ", 1)[1].split(")", 1)[0]


@pytest.fixture
def private_esm(start_esm: Any) -> Any:
    """An ESM of this test's own: its faults touch no other test."""
    return start_esm(users={ESM_USER: WEBAPI_PASSWORD})


@pytest.mark.parametrize("suffix", ["/api/itsm", "/rest-api/itsm/v1", "/rest-api/itsm/v1/"])
def test_webapi_url_given_as_the_web_apis_address_files_the_task(
    workdir: Path, esm: Any, suffix: str
) -> None:
    _title_workdir(workdir)
    params = local_params(esm, "title", run_type="full", webapi_url=esm.url + suffix)
    proc = engine(workdir, params + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.splitlines()[-1]
    card = _card_id(last)
    assert last.endswith("a copy is kept in 1042_admin_task.json.")
    assert "completed" in esm.datacard(card)["data"]["subject"]["values"][0]["value"]


def test_an_esm_refusing_the_uploads_gets_a_task_that_lists_them_and_stderr_says_so(
    workdir: Path, private_esm: Any
) -> None:
    """The datacard is taken, every upload answers 500: the task is filed, names the refused
    attachments and where they are kept; the last stderr line says the same, once."""
    esm = private_esm
    _title_workdir(workdir)
    esm.fail_next(500, count=1000, match="/file")
    proc = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == str(workdir / "1042_output.json")
    last = proc.stderr.splitlines()[-1]
    card = _card_id(last)
    assert len(esm.datacards()) == 1
    kept = json.loads((workdir / "1042_admin_task.json").read_text("utf-8"))
    names = sorted(a["name"] for a in kept["attachments"])
    refused = last.split("but the ESM refused the attachment(s) ", 1)[1].split(": the task", 1)[0]
    assert names and sorted(refused.split(", ")) == names
    assert last.endswith("the task lists them; a copy is kept in 1042_admin_task.json.")
    assert "could NOT" not in proc.stderr and proc.stderr.count("datacard") == 1
    description = _description(esm, card)
    assert f"Not attached to this task ({len(names)} files)" in description
    for name in names:
        listed = next(line for line in description.splitlines() if line.startswith(f"- {name}"))
        assert "Why: the ESM refused the upload (ESM POST" in listed and "500" in listed
        assert str(workdir) not in listed  # where it is kept, relative to the working directory
    assert esm.datacard(card)["files"].get("attachments", []) == []


def test_a_task_not_filed_is_said_last_and_repeated_by_the_next_runs_task(
    workdir: Path, esm: Any
) -> None:
    _title_workdir(workdir)
    down = plain_params(esm, "title", run_type="full", webapi_url="http://127.0.0.1:9")
    first = engine(workdir, down)
    assert first.returncode == 0, first.stderr  # completed: the output must be imported
    last = first.stderr.splitlines()[-1]
    assert last.startswith("hr-connector: The admin task could NOT be filed in the ESM (")
    assert "127.0.0.1" in last and "kept in 1042_admin_task.json" in last
    assert last.endswith("the next run's admin task repeats it.")
    assert first.stderr.count("could NOT be filed") == 1  # stated once
    assert str(workdir) not in first.stderr
    unfiled = json.loads((workdir / "1042_admin_task.json").read_text("utf-8"))

    second = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert second.returncode == 0, second.stderr
    description = _description(esm, _card_id(second.stderr.splitlines()[-1]))
    first_line = description.splitlines()[0]
    assert first_line.startswith(f"The admin task of the run at {unfiled['created_at']}")
    assert "was NOT filed in the ESM" in first_line and "127.0.0.1" in first_line
    assert unfiled["title"] in first_line
    assert unfiled["description"].splitlines()[0] in description.split(first_line, 1)[1]

    third = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert "NOT filed" not in _description(esm, _card_id(third.stderr.splitlines()[-1]))


@pytest.mark.parametrize("case", ["quality-note", "no-file"])
def test_no_text_a_person_reads_shows_the_hosts_working_directory(
    workdir: Path, esm: Any, case: str
) -> None:
    """The data-quality note named ``/abs/…/data/archive``; a missing file its absolute folder."""
    (workdir / "data").mkdir()
    if case == "quality-note":
        shutil.copy(SAMPLES / "workperiod" / "workperiod.csv", workdir / "data")
    proc = engine(workdir, plain_params(esm, "workperiod", run_type="full"))
    assert proc.returncode == (0 if case == "quality-note" else 1), proc.stderr
    kept = json.loads((workdir / "1042_admin_task.json").read_text("utf-8"))
    card = esm.datacard(_card_id(proc.stderr.splitlines()[-1]))
    shown = [kept["title"], kept["description"], json.dumps(card), proc.stderr]
    assert not [text for text in shown if str(workdir) in text]
    expected = "data/archive" if case == "quality-note" else "data"
    assert f" {expected}" in kept["description"], kept["description"]


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_under_prefect_refused_uploads_are_in_the_result_and_the_state(
    prefect_server: str, workdir: Path, private_esm: Any
) -> None:
    from hr_connector.flows.hr_import import run_flow

    from conftest import base_raw, place

    place(workdir, SAMPLES / "title" / "title.csv")
    private_esm.fail_next(500, count=1000, match="/file")
    raw = base_raw(
        "title",
        taskid=3,
        webapi_url=private_esm.url,
        webapi_user=ESM_USER,
        webapi_timeout_seconds=5,
    )
    result = run_flow(raw, workdir, "3")
    assert result.admin_task_id is not None and result.report_error is None
    assert result.attachments_refused  # every upload was refused, the datacard taken
    assert set(result.attachments_refused) <= {a.name for a in _kept_attachments(workdir)}


def _kept_attachments(workdir: Path) -> list[Any]:
    from hr_connector.outcome import AdminTask

    text = (workdir / "3_admin_task.json").read_text("utf-8")
    return AdminTask.model_validate_json(text).attachments
