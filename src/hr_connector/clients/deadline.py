"""A bound on a whole HTTP call, not on each read.

``requests`` bounds only the connect and each single read, so a server (or proxy) that trickles
its answer keeps the run alive for ever. :func:`bounded` runs a watchdog beside the call that
shuts the call's sockets down when its time is up or the run is stopped, so the blocked read
returns at once; the sockets register through :class:`DeadlineAdapter`'s connections.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Call:
    """One bounded call: the sockets it uses and why it was cut, if it was."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.expired: str | None = None  # "deadline" | "stopped"
        self._lock = threading.Lock()

    def track(self, sock: Any) -> None:
        if sock is None:
            return
        with self._lock:
            self.sockets.append(sock)
            cut = self.expired is not None
        if cut:
            _shut(sock)

    def expire(self, why: str) -> None:
        with self._lock:
            self.expired = why
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _track(sock: Any) -> None:
    call: Call | None = getattr(_current, "call", None)
    if call is not None:
        call.track(sock)


class _TrackedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _track(self.sock)  # a kept-alive connection is not connected again
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(_TrackedHTTPConnection, HTTPSConnection):
    """The same for TLS (``super()`` reaches HTTPSConnection's connect first)."""


class _Pool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """The standard adapter whose connections can be cut by :func:`bounded`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}


@contextlib.contextmanager
def bounded(seconds: float, stop: Callable[[], bool] = lambda: False) -> Iterator[Call]:
    """Cut the calls made in this block after ``seconds``, or as soon as ``stop()`` holds."""
    call = Call()
    done = threading.Event()
    end = time.monotonic() + seconds

    def watch() -> None:
        while not done.wait(max(0.0, min(0.1, end - time.monotonic()))):
            if time.monotonic() >= end:
                call.expire("deadline")
                return
            if stop():
                call.expire("stopped")
                return

    previous = getattr(_current, "call", None)
    _current.call = call
    watchdog = threading.Thread(target=watch, name="http-deadline", daemon=True)
    watchdog.start()
    try:
        yield call
    finally:
        done.set()
        _current.call = previous
        watchdog.join()
