"""SFTP source: fetch the HR file from the customer's SFTP server, and archive it afterwards.

PLATFORM.md §2, §3. The remote data folder's one matching file is downloaded into the local
folder that ``file_path`` names (``./organization/*.csv`` → ``./organization/``); the local step
(:func:`hr_connector.fetch.locate_local_file`) then finds it exactly like a file put there by hand.
After a completed run :func:`archive_remote_file` moves the remote file into the archive folder.

Safety choices, and why:

* **The server is authenticated before we send any credential**, as OpenSSH's
  ``StrictHostKeyChecking=accept-new`` does. A pinned ``sftp_host_key_fingerprint`` (``SHA256:…``
  as ``ssh-keygen -l`` prints it) decides alone; else a ``sftp_known_hosts`` file, when given,
  must know the key; else the user's ``~/.ssh/known_hosts`` when it knows the host (hashed and
  ``[host]:port`` entries work; ``@revoked`` keys are refused); else the working directory's
  record of first use (:data:`FIRST_USE_RECORD`, known_hosts format): the first key a server shows
  is recorded there, logged and announced in the admin task with its fingerprint
  (:func:`with_first_use`), and from then on it is required. A changed key is always refused, with
  the offered and the known fingerprint in the message, so the admin can compare them with the
  server's administrator instead of guessing.
* **Every wait is bounded** by ``sftp_timeout_seconds``: TCP connect, SSH banner, key exchange,
  authentication, channel open and every SFTP read. A hung server becomes an error, not a hung run.
* **Errors are sorted for the Prefect retry** (tasks/__init__.py retries only
  :class:`~hr_connector.errors.TransientError`): refused/reset connections, timeouts and a
  connection dropped mid-transfer raise :class:`~hr_connector.errors.SftpUnavailable` (retried
  with backoff); authentication, host key, permission and missing-folder problems raise
  :class:`~hr_connector.errors.SftpError` (retrying cannot fix them, and retrying a wrong
  password can lock the account).
* **Secrets never leave this module**: the password and passphrase are read from their
  ``SecretStr`` only at the call that needs them; error texts are our own sentences, and any text
  taken from a library is scrubbed of the secret values. paramiko's own logger is kept at WARNING
  unless the application configured it (its DEBUG output is noisy, though it holds no secrets).
* **Nothing half-written stays behind**: the download goes to a hidden temporary name in the
  target folder (mode 0600: the file holds personal data), its size is checked against the
  server's, it is fsynced and only then renamed into place; any failure removes it. Older local
  copies that match the same pattern are removed only after the new copy is complete, so the
  local folder ends with exactly one matching file and a failed download leaves it untouched.
* **Remote names are not trusted**: names with ``/``, ``\\``, NUL or other control characters,
  or a leading dot, are never matched, downloaded or moved (they could escape the local folder,
  forge log lines or be a partial upload); only regular files match.
* **The archive move never overwrites**: SFTP ``rename`` (not ``posix-rename``) fails when the
  target exists, so a name already taken in the archive folder gets a timestamp suffix
  (``name_20261126T170102Z.csv``) instead of replacing the earlier file.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob
import hmac
import logging
import os
import posixpath
import re
import shutil
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from paramiko.hostkeys import HostKeyEntry

from hr_connector.clients.sftp_pipelined import (
    CHANNEL_MAX_PACKET_BYTES,
    CHANNEL_WINDOW_BYTES,
    read_pipelined,
)
from hr_connector.door import Door
from hr_connector.errors import (
    ConnectorError,
    FileEmpty,
    FileStillBeingWritten,
    ParametersInvalid,
    SftpError,
    SftpUnavailable,
)
from hr_connector.fetch import check_pattern, scratch_workdir, the_one_match
from hr_connector.outcome import AdminTask
from hr_connector.params import SftpSettings, secret_values
from hr_connector.runlog import mask_secrets
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

log = logging.getLogger(__name__)

_paramiko_log = logging.getLogger("paramiko")
if _paramiko_log.level == logging.NOTSET:
    # keep paramiko's chatter out of the run log unless the application asked for it
    _paramiko_log.setLevel(logging.WARNING)

#: Errnos of socket errors that a later attempt may not see (the Prefect task retries them).
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
    }
)
#: paramiko SSHException texts that mean "these two cannot talk", not "try again later".
_PERMANENT_SSH_TEXTS = ("incompatible", "no acceptable", "unknown cipher", "no matching")
_ARCHIVE_NAME_ATTEMPTS = 20
#: What the network, the SSH layer and the SFTP server raise; anything else is a bug and is not
#: dressed up as a (retried) network error.
_REMOTE_ERRORS = (paramiko.SSHException, OSError, EOFError)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    return mask_secrets(text, secrets)  # as is, URL/JSON-encoded, inside base64


def _describe(exc: BaseException, secrets: tuple[str, ...]) -> str:
    text = str(exc).strip()
    return _scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)


def _map_error(
    exc: BaseException, server: str, doing: str, secrets: tuple[str, ...], connected: bool
) -> ConnectorError:
    """Turn a library exception into SftpError (permanent) or SftpUnavailable (retried), each
    saying what was tried (the server, the step) and what to check."""
    what = _describe(exc, secrets)
    host, _, port = server.rpartition(":")
    if isinstance(exc, paramiko.AuthenticationException):
        return SftpError(server, f"authentication failed while {doing}")
    if isinstance(exc, FileNotFoundError):
        return SftpError(server, f"{doing}: no such file or folder ({what})")
    if isinstance(exc, PermissionError):
        return SftpError(server, f"{doing}: permission denied ({what})")
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_AGAIN:
            return SftpUnavailable(
                server,
                f"name lookup of {host} failed for now while {doing}",
                hint="Check this machine's DNS servers, then rerun the task.",
            )
        return SftpError(
            server,
            f"the host name {host} cannot be resolved while {doing} ({what})",
            hint=f"Check sftp_server_fqdn and that this machine's DNS resolves it "
            f"(getent hosts {host}), then rerun the task.",
        )
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return SftpUnavailable(
            server,
            f"timed out while {doing}",
            hint=f"Check the network path to {server} (a firewall that drops packets, VPN); "
            "raise sftp_timeout_seconds if the server is just slow.",
        )
    if isinstance(exc, ConnectionRefusedError) and not connected:
        return SftpUnavailable(
            server,
            f"connection refused while {doing}",
            hint=f"Check that the SFTP server runs and listens on port {port} "
            "(sftp_server_ssh_port_number) and that no firewall refuses this host.",
        )
    permanent = any(text in str(exc).lower() for text in _PERMANENT_SSH_TEXTS)
    if isinstance(exc, paramiko.SSHException) and permanent:
        return SftpError(server, f"SSH negotiation failed while {doing} ({what})")
    if not connected or isinstance(exc, EOFError | ConnectionError | paramiko.SSHException):
        return SftpUnavailable(server, f"connection lost while {doing} ({what})")
    if isinstance(exc, OSError):
        if exc.errno in _TRANSIENT_ERRNOS or "closed" in str(exc).lower():
            return SftpUnavailable(server, f"connection problem while {doing} ({what})")
        return SftpError(server, f"{doing} failed ({what})")
    return SftpUnavailable(server, f"unexpected error while {doing} ({what})")


# --------------------------------------------------------------------------------------------
# Host key verification
# --------------------------------------------------------------------------------------------


def _host_entry(settings: SftpSettings) -> str:
    """The host's name as known_hosts writes it: ``host``, or ``[host]:port`` off port 22."""
    host, port = settings.sftp_server_fqdn, settings.sftp_server_ssh_port_number
    return host if port == 22 else f"[{host}]:{port}"


