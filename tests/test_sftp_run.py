"""The whole run with the SFTP source, exactly as the engine runs it (IGAConnector.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import WEBAPI_PASSWORD
from conftest_sftp import SftpEnv, sftp_raw
from run_helpers import engine_run, script_env

pytestmark = pytest.mark.integration


def test_completed_run_fetches_and_archives_the_remote_file(
    sftp_env: SftpEnv, esm: Any, samples: Path
) -> None:
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


def test_interrupted_run_leaves_the_remote_file_for_the_rerun(
    sftp_env: SftpEnv, esm: Any, samples: Path
) -> None:
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


def test_a_dry_run_downloads_to_a_scratch_folder_and_writes_nothing_here(
    sftp_env: SftpEnv, esm: Any, samples: Path, tmp_path: Path
) -> None:
    content = (samples / "organization" / "organization.csv").read_bytes()
    root = sftp_env.workdir.root
    (root / "organization").mkdir()
    kept = root / "organization" / "organization_20261125.csv"  # a real run's earlier copy
    kept.write_bytes(content)
    sftp_env.put("organization_20261126.csv", content)
    before = sorted((p, p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))
    temp = tmp_path / "temp"
    temp.mkdir()
    cards = len(esm.datacards())

    proc = engine_run(root, sftp_raw(sftp_env, esm, dry_run=True), env=script_env(TMPDIR=str(temp)))

    assert proc.returncode == 0, proc.stderr
    assert "Dry run" in proc.stdout and "Downloaded organization_20261126.csv" in proc.stderr
    # the working directory is as it was: no download, the earlier copy kept, no log or lock
    assert sorted((p, p.read_bytes() if p.is_file() else None) for p in root.rglob("*")) == before
    assert list(temp.iterdir()) == []  # the scratch copy is gone with the run
    assert [p.name for p in sftp_env.data.iterdir()] == ["organization_20261126.csv"]  # not moved
    assert not any(sftp_env.archive.iterdir())
    assert len(esm.datacards()) == cards
