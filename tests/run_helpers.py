"""Shared helpers of the tests that run the connector (plain runs, the EPE script as the
engine starts it, snapshots of what a run leaves behind)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import ConnectorParams, parse_params
from hr_connector.pipeline import hr_import, started
from hr_connector.report import ReportSink
from hr_connector.sinks import LocalOnlySink
from hr_connector.steps import PLAIN_STEPS, Steps
from hr_connector.workdir import WorkDir

from conftest import ESM_USER, SAMPLES, base_raw, place

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deployments" / "epe" / "IGAConnector.py"
MB = 1024 * 1024
#: Peak resident memory a run may use on a hostile file (the issue's "bounded memory").
MEMORY_BOUND_MB = 1024
#: Address-space cap for measured subprocess runs: a runaway parser dies with MemoryError
#: instead of taking the test machine down. A healthy run needs well under half of it.
ADDRESS_SPACE_CAP = 3 * 1024 * MB
#: What a leaked /etc/passwd looks like (first line on every Linux).
PASSWD_MARK = "root:x:0:0"


def script_env(**extra: str) -> dict[str, str]:
    """The environment the engine gives the script: no Prefect API, no EPE variables, this
    virtual environment first on PATH; the script chooses its orchestration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "EPE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def engine_env(**extra: str) -> dict[str, str]:
    """:func:`script_env` with plain orchestration."""
    return script_env(**{"HR_CONNECTOR_ORCHESTRATION": "plain", **extra})


@dataclass
class Proc:
    """A finished subprocess run with its own peak memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path,
    stdin_text: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 120,
    address_space: int = ADDRESS_SPACE_CAP,
) -> Proc:
    """Run ``cmd`` and return its exit code, output, wall time and peak RSS.

    The peak RSS is the child's own ``ru_maxrss`` from ``os.wait4``: the same struct as
    ``resource.getrusage(RUSAGE_CHILDREN)``, but for this one child, whereas RUSAGE_CHILDREN
    keeps the maximum over every child the test session ever waited for. The child's address
    space is capped with ``prlimit`` right after the start (``preexec_fn`` is not safe with the
    threads some tests start runs from).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env or engine_env(),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
        )
        with contextlib.suppress(ProcessLookupError):  # already gone: nothing to cap
            resource.prlimit(proc.pid, resource.RLIMIT_AS, (address_space, address_space))
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin_text.encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise AssertionError(f"{cmd[0]} did not finish within {timeout} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Proc(
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        )


def epe(workdir: Path, params: dict[str, Any], **kwargs: Any) -> Proc:
    """IGAConnector.py as the engine runs it: parameters on stdin, cwd = working directory."""
    return run_measured([str(SCRIPT)], cwd=workdir, stdin_text=json.dumps(params) + "\n", **kwargs)


def run_import(
    params: ConnectorParams, workdir: WorkDir, sink: ReportSink, steps: Steps = PLAIN_STEPS
) -> ImportResult:
    """One run of the sequence, without a log file."""
    with started(params, workdir, sink, steps) as run:
        hr_import(run)
    return run.result


def run_plain(workdir: Path, task_id: str = "3", **raw: Any) -> ImportResult:
    """One run with the plain steps and no remote report (the admin task stays local)."""
    params = parse_params(base_raw(**raw))
    return run_import(params, WorkDir(workdir, task_id, params.data_type), LocalOnlySink())


@dataclass(frozen=True)
class Snapshot:
    """The bytes of a task's output and archives (None: the file does not exist)."""

    output: bytes | None
    archive: bytes | None
    error_archive: bytes | None

    @classmethod
    def of(cls, workdir: Path, data_type: str = "title", task_id: str = "3") -> Snapshot:
        wd = WorkDir(workdir, task_id, data_type)
        files = (wd.output, wd.archive, wd.error_archive)
        return cls(*(p.read_bytes() if p.exists() else None for p in files))

    @property
    def archives(self) -> tuple[bytes | None, bytes | None]:
        return self.archive, self.error_archive


def seed_full_run(workdir: Path, data_type: str = "title", task_id: str = "3") -> Snapshot:
    """A completed full load of the sample, the state every bad file is compared with."""
    place(workdir, SAMPLES / data_type / f"{data_type}.csv")
    result = run_plain(workdir, task_id, data_type=data_type)
    assert result.decision is Decision.COMPLETED
    snap = Snapshot.of(workdir, data_type, task_id)
    assert snap.output and snap.archive and snap.error_archive
    return snap


