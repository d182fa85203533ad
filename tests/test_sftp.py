"""The SFTP source (hr_connector/clients/sftp.py) against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hr_connector.clients import sftp
from hr_connector.errors import (
    FileEmpty,
    FileNotReceived,
    MultipleFiles,
    ParametersInvalid,
    SftpError,
    SftpUnavailable,
    TransientError,
    UnsafePath,
)
from hr_connector.params import SftpSettings

import sshd as sshd_mod
from conftest_sftp import SftpEnv  # the fixtures come from the conftest_sftp plugin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CSV = b"org_unit_id;org_unit_name\n1;Head office\n2;Sales\n"
PATTERN = "./organization/*.csv"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name) if folder.exists() else []


# -- login and download -----------------------------------------------------------------------


def test_password_login_downloads_the_file(sftp_env: SftpEnv) -> None:
    sftp_env.put("org_20261126.csv", CSV)
    got = sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert got == sftp_env.local() / "org_20261126.csv"
    assert got.read_bytes() == CSV
    assert stat.S_IMODE(got.stat().st_mode) == 0o600
    assert leftovers(got.parent) == []
    # downloading does not move anything: an interrupted run leaves the remote file for the rerun
    assert (sftp_env.data / "org_20261126.csv").read_bytes() == CSV


def test_key_login_with_passphrase(sftp_env: SftpEnv, sftp_client_key: tuple[Path, str]) -> None:
    key, passphrase = sftp_client_key
    sftp_env.put("org.csv", CSV)
    settings = sftp_env.settings(
        sftp_private_key_path=str(key), sftp_private_key_passphrase=passphrase
    )
    assert sftp.download_hr_file(settings, sftp_env.workdir, PATTERN).read_bytes() == CSV


@pytest.mark.parametrize(("key_type", "pem"), [("ecdsa", False), ("rsa", True)])
def test_key_login_other_key_types(sftp_env: SftpEnv, key_type: str, pem: bool) -> None:
    key = sshd_mod.keygen(sftp_env.tmp / f"id_{key_type}", key_type, pem=pem)
    sftp_env.server.authorize(key)
    sftp_env.put("org.csv", CSV)
    settings = sftp_env.settings(sftp_private_key_path=str(key))
    assert sftp.download_hr_file(settings, sftp_env.workdir, PATTERN).read_bytes() == CSV


def test_unauthorized_key_falls_back_to_the_password(sftp_env: SftpEnv) -> None:
    key = sshd_mod.keygen(sftp_env.tmp / "id_other")  # not in authorized_keys
    sftp_env.put("org.csv", CSV)
    settings = sftp_env.settings(sftp_private_key_path=str(key), sftp_password=sftp_env.password)
    assert sftp.download_hr_file(settings, sftp_env.workdir, PATTERN).read_bytes() == CSV


def test_wrong_password_is_permanent_and_never_shown(
    sftp_env: SftpEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="paramiko")
    wrong = "Wr0ng-pässword-31337"
    sftp_env.put("org.csv", CSV)
    with pytest.raises(SftpError) as info:
        sftp.download_hr_file(sftp_env.settings(sftp_password=wrong), sftp_env.workdir, PATTERN)
    assert not isinstance(info.value, TransientError)
    assert "authentication failed" in str(info.value)
    everything = f"{info.value} {info.value!r} {info.value.figures} {caplog.text}"
    assert wrong not in everything
    assert sftp_env.password not in everything
    assert info.value.__cause__ is None
    assert not sftp_env.local().exists()  # nothing was created locally


def test_encrypted_key_without_or_with_wrong_passphrase(
    sftp_env: SftpEnv, sftp_client_key: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = sftp_client_key
    with pytest.raises(SftpError, match="encrypted and no passphrase"):
        sftp.download_hr_file(
            sftp_env.settings(sftp_private_key_path=str(key)), sftp_env.workdir, PATTERN
        )
    wrong = "not-the-Passphrase-99"
    with pytest.raises(SftpError, match="wrong passphrase") as info:
        sftp.download_hr_file(
            sftp_env.settings(sftp_private_key_path=str(key), sftp_private_key_passphrase=wrong),
            sftp_env.workdir,
            PATTERN,
        )
    assert wrong not in f"{info.value} {info.value.figures} {caplog.text}"


# -- host key verification --------------------------------------------------------------------


def test_unknown_host_key_is_refused_with_the_offered_fingerprint(sftp_env: SftpEnv) -> None:
    sftp_env.known_hosts.write_text("")
    sftp_env.put("org.csv", CSV)
    with pytest.raises(SftpError) as info:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    text = str(info.value)
    assert sftp_env.server.host_fingerprint in text
    assert "ssh-ed25519" in text and "unknown" in text
    assert "ssh-keyscan" in text  # the hint says how to add it
    assert not sftp_env.local().exists()  # nothing was created locally


def test_missing_known_hosts_file_is_refused(sftp_env: SftpEnv) -> None:
    settings = sftp_env.settings(sftp_known_hosts=str(sftp_env.tmp / "nope"))
    with pytest.raises(SftpError, match="does not exist") as info:
        sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)
    assert sftp_env.server.host_fingerprint in str(info.value)


def test_changed_host_key_is_refused_loudly(sftp_env: SftpEnv) -> None:
    other = sshd_mod.keygen(sftp_env.tmp / "other_host_key")
    entry = sftp_env.server.host_entry()
    sftp_env.known_hosts.write_text(f"{entry} {sshd_mod.public_line(other)}\n")
    sftp_env.put("org.csv", CSV)
    with pytest.raises(SftpError) as info:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    text = str(info.value)
    assert "HOST KEY HAS CHANGED" in text
    assert sftp_env.server.host_fingerprint in text
    assert sshd_mod.fingerprint(other) in text
    assert not isinstance(info.value, TransientError)


def test_only_other_key_types_known_is_refused(sftp_env: SftpEnv) -> None:
    other = sshd_mod.keygen(sftp_env.tmp / "ecdsa_host_key", "ecdsa")
    sftp_env.known_hosts.write_text(
        f"{sftp_env.server.host_entry()} {sshd_mod.public_line(other)}\n"
    )
    with pytest.raises(SftpError, match="lists only ecdsa-sha2-nistp256 keys for"):
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)


def test_hashed_known_hosts_entry_is_accepted(sftp_env: SftpEnv) -> None:
    subprocess.run(
        [sshd_mod.SSH_KEYGEN, "-H", "-f", str(sftp_env.known_hosts)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert sftp_env.known_hosts.read_text().startswith("|1|")
    sftp_env.put("org.csv", CSV)
    assert sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN).exists()


def test_revoked_host_key_is_refused(sftp_env: SftpEnv) -> None:
    key_line = sshd_mod.public_line(sftp_env.server.host_key)
    with sftp_env.known_hosts.open("a") as fh:
        fh.write(f"@revoked * {key_line}\n")
    with pytest.raises(SftpError, match="@revoked"):
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)


def test_pinned_fingerprint(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", CSV)
    nowhere = str(sftp_env.tmp / "no_known_hosts")
    good = sftp_env.settings(
        sftp_known_hosts=nowhere, sftp_host_key_fingerprint=sftp_env.server.host_fingerprint
    )
    assert sftp.download_hr_file(good, sftp_env.workdir, PATTERN).read_bytes() == CSV

    other = sshd_mod.fingerprint(sshd_mod.keygen(sftp_env.tmp / "pin_other"))
    bad = sftp_env.settings(
        sftp_known_hosts=str(sftp_env.known_hosts),  # knows the key: the pin still wins
        sftp_host_key_fingerprint=other,
    )
    with pytest.raises(SftpError, match="NOT the pinned") as info:
        sftp.download_hr_file(bad, sftp_env.workdir, PATTERN)
    assert sftp_env.server.host_fingerprint in str(info.value)


def test_pin_must_be_sha256(sftp_env: SftpEnv) -> None:
    settings = sftp_env.settings(sftp_host_key_fingerprint="MD5:12:34:56")
    with pytest.raises(SftpError, match="not a SHA256 fingerprint"):
        sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)


def _first_use(sftp_env: SftpEnv, monkeypatch: pytest.MonkeyPatch) -> SftpSettings:
    """No pin, no sftp_known_hosts, and a user whose ~/.ssh/known_hosts does not exist."""
    monkeypatch.setenv("HOME", str(sftp_env.tmp / "home"))
    return sftp_env.settings(sftp_known_hosts=None)


def test_the_first_key_is_trusted_recorded_and_then_required(
    sftp_env: SftpEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As OpenSSH's StrictHostKeyChecking=accept-new: the first key is recorded in the
    working directory (known_hosts format), the same key is accepted after it."""
    caplog.set_level(logging.WARNING)
    settings = _first_use(sftp_env, monkeypatch)
    sftp_env.put("org.csv", CSV)
    started = time.time()
    assert sftp.download_hr_file(settings, sftp_env.workdir, PATTERN).read_bytes() == CSV
    record = sftp_env.workdir.root / "data" / "archive" / "sftp_known_hosts"
    lines = record.read_text().splitlines()
    assert lines[1] == sftp_env.server.known_hosts_line().strip()
    assert lines[0].startswith("# hr-connector: trusted on first use at ")
    assert sftp_env.server.host_fingerprint in caplog.text and "First connection" in caplog.text
    (found,) = sftp.first_use_since(sftp_env.workdir, started)
    assert found["fingerprint"] == sftp_env.server.host_fingerprint
    assert found["server"] == sftp_env.server.host_entry()
    caplog.clear()
    assert sftp.download_hr_file(settings, sftp_env.workdir, PATTERN).read_bytes() == CSV
    assert "First connection" not in caplog.text
    assert record.read_text().splitlines() == lines  # recorded once
    assert sftp.archive_remote_file(settings, "org.csv")  # the archive move: the same key


