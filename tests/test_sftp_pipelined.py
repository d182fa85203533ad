"""Pipelined SFTP reads against a real OpenSSH sshd on loopback: byte-identical files
whatever the request size and window, and the download's guarantees kept (a drop mid-file is the
retryable error, no traceback on stderr, no partial file)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from hr_connector.clients import sftp
from hr_connector.clients.sftp.pipelined import read_pipelined

import sshd as sshd_mod
from conftest import REPO
from conftest_sftp import SftpEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PATTERN = "./organization/*.csv"


@pytest.mark.parametrize(
    ("size", "request_bytes", "window"),
    [(1, 4096, 1), (100_001, 4096, 3), (1_000_000, 32768, 64), (3_000_017, 1 << 17, 32)],
)
def test_pipelined_reads_give_the_file_byte_for_byte(
    sftp_env: SftpEnv, size: int, request_bytes: int, window: int
) -> None:
    content = os.urandom(size)
    sftp_env.put("org.csv", content)
    out = io.BytesIO()
    with sftp.session(sftp_env.settings()) as conn:
        with conn.sftp.open(f"{sftp_env.data}/org.csv", "rb") as remote:
            got = read_pipelined(
                conn.sftp,
                remote.handle,
                size,
                out.write,
                request_bytes=request_bytes,
                window=window,
            )
        # the session stays usable: no answer of ours is left to confuse the next request
        assert conn.sftp.stat(f"{sftp_env.data}/org.csv").st_size == size
    assert got == size and out.getvalue() == content


def test_a_file_shorter_than_listed_ends_the_read_early(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", b"x" * 50_000)
    out = io.BytesIO()
    with (
        sftp.session(sftp_env.settings()) as conn,
        conn.sftp.open(f"{sftp_env.data}/org.csv", "rb") as remote,
    ):
        got = read_pipelined(conn.sftp, remote.handle, 200_000, out.write, request_bytes=8192)
    assert got == 50_000 and out.getvalue() == b"x" * 50_000


DOWNLOAD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from hr_connector.clients import sftp
    from hr_connector.errors import SftpUnavailable, TransientError
    from hr_connector.params import SftpSettings
    from hr_connector.workdir import WorkDir

    settings = SftpSettings.model_validate(json.loads(sys.argv[1]))
    try:
        workdir = WorkDir(Path(sys.argv[2]), "1", "organization")
        sftp.download_hr_file(settings, workdir, {pattern!r})
    except SftpUnavailable as exc:
        assert isinstance(exc, TransientError)
        print("RETRYABLE", exc.message)
        sys.exit(3)
    print("DOWNLOADED")
    """
)


def _revealed(settings: Any) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    for key in ("sftp_password", "sftp_private_key_passphrase"):
        value = getattr(settings, key, None)
        if value is not None:
            data[key] = value.get_secret_value()
    return data


def test_a_drop_mid_download_is_retryable_leaves_no_file_and_no_traceback(
    sftp_env: SftpEnv,
) -> None:
    """In a fresh process, as the EPE wrapper runs it: stderr must stay free of tracebacks."""
    big = os.urandom(8 << 20)
    local = sftp_env.local()
    sftp_env.put("org_new.csv", big)
    with sshd_mod.DroppingProxy(sftp_env.server.port, drop_after=3 << 20) as proxy:
        sftp_env.server.write_known_hosts(sftp_env.known_hosts, proxy.port)
        settings = sftp_env.settings(sftp_server_ssh_port_number=proxy.port)
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                DOWNLOAD.format(pattern=PATTERN),
                json.dumps(_revealed(settings)),
                str(sftp_env.workdir.root),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=REPO,
            check=False,
        )
        assert proxy.dropped == 1, proc.stdout + proc.stderr
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "RETRYABLE" in proc.stdout and "connection" in proc.stdout
    assert "bytes done" in proc.stdout
    assert "Traceback" not in proc.stderr and "Exception in thread" not in proc.stderr, proc.stderr
    assert not local.exists() or sorted(p.name for p in local.iterdir()) == []
