"""Concurrent runs: one run per data type and working directory, never interleaved
writes; a lock left by a dead process never blocks; other data types run side by side."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision
from hr_connector.workdir import WorkDir, run_lock

from conftest import ESM_USER, SAMPLES, base_raw, place
from run_helpers import Proc, epe, leftovers, run_plain, start_engine, workperiod_file

ROWS = 250_000


def _wait_for_lock_holder(workdir: Path, pid: int, data_type: str = "workperiod") -> None:
    lock = workdir / "data" / "archive" / f".{data_type}.lock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if lock.exists() and f"pid {pid}," in lock.read_bytes().decode("utf-8", "replace"):
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} never took the lock")


def _popen(workdir: Path, params: dict[str, Any]) -> subprocess.Popen[str]:
    return start_engine(workdir, params, text=True)


def _finish(proc: subprocess.Popen[str]) -> Proc:
    assert proc.stdout is not None and proc.stderr is not None
    code = proc.wait(timeout=120)
    return Proc(code, proc.stdout.read(), proc.stderr.read(), 0.0, 0.0)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_second_run_of_the_same_data_type_refuses_and_the_first_completes(workdir: Path) -> None:
    # 250k rows: the first run holds the lock ~2 s; the ESM is unreachable (127.0.0.1:9), which
    # keeps the run short after the lock (no 20 MB attachments) and does not change the decision
    workperiod_file(workdir / "in" / "wp.csv", day=1, rows=ROWS)
    params = base_raw(update_limit=10**6, taskid=3)
    first = _popen(workdir, params)
    _wait_for_lock_holder(workdir, first.pid)
    second = _finish(_popen(workdir, params))  # the same scheduled task, started again
    done = _finish(first)

    assert second.returncode == 1, second.stderr
    assert "Another workperiod run is active in this working directory" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr and second.stdout == ""

    assert done.returncode == 0, done.stderr
    output = Path(done.stdout.strip().splitlines()[-1])
    assert output == workdir.resolve() / "3_output.json"
    rows = json.loads(output.read_text(encoding="utf-8"))
    archive = json.loads(
        (workdir / "data/archive/workperiod_archive.json").read_text(encoding="utf-8")
    )
    assert len(rows) == len(archive) == ROWS  # whole, valid JSON: nothing interleaved
    assert leftovers(workdir) == []
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert task["decision"] == "completed"  # the refused run did not overwrite the first's


def test_refused_run_touches_none_of_the_active_runs_files(workdir: Path) -> None:
    place(workdir, SAMPLES / "title" / "title.csv")
    run_plain(workdir, data_type="title")
    before = {p: p.read_bytes() for p in (workdir / "data" / "archive").glob("*.json")}
    output = (workdir / "3_output.json").read_bytes()
    with run_lock(WorkDir(workdir, "other", "title")):  # another task holds the title lock
        refused = run_plain(workdir, "4", data_type="title")
    assert refused.interruption and refused.interruption.case == "run_locked"
    assert "task other" in refused.interruption.message
    assert {p: p.read_bytes() for p in before} == before
    assert (workdir / "3_output.json").read_bytes() == output
    assert not (workdir / "4_output.json").exists()
    assert json.loads((workdir / "4_admin_task.json").read_text("utf-8"))["case"] == "run_locked"


@pytest.mark.parametrize("content", ["pid 999999, task 3", "", "garbage \x00\xff"])
def test_stale_lock_file_does_not_block_the_next_run(workdir: Path, content: str) -> None:
    lock = workdir / "data" / "archive" / ".title.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(content, encoding="utf-8", errors="replace")
    place(workdir, SAMPLES / "title" / "title.csv")
    result = run_plain(workdir, data_type="title")
    assert result.decision is Decision.COMPLETED, result.interruption


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_lock_of_a_killed_run_frees_itself(workdir: Path) -> None:
    workperiod_file(workdir / "in" / "wp.csv", day=1)
    params = base_raw(update_limit=10**6, taskid=3)
    victim = _popen(workdir, params)
    _wait_for_lock_holder(workdir, victim.pid)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    lock = workdir / "data" / "archive" / ".workperiod.lock"
    assert f"pid {victim.pid}" in lock.read_text(encoding="utf-8")  # the file stays behind
    result = run_plain(workdir, data_type="workperiod", update_limit=10**6)
    assert result.decision is Decision.COMPLETED, result.interruption
    assert result.counts.output == 100_000


def test_other_data_type_runs_while_one_holds_its_lock(workdir: Path, esm: Any) -> None:
    place(workdir, SAMPLES / "title" / "title.csv", "titles")
    params = base_raw(
        data_type="title",
        file_path="titles/*.csv",
        webapi_url=esm.url,
        webapi_user=ESM_USER,
        taskid=22,
    )
    with run_lock(WorkDir(workdir, "21", "workperiod")):
        proc = epe(workdir, params)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((workdir / "22_output.json").read_text("utf-8"))) == 13


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_different_data_types_side_by_side_both_complete(workdir: Path, esm: Any) -> None:
    expected = {"workperiod": 34, "title": 13, "organization": 11}
    jobs = {}
    for n, data_type in enumerate(expected, 31):
        place(workdir, SAMPLES / data_type / f"{data_type}.csv", data_type)
        jobs[data_type] = base_raw(
            data_type=data_type,
            file_path=f"{data_type}/*.csv",
            webapi_url=esm.url,
            webapi_user=ESM_USER,
            taskid=n,
        )
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        procs = dict(zip(jobs, pool.map(lambda p: epe(workdir, p), jobs.values()), strict=True))
    for n, (data_type, proc) in enumerate(procs.items(), 31):
        assert proc.returncode == 0, (data_type, proc.stderr)
        output = json.loads((workdir / f"{n}_output.json").read_text(encoding="utf-8"))
        assert len(output) == expected[data_type]
        log = (workdir / f"{n}_log.txt").read_text(encoding="utf-8")
        assert f"HR import {data_type}, task {n}" in log
        assert all(f"HR import {other}" not in log for other in expected if other != data_type)
    assert leftovers(workdir) == []
