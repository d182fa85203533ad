"""One SFTP session: connect, verify the host key, log in, open SFTP; every wait bounded.

Errors are sorted for the Prefect retry, which retries only
:class:`~hr_connector.errors.TransientError`: refused/reset connections, timeouts and a connection
dropped mid-transfer raise :class:`~hr_connector.errors.SftpUnavailable`; authentication, host
key, permission and missing-folder problems raise :class:`~hr_connector.errors.SftpError`
(retrying a wrong password can lock the account). The password and passphrase are read from
their ``SecretStr`` only where needed, and any text taken from a library is scrubbed of them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm

from hr_connector.clients.sftp.hostkeys import (
    FirstUse,
    host_entry,
    key_text,
    known_for,
    prefer_known_types,
    verified_here,
    verify_host_key,
)
from hr_connector.clients.sftp.pipelined import CHANNEL_MAX_PACKET_BYTES, CHANNEL_WINDOW_BYTES
from hr_connector.errors import ConnectorError, SftpError, SftpUnavailable
from hr_connector.params import SftpSettings, secret_values
from hr_connector.runlog import mask_secrets

log = logging.getLogger(__name__)

_paramiko_log = logging.getLogger("paramiko")
if _paramiko_log.level == logging.NOTSET:
    # keep paramiko's chatter out of the run log unless the application asked for it
    _paramiko_log.setLevel(logging.WARNING)

#: Errnos that a later attempt may not see, besides ConnectionError's and TimeoutError's.
_NET_ERRNOS = {
    errno.ENETUNREACH,
    errno.ENETDOWN,
    errno.ENETRESET,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
}
#: paramiko SSHException texts that mean "these two cannot talk", not "try again later".
_PERMANENT_SSH_TEXTS = ("incompatible", "no acceptable", "unknown cipher", "no matching")
#: What the network, the SSH layer and the SFTP server raise; anything else is a bug and is not
#: dressed up as a (retried) network error.
_REMOTE_ERRORS = (paramiko.SSHException, OSError, EOFError)


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
    # what is left is an OSError of a live connection (only _REMOTE_ERRORS are mapped)
    if isinstance(exc, OSError) and (exc.errno in _NET_ERRNOS or "closed" in str(exc).lower()):
        return SftpUnavailable(server, f"connection problem while {doing} ({what})")
    return SftpError(server, f"{doing} failed ({what})")


def _load_private_key(settings: SftpSettings, server: str) -> paramiko.PKey:
    assert settings.sftp_private_key_path is not None
    path = Path(settings.sftp_private_key_path).expanduser()
    phrase = settings.sftp_private_key_passphrase
    secret = phrase.get_secret_value().encode("utf-8") if phrase else None  # "" is none
    hint = "Check sftp_private_key_path and sftp_private_key_passphrase, then rerun the task."
    with contextlib.suppress(OSError):  # an unreadable file is said below
        if path.stat().st_mode & 0o077:
            log.warning("The private key file %s is readable by other users; chmod 600 it", path)
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


@dataclass
class Connection:
    """One authenticated SFTP session; :meth:`guard` maps what the server does wrong."""

    server: str
    transport: paramiko.Transport
    sftp: paramiko.SFTPClient
    secrets: tuple[str, ...]

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


def server_label(settings: SftpSettings) -> str:
    return f"{settings.sftp_server_fqdn}:{settings.sftp_server_ssh_port_number}"


@contextlib.contextmanager
def session(settings: SftpSettings, first_use: FirstUse | None = None) -> Iterator[Connection]:
    """Connect, verify the host key, log in and open SFTP; every step bounded in time."""
    server = server_label(settings)
    secrets = tuple(secret_values(settings))
    timeout = settings.sftp_timeout_seconds
    known = None if settings.sftp_host_key_fingerprint else known_for(settings, server, first_use)
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
            prefer_known_types(transport, list(known[0].keys.lookup(host_entry(settings)) or {}))
        doing = "negotiating the SSH session"
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        verified_by = verify_host_key(settings, key, server, known, first_use)
        verified_here[host_entry(settings)] = key.asbytes()
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
        key_text(key),
        verified_by,
    )
    try:
        yield Connection(server, transport, sftp, secrets)
    finally:
        with contextlib.suppress(Exception):
            sftp.close()
        transport.close()
