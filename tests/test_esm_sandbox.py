"""The local ESM itself, driven with plain ``requests`` (what a real ESM would answer)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from esm_sandbox import EsmSandbox, parse_multipart, safe_file_name
from hr_connector.clients.esm.rest import jwt_expiry

from esm_server import FOLDER, PASSWORD, TEMPLATE, USER, StartEsm

API = "/rest-api/itsm/v1"
XML = "/api/itsm/dataCardImport.ws"


@pytest.fixture
def sandbox(start_esm: StartEsm, tmp_path: Path) -> Iterator[EsmSandbox]:
    server = start_esm(tmp_path / "esm", max_upload_bytes=1000)
    yield server


def login(sandbox: EsmSandbox, password: str = PASSWORD) -> requests.Response:
    return requests.post(
        sandbox.url + API + "/users/login",
        data={"login": USER, "password": password},
        timeout=5,
    )


def auth(sandbox: EsmSandbox) -> dict[str, str]:
    return {"Authorization": login(sandbox).json()["token"]}


def create(sandbox: EsmSandbox, data: dict[str, str], headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{API}/dc/{TEMPLATE}/data",
        json={
            "folderCode": FOLDER,
            "data": {k: {"values": [{"value": v}]} for k, v in data.items()},
        },
        headers=headers,
        timeout=5,
    )


def test_login_answers_a_signed_jwt_in_body_and_header(sandbox: EsmSandbox) -> None:
    response = login(sandbox)
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.startswith("Bearer eyJ")
    assert response.headers["Authorization"] == token
    header = json.loads(base64.urlsafe_b64decode(token[7:].split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    expiry = jwt_expiry(token[7:])
    assert expiry is not None and 299 <= expiry - time.time() <= 301


def test_login_with_wrong_credentials_is_401_json(sandbox: EsmSandbox) -> None:
    response = login(sandbox, password="wrong")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 401 and body["message"] == "Wrong credentials"
    assert "Authorization" not in response.headers


def test_api_calls_need_a_valid_token(sandbox: EsmSandbox) -> None:
    assert create(sandbox, {"subject": "x"}, {}).status_code == 401
    assert create(sandbox, {"subject": "x"}, {"Authorization": "Bearer a.b.c"}).status_code == 401
    headers = auth(sandbox)
    forged = headers["Authorization"][:-2] + (
        "AA" if headers["Authorization"][-2:] != "AA" else "BB"
    )
    assert create(sandbox, {"subject": "x"}, {"Authorization": forged}).status_code == 401
    assert create(sandbox, {"subject": "x"}, headers).status_code == 201
    sandbox.expire_tokens()
    assert create(sandbox, {"subject": "x"}, headers).status_code == 401


def test_tokens_expire(start_esm: StartEsm, tmp_path: Path) -> None:
    sandbox = start_esm(tmp_path, token_lifetime_seconds=0.5)
    headers = auth(sandbox)
    time.sleep(0.6)
    assert create(sandbox, {"subject": "x"}, headers).status_code == 401


def test_create_read_and_patch(sandbox: EsmSandbox) -> None:
    headers = auth(sandbox)
    response = create(sandbox, {"subject": "Title", "description": "Text"}, headers)
    assert response.status_code == 201
    body = response.json()
    card_id = body["dataCard"]["dataCardId"]
    assert card_id == "1" and body["meta"]["errors"] == []
    url = f"{sandbox.url}{API}/dc/{TEMPLATE}/data/{card_id}"
    card = requests.get(url, headers=headers, timeout=5).json()
    assert card["data"]["subject"]["values"] == [{"value": "Title"}]
    patched = requests.patch(
        url,
        json={"dataCardId": card_id, "data": {"description": {"values": [{"value": "New"}]}}},
        headers=headers,
        timeout=5,
    )
    assert patched.status_code == 200
    stored = sandbox.datacard(card_id)
    assert stored is not None
    assert stored["data"]["description"]["values"] == [{"value": "New"}]
    assert stored["data"]["subject"]["values"] == [{"value": "Title"}]
    wrong_id = requests.patch(
        url,
        json={"dataCardId": "99", "data": {"subject": {"values": []}}},
        headers=headers,
        timeout=5,
    )
    assert wrong_id.status_code == 400
    missing = requests.get(url.replace("/data/1", "/data/77"), headers=headers, timeout=5)
    assert missing.status_code == 404
    on_disk = json.loads((sandbox.root_dir / "datacards" / "1.json").read_text(encoding="utf-8"))
    assert on_disk["dataCardId"] == "1"


def test_bad_bodies_and_unknown_attributes_are_400(sandbox: EsmSandbox) -> None:
    headers = auth(sandbox)
    url = f"{sandbox.url}{API}/dc/{TEMPLATE}/data"
    no_folder = requests.post(
        url, json={"data": {"subject": {"values": [{"value": "x"}]}}}, headers=headers, timeout=5
    )
    assert no_folder.status_code == 400 and "folderCode" in no_folder.json()["message"]
    bad_shape = requests.post(
        url, json={"folderCode": FOLDER, "data": {"subject": "x"}}, headers=headers, timeout=5
    )
    assert bad_shape.status_code == 400
    unknown = create(sandbox, {"subject": "x", "nosuch": "y", "other": "z"}, headers)
    assert unknown.status_code == 400
    errors = unknown.json()["meta"]["errors"]
    assert [e["attributeCode"] for e in errors] == ["nosuch", "other"]
    assert sandbox.datacards() == []


def test_any_attribute_when_the_template_is_open(start_esm: StartEsm, tmp_path: Path) -> None:
    sandbox = start_esm(tmp_path, template_attributes=None)
    assert create(sandbox, {"whatever": "x"}, auth(sandbox)).status_code == 201


def _upload(
    sandbox: EsmSandbox, headers: dict[str, str], content: bytes, name: str, attribute: str
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{API}/dc/{TEMPLATE}/data/1/{attribute}/file",
        files={"fileUpload": (name, content), "fileName": (None, name)},
        headers=headers,
        timeout=5,
    )


def test_upload_stores_exact_bytes_and_413_above_the_limit(sandbox: EsmSandbox) -> None:
    headers = auth(sandbox)
    create(sandbox, {"subject": "x"}, headers)
    content = b"\r\n--not-a-boundary\r\n\r\n" + bytes(range(256)) + b"\r\n"
    response = _upload(sandbox, headers, content, "data.bin", "attachments")
    assert response.status_code == 200
    assert sandbox.file_path("1", "data.bin").read_bytes() == content
    assert _upload(sandbox, headers, b"x" * 1000, "max.bin", "attachments").status_code == 200
    too_big = _upload(sandbox, headers, b"x" * 1001, "big.bin", "attachments")
    assert too_big.status_code == 413
    assert too_big.json()["message"] == "Uploaded file is too big"
    assert _upload(sandbox, headers, b"x", "a.bin", "subject").status_code == 400
    card = sandbox.datacard("1")
    assert card is not None and card["files"] == {"attachments": ["data.bin", "max.bin"]}


def test_upload_names_cannot_escape_the_folder(sandbox: EsmSandbox) -> None:
    headers = auth(sandbox)
    create(sandbox, {"subject": "x"}, headers)
    assert _upload(sandbox, headers, b"x", "../../evil.json", "attachments").status_code == 200
    assert sandbox.file_path("1", "evil.json").read_bytes() == b"x"
    assert not (sandbox.root_dir / "evil.json").exists()
    traversal = requests.get(f"{sandbox.url}/files/1/..%2F..%2Fdatacards%2F1.json", timeout=5)
    assert traversal.status_code == 404
    assert safe_file_name("..") is None
    assert safe_file_name("a\x00b/c\\d.json") == "d.json"


def test_parse_multipart_keeps_bytes_exact() -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="fileUpload"; filename="r.json"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        b"line1\r\nline2\n\r\n"
        b"\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="fileName"\r\n\r\n'
        b"r.json"
        b"\r\n--XyZ--\r\n"
    )
    parts = parse_multipart(body, "multipart/form-data; boundary=XyZ")
    assert parts["fileUpload"] == ("r.json", b"line1\r\nline2\n\r\n")
    assert parts["fileName"] == (None, b"r.json")
    with pytest.raises(ValueError):
        parse_multipart(body[:-8], "multipart/form-data; boundary=XyZ")


def _xml(
    sandbox: EsmSandbox, body: bytes, query: str, password: str = PASSWORD
) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{XML}?{query}",
        data=body,
        auth=(USER.encode(), password.encode()),
        headers={"Content-Type": "application/xml; charset=utf-8"},
        timeout=5,
    )


ENTITY = (
    b"<entityset><entity><template code='T1'/>"
    b"<attribute code='subject'><value>A &amp; B</value></attribute>"
    b"<attribute code='description'><value>x</value><value>y</value></attribute>"
    b"</entity></entityset>"
)


def test_xml_import_creates_and_reports_errors(sandbox: EsmSandbox) -> None:
    ok = _xml(sandbox, ENTITY, "folderCode=f1&createDataCards=true")
    assert ok.status_code == 200
    assert b"<entities-created>1</entities-created>" in ok.content
    assert b"<error>" not in ok.content
    card = sandbox.datacard("1")
    assert card is not None and card["templateCode"] == "T1" and card["folderCode"] == "f1"
    assert card["data"]["subject"]["values"] == [{"value": "A & B"}]
    assert card["data"]["description"]["values"] == [{"value": "x"}, {"value": "y"}]

    unknown = _xml(
        sandbox, ENTITY.replace(b"'subject'", b"'nosuch'"), "folderCode=f1&createDataCards=true"
    )
    assert b"<entities-created>0</entities-created>" in unknown.content
    assert b"<error>Attribute(s) nosuch do not exist" in unknown.content
    no_create = _xml(sandbox, ENTITY, "folderCode=f1")
    assert b"<error>createDataCards=true is required" in no_create.content
    malformed = _xml(sandbox, b"<entityset>", "folderCode=f1&createDataCards=true")
    assert b"<error>Malformed XML" in malformed.content
    wrong = _xml(sandbox, ENTITY, "folderCode=f1&createDataCards=true", password="nope")
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert len(sandbox.datacards()) == 1


def test_xml_import_does_not_expand_entities(sandbox: EsmSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<entityset><entity><template code='T'/>"
        "<attribute code='subject'><value>&x;</value></attribute></entity></entityset>"
    ).encode()
    _xml(sandbox, body, "folderCode=f&createDataCards=true")
    for card in sandbox.datacards():
        assert "TOP-SECRET" not in json.dumps(card)


def test_faults_and_the_control_endpoint(sandbox: EsmSandbox) -> None:
    sandbox.fail_next(503, count=2)
    assert login(sandbox).status_code == 503
    assert login(sandbox).status_code == 503
    assert login(sandbox).status_code == 200
    control = requests.post(
        sandbox.url + "/_sandbox/faults", json={"fail": {"status": 502, "count": 1}}, timeout=5
    )
    assert control.status_code == 200
    assert login(sandbox).status_code == 502
    sandbox.close_next()
    with pytest.raises(requests.ConnectionError):
        login(sandbox)
    sandbox.hang_next(2)
    with pytest.raises(requests.Timeout):
        requests.post(sandbox.url + API + "/users/login", data={}, timeout=0.3)
    state = requests.get(sandbox.url + "/_sandbox/state", timeout=5).json()
    assert state["faults"] == 0
    # The human page and downloads are never faulted.
    sandbox.fail_next(500)
    assert requests.get(sandbox.url + "/", timeout=5).status_code == 200


def test_restart_keeps_datacards_and_continues_ids(start_esm: StartEsm, tmp_path: Path) -> None:
    sandbox = start_esm(tmp_path / "esm")
    create(sandbox, {"subject": "first"}, auth(sandbox))
    sandbox.stop()
    sandbox = start_esm(tmp_path / "esm")
    response = create(sandbox, {"subject": "second"}, auth(sandbox))
    assert response.json()["dataCard"]["dataCardId"] == "2"
    page = requests.get(sandbox.url + "/", timeout=5).text
    assert page.index("second") < page.index("first")  # newest first


def test_stop_releases_a_hanging_request(start_esm: StartEsm) -> None:
    sandbox = start_esm()
    sandbox.hang_next(20)
    with pytest.raises(requests.Timeout):
        requests.get(sandbox.url + API + "/echo?message=x", timeout=0.3)
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 3


def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "ESM_SANDBOX_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [sys.executable, "-m", "esm_sandbox", "--dir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ESM sandbox on http://127.0.0.1:")
        url = first.split()[3]
        answer = requests.post(
            url + API + "/users/login", data={"login": "user", "password": PASSWORD}, timeout=5
        )
        assert answer.status_code == 200
        assert requests.get(url + "/", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert PASSWORD not in out + err


def test_the_wheel_holds_no_sandbox_server(tmp_path: Path) -> None:
    """The sandbox is a development package: the connector's wheel ships none of it."""
    import zipfile

    from conftest import REPO

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("hr_connector-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hr_connector/cli.py" in names
    assert not [n for n in names if "sandbox" in n.lower()], names


def test_the_command_says_how_to_install_the_sandbox_when_it_is_missing() -> None:
    code = (
        "import sys; sys.modules['esm_sandbox'] = None; sys.modules['esm_sandbox.cli'] = None\n"
        "from hr_connector.cli import main; sys.exit(main(['esm-sandbox', '--port', '0']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install -e ./esm_sandbox" in done.stderr
    assert "Traceback" not in done.stderr
