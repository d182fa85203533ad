"""Dry runs that write nothing, a trickling ESM, SIGTERM, ``data/archive`` as a symlink out of
the working directory, and a login answer quoting the request, on the real wrapper."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hr_connector.clients.esm import EsmRestClient, EsmUnavailable
from hr_connector.params import WebApiSettings

from conftest import ESM_USER, SAMPLES, WEBAPI_PASSWORD, base_raw, place
from freeze_points import frozen_at
from run_helpers import Snapshot, engine_env, is_stopped, run_plain, seed_full_run, start_engine


def _start(
    workdir: Path, params: dict[str, Any], *args: str, **env: str
) -> subprocess.Popen[bytes]:
    return start_engine(workdir, params, *args, env=engine_env(**env))


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if not p.is_dir() or p.is_symlink()
    } | {str(p.relative_to(root)) + "/": (0, 0) for p in root.rglob("*") if p.is_dir()}


@contextlib.contextmanager
def trickling_server(byte_every: float = 0.5, lasts: float = 60.0) -> Iterator[str]:
    """An HTTP server that answers every request one byte at a time, for ``lasts`` seconds."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    answer += b" " * 100_000
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            end = time.monotonic() + lasts
            for i in range(len(answer)):
                if stop.is_set() or time.monotonic() > end:
                    return
                try:
                    conn.sendall(answer[i : i + 1])
                except OSError:
                    return
                stop.wait(byte_every)

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


# --- a dry run writes and sends nothing -----------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "parameter"])
@pytest.mark.parametrize("params", ["valid", "unusable"])
def test_a_dry_run_writes_and_sends_nothing(workdir: Path, esm: Any, how: str, params: str) -> None:
    seed_full_run(workdir, "workperiod")
    place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
    raw = base_raw("workperiod", run_type="partial", webapi_url=esm.url, taskid=3)
    if params == "unusable":
        raw["update_limit"] = "lots"
    if how == "parameter":
        raw["dry_run"] = True
    before = _files(workdir)
    cards = len(esm.datacards())
    proc = _start(workdir, raw, *(["--dry-run"] if how == "flag" else []))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (0 if params == "valid" else 1), err
    assert b"Dry run" in out
    assert _files(workdir) == before  # no log, no lock, no admin task, output kept
    assert len(esm.datacards()) == cards
    assert b"Traceback" not in err


