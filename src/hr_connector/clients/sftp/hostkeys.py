"""Whom the SFTP server is: its host key is checked before any credential is sent.

As OpenSSH's ``StrictHostKeyChecking=accept-new``: a pinned ``sftp_host_key_fingerprint``
(``SHA256:…``) decides alone; else a ``sftp_known_hosts`` file must know the key; else the user's
``~/.ssh/known_hosts`` when it knows the host (hashed and ``[host]:port`` entries work, ``@revoked``
keys are refused); else the working directory's record of first use (:data:`FIRST_USE_RECORD`):
the first key a server shows is recorded, logged and announced in the admin task, and required
from then on. A changed key is always refused, with both fingerprints in the message.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry

from hr_connector.errors import ConnectorError, SftpError
from hr_connector.outcome import AdminTask
from hr_connector.params import SftpSettings
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

log = logging.getLogger(__name__)


def host_entry(settings: SftpSettings) -> str:
    """The host's name as known_hosts writes it: ``host``, or ``[host]:port`` off port 22."""
    host, port = settings.sftp_server_fqdn, settings.sftp_server_ssh_port_number
    return host if port == 22 else f"[{host}]:{port}"


def key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} key {key.fingerprint}"


def _pins(value: str, server: str) -> set[str]:
    """The base64 parts of the pinned ``SHA256:…`` fingerprints (comma or space separated)."""
    pins: set[str] = set()
    for raw in value.replace(",", " ").split():
        algo, _, digest = raw.partition(":")
        if algo.upper() != "SHA256" or not digest:
            raise SftpError(
                server,
                f"sftp_host_key_fingerprint '{raw}' is not a SHA256 fingerprint",
                hint="Give it as 'ssh-keygen -lf <host key>' prints it: SHA256:<base64>.",
            )
        pins.add(digest.rstrip("="))
    return pins


@dataclass
class KnownHosts:
    #: where the keys come from, as the admin reads it
    path: str
    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    revoked: set[str] = field(default_factory=set)
    missing: bool = False

    @classmethod
    def load(cls, path: Path, server: str) -> KnownHosts:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return cls(str(path), missing=True)
        except OSError as exc:
            raise SftpError(
                server,
                f"cannot read the known_hosts file {path} ({exc.strerror})",
                hint="Make the file readable for the connector, or set sftp_known_hosts.",
            ) from None
        return cls.parse(str(path), text)

    @classmethod
    def parse(cls, path: str, text: str) -> KnownHosts:
        known = cls(path)
        for lineno, raw in enumerate(text.splitlines(), 1):
            fields = raw.split()
            if len(fields) >= 4 and fields[0] == "@revoked":
                known.revoked.add(fields[3])
            if not fields or fields[0].startswith(("#", "@")):
                continue  # comments; @cert-authority lines (certificates are not supported)
            try:
                entry = HostKeyEntry.from_line(" ".join(fields[:3]), lineno)
            except Exception as exc:  # a line that cannot be parsed is skipped, as ssh does
                log.warning("Ignoring line %d of %s: %s", lineno, path, type(exc).__name__)
                continue
            if entry is not None and entry.key is not None:
                for host in entry.hostnames:
                    known.keys.add(host, entry.key.get_name(), entry.key)
        return known


#: The record of the host keys trusted on first use, relative to the working directory.
FIRST_USE_RECORD = "data/archive/sftp_known_hosts"
_FIRST_USE = re.compile(
    r"^# hr-connector: trusted on first use at (?P<at>\S+) by task (?P<task>\S+): "
    r"(?P<host>\S+) (?P<type>\S+) (?P<fingerprint>SHA256:\S+)$"
)
#: Keys this process verified, by host entry: the archive move after a download (it has no
#: working directory at hand) takes the very key the download's check accepted.
verified_here: dict[str, bytes] = {}


@dataclass
class FirstUse:
    """The working directory's record of the keys trusted on first use."""

    workdir: WorkDir
    #: a dry run checks against the record but writes nothing
    write: bool = True

    @property
    def path(self) -> Path:
        return self.workdir.root / FIRST_USE_RECORD

    def text(self) -> str:
        try:
            return self.workdir.door.read_text(self.path)
        except FileNotFoundError:
            return ""

    def record(self, name: str, key: paramiko.PKey) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        entry = (
            f"# hr-connector: trusted on first use at {stamp} by task {self.workdir.task_id}: "
            f"{name} {key.get_name()} {key.fingerprint}\n{name} {key.get_name()} "
            f"{key.get_base64()}\n"
        )
        text = self.text()
        if text and not text.endswith("\n"):
            text += "\n"
        self.workdir.door.make_folder(self.path.parent)
        self.workdir.door.write_text(self.path, text + entry)


def first_use_since(workdir: WorkDir, since: float) -> list[dict[str, str]]:
    """The keys recorded on first use at or after ``since`` (seconds since the epoch)."""
    try:
        text = FirstUse(workdir, write=False).text()
    except ConnectorError:
        return []
    found: list[dict[str, str]] = []
    for match in filter(None, map(_FIRST_USE.match, text.splitlines())):
        try:
            at = datetime.fromisoformat(match["at"]).timestamp()
        except ValueError:
            continue
        if at >= int(since):
            key, fingerprint = match["type"], match["fingerprint"]
            server, file = match["host"], FIRST_USE_RECORD
            found.append({"server": server, "key": key, "fingerprint": fingerprint, "file": file})
    return found


