"""The README's "Running under Prefect" steps, run as a newcomer runs them.

A copy of the repository's files (what a fresh clone holds), a fresh virtual environment with the
plain, non-editable ``pip install .`` the README gives, then the README's bash block verbatim,
parsed out of README.md (so the test fails when the README drifts). The only substitutions are
the ones the README tells the reader to make: the server's port (``PREFECT_SERVER_API_PORT``) and
the worker's ``HR_CONNECTOR_HOME`` folder. Prefect keeps its state in a scratch ``PREFECT_HOME``.

What must hold: the deployments are created from the repository root (the source folder does not
shadow the installed package), the worker runs the four first loads, and each ends as the README
says it does with the example's fictional hosts: Failed at ``fetch-hr-file``, the SFTP host name
cannot be resolved. The installed package imports from another folder too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def readme_steps() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running under Prefect", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README: no bash block under 'Running under Prefect'"
    return block.group(1)


def fresh_clone(target: Path) -> Path:
    """The repository's tracked files, as a clone has them (the working tree's versions)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_prefect_steps_work_verbatim_after_a_plain_install(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the repository's files")
    clone = fresh_clone(tmp_path / "clone")
    home = tmp_path / "hr-home"
    port = free_port()
    steps = readme_steps()
    assert "pip install -q ." in steps and "pip install -q -e" not in steps
    assert "PREFECT_SERVER_API_PORT=4200" in steps and "/srv/hr-connector" in steps
    script = steps.replace("PREFECT_SERVER_API_PORT=4200", f"PREFECT_SERVER_API_PORT={port}")
    script = script.replace("/srv/hr-connector", str(home))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "HR_CONNECTOR_", "VIRTUAL_ENV"))
    }
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server and the worker it starts are in its group
    )
    try:
        output, _ = shell.communicate(timeout=900)
        assert shell.returncode == 0, output[-4000:]
        assert "ModuleNotFoundError" not in output, output[-4000:]
        for data_type in ("costcenter", "organization", "title", "workperiod"):
            assert f"acme-{data_type}" in output
        venv_python = clone / ".venv" / "bin" / "python"
        # the flow runs the README started: each ends Failed at fetch-hr-file, as it says
        query = (
            "import json; from prefect.client.orchestration import get_client\n"
            "with get_client(sync_client=True) as c:\n"
            "    runs = c.read_flow_runs()\n"
            "    print(json.dumps([[r.name, r.state_type.value, r.state.message or ''] "
            "for r in runs]))\n"
        )
        api = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
        deadline = time.monotonic() + 300
        while True:
            answer = subprocess.run(
                [venv_python, "-c", query], env=api, capture_output=True, text=True, timeout=120
            )
            runs = json.loads(answer.stdout or "[]")
            if len(runs) == 4 and all(state in ("FAILED", "COMPLETED") for _, state, _ in runs):
                break
            assert time.monotonic() < deadline, (runs, answer.stderr[-2000:])
            time.sleep(3)
        for name, state, message in runs:
            assert state == "FAILED" and "(full load)" in name, (name, state, message)
            assert "sftp.acme.example.com" in message and "cannot be resolved" in message
        # the installed connector, from any folder: no source checkout needed
        elsewhere = subprocess.run(
            [venv_python, "-c", "import hr_connector.flows.hr_import as f; print(f.__file__)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "site-packages" in elsewhere.stdout, elsewhere.stderr
        assert home.is_dir() and not (clone / "acme").exists()  # files only where chosen
    finally:
        # the server and the worker the README started (nohup, &) outlive the shell: end them,
        # and kill what is still there after a grace period (a worker whose server is gone
        # keeps retrying it)
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(shell.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(grace)
        shell.wait(timeout=60)
