"""Secrets never leak: after runs that fail in every way, grep everything they left.

"Everything": every file in the working directory (logs at debug level, admin task JSON and
Markdown, outputs, archives, the lock), stdout and stderr, what the local ESM stored (datacards and
attachments), and for Prefect runs the flow run's stored parameters, state message, task runs,
artifacts and the log records shipped to the Prefect API. Looked for: the Web API password (right
or wrong), the SFTP password and key passphrase, any token from the task mappings, and anything
that looks like a JWT.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import ESM_USER, SAMPLES, WEBAPI_PASSWORD, base_raw, place
from run_helpers import SCRIPT, Proc, engine_env, everything_written, run_measured, run_plain

WRONG_WEBAPI_PASSWORD = "Wrong-Webapi-Pass-4c1d"
SFTP_PASSWORD = "Sftp-Secret-Unused-88e2"  # given but unused (no SFTP server set)
KEY_PASSPHRASE = "Key-Passphrase-Unused-19b7"
MAPPING_TOKEN = "Mapping-Token-5a0f3c"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
SECRETS = (WEBAPI_PASSWORD, WRONG_WEBAPI_PASSWORD, SFTP_PASSWORD, KEY_PASSPHRASE, MAPPING_TOKEN)


def assert_clean(text: str, *extra_secrets: str, where: str = "") -> None:
    for secret in (*SECRETS, *extra_secrets):
        assert secret not in text, f"{where}: a secret leaked"
    found = JWT.search(text)
    assert found is None, f"{where}: a JWT leaked: {found.group(0)[:20]}…"


def _raw(esm: Any, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "data_type": "workperiod",
        "webapi_url": esm.url,
        "webapi_user": ESM_USER,
        "debug": "true",  # the most verbose log
        "sftp_password": SFTP_PASSWORD,
        "sftp_private_key_passphrase": KEY_PASSPHRASE,
        "taskid": 3,
    }
    values.update(extra)
    return base_raw(**values)


def _scenarios(esm: Any) -> dict[str, tuple[dict[str, Any] | str, int, str]]:
    """name -> (parameters or raw stdin, exit code, text stderr must show)."""
    return {
        "bad-parameters": (
            _raw(esm, file_path="", update_limit="lots"),
            1,
            "extra arguments are not usable",
        ),
        "file-missing": (_raw(esm, file_path="nowhere/*.csv"), 1, "No HR file matches"),
        "update-limit": (
            _raw(esm, run_type="partial", update_limit=1),
            1,
            "more than update_limit 1",
        ),
        "esm-unreachable": (_raw(esm, webapi_url="http://127.0.0.1:9"), 0, "could NOT be filed"),
        "esm-wrong-password": (
            _raw(esm, webapi_password=WRONG_WEBAPI_PASSWORD),
            0,
            "could NOT be filed",
        ),
        # logged in (a JWT was issued and used), then the datacard is refused: 400
        "esm-refuses-after-login": (
            _raw(esm, report_attribute_codes={"title": "no_such_attribute"}),
            0,
            "could NOT be filed",
        ),
        "broken-json-on-stdin": (
            '{"taskid": 3, "webapi_password": "' + WEBAPI_PASSWORD + '", "debug": tru',
            2,
            "not valid JSON",
        ),
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_failed_epe_runs_leak_no_secret_anywhere(tmp_path: Path, esm: Any) -> None:
    scenarios = _scenarios(esm)
    workdirs: dict[str, Path] = {}
    for name in scenarios:
        workdir = workdirs[name] = tmp_path / name
        workdir.mkdir()
        place(workdir, SAMPLES / "workperiod" / "workperiod.csv")
        run_plain(workdir, data_type="workperiod")  # day 1 completed: the archive exists
        place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")

    def one(name: str) -> Proc:
        params, _, _ = scenarios[name]
        stdin = params if isinstance(params, str) else json.dumps(params)
        mappings = json.dumps({"task_id": 3, "api_token": MAPPING_TOKEN, "user": "x"})
        return run_measured(
            [str(SCRIPT)], cwd=workdirs[name], stdin_text=f"{stdin}\n{mappings}\n", env=engine_env()
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        procs = dict(zip(scenarios, pool.map(one, scenarios), strict=True))

    for name, proc in procs.items():
        _, code, shown = scenarios[name]
        assert proc.returncode == code, (name, proc.stderr)
        assert shown in proc.stderr, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, name
        assert_clean(everything_written(workdirs[name], proc.stdout, proc.stderr), where=name)
        log = workdirs[name] / "3_log.txt"
        if code != 2:
            assert log.stat().st_size > 0, name
    # the debug log did show the (masked) parameters: the check above had something to look at
    assert "**********" in (workdirs["esm-wrong-password"] / "3_log.txt").read_text("utf-8")
    assert "401" in (workdirs["esm-wrong-password"] / "3_log.txt").read_text("utf-8")
    assert "400" in (workdirs["esm-refuses-after-login"] / "3_log.txt").read_text("utf-8")
    # what the ESM stored (the filed admin tasks and their attachments) is clean too
    assert_clean(everything_written(esm.root_dir), where="ESM sandbox")


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_failed_sftp_runs_leak_no_password(sftp_env: Any, esm: Any) -> None:
    real = sftp_env.password  # skips without root (no password login possible)
    wrong = "Wr0ng-Sftp-Pass-77c1"
    root = sftp_env.workdir.root
    sftp_env.put(
        "organization.csv", "org_unit_id;org_unit_name\n1;Hallinto \xe4\n".encode("latin-1")
    )
    base = _raw(
        esm,
        data_type="organization",
        file_path="./organization/*.csv",
        sftp_server_fqdn=sftp_env.server.host,
        sftp_server_ssh_port_number=sftp_env.server.port,
        sftp_username=sftp_env.server.user.name,
        sftp_remote_path_data=str(sftp_env.data),
        sftp_remote_path_archive=str(sftp_env.archive),
        sftp_known_hosts=str(sftp_env.known_hosts),
        sftp_timeout_seconds=5,
        sftp_private_key_passphrase=None,
        run_type="full",
    )
    outputs = []
    for password, shown in ((wrong, "authentication failed"), (real, "not valid UTF-8")):
        proc = run_measured(
            [str(SCRIPT)],
            cwd=root,
            stdin_text=json.dumps({**base, "sftp_password": password}) + "\n",
            env=engine_env(),
        )
        assert proc.returncode == 1, proc.stderr
        assert shown in proc.stderr
        outputs += [proc.stdout, proc.stderr]
    assert_clean(everything_written(root, *outputs), real, wrong, where="SFTP runs")
    assert_clean(everything_written(esm.root_dir), real, wrong, where="ESM sandbox")


# --------------------------------------------------------------------------------------------
# Prefect: what the server stores
# --------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("task_id", "extra"),
    [
        ("secrets-81", {"webapi_password": WRONG_WEBAPI_PASSWORD}),
        ("secrets-82", {"report_attribute_codes": {"title": "no_such_attribute"}}),
    ],
    ids=["wrong-esm-password", "refused-after-login"],
)
def test_prefect_stores_no_secret(
    prefect_server: str, workdir: Path, esm: Any, task_id: str, extra: dict[str, Any]
) -> None:
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import eventually, flow_run_named, stored_text

    place(workdir, SAMPLES / "workperiod" / "workperiod.csv")
    result = run_flow(_raw(esm, **extra), workdir, task_id)
    assert result.report_error  # the admin task could not be filed
    run = flow_run_named(f"workperiod-task-{task_id}")
    assert run is not None and run.state.is_failed()
    assert "could NOT be filed" in (run.state.message or "")
    # log records reach the API in batches: wait for the connector's line that quotes the ESM
    # client's exception (the connector's own lines are shipped to the run's Logs tab too)

    def logged() -> str:
        text = stored_text(run.id)
        return text if "file-admin-task" in text and "EsmError" in text else ""

    stored = eventually(logged)
    assert stored, "the run's log records never reached the Prefect API"
    assert "memory:" in json.dumps(run.parameters)  # secret references, not values
    assert_clean(stored, where="Prefect server")
    assert_clean(everything_written(workdir), where="workdir")