def test_a_key_other_than_the_recorded_one_is_always_refused(
    sftp_env: SftpEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _first_use(sftp_env, monkeypatch)
    other = sshd_mod.keygen(sftp_env.tmp / "recorded_key")
    record = sftp_env.workdir.root / "data" / "archive" / "sftp_known_hosts"
    record.parent.mkdir(parents=True)
    record.write_text(f"{sftp_env.server.host_entry()} {sshd_mod.public_line(other)}\n")
    sftp_env.put("org.csv", CSV)
    with pytest.raises(SftpError) as info:
        sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)
    text = str(info.value)
    assert "HOST KEY HAS CHANGED" in text and "data/archive/sftp_known_hosts" in text
    assert sftp_env.server.host_fingerprint in text and sshd_mod.fingerprint(other) in text
    assert not sftp_env.local().exists()


def test_a_dry_run_checks_the_record_but_writes_none(
    sftp_env: SftpEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _first_use(sftp_env, monkeypatch)
    sftp_env.put("org.csv", CSV)
    copy = sftp.download_for_dry_run(settings, sftp_env.workdir, PATTERN)
    assert copy.read_bytes() == CSV
    assert not (sftp_env.workdir.root / "data").exists()


def _sshd_log_of_one_connection(sshd: sshd_mod.Sshd, since: int) -> str:
    """sshd's lines (LogLevel VERBOSE) about the one connection made after log offset ``since``.

    Lines are picked by the client's port, so a previous connection's late lines do not count;
    returned once sshd logged that the connection closed.
    """
    deadline = time.monotonic() + 10
    while True:
        text = sshd.log_text()[since:]
        opened = re.search(r"Connection from \S+ port (\d+)", text)
        if opened:
            mine = re.compile(rf"\bport {opened.group(1)}\b")
            lines = [line for line in text.splitlines() if mine.search(line)]
            if any(re.search(r"closed|Disconnected|reset", line) for line in lines[1:]):
                return "\n".join(lines)
        assert time.monotonic() < deadline, f"sshd never logged the connection:\n{text}"
        time.sleep(0.05)


#: What sshd logs at VERBOSE once a client has sent an authentication request.
_AUTH_ATTEMPT = re.compile(r"Accepted|Failed|Postponed|Partial|userauth|Invalid user|session")


@pytest.mark.parametrize("impostor", ["unknown", "changed", "pin"])
def test_an_impostor_host_key_gets_no_authentication_attempt(
    sftp_env: SftpEnv, sftp_client_key: tuple[Path, str], impostor: str
) -> None:
    """The host key is checked before any credential is sent: sshd sees no login attempt."""
    other = sshd_mod.keygen(sftp_env.tmp / "impostor_key")
    overrides: dict[str, object] = {
        "sftp_private_key_path": str(sftp_client_key[0]),
        "sftp_private_key_passphrase": sftp_client_key[1],
    }
    if sftp_env.server.user.password is not None:
        overrides["sftp_password"] = sftp_env.server.user.password  # both credentials offered
    if impostor == "unknown":
        sftp_env.known_hosts.write_text("")
    elif impostor == "changed":
        entry = sftp_env.server.host_entry()
        sftp_env.known_hosts.write_text(f"{entry} {sshd_mod.public_line(other)}\n")
    else:
        overrides["sftp_host_key_fingerprint"] = sshd_mod.fingerprint(other)
    sftp_env.put("org.csv", CSV)
    # the same credentials get in when the key is the right one: the check below can see them
    since = len(sftp_env.server.log_text())
    right = sftp_env.settings(
        **{k: v for k, v in overrides.items() if k != "sftp_host_key_fingerprint"},
        sftp_known_hosts=str(sftp_env.server.write_known_hosts(sftp_env.tmp / "right_hosts")),
    )
    assert sftp.download_hr_file(right, sftp_env.workdir, PATTERN).read_bytes() == CSV
    assert "Accepted" in _sshd_log_of_one_connection(sftp_env.server, since)

    since = len(sftp_env.server.log_text())
    with pytest.raises(SftpError):
        sftp.download_hr_file(sftp_env.settings(**overrides), sftp_env.workdir, PATTERN)
    seen = _sshd_log_of_one_connection(sftp_env.server, since)
    attempts = [line for line in seen.splitlines() if _AUTH_ATTEMPT.search(line)]
    assert attempts == [], seen
    assert "[preauth]" in seen, seen


# -- the vendor's file rules ------------------------------------------------------------------


def test_no_file_is_not_received(sftp_env: SftpEnv) -> None:
    sftp_env.put("costcenter.json", b"[]")  # does not match
    with pytest.raises(FileNotReceived) as info:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert info.value.figures["where"] == f"sftp://{sftp_env.server.host}{sftp_env.data}"
    assert info.value.figures["pattern"] == PATTERN


def test_empty_file(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", b"")
    with pytest.raises(FileEmpty):
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert not (sftp_env.local() / "org.csv").exists()


def test_two_matching_files(sftp_env: SftpEnv) -> None:
    sftp_env.put("org_1.csv", CSV)
    sftp_env.put("org_2.csv", CSV)
    with pytest.raises(MultipleFiles) as info:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert "org_1.csv" in str(info.value) and "org_2.csv" in str(info.value)


def test_unsafe_and_non_regular_names_are_never_matched(
    sftp_env: SftpEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sftp_env.put(".partial.csv", CSV)
    sftp_env.put("back\\slash.csv", CSV)
    sftp_env.put("new\nline.csv", CSV)
    (sftp_env.data / "folder.csv").mkdir()
    os.symlink("/etc/passwd", sftp_env.data / "link.csv")
    sftp_env.put("good.csv", CSV)
    got = sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert got.name == "good.csv"
    assert sorted(p.name for p in got.parent.iterdir()) == ["good.csv"]
    assert "'.partial.csv'" in caplog.text and "'folder.csv'" in caplog.text
    assert "new\nline" not in caplog.text  # logged as repr: no forged log lines


def test_old_local_copy_is_replaced_not_duplicated(sftp_env: SftpEnv) -> None:
    local = sftp_env.local()
    local.mkdir()
    (local / "org_20261125.csv").write_bytes(b"old;file\n")
    (local / "org_20261126.csv").write_bytes(b"same name, old content\n")
    (local / "notes.txt").write_text("not matching: kept")
    sftp_env.put("org_20261126.csv", CSV)
    got = sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert got.read_bytes() == CSV
    assert sorted(p.name for p in local.iterdir()) == ["notes.txt", "org_20261126.csv"]


def test_leftover_temp_file_of_a_killed_run_is_removed(sftp_env: SftpEnv) -> None:
    local = sftp_env.local()
    local.mkdir()
    (local / ".org.csv.tmp-999999").write_bytes(b"half")
    sftp_env.put("org.csv", CSV)
    sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert sorted(p.name for p in local.iterdir()) == ["org.csv"]


def test_file_path_outside_the_workdir_is_refused(sftp_env: SftpEnv) -> None:
    with pytest.raises(UnsafePath):
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, "../elsewhere/*.csv")
    for bad in ("./*/org.csv", "./*.csv", "org.csv", "./data/archive/*.json", "misc-files/*"):
        with pytest.raises(ParametersInvalid):
            sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, bad)


def test_missing_remote_folder_is_permanent(sftp_env: SftpEnv) -> None:
    settings = sftp_env.settings(sftp_remote_path_data=str(sftp_env.data / "missing"))
    with pytest.raises(SftpError, match="no such file") as info:
        sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)
    assert not isinstance(info.value, TransientError)