def _offered(key: paramiko.PKey) -> str:
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
class _KnownHosts:
    #: where the keys come from, as the admin reads it
    path: str
    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    revoked: set[str] = field(default_factory=set)
    missing: bool = False

    @classmethod
    def load(cls, path: Path, server: str) -> _KnownHosts:
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
    def parse(cls, path: str, text: str) -> _KnownHosts:
        known = cls(path)
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            fields = line.split()
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

    def types_for(self, name: str) -> list[str]:
        return list(self.keys.lookup(name) or {})


#: The record of the host keys trusted on first use, relative to the working directory.
FIRST_USE_RECORD = "data/archive/sftp_known_hosts"
_FIRST_USE = re.compile(
    r"^# hr-connector: trusted on first use at (?P<at>\S+) by task (?P<task>\S+): "
    r"(?P<host>\S+) (?P<type>\S+) (?P<fingerprint>SHA256:\S+)$"
)
#: Keys this process verified, by host entry: the archive move after a download (it has no
#: working directory at hand) takes the very key the download's check accepted.
_verified_here: dict[str, bytes] = {}


@dataclass
class _FirstUse:
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

    def known(self) -> _KnownHosts:
        return _KnownHosts.parse(FIRST_USE_RECORD, self.text())

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
        text = _FirstUse(workdir, write=False).text()
    except ConnectorError:
        return []
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _FIRST_USE.match(line)
        if not match:
            continue
        try:
            at = datetime.fromisoformat(match["at"]).timestamp()
        except ValueError:
            continue
        if at >= int(since):
            found.append(
                {
                    "server": match["host"],
                    "key": match["type"],
                    "fingerprint": match["fingerprint"],
                    "file": FIRST_USE_RECORD,
                }
            )
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


