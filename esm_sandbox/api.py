"""The ESM Web API the connector uses (PLATFORM.md §7), as FastAPI routes.

Paths below ``/rest-api/itsm/v1``:

* ``POST /users/login`` (form ``login``/``password``) → ``{"token": "Bearer <jwt>"}`` and the same
  in the ``Authorization`` header.
* ``POST /dc/{template}/data`` → 201 ``{"dataCard": {"dataCardId": "N"}}``; 400 with
  ``meta.errors`` for attribute codes the template does not have.
* ``GET`` / ``PATCH /dc/{template}/data/{id}``.
* ``POST /dc/{template}/data/{id}/{attribute}/file`` (multipart ``fileUpload`` + ``fileName``);
  413 above ``max_upload_bytes``.

And ``POST /api/itsm/dataCardImport.ws`` (HTTP Basic, XML in, XML ``<import-result>`` out), the
loopback-only control endpoint ``/_sandbox/{state,faults}``, and ``GET /files/{id}/{name}``.
Errors have the ESM's JSON shape (``code``, ``message``, ``error``, ``url``, ``timestamp``).
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
import json
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from lxml import etree
from starlette.exceptions import HTTPException as StarletteHTTPException

from esm_sandbox.auth import Unauthorized, basic_user, password_matches
from esm_sandbox.store import now_iso, safe_file_name
from hr_connector.clients.esm.http import is_loopback
from hr_connector.clients.esm.xml import safe_xml_parser

if TYPE_CHECKING:
    from esm_sandbox.server import EsmSandbox

log = logging.getLogger("esm_sandbox")

REST_PREFIX = "/rest-api/itsm/v1"
XML_IMPORT_PATH = "/api/itsm/dataCardImport.ws"
#: Request bodies above this are refused without being kept in memory.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
#: Beyond this a too-large body is not even drained: the connection is closed.
MAX_DRAIN_BYTES = 1024 * 1024 * 1024


class ApiError(Exception):
    """An answer other than success, raised inside a route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def error_payload(
    status: int, message: str, path: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    payload: dict[str, Any] = {
        "code": status,
        "message": message,
        "error": phrase,
        "url": path,
        "timestamp": now_iso(),
    }
    if errors is not None:
        payload["meta"] = {"errors": errors}
    return payload


def answer(
    status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        body,
        status_code=status,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", **(headers or {})},
    )


def answer_json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return answer(status, body, "application/json; charset=utf-8", headers)


def answer_xml(root: etree._Element) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return answer(200, body, "application/xml; charset=utf-8")


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Parse ``multipart/form-data``: ``{part name: (file name or None, bytes)}``.

    The bytes between the boundaries are returned exactly as sent (binary-safe).
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
        parts[email.utils.collapse_rfc2231_value(name)] = (disposition.get_filename(), content)
    if not closed:
        raise ValueError("multipart body not terminated")
    return parts


async def read_body(request: Request, sandbox: EsmSandbox) -> bytes:
    """The whole body, refused with 411 (chunked) or 413 (too large, drained first)."""
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        raise ApiError(411, "Content-Length required")
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise ApiError(400, "bad Content-Length") from None
    limit = max(MAX_REQUEST_BYTES, 2 * sandbox.max_upload_bytes + 1024 * 1024)
    if length > limit:
        if length <= MAX_DRAIN_BYTES:
            async for _ in request.stream():
                pass
        raise ApiError(413, "Uploaded file is too big")
    return await request.body()


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"Request body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return payload


def checked_data(sandbox: EsmSandbox, template: str, data: Any) -> dict[str, Any]:
    """``data`` in the REST shape, with every attribute code known to the template."""
    if not isinstance(data, dict) or not data:
        raise ApiError(400, "'data' must be a non-empty object")
    clean: dict[str, Any] = {}
    for code, attribute in data.items():
        values = attribute.get("values") if isinstance(attribute, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise ApiError(400, f"Attribute '{code}': expected {{\"values\": [{{...}}]}}")
        clean[code] = {"values": values}
    allowed = sandbox.allowed_attributes(template)
    unknown = sorted(code for code in clean if allowed is not None and code not in allowed)
    if unknown:
        raise ApiError(
            400,
            "Data card could not be saved",
            errors=[
                {
                    "attributeCode": code,
                    "attributeType": None,
                    "message": f"Attribute '{code}' does not exist in template '{template}'",
                    "error": "AttributeNotFound",
                }
                for code in unknown
            ],
        )
    return clean


def meta(path: str) -> dict[str, Any]:
    return {
        "timestamp": now_iso(),
        "url": path,
        "errors": [],
        "createdReferences": [],
        "importResult": None,
    }


def rest_router(sandbox: EsmSandbox) -> APIRouter:
    router = APIRouter(prefix=REST_PREFIX)
    store = sandbox.store

    def user_of(request: Request) -> str:
        try:
            return sandbox.tokens.user_of(request.headers.get("authorization"))
        except Unauthorized as exc:
            raise ApiError(401, str(exc)) from None

    def card_of(template: str, card_id: str) -> dict[str, Any]:
        card = store.get(card_id)
        if card is None or card.get("templateCode") != template:
            raise ApiError(404, f"Data card {card_id} not found in template '{template}'")
        return card

    @router.post("/users/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await read_body(request, sandbox)).decode("utf-8", "replace"))
        user = form.get("login", [""])[0]
        if not password_matches(sandbox.users, user, form.get("password", [""])[0]):
            log.info("ESM sandbox: login refused for %r", user)
            raise ApiError(401, "Wrong credentials")
        token = "Bearer " + sandbox.tokens.issue(user)
        body = {"code": 200, "message": "Login successful", "timestamp": now_iso(), "token": token}
        return answer_json(200, body, {"Authorization": token})

    @router.get("/echo")
    async def echo(message: str = "") -> Response:
        return answer_json(200, {"code": 200, "message": message, "timestamp": now_iso()})

    @router.get("/echo/{rest:path}")
    async def echo_user(request: Request, message: str = "") -> Response:
        return answer_json(200, {"code": 200, "message": message, "user": user_of(request)})

    @router.post("/dc/{template}/data")
    async def create(template: str, request: Request) -> Response:
        body = await read_body(request, sandbox)
        user = user_of(request)
        payload = json_object(body)
        folder = payload.get("folderCode")
        if not isinstance(folder, str) or not folder:
            raise ApiError(400, "'folderCode' is required")
        data = checked_data(sandbox, template, payload.get("data"))
        card = store.create(template, folder, data, user, "rest")
        log.info(
            "Sandbox created datacard %s (%s/%s via rest)", card["dataCardId"], template, folder
        )
        result = {"dataCard": {"dataCardId": card["dataCardId"]}, "meta": meta(request.url.path)}
        return answer_json(201, result)

    @router.get("/dc/{template}/data/{card_id}")
    async def read(template: str, card_id: str, request: Request) -> Response:
        user_of(request)
        return answer_json(200, card_of(template, card_id))

    @router.patch("/dc/{template}/data/{card_id}")
    async def patch(template: str, card_id: str, request: Request) -> Response:
        body = await read_body(request, sandbox)
        user_of(request)
        payload = json_object(body)
        if str(payload.get("dataCardId", "")) != card_id:
            raise ApiError(400, "'dataCardId' must match the path")
        data = checked_data(sandbox, template, payload.get("data"))
        with store.lock:
            card = card_of(template, card_id)
            card["data"].update(data)
            if isinstance(payload.get("folderCode"), str) and payload["folderCode"]:
                card["folderCode"] = payload["folderCode"]
            card["updated"] = now_iso()
            store.save(card)
        return answer_json(
            200, {"dataCard": {"dataCardId": card_id}, "meta": meta(request.url.path)}
        )

    @router.post("/dc/{template}/data/{card_id}/{attribute}/file")
    async def upload(template: str, card_id: str, attribute: str, request: Request) -> Response:
        body = await read_body(request, sandbox)
        user_of(request)
        if attribute not in sandbox.file_attributes:
            raise ApiError(400, f"Attribute '{attribute}' is not a file attribute")
        card_of(template, card_id)
        try:
            parts = parse_multipart(body, request.headers.get("content-type", ""))
        except ValueError as exc:
            raise ApiError(400, f"Bad multipart body: {exc}") from None
        if "fileUpload" not in parts or "fileName" not in parts:
            raise ApiError(400, "Parts 'fileUpload' and 'fileName' are required")
        filename, content = parts["fileUpload"]
        if len(content) > sandbox.max_upload_bytes:
            raise ApiError(413, "Uploaded file is too big")
        name = safe_file_name(parts["fileName"][1].decode("utf-8", "replace") or filename or "")
        if name is None:
            raise ApiError(400, "'fileName' is empty")
        with store.lock:
            store.add_file(card_of(template, card_id), attribute, name, content)
        log.info("Sandbox stored %s (%d bytes) on datacard %s", name, len(content), card_id)
        return answer_json(200, {"code": 200, "message": "File uploaded", "timestamp": now_iso()})

    return router


def xml_import(sandbox: EsmSandbox, user: str, folder: str, create: str, body: bytes) -> Response:
    """The legacy XML Web API: create one datacard per ``<entity>``; errors in the XML answer."""
    result = etree.Element("import-result")
    created = etree.SubElement(result, "entities-created")
    created.text = "0"
    etree.SubElement(result, "entities-updated").text = "0"

    def fail(message: str) -> Response:
        etree.SubElement(result, "error").text = message
        return answer_xml(result)

    if not folder:
        return fail("folderCode is required")
    if create.lower() != "true":
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
            values = [{"value": v.text or ""} for v in attribute.findall("value")]
            data.setdefault(attribute.get("code", ""), {"values": []})["values"].extend(values)
        allowed = sandbox.allowed_attributes(template)
        unknown = sorted(c for c in data if allowed is not None and c not in allowed)
        if unknown:
            return fail(f"Attribute(s) {', '.join(unknown)} do not exist in template '{template}'")
        entities.append((template, data))
    if not entities:
        return fail("No <entity> in the request")
    for template, data in entities:
        card = sandbox.store.create(template, folder, data, user, "xml")
        log.info(
            "Sandbox created datacard %s (%s/%s via xml)", card["dataCardId"], template, folder
        )
        etree.SubElement(result, "entity", id=card["dataCardId"], template=template)
    created.text = str(len(entities))
    return answer_xml(result)


def other_router(sandbox: EsmSandbox) -> APIRouter:
    router = APIRouter()

    @router.api_route(XML_IMPORT_PATH, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def xml(request: Request, folderCode: str = "", createDataCards: str = "") -> Response:
        body = await read_body(request, sandbox)
        if request.method != "POST":
            raise ApiError(405, "Method not allowed")
        try:
            user = basic_user(sandbox.users, request.headers.get("authorization"))
        except Unauthorized as exc:
            log.info("ESM sandbox: XML Web API login refused")
            raise ApiError(
                401, str(exc), headers={"WWW-Authenticate": 'Basic realm="ESM"'}
            ) from None
        return xml_import(sandbox, user, folderCode, createDataCards, body)

    def loopback_only(request: Request) -> None:
        if not is_loopback(request.client.host if request.client else ""):
            raise ApiError(403, "The control endpoint answers loopback clients only")

    @router.get("/_sandbox/state")
    async def state(request: Request) -> Response:
        loopback_only(request)
        return answer_json(
            200,
            {
                "datacards": len(sandbox.store.all()),
                "logins": sandbox.login_count,
                "faults": len(sandbox.plan),
            },
        )

    @router.post("/_sandbox/faults")
    async def faults(request: Request) -> Response:
        loopback_only(request)
        body = await read_body(request, sandbox)
        spec = json_object(body) if body else {}
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
            raise ApiError(400, f"Bad fault spec: {exc}") from None
        if spec.get("expire_tokens"):
            sandbox.expire_tokens()
        if spec.get("clear"):
            sandbox.clear_faults()
        return answer_json(200, {"code": 200, "message": "ok"})

    @router.get("/files/{card_id}/{name}")
    async def download(card_id: str, name: str) -> Response:
        card = sandbox.store.get(card_id)
        if name not in sandbox.store.stored_names(card):
            raise ApiError(404, "Not found")
        content = sandbox.store.file_path(card_id, name).read_bytes()
        disposition = f"attachment; filename*=UTF-8''{quote(name)}"
        return answer(
            200, content, "application/octet-stream", {"Content-Disposition": disposition}
        )

    return router


def create_app(sandbox: EsmSandbox) -> FastAPI:
    from esm_sandbox.pages import pages_router

    app = FastAPI(title="ESM sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(rest_router(sandbox))
    app.include_router(other_router(sandbox))
    app.include_router(pages_router(sandbox))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        payload = error_payload(error.status, error.message, request.url.path, error.errors)
        return answer_json(error.status, payload, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = "Not found" if error.status_code == 404 else str(error.detail)
        return answer_json(
            error.status_code, error_payload(error.status_code, message, request.url.path)
        )

    return app