def test_unreadable_remote_folder_is_permanent(sftp_env: SftpEnv) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs a test user other than the one running the tests")
    os.chmod(sftp_env.data, 0o000)  # root owns nothing here, but hrtest may not enter
    os.chown(sftp_env.data, 0, 0)
    with pytest.raises(SftpError, match="permission denied") as info:
        sftp.download_hr_file(sftp_env.settings(), sftp_env.workdir, PATTERN)
    assert not isinstance(info.value, TransientError)


# -- transient failures -----------------------------------------------------------------------


def test_connection_refused_is_transient(sftp_env: SftpEnv) -> None:
    settings = sftp_env.settings(
        sftp_server_ssh_port_number=sshd_mod.free_port(),
        sftp_host_key_fingerprint=sftp_env.server.host_fingerprint,
    )
    with pytest.raises(SftpUnavailable):
        sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)


def test_silent_server_times_out_quickly(sftp_env: SftpEnv) -> None:
    with socket.socket() as silent:  # accepts (backlog) but never says a word
        silent.bind((sshd_mod.LOOPBACK, 0))
        silent.listen(1)
        settings = sftp_env.settings(
            sftp_server_ssh_port_number=silent.getsockname()[1],
            sftp_host_key_fingerprint=sftp_env.server.host_fingerprint,
            sftp_timeout_seconds=1,
        )
        with pytest.raises(SftpUnavailable):
            sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)


