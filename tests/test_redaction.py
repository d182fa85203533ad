"""Redaction, tested directly: every form a secret takes, through each place that masks it.

The leak tests (test_secrets_leak.py) show that failed runs leave no secret behind; they pass
whether or not redaction works when the secret never reaches a log line. Here the secret is put
in front of each mask on purpose, in every form the product knows:

* raw, URL/form-encoded (upper- and lower-case hex), JSON-escaped (ASCII-only and not),
  HTML-escaped, and base64 of ``user:password`` (HTTP Basic);
* a Bearer header and a bare JWT (the ESM's tokens);
* inside exception text.

The places: the log-record factory (:func:`hr_connector.runlog.redact`, every handler), the SFTP
client's scrubber (a server that talks garbage quoting the secret: the error the admin reads) and
the ESM client's error path (an ESM or proxy whose error page quotes the request).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import logging
import re
import socketserver
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from hr_connector.clients import sftp
from hr_connector.clients.esm import EsmError, EsmRestClient, EsmUnavailable, EsmXmlClient
from hr_connector.errors import ConnectorError
from hr_connector.params import SftpSettings, WebApiSettings
from hr_connector.runlog import MASK, redact, register_secrets
from hr_connector.workdir import WorkDir

USER = "iga.webapi"
#: Characters that every encoding changes: space, / & = + " and non-ASCII.
PASSWORD = 'Pw-9f3c/7a1e Säk!&=+"x'
#: A JWT-shaped token (header.payload.signature) the product never registered.
JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + base64.urlsafe_b64encode(b'{"sub":"iga.webapi","exp":9999999999}').decode().rstrip("=")
    + ".c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"
)

#: form name -> the password as it is written in that form
PASSWORD_FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda p: p,
    "form-encoded": quote_plus,
    "url-encoded": lambda p: quote(p, safe=""),
    "url-encoded-lowercase-hex": lambda p: re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(p, safe="")
    ),
    "json-escaped": lambda p: json.dumps(p)[1:-1],
    "json-escaped-unicode": lambda p: json.dumps(p, ensure_ascii=False)[1:-1],
    "html-escaped": html.escape,
    "base64-user-password": lambda p: base64.b64encode(f"{USER}:{p}".encode()).decode(),
}
#: token form name -> (text that carries it, the part that must not survive)
TOKEN_FORMS: dict[str, tuple[str, str]] = {
    "bearer-jwt": (f"Authorization: Bearer {JWT}", JWT),
    "bare-jwt": (f"token={JWT}", JWT),
    "basic-header": (
        "Authorization: Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ),
}


def _forms() -> list[tuple[str, str, str]]:
    """(name, text carrying the secret, the secret's written form) for every form."""
    cases = [
        (name, f"sent: {form(PASSWORD)}.", form(PASSWORD)) for name, form in PASSWORD_FORMS.items()
    ]
    cases += [(name, text, secret) for name, (text, secret) in TOKEN_FORMS.items()]
    return cases


FORMS = _forms()
FORM_IDS = [name for name, _, _ in FORMS]


def _assert_masked(shown: str, secret: str, where: str) -> None:
    assert secret not in shown, f"{where}: the secret is shown: {shown}"
    assert PASSWORD not in shown, f"{where}: the raw password is shown: {shown}"
    assert MASK in shown, f"{where}: nothing was masked: {shown}"


# --------------------------------------------------------------------------------------------
# The log-record path: every logger, every handler
# --------------------------------------------------------------------------------------------


@pytest.fixture
def handler_output() -> Iterator[io.StringIO]:
    """What a plain handler on a library-like logger writes (not our own logger: any logger)."""
    register_secrets([PASSWORD])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("urllib3.test-redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(("name", "text", "secret"), FORMS, ids=FORM_IDS)
def test_redact_masks_every_form(name: str, text: str, secret: str) -> None:
    register_secrets([PASSWORD])
    _assert_masked(redact(text), secret, f"redact({name})")


@pytest.mark.parametrize(("name", "text", "secret"), FORMS, ids=FORM_IDS)
def test_log_records_mask_every_form_in_messages_arguments_and_tracebacks(
    handler_output: io.StringIO, name: str, text: str, secret: str
) -> None:
    logger = logging.getLogger("urllib3.test-redaction")
    logger.debug("a message that quotes it: " + text)  # no arguments: not %-formatted
    logger.info("an argument that quotes it: %s", text)
    try:
        raise RuntimeError(f"an exception that quotes it: {text}")
    except RuntimeError:
        logger.exception("a failure")
    written = handler_output.getvalue()
    assert written.count(MASK) >= 3, written
    _assert_masked(written, secret, f"log handler ({name})")
    assert "RuntimeError: an exception that quotes it" in written  # the traceback is kept


def test_redaction_keeps_ordinary_text() -> None:
    register_secrets([PASSWORD])
    text = "Read 40 rows from /tmp/work/in/workperiod.csv; changeset sha256:c1e1471186caa001"
    assert redact(text) == text


# --------------------------------------------------------------------------------------------
# The SFTP client's scrubber: the error text the admin reads
# --------------------------------------------------------------------------------------------


class _GarbageSshServer(socketserver.ThreadingTCPServer):
    """Not an SSH server: answers every connection with lines that quote ``line``.

    paramiko reads up to 100 lines looking for the SSH banner, then raises an error that quotes
    the last one: library exception text carrying whatever the server sent.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, line: str) -> None:
        self.line = line

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner) -> None:
                data = (self.line + "\r\n").encode() * 100
                inner.request.sendall(data)
                inner.request.settimeout(5)
                with contextlib.suppress(OSError):
                    inner.request.recv(1024)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.mark.parametrize(
    ("name", "text", "secret"), FORMS[: len(PASSWORD_FORMS)], ids=FORM_IDS[: len(PASSWORD_FORMS)]
)
def test_sftp_errors_mask_every_form_of_the_password(
    tmp_path: Path, name: str, text: str, secret: str
) -> None:
    server = _GarbageSshServer(f"not ssh, you sent {text}")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    settings = SftpSettings.model_validate(
        {
            "sftp_server_fqdn": "127.0.0.1",
            "sftp_server_ssh_port_number": server.port,
            "sftp_username": USER,
            "sftp_password": PASSWORD,
            "sftp_remote_path_data": "/data",
            "sftp_known_hosts": str(known_hosts),
            "sftp_timeout_seconds": 5,
        }
    )
    (tmp_path / "work").mkdir()
    try:
        with pytest.raises(ConnectorError) as info:
            sftp.download_hr_file(
                settings, WorkDir(tmp_path / "work", "3", "organization"), "./organization/*.csv"
            )
    finally:
        server.shutdown()
        server.server_close()
    shown = f"{info.value} | {info.value.figures} | {info.value!r}"
    assert "not ssh, you sent" in shown  # the library's text did reach the message
    _assert_masked(shown, secret, f"SFTP error ({name})")


# --------------------------------------------------------------------------------------------
# The ESM client's error path: an error page that quotes the request
# --------------------------------------------------------------------------------------------


class _QuotingEsm(ThreadingHTTPServer):
    """An ESM (or a proxy in front of it) whose error page quotes what it was sent.

    ``mode`` decides what the page quotes: ``body`` (the form-encoded login, as sent), ``form``
    (one of PASSWORD_FORMS applied to the password it received), ``header`` (the Authorization
    header), ``text`` (a fixed text), or ``status-line`` (a broken HTTP status line: the text
    arrives as exception text from the HTTP library).
    """

    daemon_threads = True

    def __init__(self, mode: str, value: str = "") -> None:
        self.mode, self.value = mode, value
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.mode == "status-line":
                    self.wfile.write(f"NOT-HTTP refused {server.value}\r\n\r\n".encode())
                    return
                quoted = {
                    "body": body.decode("utf-8", "replace"),
                    "form": server.value,
                    "header": self.headers.get("Authorization", ""),
                    "text": server.value,
                }[server.mode]
                page = f"<html><body>Bad request. You sent: {quoted}</body></html>".encode()
                self.send_response(400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> _QuotingEsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def _settings(url: str, **extra: object) -> WebApiSettings:
    return WebApiSettings.model_validate(
        {
            "webapi_url": url,
            "webapi_user": USER,
            "webapi_password": PASSWORD,
            "report_template_code": "IGAWorkflowTaskInformation",
            "webapi_timeout_seconds": 5,
            **extra,
        }
    )


def _esm_error(url: str, kind: str = "rest") -> ConnectorError:
    with pytest.raises((EsmError, EsmUnavailable)) as info:
        if kind == "rest":
            EsmRestClient(_settings(url)).login()
        else:
            client = EsmXmlClient(_settings(url, webapi_kind="xml"))
            client.create_datacard("IGAWorkflowTaskInformation", "iga_tasks", {"title": "x"})
    return info.value


def test_esm_login_error_page_quoting_the_request_body_is_masked() -> None:
    """The form-encoded login body, as requests sent it."""
    with _QuotingEsm("body") as esm:
        error = _esm_error(esm.url)
    shown = f"{error} | {error.figures}"
    assert "body is not shown" in shown and "You sent" not in shown  # never the login's page
    assert quote_plus(PASSWORD) not in shown and PASSWORD not in shown


@pytest.mark.parametrize(("name", "text", "secret"), FORMS, ids=FORM_IDS)
def test_esm_error_pages_mask_every_form(name: str, text: str, secret: str) -> None:
    """A page quoting a secret in answer to a call other than the login (whose page is never
    shown): the XML Web API's datacard import."""
    with _QuotingEsm("text", text) as esm:
        error = _esm_error(esm.url, "xml")
    shown = f"{error} | {error.figures}"
    assert "You sent:" in shown
    _assert_masked(shown, secret, f"ESM error page ({name})")


def test_esm_xml_api_error_page_quoting_the_basic_header_is_masked() -> None:
    with _QuotingEsm("header") as esm:
        error = _esm_error(esm.url, "xml")
    shown = f"{error} | {error.figures}"
    assert "You sent: Basic" in shown
    _assert_masked(shown, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), "XML API")


@pytest.mark.parametrize(("name", "text", "secret"), FORMS, ids=FORM_IDS)
def test_esm_exception_text_masks_every_form(name: str, text: str, secret: str) -> None:
    """A broken status line: the HTTP library's exception quotes it."""
    with _QuotingEsm("status-line", text.replace("\r", "").replace("\n", "")) as esm:
        error = _esm_error(esm.url)
    shown = f"{error} | {error.figures}"
    assert "NOT-HTTP refused" in shown, shown  # the exception text did reach the message
    _assert_masked(shown, secret, f"ESM exception text ({name})")


# --------------------------------------------------------------------------------------------
# End to end: secrets put in front of every output of a run, on purpose
# --------------------------------------------------------------------------------------------

SFTP_USER = "hr-export"
SFTP_PASSWORD = 'Sftp/Pässwörd "e2e"&=1'


def _every_form(secret: str, user: str) -> dict[str, str]:
    forms = {
        name: form(secret)
        for name, form in PASSWORD_FORMS.items()
        if name != "base64-user-password"
    }
    forms["base64-user-password"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return forms


def _leaks(text: str) -> list[str]:
    found = [
        f"{who} {name}"
        for who, secret, user in (("webapi", PASSWORD, USER), ("sftp", SFTP_PASSWORD, SFTP_USER))
        for name, form in _every_form(secret, user).items()
        if form in text
    ]
    return found


def _e2e_params(esm_url: str, sftp_port: int, known_hosts: Path) -> dict[str, object]:
    from conftest import base_raw

    return base_raw(
        data_type="organization",
        file_path="./organization/*.csv",
        webapi_url=esm_url,
        webapi_user=USER,
        webapi_password=PASSWORD,
        sftp_server_fqdn="127.0.0.1",
        sftp_server_ssh_port_number=sftp_port,
        sftp_username=SFTP_USER,
        sftp_password=SFTP_PASSWORD,
        sftp_remote_path_data="/data",
        sftp_known_hosts=str(known_hosts),
        sftp_timeout_seconds=5,
        debug="true",
        taskid=3,
    )


def _garbage_line() -> str:
    """What the impostor 'SFTP server' says: the SFTP password in three forms."""
    forms = _every_form(SFTP_PASSWORD, SFTP_USER)
    return (
        f"you sent {forms['raw']} aka {forms['form-encoded']} aka {forms['base64-user-password']}"
    )


@contextlib.contextmanager
def _quoting_servers(tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    """A working directory and a run's parameters, with both quoting servers up meanwhile."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    sftp_server = _GarbageSshServer(_garbage_line())
    try:
        with _QuotingEsm("body") as esm:
            yield workdir, _e2e_params(esm.url, sftp_server.port, known_hosts)
    finally:
        sftp_server.shutdown()
        sftp_server.server_close()


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_run_whose_servers_quote_the_secrets_shows_them_masked_everywhere(tmp_path: Path) -> None:
    """The SFTP 'server' quotes the SFTP password in its garbage (the run is interrupted: the
    error reaches the log, stderr and the admin task); the ESM answers the login with a page that
    quotes the form-encoded Web API password (the filing fails: the error is logged; stderr only
    says "not filed"). Every output holds the masks and no form of either
    password."""
    from run_helpers import SCRIPT, engine_env, everything_written, run_measured

    with _quoting_servers(tmp_path) as (workdir, params):
        proc = run_measured(
            [str(SCRIPT)], cwd=workdir, stdin_text=json.dumps(params) + "\n", env=engine_env()
        )
    log = (workdir / "3_log.txt").read_text(encoding="utf-8")
    task = (workdir / "3_admin_task.json").read_text(encoding="utf-8")
    markdown = (workdir / "3_admin_task.md").read_text(encoding="utf-8")
    assert proc.returncode == 1, proc.stderr
    # the secrets did reach each output, masked
    for where, text in (
        ("log", log),
        ("stderr", proc.stderr),
        ("admin task", task),
        ("md", markdown),
    ):
        assert "you sent" in text, f"{where}: the SFTP server's text is not shown:\n{text}"
        assert MASK in text, where
    assert "body is not shown" in log, f"the ESM's login answer is not in the log:\n{log}"
    everything = everything_written(workdir, proc.stdout, proc.stderr)
    assert _leaks(everything) == [], everything


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_prefect_run_whose_servers_quote_the_secrets_stores_them_masked(
    prefect_server: str, tmp_path: Path
) -> None:
    """The same run as a Prefect flow: the flow run, its task runs, artifacts and the log records
    shipped to the Prefect API hold the masks and no form of either password."""
    from hr_connector.flows.hr_import import run_flow

    from prefect_helpers import eventually, flow_run_named
    from prefect_helpers import stored_text as _stored

    with _quoting_servers(tmp_path) as (workdir, params):
        result = run_flow(params, workdir, "redact-e2e")
    assert result.interruption is not None and result.report_error
    run = flow_run_named("organization-task-redact-e2e")
    assert run is not None

    def logged() -> str:
        text = _stored(run.id)
        return text if "you sent" in text and "body is not shown" in text else ""

    stored = eventually(logged)
    assert stored, f"the quoted texts never reached the Prefect API:\n{_stored(run.id)[-3000:]}"
    assert MASK in stored
    assert _leaks(stored) == [], stored
    from run_helpers import everything_written

    assert _leaks(everything_written(workdir)) == []
