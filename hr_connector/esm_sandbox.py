"""A small local ESM: the REST API v1 and XML Web API endpoints the connector uses (PLATFORM.md §7).

Why it exists: the tests talk real HTTP to it, and a newcomer sees a real admin task (``hr-connector
esm-sandbox``, then open the printed URL) without access to a customer's ESM. It is built on the
standard library's :mod:`http.server` (plus lxml, already a dependency, to read XML safely) so it
runs anywhere the connector runs.

What it speaks (paths below ``/rest-api/itsm/v1`` unless said otherwise):

* ``POST /users/login`` (form ``login``/``password``) → ``{"token": "Bearer <jwt>"}`` and the same
  in the ``Authorization`` header; the JWT is HS256-signed with a per-process key and has ``exp``.
* ``POST /dc/{template}/data`` → 201 ``{"dataCard": {"dataCardId": "N"}}``; 400 with
  ``meta.errors`` for attribute codes the template does not have.
* ``GET`` / ``PATCH /dc/{template}/data/{id}``.
* ``POST /dc/{template}/data/{id}/{attribute}/file`` (multipart ``fileUpload`` + ``fileName``); 413
  above ``max_upload_bytes``.
* ``POST /api/itsm/dataCardImport.ws`` (HTTP Basic, XML in, XML ``<import-result>`` out).
* ``GET /``: an HTML list of the datacards, newest first; ``GET /files/{id}/{name}`` downloads.

Datacards are kept as ``<root>/datacards/<id>.json`` and files as ``<root>/files/<id>/<name>``,
so they survive a restart. Faults for tests: :meth:`EsmSandbox.fail_next`,
:meth:`~EsmSandbox.hang_next`, :meth:`~EsmSandbox.close_next`, :meth:`~EsmSandbox.expire_tokens`,
or ``POST /_sandbox/faults`` from loopback. Passwords and tokens are never logged.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.message
import email.parser
import email.utils
import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import secrets
import signal
import socket
import threading
import time
import types
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from lxml import etree

from hr_connector.clients.esm import is_loopback, safe_xml_parser

log = logging.getLogger(__name__)

REST_PREFIX = "/rest-api/itsm/v1"
XML_IMPORT_PATH = "/api/itsm/dataCardImport.ws"
CONTROL_PREFIX = "/_sandbox/"
#: Attribute codes every template has unless configured otherwise (the connector's defaults).
DEFAULT_ATTRIBUTES: frozenset[str] = frozenset({"subject", "description", "attachments"})
#: Attributes that take files.
DEFAULT_FILE_ATTRIBUTES: frozenset[str] = frozenset({"attachments"})
#: A hang is bounded so a forgotten fault cannot wedge a test run.
MAX_HANG_SECONDS = 30.0
#: Request bodies above this are refused without being stored in memory.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: Beyond this a too-large body is not even drained: the connection is closed.
MAX_DRAIN_BYTES = 1024 * 1024 * 1024

#: How many answered requests :attr:`EsmSandbox.requests` keeps (a long-running CLI sandbox).
MAX_REQUEST_RECORDS = 10_000

FaultKind = Literal["status", "hang", "close"]


@dataclass
class _Fault:
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


class _ApiError(Exception):
    """An answer other than success, raised inside a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_file_name(name: str) -> str | None:
    """A stored file name: no folders, no control characters, not hidden; ``None`` if empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".")
    return name[:200] or None


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Parse ``multipart/form-data``: ``{part name: (file name or None, bytes)}``.

    A small hand parser (``cgi`` is deprecated, and :mod:`email` may touch line ends of binary
    parts): the bytes between the boundaries are returned exactly as sent.
    """
    header = email.message.Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise ValueError("not multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("no multipart boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: dict[str, tuple[str | None, bytes]] = {}
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        line_end = chunk.find(b"\r\n")
        if line_end < 0:
            raise ValueError("malformed part")
        head, sep, content = chunk[line_end + 2 :].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("malformed part headers")
        headers = email.parser.HeaderParser().parsestr(head.decode("utf-8", "replace"))
        disposition = email.message.Message()
        disposition["content-disposition"] = headers.get("content-disposition", "")
        name = disposition.get_param("name", header="content-disposition")
        if name is None:
            continue
        filename = disposition.get_filename()
        parts[email.utils.collapse_rfc2231_value(name)] = (filename, content)
    if not closed:
        raise ValueError("multipart body not terminated")
    return parts


class EsmSandbox:
    """A local ESM on loopback; see the module docstring for what it speaks.

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
        self.token_lifetime_seconds = token_lifetime_seconds
        self.max_upload_bytes = max_upload_bytes
        self.template_attributes = (
            frozenset(template_attributes) if template_attributes is not None else None
        )
        self.templates = {k: frozenset(v) for k, v in (templates or {}).items()}
        self.file_attributes = frozenset(file_attributes)
        self.title_attribute = title_attribute
        self.description_attribute = description_attribute
        #: The last :data:`MAX_REQUEST_RECORDS` answered requests (method, path, status).
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUEST_RECORDS)
        self.login_count = 0
        self._key = secrets.token_bytes(32)
        # jti -> exact expiry of the tokens not yet revoked (the exp claim is rounded up)
        self._valid_tokens: dict[str, float] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._next_id = 1

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
        return self.root_dir / "datacards"

    @property
    def files_dir(self) -> Path:
        return self.root_dir / "files"

    def start(self) -> EsmSandbox:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self.datacards_dir.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(parents=True, exist_ok=True)
        ids = [int(p.stem) for p in self.datacards_dir.glob("*.json") if p.stem.isdigit()]
        self._next_id = max(ids, default=0) + 1
        if not is_loopback(self.host):
            log.warning("The ESM sandbox listens on %s: reachable from other hosts", self.host)
        server_class = _Server if ":" not in self.host else _Server6
        server = server_class((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"esm-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("ESM sandbox serving %s (data in %s)", self.url, self.root_dir)
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released at once."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is None:
            return
        server.shutdown()
        server.server_close()
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
        self._add_fault(_Fault("status", count, status=status, match=match))

    def hang_next(self, seconds: float, count: int = 1, match: str | None = None) -> None:
        """Wait ``seconds`` (at most :data:`MAX_HANG_SECONDS`) before answering, to make clients
        time out. The request is then handled normally, as a slow ESM would."""
        self._add_fault(
            _Fault("hang", count, seconds=min(max(seconds, 0.0), MAX_HANG_SECONDS), match=match)
        )

    def close_next(self, count: int = 1, match: str | None = None) -> None:
        """Close the connection of the next ``count`` API requests without answering."""
        self._add_fault(_Fault("close", count, match=match))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def expire_tokens(self) -> None:
        """Revoke every token handed out so far: the next call with one answers 401."""
        with self._lock:
            self._valid_tokens.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.count < 1:
            return
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match is None or fault.match in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- tokens ----------------------------------------------------------------------------------

    def _issue_token(self, user: str) -> str:
        now = time.time()
        jti = uuid.uuid4().hex
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(
            json.dumps(
                {
                    "sub": user,
                    "iat": int(now),
                    "exp": math.ceil(now + self.token_lifetime_seconds),
                    "jti": jti,
                }
            ).encode()
        )
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = _b64url(hmac.new(self._key, signing_input, hashlib.sha256).digest())
        with self._lock:
            for old in [k for k, v in self._valid_tokens.items() if v <= now]:
                del self._valid_tokens[old]
            self._valid_tokens[jti] = now + self.token_lifetime_seconds
            self.login_count += 1
        return f"{header}.{payload}.{signature}"

    def _check_token(self, authorization: str | None) -> str:
        """The user of a valid ``Bearer`` token; else :class:`_ApiError` 401."""
        invalid = _ApiError(401, "JWT token is missing, invalid or expired")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise invalid
        token = authorization[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid
        expected = _b64url(
            hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(expected, parts[2]):
            raise invalid
        try:
            claims = json.loads(_b64url_decode(parts[1]))
        except ValueError:
            raise invalid from None
        with self._lock:
            expires = self._valid_tokens.get(str(claims.get("jti")))
        if expires is None or time.time() >= expires:
            raise invalid
        return str(claims.get("sub", ""))

    # -- storage ---------------------------------------------------------------------------------

    def _card_path(self, card_id: str) -> Path:
        return self.datacards_dir / f"{card_id}.json"

    def datacard(self, card_id: str) -> dict[str, Any] | None:
        """A stored datacard, or ``None``."""
        if not card_id.isdigit():
            return None
        path = self._card_path(card_id)
        try:
            card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return card

    def datacards(self) -> list[dict[str, Any]]:
        """All datacards, newest first."""
        cards = []
        for path in self.datacards_dir.glob("*.json"):
            if path.stem.isdigit():
                with contextlib.suppress(ValueError, OSError):
                    cards.append(json.loads(path.read_text(encoding="utf-8")))
        return sorted(cards, key=lambda c: int(c["dataCardId"]), reverse=True)

    def file_path(self, card_id: str, name: str) -> Path:
        """Where an uploaded file is stored."""
        return self.files_dir / card_id / name

    def _save(self, card: dict[str, Any]) -> None:
        path = self._card_path(card["dataCardId"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def _allowed(self, template: str) -> frozenset[str] | None:
        return self.templates.get(template, self.template_attributes)

    def _new_card(
        self, template: str, folder: str, data: dict[str, Any], user: str, via: str
    ) -> dict[str, Any]:
        with self._lock:
            card_id = str(self._next_id)
            self._next_id += 1
            now = _now_iso()
            card = {
                "dataCardId": card_id,
                "templateCode": template,
                "folderCode": folder,
                "created": now,
                "updated": now,
                "createdBy": user,
                "via": via,
                "data": data,
                "files": {},
            }
            self._save(card)
        log.info("Sandbox created datacard %s (%s/%s via %s)", card_id, template, folder, via)
        return card

    def _text(self, card: dict[str, Any], code: str) -> str:
        values = card.get("data", {}).get(code, {}).get("values", [])
        return "\n".join(str(v.get("value", "")) for v in values if isinstance(v, dict))

    # -- the human page --------------------------------------------------------------------------

    def render_index(self) -> str:
        """The HTML list of datacards; every stored text is HTML-escaped."""
        esc = html.escape
        items: list[str] = []
        for card in self.datacards():
            card_id = str(card["dataCardId"])
            title = self._text(card, self.title_attribute) or f"Datacard {card_id}"
            rows = [
                f'<article id="dc-{esc(card_id)}">',
                f"<h2>{esc(title)}</h2>",
                '<p class="meta">'
                f"#{esc(card_id)} · created {esc(str(card.get('created', '')))}"
                f" · template <code>{esc(str(card.get('templateCode', '')))}</code>"
                f" · folder <code>{esc(str(card.get('folderCode', '')))}</code>"
                f" · via {esc(str(card.get('via', '')))}</p>",
            ]
            description = self._text(card, self.description_attribute)
            rows.append(f"<pre>{esc(description)}</pre>")
            others = sorted(
                k
                for k in card.get("data", {})
                if k not in (self.title_attribute, self.description_attribute)
            )
            for code in others:
                rows.append(f"<h3>{esc(code)}</h3><pre>{esc(self._text(card, code))}</pre>")
            links = [
                f'<li><a href="/files/{quote(card_id)}/{quote(name)}">{esc(name)}</a>'
                f" <small>({esc(attr)})</small></li>"
                for attr, names in sorted(card.get("files", {}).items())
                for name in names
            ]
            if links:
                rows.append("<h3>Attachments</h3><ul>" + "".join(links) + "</ul>")
            rows.append("</article>")
            items.append("\n".join(rows))
        body = "\n".join(items) or "<p>No admin tasks yet.</p>"
        return (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            "<title>ESM sandbox: admin tasks</title><style>"
            "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "article{border-top:1px solid #ccc;padding:.5rem 0}"
            "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}"
            ".meta{color:#555}</style></head><body>"
            f"<h1>ESM sandbox: admin tasks ({len(items)})</h1>\n{body}\n</body></html>\n"
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: EsmSandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("ESM sandbox: error while serving %s", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    """One request. HTTP/1.0: every answer closes the connection (simple and robust)."""

    server: _Server
    server_version = "EsmSandbox/1.0"
    protocol_version = "HTTP/1.0"

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def sandbox(self) -> EsmSandbox:
        return self.server.sandbox

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        try:
            status_int = int(status)
        except (TypeError, ValueError):
            status_int = 0
        path = urlsplit(getattr(self, "path", "")).path
        with self.sandbox._lock:
            self.sandbox.requests.append(RequestRecord(self.command or "", path, status_int))
        log.debug("ESM sandbox %s %s -> %s", self.command, path, status)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ESM sandbox: " + format, *args)

    def _read_body(self) -> bytes | None:
        """The request body; ``None`` when an answer was already sent (too large, chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send_error(_ApiError(411, "Content-Length required"))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send_error(_ApiError(400, "bad Content-Length"))
            return None
        limit = max(MAX_REQUEST_BYTES, 2 * self.sandbox.max_upload_bytes + 1024 * 1024)
        if length > limit:
            if length <= MAX_DRAIN_BYTES:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1024 * 1024))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self._send_error(_ApiError(413, "Uploaded file is too big"))
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send_error(self, error: _ApiError) -> None:
        try:
            phrase = HTTPStatus(error.status).phrase
        except ValueError:
            phrase = ""
        payload: dict[str, Any] = {
            "code": error.status,
            "message": error.message,
            "error": phrase,
            "url": urlsplit(self.path).path,
            "timestamp": _now_iso(),
        }
        if error.errors is not None:
            payload["meta"] = {"errors": error.errors}
        self._send_json(error.status, payload, error.headers)

    def _send_xml(self, root: etree._Element) -> None:
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        self._send(200, body, "application/xml; charset=utf-8")

    def _dispatch(self) -> None:
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _route(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        body = self._read_body()
        if body is None:
            return
        api = path.startswith((REST_PREFIX + "/", XML_IMPORT_PATH))
        if api:
            fault = self.sandbox._take_fault(path)
            if fault is not None:
                if fault.kind == "close":
                    log.debug("ESM sandbox: closing %s %s without an answer", self.command, path)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault.kind == "status":
                    self._send_error(_ApiError(fault.status, "Injected fault"))
                    return
                if self.sandbox._stopping.wait(fault.seconds):
                    self.close_connection = True
                    return
        try:
            if path.startswith(REST_PREFIX + "/"):
                self._rest(path[len(REST_PREFIX) :], split.query, body)
            elif path == XML_IMPORT_PATH:
                self._xml_import(split.query, body)
            elif path.startswith(CONTROL_PREFIX):
                self._control(path[len(CONTROL_PREFIX) :], body)
            elif path == "/" and self.command == "GET":
                html_page = self.sandbox.render_index().encode("utf-8")
                self._send(
                    200,
                    html_page,
                    "text/html; charset=utf-8",
                    {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
                )
            elif path.startswith("/files/") and self.command == "GET":
                self._download(path)
            else:
                raise _ApiError(404, "Not found")
        except _ApiError as error:
            self._send_error(error)

    # -- REST API v1 -----------------------------------------------------------------------------

    def _rest(self, path: str, query: str, body: bytes) -> None:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        method = self.command
        if segments == ["users", "login"]:
            if method != "POST":
                raise _ApiError(405, "Method not allowed")
            self._login(body)
            return
        if segments == ["echo"] and method == "GET":
            message = parse_qs(query).get("message", [""])[0]
            self._send_json(200, {"code": 200, "message": message, "timestamp": _now_iso()})
            return
        user = self.sandbox._check_token(self.headers.get("Authorization"))
        if segments[:1] == ["echo"] and method == "GET":
            message = parse_qs(query).get("message", [""])[0]
            self._send_json(200, {"code": 200, "message": message, "user": user})
            return
        if len(segments) >= 3 and segments[0] == "dc" and segments[2] == "data":
            template = segments[1]
            rest = segments[3:]
            if not rest and method == "POST":
                self._create(template, body, user)
                return
            if len(rest) == 1 and method == "GET":
                self._send_json(200, self._card(template, rest[0]))
                return
            if len(rest) == 1 and method == "PATCH":
                self._patch(template, rest[0], body)
                return
            if len(rest) == 3 and rest[2] == "file" and method == "POST":
                self._upload(template, rest[0], rest[1], body)
                return
            raise _ApiError(405 if len(rest) <= 3 else 404, "Not supported by the sandbox")
        raise _ApiError(404, "Not found")

    def _login(self, body: bytes) -> None:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        login = form.get("login", [""])[0]
        password = form.get("password", [""])[0]
        expected = self.sandbox.users.get(login)
        if expected is None or not hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        ):
            log.info("ESM sandbox: login refused for %r", login)
            raise _ApiError(401, "Wrong credentials")
        token = "Bearer " + self.sandbox._issue_token(login)
        self._send_json(
            200,
            {"code": 200, "message": "Login successful", "timestamp": _now_iso(), "token": token},
            {"Authorization": token},
        )

    def _json_body(self, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise _ApiError(400, f"Request body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise _ApiError(400, "Request body must be a JSON object")
        return payload

    def _checked_data(self, template: str, data: Any) -> dict[str, Any]:
        """``data`` in the REST shape, with every attribute code known to the template."""
        if not isinstance(data, dict) or not data:
            raise _ApiError(400, "'data' must be a non-empty object")
        clean: dict[str, Any] = {}
        for code, attribute in data.items():
            values = attribute.get("values") if isinstance(attribute, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                raise _ApiError(400, f"Attribute '{code}': expected {{\"values\": [{{...}}]}}")
            clean[code] = {"values": values}
        allowed = self.sandbox._allowed(template)
        if allowed is not None:
            unknown = sorted(code for code in clean if code not in allowed)
            if unknown:
                raise _ApiError(
                    400,
                    "Data card could not be saved",
                    errors=[
                        {
                            "attributeCode": code,
                            "attributeType": None,
                            "message": f"Attribute '{code}' does not exist in template "
                            f"'{template}'",
                            "error": "AttributeNotFound",
                        }
                        for code in unknown
                    ],
                )
        return clean

    def _meta(self) -> dict[str, Any]:
        return {
            "timestamp": _now_iso(),
            "url": urlsplit(self.path).path,
            "errors": [],
            "createdReferences": [],
            "importResult": None,
        }

    def _create(self, template: str, body: bytes, user: str) -> None:
        payload = self._json_body(body)
        folder = payload.get("folderCode")
        if not isinstance(folder, str) or not folder:
            raise _ApiError(400, "'folderCode' is required")
        data = self._checked_data(template, payload.get("data"))
        card = self.sandbox._new_card(template, folder, data, user, "rest")
        self._send_json(201, {"dataCard": {"dataCardId": card["dataCardId"]}, "meta": self._meta()})

    def _card(self, template: str, card_id: str) -> dict[str, Any]:
        card = self.sandbox.datacard(card_id)
        if card is None or card.get("templateCode") != template:
            raise _ApiError(404, f"Data card {card_id} not found in template '{template}'")
        return card

    def _patch(self, template: str, card_id: str, body: bytes) -> None:
        payload = self._json_body(body)
        if str(payload.get("dataCardId", "")) != card_id:
            raise _ApiError(400, "'dataCardId' must match the path")
        data = self._checked_data(template, payload.get("data"))
        with self.sandbox._lock:
            card = self._card(template, card_id)
            card["data"].update(data)
            if isinstance(payload.get("folderCode"), str) and payload["folderCode"]:
                card["folderCode"] = payload["folderCode"]
            card["updated"] = _now_iso()
            self.sandbox._save(card)
        self._send_json(200, {"dataCard": {"dataCardId": card_id}, "meta": self._meta()})

    def _upload(self, template: str, card_id: str, attribute: str, body: bytes) -> None:
        sandbox = self.sandbox
        if attribute not in sandbox.file_attributes:
            raise _ApiError(400, f"Attribute '{attribute}' is not a file attribute")
        self._card(template, card_id)
        try:
            parts = parse_multipart(body, self.headers.get("Content-Type", ""))
        except ValueError as exc:
            raise _ApiError(400, f"Bad multipart body: {exc}") from None
        if "fileUpload" not in parts or "fileName" not in parts:
            raise _ApiError(400, "Parts 'fileUpload' and 'fileName' are required")
        filename, content = parts["fileUpload"]
        if len(content) > sandbox.max_upload_bytes:
            raise _ApiError(413, "Uploaded file is too big")
        given = parts["fileName"][1].decode("utf-8", "replace") or filename or ""
        name = safe_file_name(given)
        if name is None:
            raise _ApiError(400, "'fileName' is empty")
        with sandbox._lock:
            card = self._card(template, card_id)
            folder = sandbox.files_dir / card_id
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(content)
            os.replace(tmp, folder / name)
            names = card["files"].setdefault(attribute, [])
            if name not in names:
                names.append(name)
            card["updated"] = _now_iso()
            sandbox._save(card)
        log.info("Sandbox stored %s (%d bytes) on datacard %s", name, len(content), card_id)
        self._send_json(200, {"code": 200, "message": "File uploaded", "timestamp": _now_iso()})

    def _download(self, path: str) -> None:
        parts = [unquote(p) for p in path.split("/")[2:]]
        if len(parts) != 2 or not parts[0].isdigit():
            raise _ApiError(404, "Not found")
        card_id, name = parts
        card = self.sandbox.datacard(card_id)
        stored = {n for names in (card or {}).get("files", {}).values() for n in names}
        if name not in stored:
            raise _ApiError(404, "Not found")
        content = self.sandbox.file_path(card_id, name).read_bytes()
        disposition = f"attachment; filename*=UTF-8''{quote(name)}"
        self._send(200, content, "application/octet-stream", {"Content-Disposition": disposition})

    # -- legacy XML Web API ----------------------------------------------------------------------

    def _basic_user(self) -> str:
        refused = _ApiError(
            401, "Authentication required", headers={"WWW-Authenticate": 'Basic realm="ESM"'}
        )
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            raise refused
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise refused from None
        expected = self.sandbox.users.get(user)
        if expected is None or not hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        ):
            log.info("ESM sandbox: XML Web API login refused for %r", user)
            raise refused
        return user

    def _xml_import(self, query: str, body: bytes) -> None:
        if self.command != "POST":
            raise _ApiError(405, "Method not allowed")
        user = self._basic_user()
        params = parse_qs(query)
        folder = params.get("folderCode", [""])[0]
        result = etree.Element("import-result")
        created = etree.SubElement(result, "entities-created")
        created.text = "0"
        etree.SubElement(result, "entities-updated").text = "0"

        def fail(message: str) -> None:
            etree.SubElement(result, "error").text = message
            self._send_xml(result)

        if not folder:
            return fail("folderCode is required")
        if params.get("createDataCards", [""])[0].lower() != "true":
            return fail("createDataCards=true is required (the sandbox does not update)")
        try:
            root = etree.fromstring(body, safe_xml_parser())
        except etree.XMLSyntaxError as exc:
            return fail(f"Malformed XML: {exc}")
        if root.tag != "entityset":
            return fail(f"Root element must be entityset, not {root.tag}")
        entities: list[tuple[str, dict[str, Any]]] = []
        for entity in root.findall("entity"):
            template_el = entity.find("template")
            template = template_el.get("code", "") if template_el is not None else ""
            if not template:
                return fail("entity without <template code=...>")
            data: dict[str, Any] = {}
            for attribute in entity.findall("attribute"):
                code = attribute.get("code", "")
                values = [{"value": v.text or ""} for v in attribute.findall("value")]
                data.setdefault(code, {"values": []})["values"].extend(values)
            allowed = self.sandbox._allowed(template)
            unknown = sorted(c for c in data if allowed is not None and c not in allowed)
            if unknown:
                return fail(
                    f"Attribute(s) {', '.join(unknown)} do not exist in template '{template}'"
                )
            entities.append((template, data))
        if not entities:
            return fail("No <entity> in the request")
        for template, data in entities:
            card = self.sandbox._new_card(template, folder, data, user, "xml")
            etree.SubElement(result, "entity", id=card["dataCardId"], template=template)
        created.text = str(len(entities))
        self._send_xml(result)
        return None

    # -- control endpoint (loopback only) --------------------------------------------------------

    def _control(self, path: str, body: bytes) -> None:
        if not is_loopback(str(self.client_address[0])):
            raise _ApiError(403, "The control endpoint answers loopback clients only")
        sandbox = self.sandbox
        if path == "state" and self.command == "GET":
            self._send_json(
                200,
                {
                    "datacards": len(sandbox.datacards()),
                    "logins": sandbox.login_count,
                    "faults": len(sandbox._faults),
                },
            )
            return
        if path != "faults" or self.command != "POST":
            raise _ApiError(404, "Not found")
        spec = self._json_body(body) if body else {}
        try:
            if "fail" in spec:
                item = spec["fail"]
                sandbox.fail_next(
                    int(item.get("status", 500)), int(item.get("count", 1)), item.get("match")
                )
            if "hang" in spec:
                item = spec["hang"]
                sandbox.hang_next(
                    float(item.get("seconds", 5)), int(item.get("count", 1)), item.get("match")
                )
            if "close" in spec:
                item = spec["close"]
                sandbox.close_next(int(item.get("count", 1)), item.get("match"))
        except (TypeError, ValueError, AttributeError) as exc:
            raise _ApiError(400, f"Bad fault spec: {exc}") from None
        if spec.get("expire_tokens"):
            sandbox.expire_tokens()
        if spec.get("clear"):
            sandbox.clear_faults()
        self._send_json(200, {"code": 200, "message": "ok"})


# --------------------------------------------------------------------------------------------
# Command line: hr-connector esm-sandbox
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hr-connector esm-sandbox``."""
    parser.add_argument(
        "--dir", type=Path, default=Path("esm-sandbox"), help="where datacards and files are kept"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument("--user", default="user", help="the ESM user the connector logs in as")
    parser.add_argument(
        "--password",
        default=None,
        help="its password (default: $ESM_SANDBOX_PASSWORD, else 'password')",
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=300.0, help="JWT lifetime in seconds"
    )
    parser.add_argument(
        "--max-upload-bytes", type=int, default=10 * 1024 * 1024, help="413 above this size"
    )
    parser.add_argument(
        "--attributes",
        default=",".join(sorted(DEFAULT_ATTRIBUTES)),
        help="comma-separated attribute codes of every template, or 'any'",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    password = args.password or os.environ.get("ESM_SANDBOX_PASSWORD") or "password"
    attributes = (
        None
        if args.attributes.strip().lower() == "any"
        else {a.strip() for a in args.attributes.split(",") if a.strip()}
    )
    sandbox = EsmSandbox(
        args.dir,
        host=args.host,
        port=args.port,
        users={args.user: password},
        token_lifetime_seconds=args.token_lifetime,
        max_upload_bytes=args.max_upload_bytes,
        template_attributes=attributes,
    )
    if not log.handlers:  # show the sandbox's activity whatever the root logger does
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sandbox.start()
    except OSError as exc:
        print(f"esm-sandbox: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    params = {
        "webapi_url": sandbox.url,
        "webapi_user": args.user,
        "webapi_password": "<the sandbox password>",
        "report_template_code": "IGAWorkflowTaskInformation",
        "report_folder_code": "iga_tasks",
    }
    print(f"ESM sandbox on {sandbox.url}  (admin tasks: {sandbox.url}/)", flush=True)
    print(f"Data kept in {Path(args.dir).resolve()}", flush=True)
    print("Connector parameters: " + json.dumps(params), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hr_connector.esm_sandbox``; the same as ``hr-connector esm-sandbox``."""
    parser = argparse.ArgumentParser(
        prog="hr-connector esm-sandbox", description="A local ESM for tests and demos."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
