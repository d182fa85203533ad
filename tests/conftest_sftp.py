"""Fixtures around a real OpenSSH sshd (tests/sshd.py), for any test module that needs SFTP.

Import them into a test module (``from conftest_sftp import sshd_server, sftp_env``), or list
this module in the root conftest's ``pytest_plugins``. ``sshd_server`` is one sshd per test
session; ``sftp_env`` gives each test fresh remote folders, a known_hosts file, a working
directory and a :class:`SftpSettings` factory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:  # tests/ may be a plain folder (rootdir on sys.path) or a package
    from tests import sshd as sshd_mod
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import sshd as sshd_mod  # type: ignore[no-redef]

from hr_connector.params import SftpSettings
from hr_connector.workdir import WorkDir

from conftest import ESM_USER, base_raw


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[sshd_mod.Sshd]:
    reason = sshd_mod.unavailable_reason()
    if reason:
        pytest.skip(f"no real sshd for the SFTP tests: {reason}")
    with sshd_mod.running_sshd() as server:
        yield server


@pytest.fixture(scope="session")
def sftp_client_key(
    sshd_server: sshd_mod.Sshd, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """An ed25519 client key with a passphrase, authorized for the test user."""
    passphrase = "key-Passphrase-7d1e"
    key = sshd_mod.keygen(
        tmp_path_factory.mktemp("client-key") / "id_ed25519", "ed25519", passphrase
    )
    sshd_server.authorize(key)
    return key, passphrase


@dataclass
class SftpEnv:
    server: sshd_mod.Sshd
    data: Path  # the remote data folder, as seen on this machine
    archive: Path  # the remote archive folder
    known_hosts: Path
    workdir: WorkDir
    tmp: Path
    client_key: tuple[Path, str]

    @property
    def password(self) -> str:
        if self.server.user.password is None:
            pytest.skip("password login needs root (a test user with a password)")
        return self.server.user.password

    def settings(self, **overrides: Any) -> SftpSettings:
        """Password login (key login without root) through known_hosts; ``overrides`` win."""
        values: dict[str, Any] = {
            "sftp_server_fqdn": self.server.host,
            "sftp_server_ssh_port_number": self.server.port,
            "sftp_username": self.server.user.name,
            "sftp_remote_path_data": str(self.data),
            "sftp_remote_path_archive": str(self.archive),
            "sftp_known_hosts": str(self.known_hosts),
            "sftp_timeout_seconds": 5,
            "sftp_settle_seconds": 0,  # the files are whole when put; tests of it set their own
        }
        if not any(k in overrides for k in ("sftp_password", "sftp_private_key_path")):
            if self.server.user.password is not None:
                values["sftp_password"] = self.server.user.password
            else:
                values["sftp_private_key_path"] = str(self.client_key[0])
                values["sftp_private_key_passphrase"] = self.client_key[1]
        values.update(overrides)
        return SftpSettings.model_validate(values)

    def put(self, name: str, content: bytes) -> Path:
        return self.server.put(self.data, name, content)

    def local(self, folder: str = "organization") -> Path:
        return self.workdir.root / folder


@pytest.fixture
def sftp_env(
    sshd_server: sshd_mod.Sshd, sftp_client_key: tuple[Path, str], tmp_path: Path
) -> SftpEnv:
    data = sshd_server.new_dir("organization")
    archive = sshd_server.new_dir("archive")
    known_hosts = sshd_server.write_known_hosts(tmp_path / "known_hosts")
    root = tmp_path / "work"
    root.mkdir()
    return SftpEnv(
        server=sshd_server,
        data=data,
        archive=archive,
        known_hosts=known_hosts,
        workdir=WorkDir(root, "42", "organization"),
        tmp=tmp_path,
        client_key=sftp_client_key,
    )


def sftp_raw(env: SftpEnv, esm: Any, **extra: Any) -> dict[str, Any]:
    """The parameters of a run that downloads from ``env``'s server and reports to ``esm``."""
    values: dict[str, Any] = dict(
        data_type="organization",
        file_path="./organization/*.csv",
        webapi_url=esm.url,
        webapi_user=ESM_USER,
        taskid=21,
        run_type="full",
        sftp_server_fqdn=env.server.host,
        sftp_server_ssh_port_number=str(env.server.port),
        sftp_username=env.server.user.name,
        sftp_password=env.password,
        sftp_remote_path_data=str(env.data),
        sftp_remote_path_archive=str(env.archive),
        sftp_known_hosts=str(env.known_hosts),
        sftp_settle_seconds=0,  # the files are whole when put; tests of settling set their own
    )
    return base_raw(**{**values, **extra})
