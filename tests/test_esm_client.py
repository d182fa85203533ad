"""The ESM clients and sinks over real HTTP against the local ESM (PLATFORM.md §7)."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from esm_sandbox import EsmSandbox
from hr_connector.clients.esm import (
    EsmError,
    EsmRestClient,
    EsmUnavailable,
    EsmXmlClient,
    RestSink,
    XmlSink,
    resend_admin_task,
    sink_for,
)
from hr_connector.clients.esm.rest import jwt_expiry
from hr_connector.clients.esm.xml import build_import_xml
from hr_connector.errors import TransientError
from hr_connector.params import WebApiSettings
from hr_connector.runlog import MASK

from esm_server import (
    FOLDER,
    PASSWORD,
    TEMPLATE,
    USER,
    StartEsm,
    all_log_text,
    make_task,
    settings_for,
    write_rows,
)


@pytest.fixture
def sandbox(start_esm: StartEsm, tmp_path: Path) -> Iterator[EsmSandbox]:
    server = start_esm(tmp_path / "esm")
    yield server


@pytest.fixture
def small_uploads(start_esm: StartEsm, tmp_path: Path) -> Iterator[EsmSandbox]:
    """A sandbox whose upload limit (4000 bytes) is easy to exceed."""
    server = start_esm(tmp_path / "esm", max_upload_bytes=4000)
    yield server


def _statuses(sandbox: EsmSandbox, status: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in sandbox.requests if r.status == status]


# -- login and tokens ---------------------------------------------------------------------------


def test_login_gets_a_jwt_with_expiry(sandbox: EsmSandbox) -> None:
    client = EsmRestClient(settings_for(sandbox))
    client.login()
    assert client.logins == sandbox.login_count == 1
    assert client._token is not None and client._token.count(".") == 2
    expiry = jwt_expiry(client._token)
    assert expiry is not None and 250 < expiry - time.time() <= 301


def test_wrong_credentials_are_permanent_and_never_show_the_password(
    sandbox: EsmSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-" + PASSWORD
    client = EsmRestClient(settings_for(sandbox, webapi_password=wrong))
    with pytest.raises(EsmError) as info:
        client.create_datacard(TEMPLATE, FOLDER, {"subject": "x"})
    error = info.value
    assert not isinstance(error, TransientError)
    assert error.status == 401
    assert f"wrong credentials for user '{USER}'" in str(error)
    for text in (str(error), repr(error), str(error.figures), all_log_text(caplog.records)):
        assert wrong not in text and PASSWORD not in text
    assert sandbox.datacards() == []


def test_revoked_token_leads_to_a_transparent_relogin(sandbox: EsmSandbox) -> None:
    client = EsmRestClient(settings_for(sandbox))
    first = client.create_datacard(TEMPLATE, FOLDER, {"subject": "one"})
    sandbox.expire_tokens()
    second = client.create_datacard(TEMPLATE, FOLDER, {"subject": "two"})
    assert (first, second) == ("1", "2")
    assert client.logins == 2
    assert _statuses(sandbox, 401) == [f"POST /rest-api/itsm/v1/dc/{TEMPLATE}/data"]


def test_token_about_to_expire_is_renewed_before_the_call(
    start_esm: StartEsm, tmp_path: Path
) -> None:
    # exp is 10 s away, inside the 30 s margin: the client logs in again before each call and
    # the ESM never has to answer 401.
    sandbox = start_esm(tmp_path / "esm", token_lifetime_seconds=10)
    client = EsmRestClient(settings_for(sandbox))
    client.create_datacard(TEMPLATE, FOLDER, {"subject": "one"})
    client.create_datacard(TEMPLATE, FOLDER, {"subject": "two"})
    assert client.logins == 2
    assert _statuses(sandbox, 401) == []


def test_expired_token_relogin_with_a_one_second_lifetime(
    start_esm: StartEsm, tmp_path: Path
) -> None:
    sandbox = start_esm(tmp_path / "esm", token_lifetime_seconds=1)
    settings = settings_for(sandbox)
    sink = RestSink(settings)
    sink.client.login()
    time.sleep(1.1)  # the token is now expired on both sides
    assert sink.file(make_task()) == "1"
    assert sandbox.datacard("1") is not None


def test_jwt_expiry_of_non_jwts() -> None:
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.b.c") is None
    assert jwt_expiry("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig") is None  # no exp


# -- create and upload --------------------------------------------------------------------------


def test_create_and_upload_stores_byte_identical_files(sandbox: EsmSandbox, tmp_path: Path) -> None:
    archive = tmp_path / "work" / "workperiod_archive.json"
    rows = write_rows(archive, 50)
    binary = tmp_path / "work" / "odd.bin"
    binary.write_bytes(bytes(range(256)) * 4 + b"\r\n--boundary-like\r\n\r\n")
    task = make_task(
        description="Line one\nLine two: ä ö å € 日本",
        attachments=[("workperiod_archive.json", archive), ("odd.bin", binary)],
    )
    sink = sink_for(settings_for(sandbox))
    assert isinstance(sink, RestSink)
    card_id = sink.file(task)

    card = sandbox.datacard(card_id)
    assert card is not None
    assert card["templateCode"] == TEMPLATE and card["folderCode"] == FOLDER
    assert card["data"]["subject"]["values"] == [{"value": task.title}]
    assert card["data"]["description"]["values"] == [{"value": task.description}]
    assert card["files"]["attachments"] == ["workperiod_archive.json", "odd.bin"]
    assert sandbox.file_path(card_id, "workperiod_archive.json").read_bytes() == rows
    assert sandbox.file_path(card_id, "odd.bin").read_bytes() == binary.read_bytes()
    # Nothing to note: the description was not patched.
    assert not [r for r in sandbox.requests if r.method == "PATCH"]
    # And the REST read gives the same card.
    read = sink.client._call("GET", f"/dc/{TEMPLATE}/data/{card_id}").json()
    assert read["dataCardId"] == card_id


def test_configured_attribute_codes_are_used(start_esm: StartEsm, tmp_path: Path) -> None:
    sandbox = start_esm(
        tmp_path / "esm",
        template_attributes={"headline", "body", "files"},
        file_attributes={"files"},
    )
    codes = {"title": "headline", "description": "body", "attachments": "files"}
    archive = tmp_path / "a.json"
    write_rows(archive, 2)
    sink = RestSink(settings_for(sandbox, report_attribute_codes=json.dumps(codes)))
    card_id = sink.file(make_task(attachments=[("a.json", archive)]))
    card = sandbox.datacard(card_id)
    assert card is not None
    assert set(card["data"]) == {"headline", "body"}
    assert card["files"] == {"files": ["a.json"]}


def test_missing_attachment_file_is_skipped_and_noted(sandbox: EsmSandbox, tmp_path: Path) -> None:
    present = tmp_path / "present.json"
    write_rows(present, 1)
    task = make_task(attachments=[("gone.json", tmp_path / "gone.json"), ("present.json", present)])
    card_id = RestSink(settings_for(sandbox)).file(task)
    card = sandbox.datacard(card_id)
    assert card is not None
    assert card["files"]["attachments"] == ["present.json"]
    description = card["data"]["description"]["values"][0]["value"]
    assert description.startswith(task.description)
    assert "gone.json was not found" in description


def test_unknown_attribute_code_is_a_permanent_error_naming_it(sandbox: EsmSandbox) -> None:
    settings = settings_for(
        sandbox, report_attribute_codes={"title": "headline", "description": "description"}
    )
    with pytest.raises(EsmError) as info:
        RestSink(settings).file(make_task())
    error = info.value
    assert not isinstance(error, TransientError)
    assert error.status == 400
    text = str(error)
    assert f"POST /dc/{TEMPLATE}/data answered 400" in text
    assert "headline: Attribute 'headline' does not exist" in text
    assert "report_attribute_codes" in text  # the hint
    assert sandbox.datacards() == []


def test_other_4xx_is_permanent_and_shows_the_body(sandbox: EsmSandbox) -> None:
    sandbox.fail_next(404, match="/dc/")
    with pytest.raises(EsmError) as info:
        EsmRestClient(settings_for(sandbox)).create_datacard(TEMPLATE, FOLDER, {"subject": "x"})
    assert not isinstance(info.value, TransientError)
    assert "answered 404: Injected fault" in str(info.value)


# -- 413: compress, else list -------------------------------------------------------------------


def _description(sandbox: EsmSandbox, card_id: str) -> str:
    card = sandbox.datacard(card_id)
    assert card is not None
    return str(card["data"]["description"]["values"][0]["value"])


def test_413_is_answered_by_compressing(small_uploads: EsmSandbox, tmp_path: Path) -> None:
    path = tmp_path / "workperiod_archive.json"
    content = write_rows(path, 200)  # repetitive: gzip shrinks it far below the limit
    assert len(content) > 4000
    task = make_task(attachments=[("workperiod_archive.json", path)])
    card_id = RestSink(settings_for(small_uploads)).file(task)

    stored = small_uploads.file_path(card_id, "workperiod_archive.json.zip")
    with zipfile.ZipFile(stored) as archive:  # a zip, which Windows opens without tools
        assert archive.namelist() == ["workperiod_archive.json"]
        assert archive.read("workperiod_archive.json") == content
    description = _description(small_uploads, card_id)
    assert description.startswith(task.description)
    assert "attached compressed as workperiod_archive.json.zip" in description


def test_413_even_zipped_lists_the_file_with_its_facts(
    small_uploads: EsmSandbox, tmp_path: Path
) -> None:
    big = tmp_path / "error_workperiod_archive.json"
    write_rows(big, 3, random_text=6000)
    small = tmp_path / "small.json"
    write_rows(small, 2)
    task = make_task(attachments=[("error_workperiod_archive.json", big), ("small.json", small)])
    card_id = RestSink(settings_for(small_uploads)).file(task)

    card = small_uploads.datacard(card_id)
    assert card is not None
    assert card["files"]["attachments"] == ["small.json"]
    description = _description(small_uploads, card_id)
    listed = next(line for line in description.splitlines() if str(big) in line)
    assert listed.startswith("- error_workperiod_archive.json: ")
    assert hashlib.sha256(big.read_bytes()).hexdigest() in listed
    assert f"({big.stat().st_size} bytes), 3 rows" in listed
    assert "Why: the ESM refused it as too large" in listed


# -- transient failures -------------------------------------------------------------------------


def test_500_is_transient_and_the_next_attempt_succeeds(sandbox: EsmSandbox) -> None:
    sink = RestSink(settings_for(sandbox))
    sandbox.fail_next(500)
    with pytest.raises(EsmUnavailable) as info:
        sink.file(make_task())
    assert isinstance(info.value, TransientError)
    assert info.value.status == 500
    assert sink.file(make_task()) == "1"  # what Prefect's retry does
    assert len(sandbox.datacards()) == 1


def test_an_upload_failing_for_now_is_tried_again_and_the_task_filed_once(
    sandbox: EsmSandbox, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_rows(first, 2)
    write_rows(second, 3)
    task = make_task(attachments=[("a.json", first), ("b.json", second)])
    sink = RestSink(settings_for(sandbox), upload_delays=[0.05, 0.05])
    # The first two uploads answer 502: the sink tries again; the card is made once.
    sandbox.fail_next(502, count=2, match="/attachments/file")
    assert sink.file(task) == "1"
    assert sink.refused == []
    card = sandbox.datacard("1")
    assert card is not None
    assert card["files"]["attachments"] == ["a.json", "b.json"]
    assert len(sandbox.datacards()) == 1


def test_a_plain_retry_loop_gets_through(sandbox: EsmSandbox, tmp_path: Path) -> None:
    task_json = tmp_path / "42_admin_task.json"
    task_json.write_text(make_task().model_dump_json(), encoding="utf-8")
    sandbox.fail_next(503, count=2)
    card_id = resend_admin_task(task_json, settings_for(sandbox), delays=[0, 0])
    assert card_id == "1"
    assert [r.status for r in sandbox.requests][:3] == [503, 503, 200]


def test_a_server_that_never_answers_times_out(sandbox: EsmSandbox) -> None:
    client = EsmRestClient(settings_for(sandbox, webapi_timeout_seconds=1))
    sandbox.hang_next(3)
    started = time.monotonic()
    with pytest.raises(EsmUnavailable) as info:
        client.login()
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5
    assert "did not answer POST /users/login within 1 s" in str(info.value)


def test_a_closed_socket_is_transient(sandbox: EsmSandbox) -> None:
    sandbox.close_next()
    with pytest.raises(EsmUnavailable) as info:
        EsmRestClient(settings_for(sandbox)).login()
    assert "no usable answer" in str(info.value)


def test_a_refused_connection_is_transient(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = WebApiSettings(
        webapi_url=f"http://127.0.0.1:{port}",
        webapi_user=USER,
        webapi_password=PASSWORD,
        report_template_code=TEMPLATE,
        webapi_timeout_seconds=2,
    )
    with pytest.raises(EsmUnavailable) as info:
        RestSink(settings).file(make_task())
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in str(info.value)
    try:  # refused while an unrelated error is being handled: that error is not the cause
        {}["location"]
    except KeyError:
        with pytest.raises(EsmUnavailable) as info:
            RestSink(settings).file(make_task())
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in str(info.value)
    assert "KeyError" not in str(info.value)


def test_a_redirect_is_reported_as_a_wrong_url(sandbox: EsmSandbox) -> None:
    sandbox.fail_next(301, match="/users/login")
    with pytest.raises(EsmError) as info:
        EsmRestClient(settings_for(sandbox)).login()
    assert not isinstance(info.value, TransientError)
    assert "webapi_url" in str(info.value)


# -- the legacy XML Web API ---------------------------------------------------------------------


def test_xml_api_creates_the_datacard_and_omits_attachments(
    sandbox: EsmSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    archive = tmp_path / "workperiod_archive.json"
    write_rows(archive, 2)
    task = make_task(
        description='Rows <b>&</b> "quotes" \x01 control', attachments=[("a.json", archive)]
    )
    sink = sink_for(settings_for(sandbox, webapi_kind="xml"))
    assert isinstance(sink, XmlSink)
    card_id = sink.file(task)

    card = sandbox.datacard(card_id)
    assert card is not None and card["via"] == "xml"
    assert card["data"]["subject"]["values"] == [{"value": task.title}]
    description = card["data"]["description"]["values"][0]["value"]
    assert description.startswith('Rows <b>&</b> "quotes" \ufffd control')
    listed = next(line for line in description.splitlines() if str(archive) in line)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() in listed and ", 2 rows," in listed
    assert "Why: the legacy XML Web API cannot carry files" in listed
    assert card["files"] == {}
    assert any(
        "cannot upload files; attachments omitted" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


def test_xml_api_error_reply_is_a_permanent_error(sandbox: EsmSandbox) -> None:
    client = EsmXmlClient(settings_for(sandbox, webapi_kind="xml"))
    with pytest.raises(EsmError) as info:
        client.create_datacard(TEMPLATE, FOLDER, {"nosuch": "x"})
    assert not isinstance(info.value, TransientError)
    assert "did not create the datacard: Attribute(s) nosuch do not exist" in str(info.value)


def test_xml_api_wrong_credentials(sandbox: EsmSandbox) -> None:
    client = EsmXmlClient(settings_for(sandbox, webapi_kind="xml", webapi_password="nope-nope"))
    with pytest.raises(EsmError) as info:
        client.create_datacard(TEMPLATE, FOLDER, {"subject": "x"})
    assert info.value.status == 401
    assert USER in str(info.value) and "nope-nope" not in str(info.value)


def test_xml_api_5xx_is_transient(sandbox: EsmSandbox) -> None:
    sandbox.fail_next(502)
    with pytest.raises(EsmUnavailable):
        EsmXmlClient(settings_for(sandbox)).create_datacard(TEMPLATE, FOLDER, {"subject": "x"})


def test_import_xml_is_escaped() -> None:
    body = build_import_xml("T", {"a": "<x>&\"'</x>"})
    assert b'<template code="T"/>' in body
    assert b"&lt;x&gt;&amp;\"'&lt;/x&gt;" in body


# -- TLS and secrets ----------------------------------------------------------------------------


def test_tls_opt_out_logs_a_warning(sandbox: EsmSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    sink = RestSink(settings_for(sandbox, webapi_verify_tls=False))
    assert sink.client._http.verify is False
    assert any(
        "TLS verification is OFF" in r.getMessage() and "explicit opt-in" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


def test_ca_bundle_is_used_for_verification(sandbox: EsmSandbox, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    client = EsmRestClient(settings_for(sandbox, webapi_ca_bundle=str(bundle)))
    assert client._http.verify == str(bundle)
    assert EsmRestClient(settings_for(sandbox))._http.verify is True


def test_the_password_never_appears_in_any_log_record(
    small_uploads: EsmSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    path = tmp_path / "rows.json"
    write_rows(path, 200)
    settings = settings_for(small_uploads)
    RestSink(settings).file(make_task(attachments=[("rows.json", path)]))
    small_uploads.expire_tokens()
    RestSink(settings).file(make_task(task_id="43"))
    XmlSink(settings_for(small_uploads, webapi_kind="xml")).file(make_task())
    with pytest.raises(EsmError):
        RestSink(settings_for(small_uploads, webapi_password=PASSWORD + "x")).file(make_task())
    text = all_log_text(caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert PASSWORD not in text
    assert MASK not in text  # nothing even had to be redacted: secrets are never logged
    assert "eyJ" not in text  # no token either


def test_sink_for_picks_the_api(sandbox: EsmSandbox) -> None:
    assert isinstance(sink_for(settings_for(sandbox)), RestSink)
    assert isinstance(sink_for(settings_for(sandbox, webapi_kind="xml")), XmlSink)


def test_resend_sends_the_runs_files_from_its_working_directory(
    sandbox: EsmSandbox, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    content = write_rows(work / "data" / "archive" / "workperiod_archive.json", 4)
    elsewhere = write_rows(tmp_path / "elsewhere.json", 2)  # the path the task names: not used
    task = make_task(attachments=[("workperiod_archive.json", tmp_path / "elsewhere.json")])
    task_json = work / "42_admin_task.json"
    task_json.write_text(task.model_dump_json(indent=2), encoding="utf-8")
    card_id = resend_admin_task(task_json, settings_for(sandbox))
    sent = sandbox.file_path(card_id, "workperiod_archive.json").read_bytes()
    assert sent == content and sent != elsewhere


def test_the_sandbox_page_lists_the_task_and_escapes_html(
    sandbox: EsmSandbox, tmp_path: Path
) -> None:
    path = tmp_path / "rows.json"
    content = write_rows(path, 3)
    task = make_task(
        title="Admin <task> & more",
        description="<script>alert('x')</script>\nrow R1 & R2",
        attachments=[("rows.json", path)],
    )
    card_id = RestSink(settings_for(sandbox)).file(task)
    listing = requests.get(sandbox.url + "/", timeout=5)
    assert listing.status_code == 200
    assert listing.headers["Content-Type"].startswith("text/html")
    assert "Admin &lt;task&gt; &amp; more" in listing.text
    assert f'href="/tasks/{card_id}"' in listing.text
    page = requests.get(f"{sandbox.url}/tasks/{card_id}", timeout=5)
    assert page.status_code == 200
    assert (
        '<pre class="text" id="text">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\n'
        "row R1 &amp; R2</pre>" in page.text
    )
    assert "<script>" not in listing.text + page.text
    assert f'href="/files/{card_id}/rows.json"' in page.text
    download = requests.get(f"{sandbox.url}/files/{card_id}/rows.json", timeout=5)
    assert download.status_code == 200 and download.content == content