def _prefer_known_types(transport: paramiko.Transport, types: list[str]) -> None:
    """Ask first for the host key types known_hosts has for this host, as ssh does."""
    if not types:
        return
    wanted = set(types)
    if "ssh-rsa" in wanted:
        wanted |= {"rsa-sha2-512", "rsa-sha2-256"}
    options = transport.get_security_options()
    current = list(options.key_types)
    options.key_types = [k for k in current if k in wanted] + [
        k for k in current if k not in wanted
    ]


def _known_for(
    settings: SftpSettings, server: str, first_use: _FirstUse | None
) -> tuple[_KnownHosts, bool]:
    """The keys the server's key is checked against, and whether an unknown key is refused: a
    ``sftp_known_hosts`` file, or the user's known_hosts when it knows the host (strict); else
    the working directory's record of first use (``first_use``; None: no working directory at
    hand, strict)."""
    explicit = settings.sftp_known_hosts
    listed = _KnownHosts.load(Path(explicit or "~/.ssh/known_hosts").expanduser(), server)
    if explicit or first_use is None or listed.keys.lookup(_host_entry(settings)):
        return listed, True
    return first_use.known(), False


def _verify_host_key(
    settings: SftpSettings,
    key: paramiko.PKey,
    server: str,
    known: tuple[_KnownHosts, bool] | None,
    first_use: _FirstUse | None,
) -> str:
    """Refuse the server unless its key is pinned, known or trusted on first use (see the
    module's docstring); return how it was verified. ``known``: see :func:`_known_for` (None
    with a pin)."""
    if settings.sftp_host_key_fingerprint or known is None:
        return _check_pin(settings, key, server)
    keys, strict = known
    found = _check_known(settings, keys, key, server)
    if found:
        return found if strict else f"{FIRST_USE_RECORD} (trusted on first use)"
    name, offered = _host_entry(settings), _offered(key)
    if strict:
        if first_use is None and _verified_here.get(name) == key.asbytes():
            return "the key this run's download verified"
        _refuse_unknown(settings, keys, key, server)
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
        f"the server offers the host key {_offered(key)}, which is NOT the pinned "
        "sftp_host_key_fingerprint; the connection was refused",
        hint="If the server's key was replaced on purpose, confirm the new fingerprint with "
        "its administrator and update sftp_host_key_fingerprint; otherwise someone may be "
        "intercepting the connection.",
    )


def _check_known(
    settings: SftpSettings, known: _KnownHosts, key: paramiko.PKey, server: str
) -> str | None:
    """How ``known`` verifies the key; None when it has no key for the host; refused when it
    revokes the key or knows another one (a changed key is never accepted)."""
    name, offered = _host_entry(settings), _offered(key)
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


def _refuse_unknown(
    settings: SftpSettings, known: _KnownHosts, key: paramiko.PKey, server: str
) -> NoReturn:
    name = _host_entry(settings)
    reason = f"the server's host key {_offered(key)} is unknown: {known.path} "
    reason += "does not exist" if known.missing else f"has no key for {name}"
    raise SftpError(
        server,
        reason,
        hint="Confirm the fingerprint with the server's administrator, then add the key to "
        f"{known.path} (ssh-keyscan -p {settings.sftp_server_ssh_port_number} "
        f"{settings.sftp_server_fqdn}) or set sftp_host_key_fingerprint to it.",
    )


# --------------------------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------------------------