def with_first_use(
    task: AdminTask, workdir: WorkDir, translations: Translations, since: float
) -> AdminTask:
    """``task`` announcing each host key this run trusted on first use, with its fingerprint."""
    lines = [
        translations.text("sftp_host_key_first_use", task.language, **found)
        for found in first_use_since(workdir, since)
    ]
    if not lines:
        return task
    return task.model_copy(update={"description": "\n".join([*lines, "", task.description])})


def prefer_known_types(transport: paramiko.Transport, types: list[str]) -> None:
    """Ask first for the host key types known_hosts has for this host, as ssh does."""
    wanted = set(types)
    if "ssh-rsa" in wanted:
        wanted |= {"rsa-sha2-512", "rsa-sha2-256"}
    options = transport.get_security_options()
    options.key_types = sorted(options.key_types, key=lambda k: k not in wanted)


def known_for(
    settings: SftpSettings, server: str, first_use: FirstUse | None
) -> tuple[KnownHosts, bool]:
    """The keys the server's key is checked against, and whether an unknown key is refused: a
    ``sftp_known_hosts`` file, or the user's known_hosts when it knows the host (strict); else
    the working directory's record of first use (``first_use``; None: no working directory at
    hand, strict)."""
    explicit = settings.sftp_known_hosts
    listed = KnownHosts.load(Path(explicit or "~/.ssh/known_hosts").expanduser(), server)
    if explicit or first_use is None or listed.keys.lookup(host_entry(settings)):
        return listed, True
    return KnownHosts.parse(FIRST_USE_RECORD, first_use.text()), False


def verify_host_key(
    settings: SftpSettings,
    key: paramiko.PKey,
    server: str,
    known: tuple[KnownHosts, bool] | None,
    first_use: FirstUse | None,
) -> str:
    """Refuse the server unless its key is pinned, known or trusted on first use (see the
    module's docstring); return how it was verified. ``known``: see :func:`known_for` (None
    with a pin)."""
    if settings.sftp_host_key_fingerprint or known is None:
        return _check_pin(settings, key, server)
    keys, strict = known
    found = _check_known(settings, keys, key, server)
    if found:
        return found if strict else f"{FIRST_USE_RECORD} (trusted on first use)"
    name, offered = host_entry(settings), key_text(key)
    if strict:
        if first_use is None and verified_here.get(name) == key.asbytes():
            return "the key this run's download verified"
        missing = "does not exist" if keys.missing else f"has no key for {name}"
        raise SftpError(
            server,
            f"the server's host key {offered} is unknown: {keys.path} {missing}",
            hint="Confirm the fingerprint with the server's administrator, then add the key to "
            f"{keys.path} (ssh-keyscan -p {settings.sftp_server_ssh_port_number} "
            f"{settings.sftp_server_fqdn}) or set sftp_host_key_fingerprint to it.",
        )
    assert first_use is not None
    if not first_use.write:
        log.warning("First connection to %s: trusting its host key %s (dry run)", server, offered)
        return "first use (a dry run records nothing)"
    first_use.record(name, key)
    log.warning(
        "First connection to %s: its host key %s is trusted and recorded in %s; from now on a "
        "different key is refused. Confirm the fingerprint with the server's administrator.",
        server,
        offered,
        FIRST_USE_RECORD,
    )
    return f"first use, recorded in {FIRST_USE_RECORD}"


def _check_pin(settings: SftpSettings, key: paramiko.PKey, server: str) -> str:
    assert settings.sftp_host_key_fingerprint
    digest = key.fingerprint.partition(":")[2]
    if any(
        hmac.compare_digest(digest, pin)
        for pin in _pins(settings.sftp_host_key_fingerprint, server)
    ):
        return "pinned fingerprint"
    raise SftpError(
        server,
        f"the server offers the host key {key_text(key)}, which is NOT the pinned "
        "sftp_host_key_fingerprint; the connection was refused",
        hint="If the server's key was replaced on purpose, confirm the new fingerprint with "
        "its administrator and update sftp_host_key_fingerprint; otherwise someone may be "
        "intercepting the connection.",
    )


def _check_known(
    settings: SftpSettings, known: KnownHosts, key: paramiko.PKey, server: str
) -> str | None:
    """How ``known`` verifies the key; None when it has no key for the host; refused when it
    revokes the key or knows another one (a changed key is never accepted)."""
    name, offered = host_entry(settings), key_text(key)
    if key.get_base64() in known.revoked:
        raise SftpError(
            server, f"the server offers the host key {offered}, which {known.path} marks @revoked"
        )
    entries = known.keys.lookup(name) or {}
    same_type = entries.get(key.get_name())
    if same_type is not None and same_type.asbytes() == key.asbytes():
        return f"known_hosts {known.path}"
    if not entries:
        return None
    if same_type is not None:
        reason = (
            f"WARNING: THE HOST KEY HAS CHANGED. The server offers {offered}, but {known.path} "
            f"lists a different {key.get_name()} key ({same_type.fingerprint}) for {name}. "
            "Someone may be intercepting the connection (man-in-the-middle), or the key was "
            "replaced"
        )
    else:
        reason = (
            f"the server offers the host key {offered}, but {known.path} lists only "
            f"{', '.join(sorted(entries))} keys for {name}: the server's keys changed"
        )
    raise SftpError(
        server,
        reason,
        hint="Confirm the new fingerprint with the server's administrator, then replace the "
        f"host's line in {known.path} (ssh-keygen -R '{name}' -f {known.path}) or pin it with "
        "sftp_host_key_fingerprint, and rerun.",
    )
