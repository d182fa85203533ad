"""SFTP source: fetch the HR file from the customer's SFTP server, and archive it afterwards.

PLATFORM.md §2, §3. The remote data folder's one matching file is downloaded into the local
folder that ``file_path`` names (``./organization/*.csv`` → ``./organization/``); the local step
(:func:`hr_connector.fetch.locate_local_file`) then finds it exactly like a file put there by hand.
After a completed run :func:`archive_remote_file` moves the remote file into the archive folder.

Safety choices, and why:

* **The server is authenticated before we send any credential.** The host key is checked against
  a pinned ``sftp_host_key_fingerprint`` (``SHA256:…`` as ``ssh-keygen -l`` prints it) or a
  known_hosts file (hashed and ``[host]:port`` entries work; ``@revoked`` keys are refused). An
  unknown or changed key refuses the connection with the *offered* fingerprint in the message, so
  the admin can compare it with the server's administrator instead of guessing. Accepting any key
  needs the explicit ``sftp_accept_unknown_host_key`` and logs a WARNING with the fingerprint on
  every connection; nothing is ever written to known_hosts ("trust on first use" would silently
  trust whoever answered first). A pin, when given, always decides, whatever the opt-in says.
* **Every wait is bounded** by ``sftp_timeout_seconds``: TCP connect, SSH banner, key exchange,
  authentication, channel open and every SFTP read. A hung server becomes an error, not a hung run.
* **Errors are sorted for the Prefect retry** (tasks/_retry.py retries only
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
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from paramiko.hostkeys import HostKeyEntry

from hr_connector.clients.sftp_pipelined import (
    CHANNEL_MAX_PACKET_BYTES,
    CHANNEL_WINDOW_BYTES,
    read_pipelined,
)
from hr_connector.errors import (
    ConnectorError,
    FileEmpty,
    ParametersInvalid,
    SftpError,
    SftpUnavailable,
)
from hr_connector.fetch import check_pattern, scratch_workdir, the_one_match
from hr_connector.params import SftpSettings, secret_values
from hr_connector.runlog import mask_secrets
from hr_connector.workdir import WorkDir, fsync_dir, write_staged

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
    """Turn a library exception into SftpError (permanent) or SftpUnavailable (retried)."""
    what = _describe(exc, secrets)
    if isinstance(exc, paramiko.AuthenticationException):
        return SftpError(server, f"authentication failed while {doing}")
    if isinstance(exc, FileNotFoundError):
        return SftpError(server, f"{doing}: no such file or folder ({what})")
    if isinstance(exc, PermissionError):
        return SftpError(server, f"{doing}: permission denied ({what})")
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_AGAIN:
            return SftpUnavailable(server, f"name lookup failed temporarily while {doing}")
        return SftpError(
            server,
            f"the host name cannot be resolved ({what})",
            hint="Check sftp_server_fqdn, then rerun the task.",
        )
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return SftpUnavailable(server, f"timed out while {doing}")
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
    path: Path
    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    revoked: set[str] = field(default_factory=set)
    missing: bool = False

    @classmethod
    def load(cls, settings: SftpSettings, server: str) -> _KnownHosts:
        path = Path(settings.sftp_known_hosts or "~/.ssh/known_hosts").expanduser()
        known = cls(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            known.missing = True
            return known
        except OSError as exc:
            if settings.sftp_accept_unknown_host_key:
                log.warning("Cannot read known_hosts file %s: %s", path, exc.strerror)
                known.missing = True
                return known
            raise SftpError(
                server,
                f"cannot read the known_hosts file {path} ({exc.strerror})",
                hint="Make the file readable for the connector, or set sftp_known_hosts.",
            ) from None
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


def _verify_host_key(
    settings: SftpSettings, known: _KnownHosts | None, key: paramiko.PKey, server: str
) -> str:
    """Refuse the server unless its key is pinned or known; return how it was verified."""
    offered = _offered(key)
    if settings.sftp_host_key_fingerprint:
        digest = key.fingerprint.partition(":")[2]
        if any(
            hmac.compare_digest(digest, pin)
            for pin in _pins(settings.sftp_host_key_fingerprint, server)
        ):
            return "pinned fingerprint"
        raise SftpError(
            server,
            f"the server offers the host key {offered}, which is NOT the pinned "
            "sftp_host_key_fingerprint; the connection was refused",
            hint="If the server's key was replaced on purpose, confirm the new fingerprint with "
            "its administrator and update sftp_host_key_fingerprint; otherwise someone may be "
            "intercepting the connection.",
        )
    assert known is not None
    name = _host_entry(settings)
    blob = key.get_base64()
    if blob in known.revoked:
        raise SftpError(
            server,
            f"the server offers the host key {offered}, which {known.path} marks @revoked",
        )
    entries = known.keys.lookup(name) or {}
    same_type = entries.get(key.get_name())
    if same_type is not None and same_type.asbytes() == key.asbytes():
        return f"known_hosts {known.path}"
    if same_type is not None:
        reason = (
            f"WARNING: THE HOST KEY HAS CHANGED. The server offers {offered}, but {known.path} "
            f"lists a different {key.get_name()} key ({same_type.fingerprint}) for {name}. "
            "Someone may be intercepting the connection (man-in-the-middle), or the key was "
            "replaced"
        )
        if settings.sftp_accept_unknown_host_key:
            log.warning(
                "%s; ACCEPTING IT ANYWAY because sftp_accept_unknown_host_key is true", reason
            )
            return "nothing (sftp_accept_unknown_host_key)"
        raise SftpError(
            server,
            reason,
            hint="Confirm the new fingerprint with the server's administrator, then replace the "
            f"host's line in {known.path} (ssh-keygen -R '{name}') or pin it with "
            "sftp_host_key_fingerprint. Do not switch on sftp_accept_unknown_host_key for this.",
        )
    reason = f"the server's host key {offered} is unknown: {known.path} "
    if known.missing:
        reason += "does not exist"
    elif entries:
        reason += f"lists only {', '.join(sorted(entries))} keys for {name}"
    else:
        reason += f"has no key for {name}"
    if settings.sftp_accept_unknown_host_key:
        log.warning(
            "UNVERIFIED SFTP host key: %s; accepting it because sftp_accept_unknown_host_key "
            "is true (anyone on the network path could impersonate the server)",
            reason,
        )
        return "nothing (sftp_accept_unknown_host_key)"
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
def _session(settings: SftpSettings) -> Iterator[_Connection]:
    """Connect, verify the host key, log in and open SFTP; every step bounded in time."""
    server = _server_label(settings)
    secrets = _secrets(settings)
    timeout = settings.sftp_timeout_seconds
    known = None if settings.sftp_host_key_fingerprint else _KnownHosts.load(settings, server)
    sock: socket.socket | None = None
    transport: paramiko.Transport | None = None
    doing = "connecting"
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
        if known is not None:
            _prefer_known_types(transport, known.types_for(_host_entry(settings)))
        doing = "negotiating the SSH session"
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        verified_by = _verify_host_key(settings, known, key, server)
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
    folder = workdir.inside("file_path", parent)
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


def _remove_leftovers(folder: Path, pattern: str) -> None:
    """Temporary files of earlier downloads that a killed process could not remove."""
    for tmp in folder.glob(".*.tmp-*"):
        real = tmp.name[1:].rsplit(".tmp-", 1)[0]
        if fnmatch.fnmatchcase(real, pattern) and tmp.is_file():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                log.info("Removed the leftover temporary file %s", tmp.name)


def _remove_older_copies(folder: Path, pattern: str, keep: str) -> None:
    for old in folder.iterdir():
        if (
            old.name == keep
            or old.name.startswith(".")
            or not fnmatch.fnmatchcase(old.name, pattern)
        ):
            continue
        if (old.is_file() or old.is_symlink()) and not old.is_dir():  # never data/archive
            old.unlink()
            log.info("Removed the older local copy %s", old.name)


def _download(conn: _Connection, remote: str, entry: paramiko.SFTPAttributes, final: Path) -> Path:
    """Copy ``remote`` into a temporary sibling of ``final``; return it (complete, fsynced)."""
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
            if (
                received != expected
                or after.st_size != expected
                or after.st_mtime != entry.st_mtime
            ):
                raise SftpUnavailable(
                    conn.server,
                    f"{remote} changed during the download (listed {expected} bytes, received "
                    f"{received}); it may still be being written",
                )
        finally:
            with contextlib.suppress(Exception):
                remote_file.close()

    return write_staged(final, write)


def download_for_dry_run(settings: SftpSettings, workdir: WorkDir, file_path: str) -> Path:
    """A dry run's download: checked like a real run's, written to a scratch folder instead of
    the working directory (``fetch.discard_dry_run_copy`` removes it when the run ends), so the
    local copies a real run keeps are neither replaced nor removed."""
    _local_folder(workdir, file_path)  # the same refusals as a real run
    pattern = check_pattern(workdir, file_path)
    scratch = scratch_workdir(workdir)
    try:
        return download_hr_file(settings, scratch, pattern)  # the only file in the scratch folder
    except BaseException:
        shutil.rmtree(scratch.root, ignore_errors=True)
        raise


def download_hr_file(settings: SftpSettings, workdir: WorkDir, file_path: str) -> Path:
    """Download the one remote file matching ``file_path``'s name into its local folder.

    Raises FileNotReceived, MultipleFiles or FileEmpty by the vendor's rules, SftpError when the
    server refuses us for good, SftpUnavailable when a retry may succeed.
    """
    folder, pattern = _local_folder(workdir, file_path)
    remote_dir = settings.sftp_remote_path_data
    if PurePosixPath(remote_dir).name != folder.name:
        log.info(
            "The local folder %s (from file_path) is not named like the remote folder %s",
            folder.name,
            remote_dir,
        )
    with _session(settings) as conn:
        with conn.guard(f"listing the remote data folder {remote_dir}"):
            entries = conn.sftp.listdir_attr(remote_dir)
        matches = _matching(entries, pattern)
        entry = the_one_match(matches, file_path, _where(settings), lambda m: m.filename)
        if entry.st_size is None:
            raise SftpError(conn.server, f"the server reports no size for {entry.filename}")
        if not entry.st_size:
            raise FileEmpty(entry.filename)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_leftovers(folder, pattern)
        final = folder / entry.filename
        remote = posixpath.join(remote_dir, entry.filename)
        tmp = _download(conn, remote, entry, final)
    try:
        if entry.st_mtime is not None:  # the listing's time, 0 too: the file-age check reads it
            os.utime(tmp, (entry.st_atime or entry.st_mtime, entry.st_mtime))
        _remove_older_copies(folder, pattern, keep=final.name)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(folder)
    log.info(
        "Downloaded %s (%d bytes) from %s to %s",
        entry.filename,
        entry.st_size,
        _where(settings),
        final,
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
    with _session(settings) as conn:
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