def test_dropped_connection_leaves_nothing_and_the_retry_succeeds(sftp_env: SftpEnv) -> None:
    big = os.urandom(4 << 20)
    local = sftp_env.local()
    local.mkdir()
    (local / "org_old.csv").write_bytes(b"previous download\n")
    sftp_env.put("org_new.csv", big)
    with sshd_mod.DroppingProxy(sftp_env.server.port, drop_after=1 << 20) as proxy:
        sftp_env.server.write_known_hosts(sftp_env.known_hosts, proxy.port)
        settings = sftp_env.settings(sftp_server_ssh_port_number=proxy.port)
        with pytest.raises(SftpUnavailable) as info:
            sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)
        assert proxy.dropped == 1
        assert isinstance(info.value, TransientError)  # the Prefect task retries it
        # nothing half-written; the earlier copy is untouched until a download completes
        assert sorted(p.name for p in local.iterdir()) == ["org_old.csv"]

        proxy.drop_after = None  # the retry finds the network healthy again
        got = sftp.download_hr_file(settings, sftp_env.workdir, PATTERN)
    assert got.read_bytes() == big
    assert sorted(p.name for p in local.iterdir()) == ["org_new.csv"]
    assert threading.active_count() < 50  # the proxy's threads ended


# -- archive move -----------------------------------------------------------------------------


