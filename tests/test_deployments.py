"""prefect.yaml for real: deploy --all, a process worker, runs triggered through the API.

Once against the session's Prefect server (SQLite), once against a Prefect server on
PostgreSQL (skipped, with the reason, where PostgreSQL cannot be started). Two deployments run
at once, each in its own working directory; an update-limit stop is approved by a rerun with
``approved_changeset`` without touching the deployment; secrets come from a Secret block.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import WEBAPI_PASSWORD, place
from prefect_helpers import (
    PREFECT,
    STEPS,
    artifacts_of,
    cli_env,
    eventually,
    prefect_cli,
    process_worker,
    run_params,
    stop_group,
    task_run_names,
    trigger,
    wait_final,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def scenario(api_url: str, esm: Any, tmp: Path, samples: Path) -> None:
    """Deploy, run two deployments in parallel, stop one at the update limit and approve it."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        with contextlib.suppress(Exception):
            prefect_cli(api_url, "work-pool", "create", "hr-connector", "--type", "process")
        out = prefect_cli(api_url, "deploy", "--all")
        assert "acme-workperiod" in out
        Secret(value=WEBAPI_PASSWORD).save("acme-webapi-password", overwrite=True)

        titles, wps = tmp / "title", tmp / "workperiod"
        place(titles, samples / "title" / "title.csv", "title")
        place(wps, samples / "workperiod" / "workperiod.json", "workperiod")
        with process_worker(api_url):
            first = [
                trigger("hr-import-title/acme-title", titles, "t1", run_params(esm, "title")),
                trigger(
                    "hr-import-workperiod/acme-workperiod",
                    wps,
                    "w1",
                    run_params(esm, "workperiod", "json"),
                ),
            ]
            runs = wait_final([r.id for r in first])
            assert all(r.state.is_completed() for r in runs), [r.state.message for r in runs]
            for run in runs:
                assert eventually(lambda run=run: task_run_names(run.id) >= STEPS)
                assert eventually(lambda run=run: len(artifacts_of(run.id)) >= 2)
            assert len(json.loads((titles / "t1_output.json").read_text("utf-8"))) == 13
            assert len(json.loads((wps / "w1_output.json").read_text("utf-8"))) == 34

            place(wps, samples / "workperiod" / "next_day" / "workperiod.json", "workperiod")
            partial = run_params(
                esm,
                "workperiod",
                "json",
                run_type="partial",
                update_limit=3,
                wait_for_approval=False,  # the EPE-style route; test_approval.py: the Prefect one
            )
            stopped = wait_final(
                [trigger("hr-import-workperiod/acme-workperiod", wps, "w1", partial).id]
            )[0]
            assert stopped.state.is_failed()
            assert "approved_changeset" in stopped.state.message
            digest = stopped.state.message.split("approved_changeset '")[1].split("'")[0]
            approved = wait_final(
                [
                    trigger(
                        "hr-import-workperiod/acme-workperiod",
                        wps,
                        "w1",
                        partial,
                        approved_changeset=digest,
                    ).id
                ]
            )[0]
            assert approved.state.is_completed(), approved.state.message
        assert len(json.loads((wps / "w1_output.json").read_text("utf-8"))) == 4
        with get_client(sync_client=True) as client:
            for run in [*runs, stopped, approved]:
                stored = json.dumps(client.read_flow_run(run.id).parameters)
                assert WEBAPI_PASSWORD not in stored


def test_deployments_on_the_sqlite_server(
    prefect_server: str, esm: Any, tmp_path: Path, samples: Path
) -> None:
    scenario(prefect_server, esm, tmp_path, samples)


# --- PostgreSQL ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists():
            return folder
    return None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback, run as the 'postgres' system user."""
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL is not installed (./dev test installs it on Debian as root)")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("starting PostgreSQL here needs root (to run it as the postgres user)")
    base = Path(tempfile.mkdtemp(prefix="hr-connector-pg-"))  # pytest's tmp is 0700 (root)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    for p in (base, sock):
        shutil.chown(p, "postgres", "postgres")
    os.chmod(base, 0o755)
    port = _free_port()

    def as_pg(*cmd: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120
        )

    as_pg(str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    as_pg(
        str(pg / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-w",
        "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1",
        "start",
    )
    try:
        psql = [str(pg / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        as_pg(*psql, "-c", "CREATE DATABASE prefect")
        as_pg(*psql, "-d", "prefect", "-c", "CREATE EXTENSION IF NOT EXISTS pg_trgm")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        as_pg(str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def prefect_on_postgres(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = cli_env("")
    env.pop("PREFECT_API_URL")
    env.update(
        PREFECT_HOME=str(tmp_path_factory.mktemp("prefect-pg-home")),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=postgres,
    )
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Prefect server on PostgreSQL did not start")
            time.sleep(1)
        yield url
    finally:
        stop_group(server, grace=30)


def test_deployments_on_a_postgresql_server(
    prefect_on_postgres: str, esm: Any, tmp_path: Path, samples: Path
) -> None:
    scenario(prefect_on_postgres, esm, tmp_path, samples)
