"""Under Prefect, the network steps retry what may pass on a second try (a dropped connection) and
nothing else: a wrong password, an unknown host key and an ESM 4xx are tried once.

Counted where a user could count them: the connections an SFTP server (behind a counting proxy)
is opened, and the requests the ESM answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision, ImportResult

import sshd as sshd_mod
from conftest import ESM_USER, SAMPLES, base_raw, place
from conftest_sftp import SftpEnv, sftp_raw

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CSV = b"org_unit_id;org_unit_name\nOU1;Head office\nOU2;Sales\n"
#: every network task's attempts under Prefect: the first and tests/conftest.py's three retries
ATTEMPTS_WHEN_RETRIED = 4


@pytest.fixture
def proxy(sftp_env: SftpEnv) -> Iterator[sshd_mod.DroppingProxy]:
    with sshd_mod.DroppingProxy(sftp_env.server.port) as counting:
        sftp_env.server.write_known_hosts(sftp_env.known_hosts, counting.port)
        yield counting


def run_through(
    prefect_server: str, sftp_env: SftpEnv, esm: Any, proxy: sshd_mod.DroppingProxy, **extra: Any
) -> ImportResult:
    from hr_connector.flows.hr_import import run_flow

    sftp_env.put("organization_20261207.csv", CSV)
    raw = sftp_raw(sftp_env, esm, sftp_server_ssh_port_number=str(proxy.port), **extra)
    return run_flow(raw, sftp_env.workdir.root, "21")


def test_a_wrong_sftp_password_is_tried_once(
    prefect_server: str, sftp_env: SftpEnv, esm: Any, proxy: sshd_mod.DroppingProxy
) -> None:
    result = run_through(prefect_server, sftp_env, esm, proxy, sftp_password="Wr0ng-pass-31337")
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption is not None and result.interruption.case == "sftp_failed"
    assert "authentication failed" in result.interruption.message
    assert proxy.connections == 1


def test_an_unknown_sftp_host_key_is_tried_once(
    prefect_server: str, sftp_env: SftpEnv, esm: Any, proxy: sshd_mod.DroppingProxy
) -> None:
    sftp_env.known_hosts.write_text("", encoding="utf-8")
    result = run_through(prefect_server, sftp_env, esm, proxy)
    assert result.decision is Decision.INTERRUPTED
    assert result.interruption is not None and "unknown" in result.interruption.message
    assert proxy.connections == 1


def test_a_dropped_sftp_connection_is_retried(
    prefect_server: str, sftp_env: SftpEnv, esm: Any, proxy: sshd_mod.DroppingProxy
) -> None:
    """The counterpart: the proxy cuts every connection, and each retry opens a new one."""
    proxy.drop_after = 64
    result = run_through(prefect_server, sftp_env, esm, proxy)
    assert result.decision is Decision.INTERRUPTED
    assert proxy.connections == ATTEMPTS_WHEN_RETRIED


def test_an_esm_4xx_is_tried_once(prefect_server: str, workdir: Path, esm: Any) -> None:
    from hr_connector.flows.hr_import import run_flow

    esm.clear_faults()
    place(workdir, SAMPLES / "title" / "title.csv")
    data = "/dc/IGAWorkflowTaskInformation/data"
    esm.fail_next(403, count=ATTEMPTS_WHEN_RETRIED, match=data)
    before = len(esm.requests)
    try:
        raw = base_raw(
            data_type="title", webapi_url=esm.url, webapi_user=ESM_USER, webapi_timeout_seconds=5
        )
        result = run_flow(raw, workdir, "3")
    finally:
        esm.clear_faults()
    statuses = [r.status for r in list(esm.requests)[before:] if r.path.endswith(data)]
    assert statuses == [403]
    assert result.admin_task_id is None and result.report_error
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert task["task_id"] == "3"  # kept locally for a resend