def _load_private_key(settings: SftpSettings, server: str) -> paramiko.PKey:
    assert settings.sftp_private_key_path is not None
    path = Path(settings.sftp_private_key_path).expanduser()
    passphrase = (
        settings.sftp_private_key_passphrase.get_secret_value()
        if settings.sftp_private_key_passphrase is not None
        else None
    )
    hint = "Check sftp_private_key_path and sftp_private_key_passphrase, then rerun the task."
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SftpError(
            server, f"cannot read the private key file {path} ({exc.strerror})", hint=hint
        ) from None
    if mode & 0o077:
        log.warning("The private key file %s is readable by other users; chmod 600 it", path)
    secret = passphrase.encode("utf-8") if passphrase else None
    try:
        try:
            return paramiko.PKey.from_path(path, password=secret)
        except TypeError:  # cryptography: "encrypted, no password" or "password, not encrypted"
            if secret is None:
                raise paramiko.PasswordRequiredException() from None
            return paramiko.PKey.from_path(path, password=None)
    except paramiko.PasswordRequiredException:
        reason = f"the private key {path} is encrypted and no passphrase was given"
    except (paramiko.UnknownKeyType, UnsupportedAlgorithm):
        reason = f"the private key {path} is not an ed25519, ECDSA or RSA key"
    except (ValueError, TypeError, paramiko.SSHException) as exc:
        reason = (
            f"cannot load the private key {path}: wrong passphrase, or not a private key in "
            f"OpenSSH or PEM format ({type(exc).__name__})"
        )
    except OSError as exc:
        reason = f"cannot read the private key file {path} ({exc.strerror})"
    raise SftpError(server, reason, hint=hint)


def _authenticate(transport: paramiko.Transport, settings: SftpSettings, server: str) -> str:
    """Log in by key and/or password; return the method(s) used. Never retried.

    With both configured the key is tried first and the password after it, either as a fallback
    or as the second factor a server may demand (``AuthenticationMethods publickey,password``).
    """
    user = settings.sftp_username
    tried: list[str] = []
    if settings.sftp_private_key_path:
        pkey = _load_private_key(settings, server)
        tried.append(f"{pkey.get_name()} key {pkey.fingerprint}")
        with contextlib.suppress(paramiko.AuthenticationException):
            transport.auth_publickey(user, pkey)
        if transport.is_authenticated():
            return "public key"
    if settings.sftp_password is not None:
        tried.append("password")
        try:
            transport.auth_password(user, settings.sftp_password.get_secret_value())
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "none"
            tried[-1] = f"password (not allowed by the server, which allows: {allowed})"
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower():
                raise SftpUnavailable(server, "the login timed out") from None
        if transport.is_authenticated():
            return " + ".join("password" if t == "password" else "public key" for t in tried)
    raise SftpError(
        server,
        f"authentication failed for user '{user}' (tried: {', '.join(tried)})",
        hint="Check sftp_username, sftp_password, and that the key's public half is in the "
        "server's authorized_keys, then rerun the task. A refused login is not retried, so that "
        "the connector cannot lock the account.",
    )


class _Connection:
    """One authenticated SFTP session; :meth:`guard` maps what the server does wrong."""

    def __init__(
        self,
        server: str,
        transport: paramiko.Transport,
        sftp: paramiko.SFTPClient,
        secrets: tuple[str, ...],
    ) -> None:
        self.server = server
        self.transport = transport
        self.sftp = sftp
        self.secrets = secrets

    @contextlib.contextmanager
    def guard(self, doing: str | Callable[[], str]) -> Iterator[None]:
        """Map what goes wrong inside; ``doing`` may be a callable read only then (progress)."""
        try:
            yield
        except ConnectorError:
            raise
        except _REMOTE_ERRORS as exc:
            # a transport that died under us is a dropped connection, whatever the symptom
            connected = self.transport.is_active()
            what = doing() if callable(doing) else doing
            raise _map_error(exc, self.server, what, self.secrets, connected) from None


def _server_label(settings: SftpSettings) -> str:
    return f"{settings.sftp_server_fqdn}:{settings.sftp_server_ssh_port_number}"


def _secrets(settings: SftpSettings) -> tuple[str, ...]:
    return tuple(secret_values(settings))


