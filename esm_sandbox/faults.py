"""Fault injection for tests, and the record of answered requests.

Faults apply to the API paths only (REST v1 and the XML Web API); the pages and downloads are
never faulted. Each fault counts down: answer with a status, hang (bounded) before answering, or
close the connection without an answer. :class:`FaultsAndRecords` is the outermost ASGI layer, so
it sees every request and the server's own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from esm_sandbox.api import REST_PREFIX, XML_IMPORT_PATH, error_payload

log = logging.getLogger("esm_sandbox")

#: A hang is bounded so a forgotten fault cannot wedge a test run.
MAX_HANG_SECONDS = 30.0
#: How many answered requests are kept (a long-running CLI sandbox).
MAX_REQUEST_RECORDS = 10_000

FaultKind = Literal["status", "hang", "close"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Fault:
    kind: FaultKind
    count: int
    status: int = 500
    seconds: float = 0.0
    match: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One answered API request, for tests (never with headers or bodies)."""

    method: str
    path: str
    status: int


class FaultPlan:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        if fault.count < 1:
            return
        if fault.kind == "hang":
            fault.seconds = min(max(fault.seconds, 0.0), MAX_HANG_SECONDS)
        with self._lock:
            self.faults.append(fault)

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.match is None or fault.match in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def __len__(self) -> int:
        return len(self.faults)


def is_api(path: str) -> bool:
    return path.startswith((REST_PREFIX + "/", XML_IMPORT_PATH))


def _close_connection(send: Send) -> bool:
    """Close the client's connection without an answer (uvicorn's transport, behind ``send``)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.close()
    return True


class FaultsAndRecords:
    """ASGI middleware: injected faults first, then the app; every answer is recorded."""

    def __init__(self, app: App, plan: FaultPlan, stopping: threading.Event) -> None:
        self.app = app
        self.plan = plan
        self.stopping = stopping
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUEST_RECORDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        status = 0

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            fault = self.plan.take(path) if is_api(path) else None
            if fault is not None and fault.kind == "close":
                log.debug("ESM sandbox: closing %s %s without an answer", method, path)
                if _close_connection(send):
                    return
                fault = Fault("status", 1, status=502)
            # a hang ends early when the sandbox stops: the client is released at once
            if fault is not None and fault.kind == "hang" and await self._wait(fault.seconds):
                _close_connection(send)
                return
            if fault is not None and fault.kind == "status":
                body = json.dumps(error_payload(fault.status, "Injected fault", path)).encode()
                await recorded(
                    {
                        "type": "http.response.start",
                        "status": fault.status,
                        "headers": [
                            (b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await recorded({"type": "http.response.body", "body": body})
                return
            await self.app(scope, receive, recorded)
        finally:
            if status:
                self.requests.append(RequestRecord(method, path, status))
                log.debug("ESM sandbox %s %s -> %s", method, path, status)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; True when the sandbox is stopping meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if self.stopping.is_set():
                return True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.sleep(min(0.05, deadline - loop.time()))
        return self.stopping.is_set()
