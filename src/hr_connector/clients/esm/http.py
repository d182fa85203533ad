"""The HTTP transport both ESM clients share: TLS, a bound on each whole call, and the errors.

Refused/reset/closed connections, timeouts, 5xx, 408 and 429 raise :class:`EsmUnavailable`
(transient: the Prefect task retries it); any other 4xx, redirects, untrusted certificates and
unreadable answers raise :class:`EsmError` (permanent). Messages name the step, method, path and
status and quote the ESM's own explanation, truncated and redacted; no password, token or header
is ever logged or put into an exception.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from hr_connector.clients import deadline
from hr_connector.ending import terminated
from hr_connector.errors import ConnectorError, TransientError
from hr_connector.params import WebApiSettings
from hr_connector.runlog import redact, register_credentials

log = logging.getLogger(__name__)

#: How much of an error answer's body goes into the exception (the log stays readable).
MAX_BODY_IN_ERROR = 500


class EsmError(ConnectorError):
    """The ESM refused the request for good; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        message = redact(message)
        super().__init__(message, hint=hint, figures={"message": message})
        self.status = status


class EsmTooLarge(EsmError):
    """413: the uploaded file is bigger than the ESM accepts; ``size`` is the file's size."""

    size = 0


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


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _chain(exc: BaseException, outer: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the errors under it (``reason``, a wrapped error, cause or context), down to
    ``outer``: what was being handled when the call began is not part of its failure (a refused
    connection is not explained by a KeyError its caller was handling)."""
    seen: set[int] = set()
    while outer is not None and id(outer) not in seen:
        seen.add(id(outer))
        outer = outer.__context__
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nested = getattr(current, "reason", None)
        if isinstance(nested, BaseException):
            current = nested
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__


def _short_reason(exc: BaseException, outer: BaseException | None) -> str:
    """The root cause of a requests/urllib3 error in a few words (not the whole repr chain)."""
    *_, last = _chain(exc, outer)
    # urllib3 prefixes its messages with "<connection object at 0x...>: " - not useful.
    text = re.sub(r"^<[^>]+>:\s*", "", str(last))
    return redact(f"{type(last).__name__}: {text}" if text else type(last).__name__)


def body_summary(response: requests.Response) -> str:
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
            shown = [
                f"{e.get('attributeCode') or '-'}: {e.get('message') or e.get('error') or ''}"
                if isinstance(e, dict)
                else str(e)
                for e in errors
            ]
            parts.append("attribute errors: " + "; ".join(shown))
    text = redact(" | ".join(parts) if parts else response.text.strip())
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


class Transport:
    """One ``requests.Session`` with the connector's TLS, timeout and error policy."""

    def __init__(self, settings: WebApiSettings, base_path: str) -> None:
        self.settings = settings
        self.base_path = base_path
        self.base = settings.webapi_url + base_path
        parts = urlsplit(settings.webapi_url)
        self.host = parts.hostname or settings.webapi_url
        #: host:port, as the admin checks it
        self.address = f"{self.host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.session = requests.Session()
        adapter = deadline.DeadlineAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "hr-connector (ESM client)"
        password = settings.webapi_password.get_secret_value()
        register_credentials(settings.webapi_user, password)  # a second line of defence
        self.verify: bool | str = settings.webapi_ca_bundle or True
        if not settings.webapi_verify_tls:
            self.verify = False
            log.warning(
                "TLS verification is OFF for the ESM at %s (webapi_verify_tls=false, an explicit "
                "opt-in): the connection can be intercepted. Prefer webapi_ca_bundle.",
                self.host,
            )
        if settings.webapi_url.startswith("http://") and not is_loopback(self.host):
            log.warning(
                "The ESM URL %s is plain http: the Web API password travels unencrypted.",
                settings.webapi_url,
            )

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, cut off after ``webapi_timeout_seconds`` in all (see deadline);
        network failures become :class:`EsmUnavailable`/:class:`EsmError`.

        Redirects are not followed: requests would turn a redirected POST into a GET and drop
        the body, so a redirect is reported as a wrong ``webapi_url`` instead.
        """
        started = time.monotonic()
        seconds = self.settings.webapi_timeout_seconds
        outer = sys.exception()  # being handled by the caller: not this call's cause
        with deadline.bounded(seconds, terminated) as call:
            try:
                response = self.session.request(
                    method,
                    self.base + path,
                    timeout=seconds,  # the connect and each read; the whole call: bounded
                    verify=self.verify,
                    allow_redirects=False,
                    **kwargs,
                )
            except requests.exceptions.RequestException as exc:
                if not call.expired:
                    raise self._failed(method, path, exc, outer) from None
        if call.expired == "stopped":
            raise EsmUnavailable(
                f"{method} {path} to the ESM at {self.host} was abandoned: the run is "
                "being stopped (SIGTERM).",
                hint="The admin task is kept; file it with 'hr-connector resend-report'.",
            )
        if call.expired:  # an answer read to a cut connection's end is incomplete
            raise EsmUnavailable(
                f"The ESM at {self.host} did not answer {method} {path} within {seconds:g} s "
                "(the whole call is bounded, not each read: the answer came too slowly).",
                hint="The ESM or a proxy in front of it is overloaded or broken; raise "
                "webapi_timeout_seconds if it is just slow.",
            )
        elapsed = (time.monotonic() - started) * 1000
        log.debug("ESM %s %s -> %s (%.0f ms)", method, path, response.status_code, elapsed)
        return response

    def _failed(
        self, method: str, path: str, exc: BaseException, outer: BaseException | None
    ) -> ConnectorError:
        """The error a failed request means."""
        reason = _short_reason(exc, outer)
        if isinstance(exc, requests.exceptions.SSLError):
            if "CERTIFICATE_VERIFY_FAILED" in reason or "hostname" in reason.lower():
                return EsmError(
                    f"The TLS certificate of the ESM at {self.host} is not trusted ({reason}).",
                    hint="Give the CA that signed it in webapi_ca_bundle.",
                )
            return EsmUnavailable(
                f"TLS handshake with the ESM at {self.host} failed on {method} {path}: {reason}."
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return EsmUnavailable(
                f"{_step(method, path)}: the ESM at {self.address} did not answer {method} "
                f"{path} within {self.settings.webapi_timeout_seconds:g} s ({reason}).",
                hint=f"Check the network path from this host to {self.address} (firewall, proxy, "
                "VPN); the ESM may be overloaded: raise webapi_timeout_seconds if it is just slow.",
            )
        if isinstance(
            exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
        ):
            return self._unreachable(method, path, exc, reason, outer)
        return EsmError(
            f"Cannot send {method} {path} to the ESM at {self.host}: {reason}.",
            hint="Check webapi_url.",
        )

    def _unreachable(
        self, method: str, path: str, exc: BaseException, reason: str, outer: BaseException | None
    ) -> ConnectorError:
        """What a failed connection means, what was tried, and what to check."""
        tried = f"{_step(method, path)} ({method} {self.base_path}{path})"
        # the failed name lookup under a requests error (urllib3 raises its own from it)
        lookup = next((c for c in _chain(exc, outer) if isinstance(c, socket.gaierror)), None)
        url = self.settings.webapi_url
        if lookup is not None and lookup.errno != socket.EAI_AGAIN:
            return EsmError(
                f"{tried}: the ESM's host name {self.host} (webapi_url) cannot be resolved "
                f"({reason}).",
                hint=f"Check the host name in webapi_url ({url}) and that "
                f"this machine's DNS resolves it (getent hosts {self.host}).",
            )
        if lookup is not None:
            hint = f"This machine's DNS did not answer for {self.host}; check its DNS servers."
        elif any(
            isinstance(c, OSError) and c.errno == errno.ECONNREFUSED for c in _chain(exc, outer)
        ):
            hint = (
                f"Nothing accepts connections at {self.address}: check the port and scheme in "
                f"webapi_url ({url}), and that no firewall refuses this host."
            )
        else:
            hint = (
                f"Check the network path from this host to {self.address} (firewall, proxy, "
                "VPN) and that the ESM is up."
            )
        return EsmUnavailable(
            f"{tried}: no usable answer from the ESM at {self.address}: {reason}.", hint=hint
        )

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
            body_summary(response)
            if quote_body
            else "(the answer's body is not shown: it may quote the credentials)"
        )
        if status >= 500 or status in (408, 429):
            raise EsmUnavailable(f"{where}: {summary}", status=status)
        if status == 413:  # the upload that met it sets the file's size
            raise EsmTooLarge(f"{where}: {summary}", status=status)
        settings = self.settings
        hints = {
            401: "The ESM refused a fresh login token; check the user's External API permission.",
            403: f"Give the ESM user '{settings.webapi_user}' create and update rights on "
            f"template '{settings.report_template_code}' in folder "
            f"'{settings.report_folder_code}'.",
            404: "Check webapi_url, report_template_code and report_folder_code.",
            400: "Check report_template_code, report_folder_code and report_attribute_codes.",
        }
        raise EsmError(f"{where}: {summary}", hint=hints.get(status, ""), status=status)