@contextlib.contextmanager
def _session(settings: SftpSettings, first_use: _FirstUse | None = None) -> Iterator[_Connection]:
    """Connect, verify the host key, log in and open SFTP; every step bounded in time."""
    server = _server_label(settings)
    secrets = _secrets(settings)
    timeout = settings.sftp_timeout_seconds
    known = None if settings.sftp_host_key_fingerprint else _known_for(settings, server, first_use)
    sock: socket.socket | None = None
    transport: paramiko.Transport | None = None
    doing = "connecting to it"
    ready = False
    try:
        sock = socket.create_connection(
            (settings.sftp_server_fqdn, settings.sftp_server_ssh_port_number), timeout=timeout
        )
        transport = paramiko.Transport(sock)
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        transport.channel_timeout = timeout
        if known is not None:  # ask first for the key types it knows, as ssh does
            _prefer_known_types(transport, known[0].types_for(_host_entry(settings)))
        doing = "negotiating the SSH session"
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        verified_by = _verify_host_key(settings, key, server, known, first_use)
        _verified_here[_host_entry(settings)] = key.asbytes()
        doing = "logging in"
        method = _authenticate(transport, settings, server)
        doing = "opening the SFTP channel"
        sftp = paramiko.SFTPClient.from_transport(
            transport, window_size=CHANNEL_WINDOW_BYTES, max_packet_size=CHANNEL_MAX_PACKET_BYTES
        )
        if sftp is None:
            raise SftpUnavailable(server, "the server did not open the SFTP channel")
        sftp.get_channel().settimeout(timeout)
        ready = True
    except ConnectorError:
        raise
    except _REMOTE_ERRORS as exc:
        connected = transport is not None and transport.is_active()
        raise _map_error(exc, server, doing, secrets, connected) from None
    finally:
        if not ready:  # whatever went wrong, no thread or socket outlives the attempt
            if transport is not None:
                transport.close()
            elif sock is not None:
                sock.close()
    log.info(
        "Connected to SFTP server %s as %s (%s; host key %s verified by %s)",
        server,
        settings.sftp_username,
        method,
        _offered(key),
        verified_by,
    )
    try:
        yield _Connection(server, transport, sftp, secrets)
    finally:
        with contextlib.suppress(Exception):
            sftp.close()
        transport.close()


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def unsafe_name(name: str) -> bool:
    """A remote name we never match, download or move (see the module docstring)."""
    return (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _where(settings: SftpSettings) -> str:
    remote = settings.sftp_remote_path_data
    path = remote if remote.startswith("/") else f"/~/{remote}"
    return f"sftp://{settings.sftp_server_fqdn}{path}"


def _matching(
    entries: list[paramiko.SFTPAttributes], pattern: str
) -> list[paramiko.SFTPAttributes]:
    found: list[paramiko.SFTPAttributes] = []
    for entry in entries:
        name = entry.filename
        if unsafe_name(name):
            if fnmatch.fnmatchcase(name, pattern):
                log.warning("Ignoring the remote file %r: unsafe or hidden name", name)
            continue
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        if entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
            log.warning("Ignoring the remote entry %r: not a regular file", name)
            continue
        found.append(entry)
    return sorted(found, key=lambda e: e.filename)


def _local_folder(workdir: WorkDir, file_path: str) -> tuple[Path, str]:
    """The local folder the file goes to, and the file-name pattern to match remotely."""
    pure = PurePosixPath(check_pattern(workdir, file_path))
    parent = str(pure.parent)
    if glob.has_magic(parent):
        raise ParametersInvalid(
            [], {"file_path": "with SFTP, only the file name may contain wildcards"}
        )
    folder = Path(os.path.normpath(workdir.root / parent))
    # the folder is a cache of the remote folder (older matching top-level files are removed
    # there), so it must not be the working directory itself nor hold the connector's own files;
    # ./data/ is fine (the vendor's own example), data/archive/ below it is never touched
    own = (workdir.root, workdir.archive_dir, workdir.translation_override.parent)
    if folder in own or workdir.archive_dir in folder.parents:
        raise ParametersInvalid(
            [],
            {
                "file_path": "with SFTP, the file must go to a folder of its own below the "
                "working directory, e.g. ./organization/*.csv or ./data/workperiod*.csv"
            },
        )
    return folder, pure.name


def _remove_leftovers(door: Door, folder: Path, pattern: str) -> None:
    """Temporary files of earlier downloads that a killed process could not remove."""
    for name, st in door.list_folder(folder):
        real = name[1:].rsplit(".tmp-", 1)[0]
        leftover = name.startswith(".") and ".tmp-" in name and fnmatch.fnmatchcase(real, pattern)
        if leftover and not stat.S_ISDIR(st.st_mode) and door.remove(folder / name):
            log.info("Removed the leftover temporary file %s", name)


def _remove_older_copies(door: Door, folder: Path, pattern: str, keep: str) -> None:
    """Earlier downloads matching the pattern (a link there is removed, never followed)."""
    for name, st in door.list_folder(folder):
        if name == keep or name.startswith(".") or not fnmatch.fnmatchcase(name, pattern):
            continue
        if not stat.S_ISDIR(st.st_mode) and door.remove(folder / name):  # never data/archive
            log.info("Removed the older local copy %s", name)


def _changed(listed: paramiko.SFTPAttributes, now: paramiko.SFTPAttributes) -> str | None:
    """How the remote file changed since it was listed (None: same size and time)."""
    if now.st_size != listed.st_size:
        return f"its size went from {listed.st_size} to {now.st_size} bytes"
    if now.st_mtime != listed.st_mtime:
        return "its modification time changed"
    return None


def _download(
    conn: _Connection,
    door: Door,
    remote: str,
    entry: paramiko.SFTPAttributes,
    final: Path,
    still: Callable[[str], FileStillBeingWritten],
) -> Path:
    """Copy ``remote`` into a temporary sibling of ``final``; return it (complete, fsynced,
    dated like the remote file: the file-age check reads it locally)."""
    expected = entry.st_size or 0

    def write(fh: IO[bytes]) -> None:
        with conn.guard(f"opening {remote}"):
            remote_file = conn.sftp.open(remote, "rb")
        try:
            # Many reads in flight, all sent and answered on this thread (see sftp_pipelined):
            # link speed over distance, and a drop surfaces here, as SftpUnavailable.
            done = 0

            def keep(data: bytes) -> None:
                nonlocal done
                fh.write(data)
                done += len(data)

            with conn.guard(lambda: f"downloading {remote} ({done} of {expected} bytes done)"):
                received = read_pipelined(conn.sftp, remote_file.handle, expected, keep)
            with conn.guard(f"checking {remote} after the download"):
                after = conn.sftp.stat(remote)
            change = _changed(entry, after) or (
                f"{received} of its {expected} bytes were received"
                if received != expected
                else None
            )
            if change:
                raise still(f"{change} during the download")
        finally:
            with contextlib.suppress(Exception):
                remote_file.close()
        fh.flush()
        if entry.st_mtime is not None:  # the listing's time, 0 too: the file-age check reads it
            os.utime(fh.fileno(), (entry.st_atime or entry.st_mtime, entry.st_mtime))

    return door.write_staged(final, write)


def download_for_dry_run(settings: SftpSettings, workdir: WorkDir, file_path: str) -> Path:
    """A dry run's download: checked like a real run's, written to a scratch folder instead of
    the working directory (``fetch.discard_dry_run_copy`` removes it when the run ends), so the
    local copies a real run keeps are neither replaced nor removed."""
    _local_folder(workdir, file_path)  # the same refusals as a real run
    pattern = check_pattern(workdir, file_path)
    scratch = scratch_workdir(workdir)
    try:  # the key is checked against the real record, which a dry run never writes
        checked = _FirstUse(workdir, write=False)
        return download_hr_file(settings, scratch, pattern, checked)  # alone in the scratch
    except BaseException:
        shutil.rmtree(scratch.root, ignore_errors=True)
        raise


def download_hr_file(
    settings: SftpSettings,
    workdir: WorkDir,
    file_path: str,
    first_use: _FirstUse | None = None,
) -> Path:
    """Download the one remote file matching ``file_path``'s name into its local folder
    (``first_use``: where a key met for the first time is checked; the working directory's).

    A file is taken whole only: its size and time must be the same at listing, after
    ``sftp_settle_seconds`` and after the download, else :class:`FileStillBeingWritten` stops
    the run (nothing downloaded, nothing moved). Raises FileNotReceived, MultipleFiles or
    FileEmpty by the vendor's rules, SftpError when the server refuses us for good,
    SftpUnavailable when a retry may succeed.
    """
    folder, pattern = _local_folder(workdir, file_path)
    door = workdir.door
    remote_dir = settings.sftp_remote_path_data
    if PurePosixPath(remote_dir).name != folder.name:
        log.info(
            "The local folder %s (from file_path) is not named like the remote folder %s",
            folder.name,
            remote_dir,
        )
    with _session(settings, first_use or _FirstUse(workdir)) as conn:
        with conn.guard(f"listing the remote data folder {remote_dir}"):
            entries = conn.sftp.listdir_attr(remote_dir)
        matches = _matching(entries, pattern)
        entry = the_one_match(matches, file_path, _where(settings), lambda m: m.filename)
        if entry.st_size is None:
            raise SftpError(conn.server, f"the server reports no size for {entry.filename}")
        settle = settings.sftp_settle_seconds

        def still(change: str) -> FileStillBeingWritten:
            return FileStillBeingWritten(entry.filename, _where(settings), change, settle)

        remote = posixpath.join(remote_dir, entry.filename)
        time.sleep(settle)
        with conn.guard(f"checking {remote} again after {settle:g} s"):
            settled = conn.sftp.stat(remote)
        change = _changed(entry, settled)
        if change:
            raise still(f"{change} within {settle:g} s")
        if not entry.st_size:
            raise FileEmpty(entry.filename)
        door.make_folder(folder)
        _remove_leftovers(door, folder, pattern)
        final = folder / entry.filename
        tmp = _download(conn, door, remote, entry, final, still)
    try:
        _remove_older_copies(door, folder, pattern, keep=final.name)
        door.replace(tmp, final)
    except BaseException:
        door.remove(tmp)
        raise
    log.info(
        "Downloaded %s (%d bytes, unchanged for %g s) from %s to %s",
        entry.filename,
        entry.st_size,
        settle,
        _where(settings),
        door.relative(final),
    )
    return final


# --------------------------------------------------------------------------------------------
# Archive move
# --------------------------------------------------------------------------------------------


def archive_name(name: str, now: datetime, attempt: int = 0) -> str:
    """``name`` for attempt 0, else ``stem_<UTC timestamp>[_n].ext``."""
    if attempt == 0:
        return name
    pure = PurePosixPath(name)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    counter = "" if attempt == 1 else f"_{attempt}"
    return f"{pure.stem}_{stamp}{counter}{pure.suffix}"


def _exists(conn: _Connection, path: str) -> bool:
    with conn.guard(f"checking {path}"):
        try:
            conn.sftp.lstat(path)
        except FileNotFoundError:
            return False
    return True


def archive_remote_file(settings: SftpSettings, name: str) -> str | None:
    """Move ``name`` from the remote data folder into the archive folder; return its new path.

    Returns None (and touches nothing) when ``sftp_remote_path_archive`` is not set. A name
    already taken in the archive folder gets a timestamp suffix; nothing is overwritten.
    """
    archive_dir = settings.sftp_remote_path_archive
    if not archive_dir:
        return None
    server = _server_label(settings)
    if unsafe_name(name):
        raise SftpError(server, f"refusing to move the file {name!r}: unsafe name")
    source = posixpath.join(settings.sftp_remote_path_data, name)
    now = datetime.now(UTC)
    with _session(settings, None) as conn:
        with conn.guard(f"checking the archive folder {archive_dir}"):
            attrs = conn.sftp.stat(archive_dir)
        if attrs.st_mode is None or not stat.S_ISDIR(attrs.st_mode):
            raise SftpError(server, f"the archive folder {archive_dir} is not a folder")
        if not _exists(conn, source):
            raise SftpError(
                server,
                f"{source} is no longer in the data folder (moved or removed by someone else?)",
            )
        for attempt in range(_ARCHIVE_NAME_ATTEMPTS):
            target = posixpath.join(archive_dir, archive_name(name, now, attempt))
            if _exists(conn, target):
                continue
            try:
                with conn.guard(f"moving {source} to {target}"):
                    conn.sftp.rename(source, target)  # fails if target exists: no overwrite
            except SftpError:
                if _exists(conn, target) and _exists(conn, source):
                    continue  # taken meanwhile: next name
                raise
            log.info("Moved the remote file %s to %s", source, target)
            return target
    raise SftpError(server, f"no free name for {name} in the archive folder {archive_dir}")
