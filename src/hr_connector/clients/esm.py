"""File the "IGA admin task" in the customer's ESM (PLATFORM.md §7).

Two clients share one transport policy:

* :class:`EsmRestClient` speaks the **REST API v1** (``{webapi_url}/rest-api/itsm/v1``): a JWT from
  ``POST /users/login``, datacards created with ``POST /dc/{template}/data``, files uploaded with
  ``POST /dc/{template}/data/{id}/{attribute}/file``.
* :class:`EsmXmlClient` speaks the **legacy XML Web API** (``{webapi_url}/api/itsm``): HTTP Basic
  and ``POST /dataCardImport.ws``; success is read from the XML reply, not from the HTTP status.
  It has no documented file upload, so attachments are left out (the log and the task say so).

Error policy, shared by both (the Prefect task ``file-admin-task`` retries exactly
:class:`~hr_connector.errors.TransientError`):

* refused/reset/closed connections, timeouts, 5xx, 408 and 429 → :class:`EsmUnavailable`
  (transient: worth a retry with backoff);
* any other 4xx (after one re-login on 401), redirects, TLS certificate failures, unreadable
  answers → :class:`EsmError` (permanent: a retry would fail the same way). Its message names
  the method, path and status and shows the ESM's own explanation (``message`` and the
  per-attribute ``meta.errors``), truncated and redacted.

No password, token or header is ever logged or put into an exception; the password is also
registered with :mod:`hr_connector.runlog` so that every log record is scrubbed as a second line
of defence.

The sinks (:class:`RestSink`, :class:`XmlSink`) turn an :class:`~hr_connector.outcome.AdminTask`
into one datacard. Once :class:`RestSink` has created the datacard the task is filed: each
attachment is streamed from disk, tried again while the ESM fails for now, and one the ESM will not
take is listed in the description (where it is kept, its size and SHA-256, why) and named in
:attr:`RestSink.refused`, so the run's last line can say so. A 413 is not fatal either: the file is
sent zipped, else listed (see
:meth:`EsmRestClient.upload_attachment`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlsplit

import requests
from lxml import etree
from requests_toolbelt import MultipartEncoder

from hr_connector.attachments import not_attached, not_attached_lines, zip_file, zipped_name
from hr_connector.clients import deadline
from hr_connector.door import FileRefused
from hr_connector.ending import terminated
from hr_connector.errors import ConnectorError, TransientError
from hr_connector.inert import shown
from hr_connector.outcome import AdminTask, Attachment, NotAttached
from hr_connector.params import DEFAULT_RETRY_DELAYS, WebApiSettings
from hr_connector.report import ReportSink
from hr_connector.runlog import redact, register_credentials, register_secrets
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir, door_for

log = logging.getLogger(__name__)

#: Path of the REST API v1 below ``webapi_url``.
REST_API_PATH = "/rest-api/itsm/v1"
#: Path of the legacy XML Web API below ``webapi_url``.
XML_API_PATH = "/api/itsm"
#: Log in again when the JWT expires within this many seconds (clock skew, slow calls).
RELOGIN_MARGIN_SECONDS = 30.0
#: How much of an error answer's body goes into the exception (the log stays readable).
MAX_BODY_IN_ERROR = 500
#: Statuses that say "try again later" rather than "your request is wrong".
TRANSIENT_STATUSES = frozenset({408, 429})
USER_AGENT = "hr-connector (ESM client)"

# XML 1.0 forbids most C0 control characters; HR data may carry them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class EsmError(ConnectorError):
    """The ESM refused the request for good (credentials, permissions, bad attributes, ...).

    Retrying would fail the same way, so the Prefect task does not retry it. ``status`` is the
    HTTP status when there was an answer.
    """

    case = "run_failed"

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        message = redact(message)
        super().__init__(message, hint=hint, figures={"message": message})
        self.status = status


class EsmTooLarge(EsmError):
    """413: the uploaded file is bigger than the ESM accepts; ``size`` is what was sent."""

    def __init__(self, message: str, *, size: int = 0) -> None:
        super().__init__(message, status=413)
        self.size = size


class EsmUnavailable(TransientError):
    """The ESM did not answer usefully right now (network, timeout, 5xx): worth a retry."""

    case = "run_failed"

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        message = redact(message)
        super().__init__(
            message,
            hint=hint
            or "The ESM answered with an error for now; if it keeps doing so, ask its "
            "administrator, then re-send the admin task with 'hr-connector resend-report'.",
            figures={"message": message},
        )
        self.status = status


# --------------------------------------------------------------------------------------------
# Transport shared by both clients
# --------------------------------------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    """localhost or a loopback address: where plain HTTP and test-only endpoints are fine."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _short_reason(exc: BaseException) -> str:
    """The root cause of a requests/urllib3 error in a few words (not the whole repr chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last: BaseException = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        last = current
        nested = getattr(current, "reason", None)
        if isinstance(nested, BaseException):
            current = nested
            continue
        if current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
            continue
        current = current.__cause__ or current.__context__
    text = str(last)
    # urllib3 prefixes its messages with "<connection object at 0x...>: " - not useful.
    text = re.sub(r"^<[^>]+>:\s*", "", text)
    return redact(f"{type(last).__name__}: {text}" if text else type(last).__name__)


def _body_summary(response: requests.Response) -> str:
    """The ESM's explanation: ``message``/``error`` and ``meta.errors``, else the raw body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value and value not in parts:
                parts.append(value)
        meta = body.get("meta")
        errors = meta.get("errors") if isinstance(meta, dict) else None
        if isinstance(errors, list) and errors:
            shown = []
            for item in errors:
                if isinstance(item, dict):
                    code = item.get("attributeCode") or "-"
                    shown.append(f"{code}: {item.get('message') or item.get('error') or ''}")
                else:
                    shown.append(str(item))
            parts.append("attribute errors: " + "; ".join(shown))
    text = " | ".join(parts) if parts else response.text.strip()
    text = redact(text)
    if len(text) > MAX_BODY_IN_ERROR:
        text = text[:MAX_BODY_IN_ERROR] + " …"
    return text or "(empty body)"