def test_a_dry_run_in_a_fresh_directory_creates_nothing(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    before = _files(workdir)
    proc = _start(workdir, base_raw("title", taskid=3), "--dry-run")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert _files(workdir) == before
    assert not (workdir / "data").exists()


# --- a trickling ESM does not keep the run alive --------------------------------------------------


def test_a_trickling_esm_is_cut_at_the_timeout() -> None:
    with trickling_server() as url:
        settings = WebApiSettings(
            webapi_url=url,
            webapi_user=ESM_USER,
            webapi_password=WEBAPI_PASSWORD,
            report_template_code="T",
            webapi_timeout_seconds=2,
        )
        started = time.monotonic()
        with pytest.raises(EsmUnavailable) as info:
            EsmRestClient(settings).login()
        elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert "within 2 s" in str(info.value)


def test_a_run_against_a_trickling_esm_ends_in_time(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    with trickling_server() as url:
        raw = base_raw("title", taskid=3, webapi_url=url, webapi_timeout_seconds=2)
        started = time.monotonic()
        proc = _start(workdir, raw)
        _, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, err  # the data side completed; the task is kept to re-send
    assert elapsed < 15, elapsed
    assert b"could NOT be filed" in err
    assert (workdir / "3_admin_task.json").exists()


# --- SIGTERM ends with one line and keeps the admin task ------------------------------------------


def _wait_stopped(proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not is_stopped(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)


def test_sigterm_during_the_data_steps_interrupts_cleanly(workdir: Path) -> None:
    old = seed_full_run(workdir, "workperiod")
    place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
    raw = base_raw("workperiod", run_type="partial", taskid=3)
    proc = _start(workdir, raw, **frozen_at("compared"))
    _wait_stopped(proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in err
    assert err.decode().count("SIGTERM") >= 1
    assert [line for line in err.decode().splitlines() if "stopped by SIGTERM" in line]
    assert out == b""
    snap = Snapshot.of(workdir, "workperiod")
    assert snap.archives == old.archives and snap.output is None  # stale output removed
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert task["decision"] == "interrupted" and "SIGTERM" in task["description"]


def test_sigterm_while_filing_keeps_the_task_and_the_changes(workdir: Path) -> None:
    seed_full_run(workdir, "workperiod")
    place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
    with trickling_server() as url:
        raw = base_raw("workperiod", run_type="partial", taskid=3, webapi_url=url)
        raw["webapi_timeout_seconds"] = 60
        (workdir / "3_admin_task.json").unlink()  # the seed run's: wait for this run's own
        proc = _start(workdir, raw)
        deadline = time.monotonic() + 60
        while not (workdir / "3_admin_task.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.5)  # in the login call now, which trickles for a minute
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    assert proc.returncode == 1, err
    assert took < 5, took
    assert b"Traceback" not in err and b"stopped by SIGTERM" in err
    assert out == b""  # not handed over
    assert (workdir / "3_admin_task.json").exists()
    # the changes were committed but not handed over: the next run outputs them again
    rerun = run_plain(workdir, data_type="workperiod", run_type="partial")
    assert rerun.counts.output > 0


# --- data/archive leading out of the working directory --------------------------------------------


@pytest.mark.parametrize("link", ["data", "data/archive"])
def test_an_archive_folder_that_leaves_the_workdir_is_refused(
    tmp_path: Path, workdir: Path, link: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    place(workdir, SAMPLES / "title" / "title.csv")
    (workdir / link).parent.mkdir(parents=True, exist_ok=True)
    (workdir / link).symlink_to(outside, target_is_directory=True)
    proc = _start(workdir, base_raw("title", taskid=3))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert list(outside.rglob("*")) == []  # no archive, no lock written there
    assert f"'{link}' in the working directory is a symlink".encode() in err
    assert not (workdir / "3_output.json").exists()


# --- a login answer that quotes the request never leaks the password ------------------------------

#: Characters that every encoding writes differently.
SPICY_PASSWORD = 'Pä$$ w0rd&=/"+\\ü%'


@contextlib.contextmanager
def echoing_proxy() -> Iterator[str]:
    """A 'proxy' whose error page quotes the request: body, headers, and re-encodings of it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            fields = dict(urllib.parse.parse_qsl(body))
            password = fields.get("password", "")
            page = (
                f"ECHO-MARKER <pre>{body}</pre> json={json.dumps(fields)} "
                f"html={html.escape(password)} "
                f"basic={base64.b64encode(f'{ESM_USER}:{password}'.encode()).decode()} "
                f"headers={dict(self.headers)}"
            ).encode()
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _password_forms(password: str) -> list[str]:
    pair = f"{ESM_USER}:{password}".encode()
    return [
        password,
        urllib.parse.quote_plus(password),
        urllib.parse.quote(password, safe=""),
        json.dumps(password)[1:-1],
        json.dumps(password, ensure_ascii=False)[1:-1],
        html.escape(password),
        base64.b64encode(pair).decode(),
        base64.b64encode(password.encode()).decode(),
    ]


def test_a_login_page_quoting_the_request_leaks_no_password_form(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    with echoing_proxy() as url:
        raw = base_raw(
            "title", taskid=3, webapi_url=url, webapi_password=SPICY_PASSWORD, debug=True
        )
        proc = _start(workdir, raw)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # completed; the admin task could not be filed
    written = err.decode() + out.decode()
    for path in workdir.rglob("*"):
        if path.is_file() and path.suffix in (".txt", ".json", ".md"):
            written += path.read_text(encoding="utf-8", errors="replace")
    assert "could NOT be filed" in err.decode()
    assert "ECHO-MARKER" not in written  # no response body of the login call, anywhere
    leaked = [form for form in _password_forms(SPICY_PASSWORD) if form in written]
    assert leaked == []


def test_redaction_covers_the_encoded_forms() -> None:
    from hr_connector.runlog import redact, register_credentials

    secret = "Zq9!ä Secret&x=1/2"
    register_credentials(ESM_USER, secret)
    for form in _password_forms(secret):
        assert form not in redact(f"before {form} after"), form
