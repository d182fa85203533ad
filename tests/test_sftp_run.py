"""The whole run with the SFTP source, exactly as the engine runs it (IGAConnector.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_epe import engine_run

from conftest import ESM_USER, WEBAPI_PASSWORD, base_raw
from conftest_sftp import SftpEnv

pytestmark = pytest.mark.integration


def sftp_raw(env: SftpEnv, esm: Any, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        data_type="organization", file_path="./organization/*.csv", webapi_url=esm.url,
        webapi_user=ESM_USER, taskid=21, run_type="full",
        sftp_server_fqdn=env.server.host, sftp_server_ssh_port_number=str(env.server.port),
        sftp_username=env.server.user.name, sftp_password=env.password,
        sftp_remote_path_data=str(env.data), sftp_remote_path_archive=str(env.archive),
        sftp_known_hosts=str(env.known_hosts))
    return base_raw(**{**values, **extra})


def test_completed_run_fetches_and_archives_the_remote_file(sftp_env: SftpEnv, esm: Any,
                                                            samples: Path) -> None:
    content = (samples / "organization" / "organization.csv").read_bytes()
    sftp_env.put("organization_20261126.csv", content)
    root = sftp_env.workdir.root
    proc = engine_run(root, sftp_raw(sftp_env, esm))
    assert proc.returncode == 0, proc.stderr
    assert (root / "organization" / "organization_20261126.csv").read_bytes() == content
    assert not any(p.is_file() for p in sftp_env.data.iterdir())
    assert (sftp_env.archive / "organization_20261126.csv").read_bytes() == content
    log = (root / "21_log.txt").read_text(encoding="utf-8")
    assert sftp_env.password not in log and WEBAPI_PASSWORD not in log
    assert sftp_env.password not in proc.stdout + proc.stderr

    # the next day nothing was delivered: interrupted, and the remote archive is untouched
    proc = engine_run(root, sftp_raw(sftp_env, esm, run_type="partial"))
    assert proc.returncode == 1
    assert "No HR file matches" in proc.stderr
    assert not (root / "21_output.json").exists()


def test_interrupted_run_leaves_the_remote_file_for_the_rerun(sftp_env: SftpEnv, esm: Any,
                                                              samples: Path) -> None:
    sftp_env.put("organization.csv", (samples / "organization" / "organization.csv").read_bytes())
    root = sftp_env.workdir.root
    proc = engine_run(root, sftp_raw(sftp_env, esm, minimum_row_count=1000))
    assert proc.returncode == 1
    assert (sftp_env.data / "organization.csv").exists()
    assert not any(sftp_env.archive.iterdir())
    proc = engine_run(root, sftp_raw(sftp_env, esm))
    assert proc.returncode == 0, proc.stderr
    assert (sftp_env.archive / "organization.csv").exists()


def test_two_remote_files_interrupt_and_stay(sftp_env: SftpEnv, esm: Any, samples: Path) -> None:
    content = (samples / "organization" / "organization.csv").read_bytes()
    sftp_env.put("a.csv", content)
    sftp_env.put("b.csv", content)
    proc = engine_run(sftp_env.workdir.root, sftp_raw(sftp_env, esm))
    assert proc.returncode == 1
    assert "2 files match" in proc.stderr
    assert (sftp_env.data / "a.csv").exists() and (sftp_env.data / "b.csv").exists()