def leftovers(workdir: Path) -> list[str]:
    """Temporary files and commit journals of the atomic writes."""
    return sorted(
        str(p.relative_to(workdir))
        for p in workdir.rglob(".*")
        if ".tmp-" in p.name or p.name.endswith("_commit.json")
    )


def everything_written(workdir: Path, *extra: str) -> str:
    """All text the run left behind: every file below the workdir (not the input) + extras."""
    parts = list(extra)
    for path in sorted(workdir.rglob("*")):
        if path.is_file() and path.parent.name != "in":
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def assert_interrupted_cleanly(workdir: Path, before: Snapshot, data_type: str = "title") -> None:
    """Nothing to import, the archives exactly as the last completed run left them."""
    after = Snapshot.of(workdir, data_type)
    assert after.output is None, "an interrupted run must remove the earlier output"
    assert after.archives == before.archives, "an interrupted run must not touch the archives"
    assert leftovers(workdir) == []


def place_bytes(workdir: Path, name: str, content: bytes, folder: str = "in") -> Path:
    target = workdir / folder
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    path = target / name
    path.write_bytes(content)
    return path


def fmt_of(name: str) -> str:
    return name.rsplit(".", 1)[1]


def engine_run(
    workdir: Path,
    params: dict[str, Any] | str,
    *,
    mappings: dict[str, Any] | None = None,
    args: list[str] | None = None,
    script: Path = SCRIPT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The EPE script as the engine starts it: the parameters (and mappings) on stdin."""
    text = params if isinstance(params, str) else json.dumps(params)
    if mappings is not None:
        text += "\n" + json.dumps(mappings)
    return subprocess.run(
        [str(script), *(args or [])],
        input=text + "\n",
        cwd=workdir,
        env=env or script_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def epe_raw(esm: Any, **extra: Any) -> dict[str, Any]:
    """The parameters of a run that files its admin task in ``esm`` (task id 3)."""
    return base_raw(webapi_url=esm.url, webapi_user=ESM_USER, **{"taskid": 3, **extra})


#: Rows of the big workperiod file (:func:`workperiod_file`) unless told otherwise.
BIG_FILE_ROWS = 100_000


WP_HEADER = (
    "row_id;employee_number;last_name;first_name;employment_start_date;title_id;manager_id;"
    "org_unit_id\n"
)


def workperiod_file(path: Path, day: int, rows: int = BIG_FILE_ROWS) -> None:
    """A big workperiod file; day 2 changes every 10th row, drops every 97th, adds 500."""
    lines = [WP_HEADER]
    for i in range(rows + (500 if day == 2 else 0)):
        if day == 2 and i < rows and i % 97 == 0:
            continue
        title = (i + (1 if day == 2 and i % 10 == 0 else 0)) % 500
        lines.append(
            f"WP-{i:07d};E{i:07d};Sukunimi{i};Etunimi{i};2025-01-01;T{title:03d};"
            f"E{i // 10 * 10:07d};OU{i % 300:04d}\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def is_stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (SIGSTOP, or a checkpoint that stops it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def start_engine(
    workdir: Path,
    params: dict[str, Any],
    *args: str,
    env: dict[str, str] | None = None,
    stdout: int = subprocess.PIPE,
    stderr: int = subprocess.PIPE,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """IGAConnector.py started as the engine starts it (parameters on stdin), not waited for."""
    proc = subprocess.Popen(
        [str(SCRIPT), *args],
        cwd=workdir,
        env=env or engine_env(),
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=stderr,
        text=text,
    )
    assert proc.stdin is not None
    line = json.dumps(params) + "\n"
    proc.stdin.write(line if text else line.encode())
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def epe_day_one_then_next_file(workdir: Path, esm: Any) -> None:
    """A completed EPE run of the day-one workperiods, then the next day's file in place."""
    place(workdir, SAMPLES / "workperiod" / "workperiod.csv")
    assert engine_run(workdir, epe_raw(esm)).returncode == 0
    place(workdir, SAMPLES / "workperiod" / "next_day" / "workperiod.csv")
