"""Whole files only: an HR file still being written on the SFTP server is not taken.

The HR system writes its export in bursts; a run that lists the file in between must not import
the rows written so far, nor move the file to the archive folder (the rest would never be
imported). The run stops ("still being written, rerun later"), moves nothing, and the rerun
after the export has finished imports every row.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest_sftp import SftpEnv, sftp_raw
from run_helpers import engine_run

pytestmark = pytest.mark.integration

ROWS = 3_450
BURST = 150
PAUSE = 0.4


def _write_in_bursts(path: Path, uid: int, gid: int, started: threading.Event) -> None:
    """The HR system's export: a header, then :data:`BURST` rows every :data:`PAUSE` s."""
    with path.open("w", encoding="utf-8") as fh:
        os.chown(path, uid, gid)
        fh.write("org_unit_id;org_unit_name\n")
        for start in range(0, ROWS, BURST):
            fh.writelines(f"OU{i:05d};Unit {i}\n" for i in range(start, start + BURST))
            fh.flush()
            started.set()
            time.sleep(PAUSE)


@pytest.mark.timeout(120)
def test_a_file_still_being_written_is_not_taken_and_the_rerun_takes_it_whole(
    sftp_env: SftpEnv, esm: Any
) -> None:
    remote = sftp_env.data / "organization_20261126.csv"
    started = threading.Event()
    user = sftp_env.server.user
    writer = threading.Thread(target=_write_in_bursts, args=(remote, user.uid, user.gid, started))
    writer.start()
    try:
        assert started.wait(10)
        root = sftp_env.workdir.root
        params = sftp_raw(sftp_env, esm, sftp_settle_seconds=2)
        proc = engine_run(root, params)
        assert writer.is_alive(), "the export ended before the run looked twice: no test"
    finally:
        writer.join()

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "is still being written" in proc.stderr and "rerun the task later" in proc.stderr.lower()
    assert not (root / "21_output.json").exists()
    assert not (root / "data" / "archive" / "organization_archive.json").exists()
    assert not any((root / "organization").glob("*.csv"))  # nothing downloaded
    assert remote.exists() and not any(sftp_env.archive.iterdir())  # nothing moved

    proc = engine_run(root, params)  # the export has finished: the rerun takes it whole
    assert proc.returncode == 0, proc.stderr
    output = (root / "21_output.json").read_text(encoding="utf-8")
    assert output.count('"org_unit_id"') == ROWS
    assert not remote.exists() and (sftp_env.archive / remote.name).exists()


def test_a_file_that_changes_during_the_download_is_refused_and_left_in_place(
    sftp_env: SftpEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HR system appends to the file while the connector downloads it (after it settled)."""
    import paramiko

    from hr_connector.clients import sftp
    from hr_connector.errors import FileStillBeingWritten

    remote = sftp_env.put("organization_20261207.csv", b"org_unit_id;org_unit_name\nOU1;Head\n")
    opened: list[str] = []
    real_open, real_stat = paramiko.SFTPClient.open, paramiko.SFTPClient.stat

    def open_(self: paramiko.SFTPClient, path: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(path)
        return real_open(self, path, *args, **kwargs)

    def stat_(self: paramiko.SFTPClient, path: str) -> Any:
        if opened:  # the download has begun: the export writes more rows
            with remote.open("ab") as fh:
                fh.write(b"OU2;Late\n")
        return real_stat(self, path)

    monkeypatch.setattr(paramiko.SFTPClient, "open", open_)
    monkeypatch.setattr(paramiko.SFTPClient, "stat", stat_)
    with pytest.raises(FileStillBeingWritten) as refused:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, "./organization/*.csv")
    assert "during the download" in str(refused.value)
    assert "is still being written" in str(refused.value)
    local = sftp_env.local()
    assert not local.exists() or list(local.iterdir()) == []  # no partial file, no temporary
    assert remote.exists() and not any(sftp_env.archive.iterdir())  # nothing moved