def _step(method: str, path: str) -> str:
    """Which step of the filing a call is, in the admin's words."""
    if path.endswith("/users/login"):
        return "Logging in to the ESM"
    if path.endswith("/file"):
        return "Uploading an attachment of the admin task"
    if method == "PATCH":
        return "Adding the attachment notes to the admin task"
    return "Filing the admin task"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = getattr(current, "reason", None)
        todo += [current.__cause__, current.__context__]
        todo += [a for a in current.args if isinstance(a, BaseException)]
        if isinstance(nested, BaseException):
            todo.append(nested)


def _name_lookup_error(exc: BaseException) -> socket.gaierror | None:
    """The failed name lookup under a requests error, if that is what it is."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return cause
        if type(cause).__name__ == "NameResolutionError":  # urllib3 keeps only the text
            text = str(cause)
            code = socket.EAI_AGAIN if "Temporary failure" in text else socket.EAI_NONAME
            return socket.gaierror(code, text)
    return None


def _errno_in(exc: BaseException, number: int) -> bool:
    return any(isinstance(c, OSError) and c.errno == number for c in _causes(exc))


class _CallCut(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Transport:
    """One ``requests.Session`` with the connector's TLS, timeout and error policy.

    Not thread-safe: one run files one task from one thread.
    """

    def __init__(
        self, settings: WebApiSettings, base_path: str, session: requests.Session | None
    ) -> None:
        self.settings = settings
        self.base_path = base_path
        self.base = settings.webapi_url + base_path
        parts = urlsplit(settings.webapi_url)
        self.host = parts.hostname or settings.webapi_url
        #: host:port, as the admin checks it
        self.address = f"{self.host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.session = session or requests.Session()
        adapter = deadline.DeadlineAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = (settings.webapi_timeout_seconds, settings.webapi_timeout_seconds)
        password = settings.webapi_password.get_secret_value()
        register_credentials(settings.webapi_user, password)  # a second line of defence
        self.verify: bool | str
        if not settings.webapi_verify_tls:
            self.verify = False
            log.warning(
                "TLS verification is OFF for the ESM at %s (webapi_verify_tls=false, an explicit "
                "opt-in): the connection can be intercepted. Prefer webapi_ca_bundle.",
                self.host,
            )
        else:
            self.verify = settings.webapi_ca_bundle or True
        if settings.webapi_url.startswith("http://") and not is_loopback(self.host):
            log.warning(
                "The ESM URL %s is plain http: the Web API password travels unencrypted.",
                settings.webapi_url,
            )

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request; network failures become :class:`EsmUnavailable`/:class:`EsmError`.

        Redirects are not followed: requests would turn a redirected POST into a GET and drop
        the body, so a redirect is reported as a wrong ``webapi_url`` instead.
        """
        url = self.base + path
        started = time.monotonic()
        try:
            response = self._bounded_request(method, url, **kwargs)
        except _CallCut as cut:
            if cut.why == "stopped":
                raise EsmUnavailable(
                    f"{method} {path} to the ESM at {self.host} was abandoned: the run is "
                    "being stopped (SIGTERM).",
                    hint="The admin task is kept; file it with 'hr-connector resend-report'.",
                ) from None
            raise EsmUnavailable(
                f"The ESM at {self.host} did not answer {method} {path} within "
                f"{self.settings.webapi_timeout_seconds:g} s (the whole call is bounded, "
                "not each read: the answer came too slowly).",
                hint="The ESM or a proxy in front of it is overloaded or broken; raise "
                "webapi_timeout_seconds if it is just slow.",
            ) from None
        except requests.exceptions.SSLError as exc:
            reason = _short_reason(exc)
            if "CERTIFICATE_VERIFY_FAILED" in reason or "hostname" in reason.lower():
                raise EsmError(
                    f"The TLS certificate of the ESM at {self.host} is not trusted ({reason}).",
                    hint="Give the CA that signed it in webapi_ca_bundle.",
                ) from None
            raise EsmUnavailable(
                f"TLS handshake with the ESM at {self.host} failed on {method} {path}: {reason}."
            ) from None
        except requests.exceptions.Timeout as exc:
            raise EsmUnavailable(
                f"{_step(method, path)}: the ESM at {self.address} did not answer {method} "
                f"{path} within {self.settings.webapi_timeout_seconds:g} s "
                f"({_short_reason(exc)}).",
                hint=f"Check the network path from this host to {self.address} (firewall, proxy, "
                "VPN); the ESM may be overloaded: raise webapi_timeout_seconds if it is just slow.",
            ) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise self._unreachable(method, path, exc) from None
        except requests.exceptions.RequestException as exc:
            raise EsmError(
                f"Cannot send {method} {path} to the ESM at {self.host}: {_short_reason(exc)}.",
                hint="Check webapi_url.",
            ) from None
        log.debug(
            "ESM %s %s -> %s (%.0f ms)",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _unreachable(self, method: str, path: str, exc: BaseException) -> ConnectorError:
        """What a failed connection means, what was tried, and what to check."""
        reason = _short_reason(exc)
        tried = f"{_step(method, path)} ({method} {self.base_path}{path})"
        lookup = _name_lookup_error(exc)
        if lookup is not None and lookup.errno != socket.EAI_AGAIN:
            return EsmError(
                f"{tried}: the ESM's host name {self.host} (webapi_url) cannot be resolved "
                f"({reason}).",
                hint=f"Check the host name in webapi_url ({self.settings.webapi_url}) and that "
                f"this machine's DNS resolves it (getent hosts {self.host}).",
            )
        if lookup is not None:
            hint = f"This machine's DNS did not answer for {self.host}; check its DNS servers."
        elif _errno_in(exc, errno.ECONNREFUSED):
            hint = (
                f"Nothing accepts connections at {self.address}: check the port and scheme in "
                f"webapi_url ({self.settings.webapi_url}), and that no firewall refuses this host."
            )
        else:
            hint = (
                f"Check the network path from this host to {self.address} (firewall, proxy, "
                "VPN) and that the ESM is up."
            )
        return EsmUnavailable(
            f"{tried}: no usable answer from the ESM at {self.address}: {reason}.", hint=hint
        )

    def _bounded_request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``session.request`` cut off after ``webapi_timeout_seconds`` in all (see deadline)."""
        with deadline.bounded(self.settings.webapi_timeout_seconds, terminated) as call:
            try:
                response = self.session.request(
                    method,
                    url,
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    **kwargs,
                )
            except requests.exceptions.RequestException:
                if call.expired:
                    raise _CallCut(call.expired) from None
                raise
        if call.expired:  # an answer read to a cut connection's end is incomplete
            raise _CallCut(call.expired)
        return response

    def check(
        self, response: requests.Response, method: str, path: str, *, quote_body: bool = True
    ) -> None:
        """Raise the error that ``response`` means; return for 2xx.

        ``quote_body=False`` (the login): the answer's body is never shown, since a server or a
        proxy may quote the request, credentials included, in any encoding.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        where = f"ESM {method} {path} answered {status}"
        if 300 <= status < 400:
            target = response.headers.get("Location", "?")
            raise EsmError(
                f"{where} (a redirect to {redact(target)[:200]}).",
                hint="Set webapi_url to the ESM's final base URL (e.g. https://...).",
                status=status,
            )
        summary = (
            _body_summary(response)
            if quote_body
            else "(the answer's body is not shown: it may quote the credentials)"
        )
        if status >= 500 or status in TRANSIENT_STATUSES:
            raise EsmUnavailable(f"{where}: {summary}", status=status)
        if status == 413:
            sent = response.request.headers.get("Content-Length") if response.request else None
            size = int(sent) if sent and sent.isdigit() else 0
            raise EsmTooLarge(f"{where}: {summary}", size=size)
        hint = ""
        if status == 401:
            hint = "The ESM refused a fresh login token; check the user's External API permission."
        elif status == 403:
            hint = (
                f"Give the ESM user '{self.settings.webapi_user}' create and update rights on "
                f"template '{self.settings.report_template_code}' in folder "
                f"'{self.settings.report_folder_code}'."
            )
        elif status == 404:
            hint = "Check webapi_url, report_template_code and report_folder_code."
        elif status == 400:
            hint = "Check report_template_code, report_folder_code and report_attribute_codes."
        raise EsmError(f"{where}: {summary}", hint=hint, status=status)


# --------------------------------------------------------------------------------------------
# REST API v1
# --------------------------------------------------------------------------------------------


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without checking the signature.

    We only need to know *when* to log in again; the ESM checks the signature. ``None`` when
    the token is not a JWT or has no ``exp``: then a 401 tells us instead.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def _attribute_values(data: Mapping[str, str]) -> dict[str, dict[str, list[dict[str, str]]]]:
    return {code: {"values": [{"value": text}]} for code, text in data.items()}


UploadHow = Literal["plain", "compressed", "too_large"]


@dataclass
class UploadResult:
    """What :meth:`EsmRestClient.upload_attachment` did with one file.

    ``files`` are the names stored in the ESM (empty when nothing was stored);
    ``how`` is ``plain``, ``compressed`` (``name.zip``) or ``too_large`` (not attached).
    """

    name: str
    how: UploadHow
    files: list[str] = field(default_factory=list)
    #: size of the smallest upload the ESM refused (for ``too_large``)
    sent: int = 0


def _size(content: bytes | Path) -> int:
    return content.stat().st_size if isinstance(content, Path) else len(content)


class EsmRestClient:
    """Client of the ESM REST API v1, with JWT login and transparent re-login."""

    def __init__(self, settings: WebApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._http = _Transport(settings, REST_API_PATH, session)
        self._token: str | None = None
        self._expires_at: float | None = None
        self.logins = 0  #: how often we logged in (for tests and the debug log)

    @property
    def session(self) -> requests.Session:
        return self._http.session

    # -- authentication ----------------------------------------------------------------------

    def login(self) -> None:
        """Get a JWT with the user's credentials (form fields ``login`` and ``password``)."""
        user = self.settings.webapi_user
        path = "/users/login"
        response = self._http.send(
            "POST",
            path,
            data={"login": user, "password": self.settings.webapi_password.get_secret_value()},
            headers={"Accept": "application/json"},
        )
        if response.status_code in (401, 403):
            raise EsmError(
                f"The ESM at {self._http.host} refused the login: wrong credentials for user "
                f"'{user}' (status {response.status_code}).",
                hint="Check webapi_user and webapi_password; the user must be an ESM local user "
                "with the External API permission.",
                status=response.status_code,
            )
        self._http.check(response, "POST", path, quote_body=False)
        token = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("token"), str):
            token = body["token"]
        if not token:
            token = response.headers.get("Authorization", "")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise EsmError(
                f"The ESM at {self._http.host} accepted the login of '{user}' but returned no "
                "token.",
                hint="Check that webapi_url points at the ESM itself, not a proxy page.",
                status=response.status_code,
            )
        if not token.startswith("eyJ"):  # not JWT-shaped: the runlog pattern would miss it
            register_secrets([token])
        self._token = token
        self._expires_at = jwt_expiry(token)
        self.logins += 1
        log.debug("Logged in to the ESM at %s as %s", self._http.host, user)

    def _bearer(self) -> str:
        expiring = (
            self._expires_at is not None and self._expires_at - time.time() < RELOGIN_MARGIN_SECONDS
        )
        if self._token is None or expiring:
            if self._token is not None:
                log.debug("ESM token expires soon; logging in again")
            self.login()
        assert self._token is not None
        return f"Bearer {self._token}"

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated call; on 401 log in again and repeat it once."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response: requests.Response | None = None
        for attempt in (1, 2):
            headers["Authorization"] = self._bearer()
            response = self._http.send(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or attempt == 2:
                break
            log.info("The ESM answered 401 to %s %s; logging in again", method, path)
            self._token = None
        assert response is not None
        self._http.check(response, method, path)
        return response

    # -- datacards ---------------------------------------------------------------------------

    def create_datacard(self, template: str, folder: str, data: Mapping[str, str]) -> str:
        """Create one datacard with text attributes; return its ``dataCardId``."""
        path = f"/dc/{quote(template, safe='')}/data"
        response = self._call(
            "POST", path, json={"folderCode": folder, "data": _attribute_values(data)}
        )
        try:
            body = response.json()
            card_id = body["dataCard"]["dataCardId"]
        except (ValueError, KeyError, TypeError):
            raise EsmError(
                f"ESM POST {path} answered {response.status_code} without a dataCardId: "
                f"{_body_summary(response)}",
                status=response.status_code,
            ) from None
        meta = body.get("meta") if isinstance(body, dict) else None
        if isinstance(meta, dict) and meta.get("errors"):
            log.warning(
                "The ESM created datacard %s but reported: %s", card_id, _body_summary(response)
            )
        return str(card_id)

    def update_datacard(self, template: str, card_id: str, data: Mapping[str, str]) -> None:
        """Replace text attributes of an existing datacard (``PATCH``)."""
        path = f"/dc/{quote(template, safe='')}/data/{quote(card_id, safe='')}"
        self._call("PATCH", path, json={"dataCardId": card_id, "data": _attribute_values(data)})

    def get_datacard(self, template: str, card_id: str) -> dict[str, Any]:
        """Read one datacard (used by tests and for diagnostics)."""
        path = f"/dc/{quote(template, safe='')}/data/{quote(card_id, safe='')}"
        body = self._call("GET", path).json()
        return body if isinstance(body, dict) else {"body": body}

    # -- files -------------------------------------------------------------------------------

    def upload_file(
        self, template: str, card_id: str, attribute: str, name: str, content: bytes | Path
    ) -> None:
        """Upload one file into a file attribute; raise :class:`EsmTooLarge` on 413.

        A :class:`~pathlib.Path` is streamed from disk (a multipart body read in small pieces
        with its ``Content-Length`` known up front), never read whole into memory.
        """
        path = (
            f"/dc/{quote(template, safe='')}/data/{quote(card_id, safe='')}"
            f"/{quote(attribute, safe='')}/file"
        )
        with contextlib.ExitStack() as stack:
            if isinstance(content, Path):
                body: Any = stack.enter_context(door_for(content).open_read(content))
                size = os.fstat(body.fileno()).st_size
            else:
                body, size = content, len(content)
            encoder = MultipartEncoder(
                fields={
                    "fileUpload": (name, body, "application/octet-stream"),
                    "fileName": name,
                }
            )
            try:
                self._call(
                    "POST", path, data=encoder, headers={"Content-Type": encoder.content_type}
                )
            except EsmTooLarge as exc:
                exc.size = size  # the file's size, not the multipart body's
                raise

    def upload_attachment(
        self,
        template: str,
        card_id: str,
        attribute: str,
        name: str,
        content: bytes | Path,
        source: Path | None = None,
    ) -> UploadResult:
        """Upload a file so that a 413 does not lose it; nothing is held whole in memory.

        ``content`` is what to send (a file on disk, streamed); ``source`` is the original when
        ``content`` is its zip. On a 413 the file is sent zipped (made on disk, streamed: a zip
        keeps it whole and shrinks JSON 5-20 times); when even that is too big the attachment is
        ``too_large``: the task lists it (location, size, rows, SHA-256) instead.
        """
        try:
            self.upload_file(template, card_id, attribute, name, content)
            return UploadResult(name, "plain", [name])
        except EsmTooLarge as exc:
            failed = exc.size or _size(content)
        if source is None:
            log.warning(
                "The ESM refused %s (%d bytes) as too large; trying it zipped", name, failed
            )
            with tempfile.TemporaryDirectory(prefix="hr-connector-zip-") as folder:
                zipped = Path(folder) / zipped_name(name)
                if isinstance(content, Path):
                    packed = zip_file(content, zipped, name, limit=failed - 1)
                else:
                    plain = Path(folder) / name
                    plain.write_bytes(content)
                    packed = zip_file(plain, zipped, name, limit=failed - 1)
                if packed is not None:
                    try:
                        self.upload_file(template, card_id, attribute, zipped.name, zipped)
                        log.warning("Attached %s zipped as %s", name, zipped.name)
                        return UploadResult(name, "compressed", [zipped.name])
                    except EsmTooLarge:
                        failed = packed
        else:
            log.warning("The ESM refused the zip %s (%d bytes) as too large", name, failed)
        log.warning("%s is too large for the ESM even zipped; not attached", name)
        return UploadResult(name, "too_large", sent=failed)


# --------------------------------------------------------------------------------------------
# Legacy XML Web API
# --------------------------------------------------------------------------------------------


def _xml_text(value: str) -> str:
    return _XML_INVALID.sub("\ufffd", value)


def build_import_xml(template: str, data: Mapping[str, str]) -> bytes:
    """The ``<entityset>`` body of ``dataCardImport.ws`` for one datacard (lxml escapes it)."""
    root = etree.Element("entityset")
    entity = etree.SubElement(root, "entity")
    etree.SubElement(entity, "template", code=_xml_text(template))
    for code, text in data.items():
        attribute = etree.SubElement(entity, "attribute", code=_xml_text(code))
        etree.SubElement(attribute, "value").text = _xml_text(text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def safe_xml_parser() -> etree.XMLParser:
    """A parser that never expands entities or fetches anything (no XXE, no billion laughs)."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
    )


def _local(element: Any) -> str:
    return etree.QName(element).localname


class EsmXmlClient:
    """Client of the legacy XML Web API (``dataCardImport.ws``, HTTP Basic)."""

    def __init__(self, settings: WebApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._http = _Transport(settings, XML_API_PATH, session)

    @property
    def session(self) -> requests.Session:
        return self._http.session

    def create_datacard(self, template: str, folder: str, data: Mapping[str, str]) -> str:
        """Import one datacard; return a reference (the datacard id when the reply has one)."""
        path = "/dataCardImport.ws"
        response = self._http.send(
            "POST",
            path,
            params={"folderCode": folder, "createDataCards": "true"},
            data=build_import_xml(template, data),
            headers={"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"},
            # UTF-8, as RFC 7617 and Spring Security expect; requests would send Latin-1.
            auth=(
                self.settings.webapi_user.encode("utf-8"),
                self.settings.webapi_password.get_secret_value().encode("utf-8"),
            ),
        )
        status = response.status_code
        if status in (401, 403):
            raise EsmError(
                f"The ESM at {self._http.host} refused the XML Web API login: wrong credentials "
                f"or no Web API role for user '{self.settings.webapi_user}' (status {status}).",
                hint="Check webapi_user and webapi_password; the user must be an ESM local user.",
                status=status,
            )
        if status >= 300:
            self._http.check(response, "POST", path)
        try:
            root = etree.fromstring(response.content, safe_xml_parser())
        except etree.XMLSyntaxError:
            raise EsmError(
                f"ESM POST {path} answered {status} with no readable XML: "
                f"{_body_summary(response)}",
                status=status,
            ) from None
        elements = list(root.iter(etree.Element))
        errors = [
            " ".join("".join(el.itertext()).split()) for el in elements if _local(el) == "error"
        ]
        created_text = next(
            (el.text for el in elements if _local(el) == "entities-created" and el.text), "0"
        )
        try:
            created = int(created_text.strip())
        except ValueError:
            created = 0
        if errors or created < 1:
            shown = redact("; ".join(e for e in errors if e) or f"entities-created {created}")
            raise EsmError(
                f"ESM POST {path} did not create the datacard: {shown[:MAX_BODY_IN_ERROR]}",
                hint="Check report_template_code, report_folder_code and report_attribute_codes.",
                status=status,
            )
        card_id = next(
            (el.get("id") for el in elements if _local(el) == "entity" and el.get("id")), None
        )
        return str(card_id) if card_id else f"xml:{template}@{folder}"


# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class _Notes:
    """Texts appended to the description, in the task's language (translation.json)."""

    def __init__(self, translations: Translations | None) -> None:
        self._translations = translations

    def source(self) -> Translations:
        if self._translations is None:  # a sink made without the run's texts: the shipped ones
            self._translations = Translations.load()
        return self._translations

    def text(self, case: str, language: str, **figures: object) -> str:
        return self.source().text(case, language, **figures)


_Client = TypeVar("_Client", EsmRestClient, EsmXmlClient)


class _Sink(Generic[_Client]):
    """What both sinks hold: the settings, their Web API client, the texts of the notes."""

    client_class: type[_Client]

    def __init__(
        self,
        settings: WebApiSettings,
        client: _Client | None = None,
        translations: Translations | None = None,
        upload_delays: Sequence[float] | None = None,
    ) -> None:
        self.settings = settings
        self.client: _Client = client or self.client_class(settings)
        self._notes = _Notes(translations)
        #: seconds between the attempts at an upload that failed for now (5xx, timeout)
        self.upload_delays = list(DEFAULT_RETRY_DELAYS if upload_delays is None else upload_delays)
        #: the attachments the ESM refused in the last :meth:`file` (the task lists them)
        self.refused: list[str] = []


class RestSink(_Sink[EsmRestClient]):
    """Files the admin task through the REST API: datacard first, then the attachments.

    Once the datacard exists, the task *is* filed: an attachment the ESM refuses (after the
    retries of :attr:`upload_delays` for a failure that may pass) is named in :attr:`refused`
    and listed in the description with where the file is kept, and the filing goes on. Only
    the login and the datacard itself raise, so a retry of the whole filing never meets a card
    it made before. (A create whose answer is lost - a timeout after the ESM saved the card -
    cannot be told apart from one that never arrived; the retry then creates a second card.
    The REST API has no idempotency key to prevent that.)
    """

    client_class = EsmRestClient

    def file(self, task: AdminTask) -> str:
        settings = self.settings
        codes = settings.report_attribute_codes
        template = settings.report_template_code
        self.refused = []
        card_id = self.client.create_datacard(
            template,
            settings.report_folder_code,
            {codes.title: task.title, codes.description: task.description},
        )
        log.info(
            "Created the admin task datacard %s (template %s, folder %s)",
            card_id,
            template,
            settings.report_folder_code,
        )
        notes: list[str] = []
        left_out: list[NotAttached] = []
        for attachment in task.attachments:
            note = self._attach(card_id, attachment, task.language, left_out)
            if note:
                notes.append(note)
        if notes or left_out:
            lines = notes + not_attached_lines(left_out, self._notes.source(), task.language)
            description = task.description + "\n\n" + "\n".join(lines)
            try:
                self.client.update_datacard(template, card_id, {codes.description: description})
            except ConnectorError as exc:  # the task and its files are in; the note is a detail
                log.error("Could not add the attachment notes to the description: %s", exc)
        return card_id

    def _upload(self, card_id: str, attachment: Attachment, path: Path) -> UploadResult:
        """One attachment, tried again after :attr:`upload_delays` while the ESM fails for
        now (a run being stopped does not wait)."""
        settings = self.settings
        for wait in [*self.upload_delays, None]:
            try:
                return self.client.upload_attachment(
                    settings.report_template_code,
                    card_id,
                    settings.report_attribute_codes.attachments,
                    attachment.name,
                    path,
                    source=Path(attachment.source) if attachment.source else None,
                )
            except EsmUnavailable as exc:
                if wait is None or terminated():
                    raise
                log.warning("Upload of %s failed (%s); again in %g s", attachment.name, exc, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attach(
        self, card_id: str, attachment: Attachment, language: str, left_out: list[NotAttached]
    ) -> str | None:
        """Upload one attachment (streamed); return the note for the description, if any.
        A file the ESM did not take goes to ``left_out`` (and its name to :attr:`refused`)."""
        name, path = attachment.name, Path(attachment.path)
        source = Path(attachment.source) if attachment.source else None
        original = source or path
        listed = original.name if source is not None else name
        notes = self._notes
        if not path.is_file():
            log.warning("Attachment %s not found at %s; not attached", name, path)
            return notes.text("attachment_missing", language, name=name, path=str(path))
        try:
            result = self._upload(card_id, attachment, path)
        except (OSError, FileRefused) as exc:  # gone, unreadable, or not a file of ours
            log.warning("Attachment %s cannot be read (%s); not attached", name, exc)
            return notes.text(
                "attachments_omitted", language, reason=f"{name}: {type(exc).__name__}"
            )
        except ConnectorError as exc:  # the ESM would not take it: the task is in, say so
            log.error("The ESM refused the attachment %s: %s", name, exc)
            why = exc.message[:MAX_BODY_IN_ERROR]
            left_out.append(not_attached(original, listed, "esm_refused", attachment.rows, why=why))
            self.refused.append(listed)
            return None
        log.debug("Attachment %s: %s %s", name, result.how, result.files)
        if result.how == "compressed":
            files = ", ".join(result.files)
            return notes.text("attachment_compressed", language, name=name, files=files)
        if result.how == "too_large":
            log.warning("Attachment %s is too large for the ESM; kept at %s", name, original)
            left_out.append(
                not_attached(original, listed, "esm_too_large", attachment.rows, sent=result.sent)
            )
            self.refused.append(listed)
        return None


class XmlSink(_Sink[EsmXmlClient]):
    """Files the admin task through the legacy XML Web API; attachments are left out."""

    client_class = EsmXmlClient

    def file(self, task: AdminTask) -> str:
        settings = self.settings
        codes = settings.report_attribute_codes
        description = task.description
        if task.attachments:
            files = ", ".join(a.path for a in task.attachments)
            log.warning(
                "The legacy XML Web API cannot upload files; attachments omitted: %s", files
            )
            listed: list[NotAttached] = []
            missing: list[str] = []
            for item in task.attachments:
                original = Path(item.source or item.path)
                name = original.name if item.source else item.name
                with contextlib.suppress(OSError, FileRefused):  # else listed as missing
                    listed.append(not_attached(original, name, "xml", item.rows))
                    continue
                missing.append(
                    self._notes.text(
                        "attachment_missing", task.language, name=name, path=str(original)
                    )
                )
            lines = missing + not_attached_lines(listed, self._notes.source(), task.language)
            description = f"{description}\n\n" + "\n".join(lines)
        reference = self.client.create_datacard(
            settings.report_template_code,
            settings.report_folder_code,
            {codes.title: task.title, codes.description: description},
        )
        log.info(
            "Imported the admin task through the XML Web API (%s, template %s, folder %s)",
            reference,
            settings.report_template_code,
            settings.report_folder_code,
        )
        return reference


def sink_for(
    settings: WebApiSettings,
    translations: Translations | None = None,
    upload_delays: Sequence[float] | None = None,
) -> ReportSink:
    """The sink for ``settings.webapi_kind``: ``rest`` (default) or ``xml``."""
    if settings.webapi_kind == "xml":
        return XmlSink(settings, translations=translations, upload_delays=upload_delays)
    return RestSink(settings, translations=translations, upload_delays=upload_delays)


def load_admin_task(task_json: Path) -> AdminTask:
    """Read a kept ``<taskid>_admin_task.json`` for a re-send.

    Its attachments are the files its run wrote, found by their known names in its working
    directory (the file's folder) through the door: a path in the file is never followed (an
    edited one could send any file on the host to the ESM), and a name the run does not write
    is not sent (the log says so).
    """
    task = AdminTask.model_validate_json(door_for(task_json).read_bytes(task_json))
    wd = WorkDir(task_json.parent, task.task_id, task.data_type)
    own = {p.name: (p, None) for p in wd.attached}
    own |= {zipped_name(p.name): (wd.zipped(p.name), p) for p in wd.attached}
    attachments = []
    for item in task.attachments:
        if item.name not in own:
            log.warning("Not sent: %s is not a file the run writes", shown(item.name))
            continue
        path, source = own[item.name]
        update = {"path": str(path), "source": str(source) if source else None}
        attachments.append(item.model_copy(update=update))
    return task.model_copy(update={"attachments": attachments})


def resend_admin_task(
    task_json: Path,
    settings: WebApiSettings,
    *,
    sink_factory: Callable[[WebApiSettings], ReportSink] = sink_for,
    attempts: int = 1,
    delays: Iterable[float] = (),
) -> str:
    """File a kept admin task again (``hr-connector resend-report``); return the datacard id.

    Each call creates a new datacard: if the first attempt got as far as creating one (and failed
    later), the ESM then holds two. ``attempts``/``delays`` give a plain retry loop on
    :class:`EsmUnavailable` for use outside Prefect.
    """
    task = load_admin_task(task_json)
    sink = sink_factory(settings)
    waits = list(delays)
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return sink.file(task)
        except EsmUnavailable as exc:
            if attempt >= attempts:
                raise
            wait = waits[attempt - 1] if attempt - 1 < len(waits) else (waits[-1] if waits else 0)
            log.warning("Attempt %d to file the admin task failed (%s); retrying", attempt, exc)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
