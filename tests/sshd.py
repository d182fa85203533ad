"""A real OpenSSH ``sshd`` for tests, plus a TCP proxy that drops connections on purpose.

:class:`Sshd` starts ``/usr/sbin/sshd -D -e`` on a free loopback port with its own temporary
ed25519 host key and config (``internal-sftp`` only: ``ForceCommand internal-sftp`` gives the
test user no shell). Nothing of the system's ssh setup is used or changed, except:

* ``/run/sshd`` (sshd's privilege separation directory) is created when missing, and
* when running as root, a dedicated user ``hrtest`` (shell ``/usr/sbin/nologin``) is created if
  missing and given a password, so that password logins can be tested without touching root's
  password. The password is random, generated once and kept in a root-only file under
  ``~/.cache/hr-connector-tests/`` so that concurrent test sessions agree on it.

Without root only public-key logins as the current user are possible (``Sshd.user.password`` is
None); tests that need a password skip then.

Everything listens on 127.0.0.1 only. :meth:`Sshd.stop` terminates sshd and removes its files.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
TEST_USER = "hrtest"
LOOPBACK = "127.0.0.1"


def unavailable_reason() -> str | None:
    """Why a real sshd cannot be used here, or None."""
    if not SSHD.exists():
        return f"{SSHD} is missing (install openssh-server)"
    if not Path(SSH_KEYGEN).exists():
        return "ssh-keygen is missing (install openssh-client)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "", pem: bool = False) -> Path:
    """A new key pair at ``path`` / ``path.pub``; returns ``path``."""
    args = [SSH_KEYGEN, "-q", "-t", key_type, "-N", passphrase, "-C", f"test-{key_type}"]
    if key_type == "rsa":
        args += ["-b", "2048"]
    if pem:
        args += ["-m", "PEM"]
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run([*args, "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


def public_line(key_path: Path) -> str:
    """``type base64`` of the key's public half (no comment)."""
    fields = key_path.with_name(key_path.name + ".pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def fingerprint(key_path: Path) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it."""
    pub = key_path.with_name(key_path.name + ".pub")
    out = subprocess.run(
        [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(pub)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()[1]


@dataclass(frozen=True)
class SftpUser:
    name: str
    uid: int
    gid: int
    password: str | None


def _password_file(name: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "hr-connector-tests" / f"{name}.password"


def _shared_password(name: str) -> str:
    path = _password_file(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(18))
    for _ in range(50):  # another session may be writing it right now
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.02)
    raise RuntimeError(f"{path} stays empty")


def ensure_test_user(name: str = TEST_USER) -> SftpUser:
    """The user the tests log in as: a dedicated one with a password when root, else ourselves."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return SftpUser(me.pw_name, me.pw_uid, me.pw_gid, None)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "-m", "-s", "/usr/sbin/nologin", "-c", "hr-connector SFTP tests", name],
            check=False,  # a concurrent session may have created it meanwhile
            capture_output=True,
            timeout=30,
        )
    entry = pwd.getpwnam(name)
    password = _shared_password(name)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, timeout=30)
    return SftpUser(name, entry.pw_uid, entry.pw_gid, password)


class Sshd:
    """One sshd process with its own config, host key and authorized_keys file."""

    def __init__(self, user: SftpUser) -> None:
        self.user = user
        self.host = LOOPBACK
        self.port = 0
        self.base = Path(tempfile.mkdtemp(prefix="hr-sshd-"))
        os.chmod(self.base, 0o755)  # the test user reaches home/ and auth/ through it
        self.etc = self.base / "etc"
        self.etc.mkdir(mode=0o700)
        self.home = self.base / "home"
        self.home.mkdir(mode=0o755)
        os.chown(self.home, user.uid, user.gid)
        auth = self.base / "auth"
        auth.mkdir(mode=0o755)
        self.authorized_keys = auth / "authorized_keys"
        self.authorized_keys.write_text("")
        os.chmod(self.authorized_keys, 0o644)
        self.host_key = keygen(self.etc / "ssh_host_ed25519_key")
        self.host_fingerprint = fingerprint(self.host_key)
        self.log_path = self.etc / "sshd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._counter = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def _config(self) -> Path:
        config = self.etc / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {LOOPBACK}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.etc / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin yes",
                    "StrictModes no",
                    f"AllowUsers {self.user.name}",
                    "Subsystem sftp internal-sftp",
                    "ForceCommand internal-sftp",
                    "ChrootDirectory none",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PermitTTY no",
                    "LogLevel VERBOSE",
                    "MaxStartups 100",
                    "MaxAuthTries 6",
                    "LoginGraceTime 30",
                    "",
                ]
            )
        )
        return config

    def start(self, ready_timeout: float = 10.0) -> Sshd:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        for _ in range(3):  # the free port may be taken between free_port() and sshd's bind
            self.port = free_port()
            config = self._config()
            log = self.log_path.open("ab")
            try:
                self.process = subprocess.Popen(
                    [str(SSHD), "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            finally:
                log.close()
            if self._wait_ready(ready_timeout):
                return self
            self._terminate()
        raise RuntimeError(f"sshd did not start; its log:\n{self.log_text()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- keys --------------------------------------------------------------------------------

    def authorize(self, key_path: Path) -> None:
        """Let the test user log in with this key."""
        with self.authorized_keys.open("a") as fh:
            fh.write(public_line(key_path) + "\n")

    def host_entry(self, port: int | None = None) -> str:
        return f"[{self.host}]:{port or self.port}"

    def known_hosts_line(self, port: int | None = None) -> str:
        return f"{self.host_entry(port)} {public_line(self.host_key)}\n"

    def write_known_hosts(self, path: Path, *ports: int) -> Path:
        """A known_hosts file listing this server's key (for its port and ``ports``)."""
        path.write_text("".join(self.known_hosts_line(p) for p in (self.port, *ports)))
        return path

    # -- remote files ------------------------------------------------------------------------

    def new_dir(self, name: str = "d") -> Path:
        """A fresh folder in the server's file system, owned (writable) by the test user."""
        self._counter += 1
        folder = self.home / f"{self._counter:03d}-{name}"
        folder.mkdir(mode=0o755)
        os.chown(folder, self.user.uid, self.user.gid)
        return folder

    def put(self, folder: Path, name: str, content: bytes) -> Path:
        path = folder / name
        path.write_bytes(content)
        os.chown(path, self.user.uid, self.user.gid)
        return path


@contextlib.contextmanager
def running_sshd(user: SftpUser | None = None) -> Iterator[Sshd]:
    server = Sshd(user or ensure_test_user())
    try:
        yield server.start()
    finally:
        server.stop()


class DroppingProxy:
    """A loopback TCP proxy to ``target_port`` that cuts connections after ``drop_after`` bytes.

    ``drop_after`` counts bytes from the server to the client; None forwards everything. It can be
    changed between connections. Every loop is bounded: the acceptor and the pumps wake up every
    0.2 s to see :meth:`stop`, and sockets have a 10 s timeout.
    """

    def __init__(self, target_port: int, drop_after: int | None = None) -> None:
        self.target_port = target_port
        self.drop_after = drop_after
        self.dropped = 0
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def __enter__(self) -> DroppingProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(
                target=self._pump, args=(client, self.drop_after), name="proxy-pump", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _pump(self, client: socket.socket, drop_after: int | None) -> None:
        try:
            server = socket.create_connection((LOOPBACK, self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        client.settimeout(10)
        sent_down = 0
        with contextlib.ExitStack() as stack, selectors.DefaultSelector() as sel:
            stack.callback(client.close)
            stack.callback(server.close)
            sel.register(client, selectors.EVENT_READ, server)
            sel.register(server, selectors.EVENT_READ, client)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if source is server and drop_after is not None:
                        room = drop_after - sent_down
                        if len(data) >= room:
                            with contextlib.suppress(OSError):
                                client.sendall(data[:room])
                            self.dropped += 1
                            return  # both sockets close: the transfer breaks off here
                        sent_down += len(data)
                    try:
                        key.data.sendall(data)
                    except OSError:
                        return
