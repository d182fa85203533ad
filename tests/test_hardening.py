"""Hardening: paths cannot leave the working directory, files holding personal data are
private, no shell is ever run, and the ESM's TLS certificate is verified unless the operator opts
out (and that opt-out is logged).

Remote SFTP names (``/``, ``\\``, NUL, control characters, leading dots, non-regular files) are
covered against a real sshd in ``tests/test_sftp.py::test_unsafe_and_non_regular_names_are_never_
matched`` and ``test_unsafe_name``; not repeated here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import ipaddress
import json
import logging
import os
import re
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hr_connector import epe
from hr_connector.clients.esm import EsmError, EsmRestClient, EsmXmlClient
from hr_connector.outcome import Decision
from hr_connector.params import WebApiSettings, parse_params
from hr_connector.runner import run_plain as run_with_log

from conftest import REPO, SAMPLES, WEBAPI_PASSWORD, base_raw, place
from run_helpers import PASSWD_MARK, everything_written, run_plain

PRODUCTION = ["src/hr_connector", "flows", "tasks", "deployments"]


# --------------------------------------------------------------------------------------------
# file_path cannot escape the working directory
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_path",
    ["../*.csv", "in/../../*.csv", "in/../../../etc/passwd", "/etc/passwd", "/etc/*", "/tmp/*.csv"],
)
def test_file_path_outside_the_working_directory_is_unsafe(workdir: Path, file_path: str) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    (workdir.parent / "outside.csv").write_text("title_id;title_name\nX1;Outside\n", "utf-8")
    result = run_plain(workdir, data_type="title", file_path=file_path)
    assert result.interruption and result.interruption.case == "unsafe_path"
    assert f"'{file_path}'" in result.interruption.message
    assert "outside the working directory" in result.interruption.message
    assert not (workdir / "3_output.json").exists()
    assert PASSWD_MARK not in everything_written(workdir)


def test_absolute_file_path_inside_the_working_directory_is_accepted(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    result = run_plain(workdir, data_type="title", file_path=str(workdir / "in" / "*.csv"))
    assert result.decision is Decision.COMPLETED


@pytest.mark.parametrize("target", ["/etc/passwd", "outside-file", "outside-dir"])
def test_symlink_leaving_the_working_directory_is_refused(
    workdir: Path, tmp_path: Path, target: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "title.csv").write_text("title_id;title_name\nX1;Outside\n", "utf-8")
    if target == "outside-dir":  # the data folder itself points elsewhere
        (workdir / "in").symlink_to(outside, target_is_directory=True)
    else:
        (workdir / "in").mkdir()
        source = Path("/etc/passwd") if target == "/etc/passwd" else outside / "title.csv"
        (workdir / "in" / "title.csv").symlink_to(source)
    result = run_plain(workdir, data_type="title")
    assert result.interruption and result.interruption.case == "unsafe_file"
    shown = "in" if target == "outside-dir" else "in/title.csv"
    assert f"'{shown}' in the working directory is a symlink" in result.interruption.message
    assert not (workdir / "3_output.json").exists()
    written = everything_written(workdir)
    assert PASSWD_MARK not in written and "Outside" not in written


def test_a_symlink_is_refused_even_when_it_points_inside_the_working_directory(
    workdir: Path,
) -> None:
    place(workdir, SAMPLES / "title" / "title.csv", "delivered")
    (workdir / "in").mkdir()
    (workdir / "in" / "current.csv").symlink_to(workdir / "delivered" / "title.csv")
    result = run_plain(workdir, data_type="title")
    assert result.interruption and result.interruption.case == "unsafe_file"
    assert "'in/current.csv' in the working directory is a symlink" in result.interruption.message


@pytest.mark.parametrize("task_id", ["../../etc/evil", "/tmp/evil", ".hidden", "a b", "x;rm -rf"])
def test_task_id_cannot_name_a_path(workdir: Path, task_id: str) -> None:
    params = {**base_raw(data_type="title"), "taskid": task_id}
    err = io.StringIO()
    code = epe.main(["--workdir", str(workdir)], stdin=io.StringIO(json.dumps(params)), stderr=err)
    assert code == 2
    assert "is not a plain name" in err.getvalue()
    assert list(workdir.iterdir()) == []


def test_data_type_cannot_name_a_path(workdir: Path, tmp_path: Path) -> None:
    params = {**base_raw(data_type="../../evil"), "taskid": 3}
    before = set(tmp_path.rglob("*"))
    code = epe.main(
        ["--workdir", str(workdir)],
        stdin=io.StringIO(json.dumps(params)),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert code == 1
    created = set(tmp_path.rglob("*")) - before
    assert created and all(workdir in p.parents for p in created), created
    assert not any("evil" in p.name for p in created)


# --------------------------------------------------------------------------------------------
# Files holding personal data are 0600
# --------------------------------------------------------------------------------------------


def _modes(workdir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(workdir)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in workdir.rglob("*")
        if p.is_file() and p.parent.name != "in"
    }


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_outputs_archives_logs_and_admin_tasks_are_0600(workdir: Path, umask: int) -> None:
    place(workdir, SAMPLES / "workperiod" / "workperiod.csv")
    with _umask(umask):
        completed = run_with_log(parse_params(base_raw()), workdir, "3")  # with the log file
        place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
        interrupted = run_with_log(
            parse_params(base_raw(run_type="partial", update_limit=1)), workdir, "4"
        )
    assert completed.decision is Decision.COMPLETED
    assert interrupted.decision is Decision.INTERRUPTED
    modes = _modes(workdir)
    expected = {
        "3_output.json",
        "3_log.txt",
        "3_admin_task.json",
        "3_admin_task.md",
        "4_log.txt",
        "4_admin_task.json",
        "4_admin_task.md",
        "data/archive/workperiod_archive.json",
        "data/archive/error_workperiod_archive.json",
        "data/archive/.workperiod.lock",
    }
    assert expected <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}


def test_an_existing_world_readable_log_is_made_private(workdir: Path) -> None:
    log = workdir / "3_log.txt"
    log.write_text("old vendor log\n", encoding="utf-8")
    log.chmod(0o644)
    place(workdir, SAMPLES / "title" / "title.csv")
    run_with_log(parse_params(base_raw(data_type="title")), workdir, "3")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_planted_output_symlink_is_replaced_not_followed(workdir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite\n", encoding="utf-8")
    (workdir / "3_output.json").symlink_to(victim)
    place(workdir, SAMPLES / "title" / "title.csv")
    assert run_plain(workdir, data_type="title").decision is Decision.COMPLETED
    assert victim.read_text(encoding="utf-8") == "do not overwrite\n"
    assert not (workdir / "3_output.json").is_symlink()
    assert stat.S_IMODE((workdir / "3_output.json").stat().st_mode) == 0o600


def test_a_planted_archive_symlink_is_refused_not_followed(workdir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite\n", encoding="utf-8")
    (workdir / "data" / "archive").mkdir(parents=True)
    (workdir / "data" / "archive" / "title_archive.json").symlink_to(victim)
    place(workdir, SAMPLES / "title" / "title.csv")
    result = run_plain(workdir, data_type="title")
    assert result.interruption is not None and result.interruption.case == "unsafe_file"
    assert "'data/archive/title_archive.json' in the" in result.interruption.message
    assert victim.read_text(encoding="utf-8") == "do not overwrite\n"


def test_a_planted_log_symlink_is_not_followed(workdir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("do not append\n", encoding="utf-8")
    (workdir / "3_log.txt").symlink_to(victim)
    place(workdir, SAMPLES / "title" / "title.csv")
    run_with_log(parse_params(base_raw(data_type="title")), workdir, "3")
    assert victim.read_text(encoding="utf-8") == "do not append\n"


# --------------------------------------------------------------------------------------------
# No shell, ever
# --------------------------------------------------------------------------------------------

FORBIDDEN = {
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "os.system": re.compile(r"\bos\.system\s*\("),
    "os.popen": re.compile(r"\bos\.popen\s*\("),
    "os.exec*/spawn*": re.compile(r"\bos\.(exec|spawn)\w*\s*\("),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "pickle": re.compile(r"\bpickle\.loads?\s*\("),
}


def test_production_code_never_runs_a_shell() -> None:
    files = [p for top in PRODUCTION for p in (REPO / top).rglob("*.py")]
    assert len(files) > 20 and REPO / "deployments/epe/IGAConnector.py" in files
    hits = [
        f"{path.relative_to(REPO)}:{n}: {what}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, pattern in FORBIDDEN.items()
        if pattern.search(line.split("#", 1)[0])
    ]
    assert hits == []


# --------------------------------------------------------------------------------------------
# TLS of the ESM Web API
# --------------------------------------------------------------------------------------------


def _settings(url: str, **extra: Any) -> WebApiSettings:
    return WebApiSettings.model_validate(
        {
            "webapi_url": url,
            "webapi_user": "iga.webapi",
            "webapi_password": WEBAPI_PASSWORD,
            "report_template_code": "IGAWorkflowTaskInformation",
            "webapi_timeout_seconds": 5,
            **extra,
        }
    )


def test_tls_verification_is_on_by_default_and_a_ca_bundle_is_used(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read here", encoding="utf-8")
    for client_class in (EsmRestClient, EsmXmlClient):
        assert client_class(_settings("https://esm.example.com"))._http.verify is True
        with_ca = client_class(_settings("https://esm.example.com", webapi_ca_bundle=str(bundle)))
        assert with_ca._http.verify == str(bundle)


def test_turning_tls_verification_off_is_an_explicit_logged_opt_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="hr_connector.clients.esm")
    assert parse_params(base_raw(webapi_verify_tls="false")).webapi.webapi_verify_tls is False
    client = EsmRestClient(_settings("https://esm.example.com", webapi_verify_tls=False))
    assert client._http.verify is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("TLS verification is OFF" in r.getMessage() for r in warnings)
    assert "esm.example.com" in caplog.text


def test_tls_opt_out_is_in_the_run_log(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    raw = base_raw(data_type="title", webapi_url="https://127.0.0.1:9", webapi_verify_tls=False)
    run_with_log(parse_params(raw), workdir, "3")
    log = (workdir / "3_log.txt").read_text(encoding="utf-8")
    assert re.search(r"WARNING .*TLS verification is OFF", log)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hr-connector test ESM")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "esm.pem", folder / "esm.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"message": "Bad credentials"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def https_esm(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server with a self-signed certificate that answers every POST with 401."""
    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_an_untrusted_certificate_is_refused_and_a_ca_bundle_makes_it_trusted(
    https_esm: tuple[str, Path],
) -> None:
    url, cert = https_esm
    with pytest.raises(EsmError) as refused:
        EsmRestClient(_settings(url)).login()
    assert "is not trusted" in str(refused.value) and "webapi_ca_bundle" in str(refused.value)
    # with the CA bundle the TLS handshake succeeds: the server's own answer (401) comes back
    with pytest.raises(EsmError) as answered:
        EsmRestClient(_settings(url, webapi_ca_bundle=str(cert))).login()
    assert "401" in str(answered.value) and "not trusted" not in str(answered.value)
    with pytest.raises(EsmError) as opted_out:
        EsmRestClient(_settings(url, webapi_verify_tls=False)).login()
    assert "401" in str(opted_out.value)
    for error in (refused.value, answered.value, opted_out.value):
        assert WEBAPI_PASSWORD not in f"{error} {error!r} {error.figures}"
