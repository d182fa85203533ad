"""A network failure says what was tried and what to check: host, port, the step, the cause.

Through ``deployments/epe/IGAConnector.py`` with the vendor's example parameters: an ESM address
that does not resolve or where nothing listens, an SFTP server likewise. Before, a DNS failure on
the ESM address said "retry later".
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import sshd as sshd_mod
from conftest import SAMPLES
from vendor_helpers import MAPPINGS, engine, local_params


def _title_workdir(workdir: Path) -> None:
    (workdir / "data").mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "title" / "title.csv", workdir / "data")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "https://esm.invalid",
            [
                "Logging in to the ESM (POST /rest-api/itsm/v1/users/login)",
                "the ESM's host name esm.invalid (webapi_url) cannot be resolved",
                "Check the host name in webapi_url (https://esm.invalid)",
                "getent hosts esm.invalid",
            ],
        ),
        (
            "http://127.0.0.1:{port}",
            [
                "Logging in to the ESM (POST /rest-api/itsm/v1/users/login)",
                "no usable answer from the ESM at 127.0.0.1:{port}",
                "Connection refused",
                "Nothing accepts connections at 127.0.0.1:{port}",
            ],
        ),
    ],
    ids=["dns", "refused"],
)
def test_an_unreachable_esm_says_what_was_tried_and_what_to_check(
    workdir: Path, esm: Any, url: str, said: list[str]
) -> None:
    port = str(sshd_mod.free_port())
    _title_workdir(workdir)
    params = local_params(esm, "title", run_type="full", webapi_url=url.format(port=port))
    proc = engine(workdir, params + MAPPINGS)
    assert proc.returncode == 0, proc.stderr  # the import completed; the task is kept
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("hr-connector: The admin task could NOT be filed in the ESM (")
    for text in said:
        assert text.format(port=port) in last, last
    assert "retry later" not in proc.stderr


@pytest.mark.parametrize("fault", ["dns", "refused"])
def test_an_unreachable_sftp_server_says_what_was_tried_and_what_to_check(
    workdir: Path, esm: Any, fault: str
) -> None:
    host, port = ("sftp.invalid", "22") if fault == "dns" else ("127.0.0.1", "")
    port = port or str(sshd_mod.free_port())
    params = local_params(
        esm,
        "title",
        run_type="full",
        sftp_server_fqdn=host,
        sftp_server_ssh_port_number=port,
        sftp_username="hr",
        sftp_password="x",
        sftp_remote_path_data="/sftp/data",
        sftp_remote_path_archive="/sftp/archive",
        sftp_timeout_seconds=3,
    )
    proc = engine(workdir, params + MAPPINGS, env={"HR_CONNECTOR_RETRY_DELAYS": "0.1"})
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert f"SFTP server {host}:{port}" in first
    if fault == "dns":
        assert "the host name sftp.invalid cannot be resolved while connecting to it" in first
        assert "Check sftp_server_fqdn" in first and "getent hosts sftp.invalid" in first
    else:
        assert "connection refused while connecting to it" in first
        assert f"listens on port {port} (sftp_server_ssh_port_number)" in first
    assert "retry later" not in proc.stderr
    assert not (workdir / "1042_output.json").exists()
