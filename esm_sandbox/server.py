"""The sandbox's lifecycle: one uvicorn server on a loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import types
from collections import deque
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from esm_sandbox.api import create_app
from esm_sandbox.auth import Tokens
from esm_sandbox.faults import Fault, FaultPlan, FaultsAndRecords, RequestRecord
from esm_sandbox.store import DatacardStore
from hr_connector.clients.esm.http import is_loopback

log = logging.getLogger("esm_sandbox")

#: Attribute codes every template has unless configured otherwise (the connector's defaults).
DEFAULT_ATTRIBUTES: frozenset[str] = frozenset({"subject", "description", "attachments"})
#: Attributes that take files.
DEFAULT_FILE_ATTRIBUTES: frozenset[str] = frozenset({"attachments"})


class EsmSandbox:
    """A local ESM on loopback (see :mod:`esm_sandbox`).

    ``template_attributes`` are the attribute codes of every template (``None``: accept any code);
    ``templates`` gives some templates their own list. ``file_attributes`` take uploads.
    """

    def __init__(
        self,
        root_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        users: Mapping[str, str] | None = None,
        *,
        token_lifetime_seconds: float = 300.0,
        max_upload_bytes: int = 10 * 1024 * 1024,
        template_attributes: Collection[str] | None = DEFAULT_ATTRIBUTES,
        templates: Mapping[str, Collection[str]] | None = None,
        file_attributes: Collection[str] = DEFAULT_FILE_ATTRIBUTES,
        title_attribute: str = "subject",
        description_attribute: str = "description",
    ) -> None:
        self.root_dir = Path(root_dir)
        self.host = host
        self.port = port
        self.users = dict(users if users is not None else {"user": "password"})
        self.tokens = Tokens(token_lifetime_seconds)
        self.max_upload_bytes = max_upload_bytes
        self.template_attributes = (
            frozenset(template_attributes) if template_attributes is not None else None
        )
        self.templates = {k: frozenset(v) for k, v in (templates or {}).items()}
        self.file_attributes = frozenset(file_attributes)
        self.title_attribute = title_attribute
        self.description_attribute = description_attribute
        self.store = DatacardStore(self.root_dir)
        self.plan = FaultPlan()
        self._stopping = threading.Event()
        self._app = FaultsAndRecords(create_app(self), self.plan, self._stopping)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to use as ``webapi_url``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def datacards_dir(self) -> Path:
        return self.store.datacards_dir

    @property
    def files_dir(self) -> Path:
        return self.store.files_dir

    @property
    def requests(self) -> deque[RequestRecord]:
        """The last answered requests (method, path, status), oldest first."""
        return self._app.requests

    @property
    def login_count(self) -> int:
        return self.tokens.issued

    def start(self) -> EsmSandbox:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self.store.open()
        if not is_loopback(self.host):
            log.warning("The ESM sandbox listens on %s: reachable from other hosts", self.host)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._stopping.clear()
        self._server = server

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))
            sock.close()

        self._thread = threading.Thread(target=serve, name=f"esm-sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server = None
                raise RuntimeError("the ESM sandbox did not start")
            time.sleep(0.01)
        log.info("ESM sandbox serving %s (data in %s)", self.url, self.root_dir)
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released at once."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EsmSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(self, status: int = 500, count: int = 1, match: str | None = None) -> None:
        """Answer the next ``count`` API requests (path containing ``match``) with ``status``."""
        self.plan.add(Fault("status", count, status=status, match=match))

    def hang_next(self, seconds: float, count: int = 1, match: str | None = None) -> None:
        """Wait ``seconds`` (at most 30) before answering, to make clients time out. The request
        is then handled normally, as a slow ESM would."""
        self.plan.add(Fault("hang", count, seconds=seconds, match=match))

    def close_next(self, count: int = 1, match: str | None = None) -> None:
        """Close the connection of the next ``count`` API requests without answering."""
        self.plan.add(Fault("close", count, match=match))

    def clear_faults(self) -> None:
        self.plan.clear()

    def expire_tokens(self) -> None:
        """Revoke every token handed out so far: the next call with one answers 401."""
        self.tokens.revoke_all()

    # -- what is stored --------------------------------------------------------------------------

    def datacard(self, card_id: str) -> dict[str, Any] | None:
        return self.store.get(card_id)

    def datacards(self) -> list[dict[str, Any]]:
        """All datacards, newest first."""
        return self.store.all()

    def file_path(self, card_id: str, name: str) -> Path:
        return self.store.file_path(card_id, name)

    def allowed_attributes(self, template: str) -> frozenset[str] | None:
        return self.templates.get(template, self.template_attributes)