def test_archive_move_to_a_free_name(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", CSV)
    moved = sftp.archive_remote_file(sftp_env.settings(), "org.csv")
    assert moved == str(sftp_env.archive / "org.csv")
    assert (sftp_env.archive / "org.csv").read_bytes() == CSV
    assert not (sftp_env.data / "org.csv").exists()


def test_archive_move_to_a_taken_name_adds_a_timestamp(sftp_env: SftpEnv) -> None:
    sftp_env.server.put(sftp_env.archive, "org.csv", b"earlier\n")
    sftp_env.put("org.csv", CSV)
    moved = sftp.archive_remote_file(sftp_env.settings(), "org.csv")
    assert moved is not None
    assert re.fullmatch(re.escape(str(sftp_env.archive)) + r"/org_\d{8}T\d{6}Z\.csv", moved)
    assert Path(moved).read_bytes() == CSV
    assert (sftp_env.archive / "org.csv").read_bytes() == b"earlier\n"  # never overwritten

    sftp_env.put("org.csv", CSV)  # same second again: a counter keeps it unique
    again = sftp.archive_remote_file(sftp_env.settings(), "org.csv")
    assert again is not None and again != moved and Path(again).exists()


def test_archive_without_archive_folder_does_nothing(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", CSV)
    settings = sftp_env.settings(sftp_remote_path_archive=None)
    assert sftp.archive_remote_file(settings, "org.csv") is None
    assert (sftp_env.data / "org.csv").exists()


def test_archive_errors_are_permanent(sftp_env: SftpEnv) -> None:
    sftp_env.put("org.csv", CSV)
    with pytest.raises(SftpError, match="unsafe name"):
        sftp.archive_remote_file(sftp_env.settings(), "../org.csv")
    with pytest.raises(SftpError, match="no longer in the data folder"):
        sftp.archive_remote_file(sftp_env.settings(), "gone.csv")
    missing = sftp_env.settings(sftp_remote_path_archive=str(sftp_env.archive / "missing"))
    with pytest.raises(SftpError, match="no such file"):
        sftp.archive_remote_file(missing, "org.csv")
    assert (sftp_env.data / "org.csv").exists()


def test_archive_name() -> None:
    now = datetime(2026, 11, 26, 17, 1, 2, tzinfo=UTC)
    assert sftp.archive_name("org.csv", now) == "org.csv"
    assert sftp.archive_name("org.csv", now, 1) == "org_20261126T170102Z.csv"
    assert sftp.archive_name("org.csv", now, 2) == "org_20261126T170102Z_2.csv"
    assert sftp.archive_name("README", now, 1) == "README_20261126T170102Z"


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("a.csv", False),
        (".a.csv", True),
        ("..", True),
        ("a/b", True),
        ("a\\b", True),
        ("a\x00b", True),
        ("a\nb", True),
        ("", True),
    ],
)
def test_unsafe_name(name: str, unsafe: bool) -> None:
    assert sftp.unsafe_name(name) is unsafe
